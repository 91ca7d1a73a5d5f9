"""Leader election on a `coordination.k8s.io/v1` Lease, with client-go's rules and timings.

Only the leader runs controllers; the others wait. The rules that keep two processes from ever
leading at once:

- a candidate takes the lease only if it is free, or if its record has not changed for a full
  lease duration *as measured on the candidate's own clock from when it first saw that record*
  (clocks of different machines are never compared);
- every write carries the resourceVersion it read, so of two racing candidates one gets 409;
- a leader that cannot renew within `renew_deadline` (< lease duration) stops leading, and one
  that sees another holder stops at once.

The decision is the pure function `decide`; `LeaderElector` does the I/O around it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease

from .logs import with_fields
from .metrics import Metrics

log = logging.getLogger("kokpit.runtime.leader")


def default_identity() -> str:
    """`default_identity` is hostname_pid_random: unique even for two electors in one process."""
    return f"{socket.gethostname()}_{os.getpid()}_{secrets.token_hex(4)}"


@dataclass(frozen=True)
class LeaseRecord:
    """The part of a Lease that election reads and writes."""

    holder: str | None
    lease_duration: float
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0


@dataclass(frozen=True)
class Observation:
    """A lease record and the local monotonic time at which this exact record was first seen."""

    record: LeaseRecord
    observed_at: float


class Action(enum.Enum):
    ACQUIRE = "acquire"  # write ourselves as holder
    RENEW = "renew"  # we hold it: bump renewTime
    WAIT = "wait"  # someone else holds a live lease


def observe(previous: Observation | None, record: LeaseRecord, now: float) -> Observation:
    """`observe` keeps the old observation time while the record is unchanged, else restarts it at `now`."""
    if previous is not None and previous.record == record:
        return previous
    return Observation(record, now)


def decide(observation: Observation | None, identity: str, now: float) -> Action:
    """`decide` says what a candidate named `identity` may do at local monotonic time `now`.

    No lease, a released lease (empty holder) or one unchanged for its full duration since we
    first saw it: ACQUIRE. Ours: RENEW. Otherwise: WAIT.
    """
    if observation is None:
        return Action.ACQUIRE
    record = observation.record
    if record.holder == identity:
        return Action.RENEW
    if not record.holder:
        return Action.ACQUIRE
    if now < observation.observed_at + record.lease_duration:
        return Action.WAIT
    return Action.ACQUIRE


def next_record(
    current: LeaseRecord | None, action: Action, identity: str, lease_duration: float, now: datetime
) -> LeaseRecord:
    """`next_record` is the record to write for `action` (ACQUIRE or RENEW)."""
    if action is Action.WAIT:
        raise ValueError("nothing to write when waiting")
    if current is not None and action is Action.RENEW:
        return replace(current, renew_time=now, lease_duration=lease_duration)
    transitions = 0
    if current is not None:
        transitions = current.transitions + (1 if current.holder and current.holder != identity else 0)
    return LeaseRecord(
        holder=identity,
        lease_duration=lease_duration,
        acquire_time=now,
        renew_time=now,
        transitions=transitions,
    )


def record_of(lease: Any) -> LeaseRecord:
    spec = lease.spec
    if spec is None:
        return LeaseRecord(holder=None, lease_duration=0.0)
    return LeaseRecord(
        holder=spec.holderIdentity or None,
        lease_duration=float(spec.leaseDurationSeconds or 0),
        acquire_time=spec.acquireTime,
        renew_time=spec.renewTime,
        transitions=int(spec.leaseTransitions or 0),
    )


def spec_of(record: LeaseRecord) -> LeaseSpec:
    return LeaseSpec(
        holderIdentity=record.holder or "",
        leaseDurationSeconds=max(1, round(record.lease_duration)),
        acquireTime=record.acquire_time,
        renewTime=record.renew_time,
        leaseTransitions=record.transitions,
    )


class LeaderElector:
    """`LeaderElector` competes for Lease `namespace/name` until cancelled.

    `on_started_leading` / `on_stopped_leading` are called (synchronously, they must not block)
    when leadership is won and lost. When cancelled while leading it releases the lease (empty
    holder) so a successor need not wait, unless `release_on_cancel` is false.
    """

    def __init__(
        self,
        client: AsyncClient,
        *,
        name: str,
        namespace: str = "kube-system",
        identity: str | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
        release_on_cancel: bool = True,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.release_on_cancel = release_on_cancel
        self.metrics = metrics
        self.clock = clock
        self.leading = False
        self._observation: Observation | None = None
        self._resource_version: str | None = None
        self._log = with_fields(log, lease=f"{namespace}/{name}", identity=self.identity)

    @property
    def holder(self) -> str | None:
        """`holder` is the holder in the last record seen (None when none seen or released)."""
        return None if self._observation is None else self._observation.record.holder

    def _set_leading(self, leading: bool) -> None:
        if leading == self.leading:
            return
        self.leading = leading
        if self.metrics is not None:
            self.metrics.leader.labels(f"{self.namespace}/{self.name}").set(1 if leading else 0)
        callback = self.on_started_leading if leading else self.on_stopped_leading
        self._log.info("started leading" if leading else "stopped leading")
        if callback is not None:
            try:
                callback()
            except Exception:
                self._log.exception("leadership callback failed")

    async def try_acquire_or_renew(self) -> bool:
        """`try_acquire_or_renew` makes one attempt; True when we hold the lease afterwards."""
        now = self.clock()
        try:
            lease = await self.client.get(Lease, self.name, namespace=self.namespace)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            record = next_record(None, Action.ACQUIRE, self.identity, self.lease_duration, datetime.now(UTC))
            created = await self.client.create(
                Lease(metadata=ObjectMeta(name=self.name, namespace=self.namespace), spec=spec_of(record))
            )
            self._resource_version = created.metadata.resourceVersion if created.metadata else None
            self._observation = Observation(record, self.clock())
            return True
        current = record_of(lease)
        self._observation = observe(self._observation, current, now)
        action = decide(self._observation, self.identity, now)
        if action is Action.WAIT:
            return False
        record = next_record(current, action, self.identity, self.lease_duration, datetime.now(UTC))
        # The resourceVersion read above makes this a compare-and-swap: 409 if anyone wrote since.
        lease.spec = spec_of(record)
        updated = await self.client.replace(lease)
        self._resource_version = updated.metadata.resourceVersion if updated.metadata else None
        self._observation = Observation(record, self.clock())
        return True

    async def _attempt(self, budget: float) -> bool:
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # races with the inner call finishing, and the elector would then never stop.
            async with asyncio.timeout(max(budget, 0.1)):
                return await self.try_acquire_or_renew()
        except asyncio.CancelledError:
            raise
        except ApiError as exc:
            if exc.status.code == 409:
                self._log.info("lost a race for the lease; will retry")
            else:
                self._log.warning("lease request failed: %s", exc)
        except Exception as exc:
            self._log.warning("lease request failed: %s: %s", type(exc).__name__, exc)
        return False

    async def run(self) -> None:
        try:
            while True:
                await self._acquire()
                await self._renew()
        finally:
            was_leading = self.leading
            self._set_leading(False)
            if was_leading and self.release_on_cancel:
                await asyncio.shield(self._release())

    async def _acquire(self) -> None:
        while True:
            if await self._attempt(self.renew_deadline):
                self._set_leading(True)
                return
            await asyncio.sleep(self.retry_period * (1.0 + 0.2 * secrets.randbelow(1000) / 1000))

    async def _renew(self) -> None:
        last_renew = self.clock()
        while True:
            await asyncio.sleep(self.retry_period)
            remaining = self.renew_deadline - (self.clock() - last_renew)
            if await self._attempt(remaining):
                last_renew = self.clock()
                continue
            if self.holder and self.holder != self.identity:
                self._log.warning("lease taken by %s", self.holder)
                self._set_leading(False)
                return
            if self.clock() - last_renew >= self.renew_deadline:
                self._log.warning("could not renew the lease within %.0fs", self.renew_deadline)
                self._set_leading(False)
                return

    async def _release(self) -> None:
        """Give the lease up (empty holder), so a successor acquires it at once."""
        try:
            async with asyncio.timeout(5.0):
                lease = await self.client.get(Lease, self.name, namespace=self.namespace)
            if record_of(lease).holder != self.identity:
                return
            now = datetime.now(UTC)
            lease.spec = spec_of(
                LeaseRecord(
                    holder=None,
                    lease_duration=1,
                    acquire_time=now,
                    renew_time=now,
                    transitions=record_of(lease).transitions,
                )
            )
            async with asyncio.timeout(5.0):
                await self.client.replace(lease)
            self._log.info("released the lease")
        except Exception as exc:
            self._log.warning("could not release the lease: %s", exc)
