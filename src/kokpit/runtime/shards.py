"""Shards: replicas of one controller process sharing the work through Leases.

Each replica (a *shard*) holds a presence Lease `<group>-shard-<digest of its identity>` and renews
it every retry period. Which shard does what follows from the set of live shards alone, so every
shard computes the same answer without talking to the others:

- **members** (whatever writes into a member cluster): rendezvous hashing picks one live shard per
  member, and that shard writes the member only while it holds the member's assignment Lease
  `<group>-member-<member>`. An assignment is taken over only when its holder released it, or when
  the holder's presence Lease has not changed for a full lease duration as this shard saw it (leader
  election's rule: clocks of different machines are never compared); a shard that cannot renew its
  presence within the renew deadline (shorter than the lease duration) stops writing first. So at
  any moment one shard writes a member, and a dead shard's members move within one lease duration.
  A shard giving a member up stops taking its keys, waits for the reconciles in flight on it, and
  only then releases the assignment.
- **hashed keys** (objects of the hub, such as templates and their bindings): rendezvous hashing over
  the live shards. While the shards' views of who is live differ (one retry period at most), two
  may reconcile the same key: harmless for hub objects, which are written by server-side apply and
  compare-and-swap.

The decisions are pure functions (`owner`, `live_shards`, `plan_member`); `Shards` does the I/O.
"""

from __future__ import annotations

import asyncio
import copy
import enum
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease

from .informer import Informer
from .keys import Key
from .leader import LeaseRecord, Observation, observe, record_of, spec_of
from .logs import with_fields
from .metrics import Metrics

log = logging.getLogger("kokpit.runtime.shards")


class ShardBy(enum.Enum):
    MEMBER = "member"
    HASH = "hash"
    EVERY = "every"


@dataclass(frozen=True)
class ShardKey:
    """What decides which shard reconciles a key: the member it writes, a hashed text, or none
    (`EVERY`: every shard reconciles it, for reconcilers that write nothing)."""

    by: ShardBy
    value: str = ""


def by_member(member: str) -> ShardKey:
    return ShardKey(ShardBy.MEMBER, member)


def by_hash(text: str) -> ShardKey:
    return ShardKey(ShardBy.HASH, text)


EVERY_SHARD = ShardKey(ShardBy.EVERY)


def _weight(shard: str, key: str) -> int:
    digest = hashlib.blake2b(f"{shard}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(key: str, shards: Iterable[str]) -> str | None:
    """`owner` is the shard rendezvous hashing gives `key`: when a shard comes or goes, only the keys
    it gains or held move, about 1/N of them."""
    return max(shards, key=lambda shard: (_weight(shard, key), shard), default=None)


def fresh(observation: Observation, now: float) -> bool:
    """`fresh`: the record has a holder and has changed within its duration as seen at `now`."""
    record = observation.record
    return bool(record.holder) and now < observation.observed_at + record.lease_duration


def live_shards(presence: Iterable[Observation], identity: str, now: float) -> frozenset[str]:
    """`live_shards` is this shard and every holder of a fresh presence Lease."""
    held = {str(o.record.holder) for o in presence if fresh(o, now)}
    return frozenset(held | {identity})


class MemberAction(enum.Enum):
    TAKE = "take"  # ours by hashing, free or its holder dead: write ourselves as holder
    KEEP = "keep"  # ours by hashing and held
    RELEASE = "release"  # held, but another shard's by hashing: drain, then give it up
    WAIT = "wait"  # ours by hashing, still held by a live shard that has to release it
    NONE = "none"  # another shard's, not held by us


def plan_member(member: str, holder: str | None, identity: str, live: frozenset[str]) -> MemberAction:
    """`plan_member` says what shard `identity` does about `member`'s assignment held by `holder`."""
    wanted = owner(member, live) == identity
    if holder == identity:
        return MemberAction.KEEP if wanted else MemberAction.RELEASE
    if not wanted:
        return MemberAction.NONE
    return MemberAction.WAIT if holder and holder in live else MemberAction.TAKE


def lease_suffix(identity: str) -> str:
    """A Lease name part for any identity (hostname_pid_random holds underscores)."""
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


class AssignmentTaken(Exception):
    """The Lease is held by another shard than the write expected."""


class Drainable(Protocol):
    """What `Shards` needs of a controller: its keys in flight, their shard keys, a resync."""

    def shard_key_of(self, key: Key) -> ShardKey | None: ...

    def in_flight(self) -> Iterable[Key]: ...

    def resync(self) -> None: ...


@dataclass(frozen=True)
class Sharding:
    """Where and how replicas share the work (leader election's timings)."""

    group: str
    namespace: str = "kube-system"
    cluster: str = "hub"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str | None = None


class Shards:
    """`Shards` keeps this replica's presence and member assignments until cancelled.

    `owns(shard_key)` answers for the controllers; `members` (set before `run`) names the members
    to assign; `attach` registers a controller to resync when ownership changes and to drain before
    a member is given up. Cancelled, it stops owning, releases its assignments and its presence.
    """

    def __init__(
        self,
        client: AsyncClient,
        leases: Informer,
        sharding: Sharding,
        *,
        identity: str,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not sharding.lease_duration > sharding.renew_deadline > sharding.retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")
        self.client = client
        self.leases = leases
        self.sharding = sharding
        self.identity = identity
        self.metrics = metrics
        self.clock = clock
        self.members: Callable[[], Iterable[str]] = lambda: ()
        self.presence_name = f"{sharding.group}-shard-{lease_suffix(identity)}"
        self._controllers: list[Drainable] = []
        self._observations: dict[str, Observation] = {}
        self._live: frozenset[str] = frozenset({identity})
        self._held: set[str] = set()
        self._releasing: set[str] = set()
        self._last_renew: float | None = None
        """When the last renewal that succeeded was sent (this shard's clock)."""
        self._log = with_fields(log, shard=identity)

    # -- what controllers ask ---------------------------------------------------------------------

    def owns(self, key: ShardKey) -> bool:
        if key.by is ShardBy.EVERY:
            return True
        if not self._present():
            return False
        if key.by is ShardBy.MEMBER:
            return key.value in self._held and key.value not in self._releasing
        return owner(key.value, self._live) == self.identity

    def attach(self, controller: Drainable) -> None:
        self._controllers.append(controller)

    @property
    def held(self) -> frozenset[str]:
        """The members this shard writes now."""
        return frozenset(self._held - self._releasing) if self._present() else frozenset()

    def _present(self) -> bool:
        """Renewed within the renew deadline: others see us live for a lease duration (longer), so
        while this holds no other shard takes what we hold."""
        last = self._last_renew
        return last is not None and self.clock() - last < self.sharding.renew_deadline

    # -- running ------------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                await self.tick()
                await asyncio.sleep(self.sharding.retry_period)
        finally:
            self._last_renew = None
            await asyncio.shield(self._shut_down())

    async def tick(self) -> None:
        """One round: renew the presence, see who is live, take and give members accordingly."""
        was_present = self._present()
        if not was_present:
            self._held.clear()  # maybe taken meanwhile; the records say below what is still ours
        await self._renew_presence()
        now = self.clock()
        group = self.sharding.group
        presence: list[Observation] = []
        holders: dict[str, str | None] = {}
        for lease in self.leases.list(self.sharding.namespace):
            name = str(lease.metadata.name)
            record = record_of(lease)
            if name.startswith(f"{group}-shard-"):
                observation = observe(self._observations.get(name), record, now)
                self._observations[name] = observation
                if name != self.presence_name:
                    presence.append(observation)
            elif name.startswith(f"{group}-member-"):
                holders[name.removeprefix(f"{group}-member-")] = record.holder
        live = live_shards(presence, self.identity, now)
        changed = live != self._live or was_present != self._present()
        if live != self._live:
            self._log.info("live shards: %s", ", ".join(sorted(live)))
            self._live = live
        # A record naming another holder wins over what we believed (taken while we could not renew).
        self._held = {m for m in self._held if holders.get(m, self.identity) == self.identity}
        members = set(self.members()) | self._held
        if self._present():
            actions = {m: plan_member(m, holders.get(m), self.identity, live) for m in members}
            taken = await self._take([m for m, a in actions.items() if a is MemberAction.TAKE])
            for member, action in actions.items():
                if action is MemberAction.KEEP:
                    self._held.add(member)
            await asyncio.gather(*(self._release(m) for m, a in actions.items() if a is MemberAction.RELEASE))
            changed = changed or bool(taken)
        self._report()
        if changed:
            for controller in self._controllers:
                controller.resync()

    async def _renew_presence(self) -> None:
        now = self.clock()
        try:
            async with asyncio.timeout(self.sharding.renew_deadline / 2):
                await self._write(self.presence_name, self.identity)
            if not self._present():
                self._log.info("present in shard group %s", self.sharding.group)
            self._last_renew = now
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._log.warning("could not renew the shard's presence: %s", error)
            if not self._present():
                self._log.warning("presence not renewed within the renew deadline: writing nothing")

    async def _take(self, members: list[str]) -> list[str]:
        taken = []
        for member in members:
            try:
                await self._write(self._assignment(member), self.identity, expect=None)
            except (ApiError, AssignmentTaken) as error:
                self._log.info("could not take member %s: %s", member, error)
                continue
            self._log.info("writing member %s", member)
            self._held.add(member)
            taken.append(member)
        return taken

    async def _release(self, member: str) -> None:
        """Stop taking the member's keys, wait for its reconciles in flight, then give it up."""
        self._releasing.add(member)
        try:
            deadline = self.clock() + self.sharding.renew_deadline / 2
            # Reconciles of several controllers, watched for a moment only during a handover.
            while self._busy_with(member) and self.clock() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            try:
                await self._write(self._assignment(member), "", expect=self.identity)
            except (ApiError, AssignmentTaken) as error:
                self._log.warning("could not release member %s: %s", member, error)
            self._log.info("gave member %s up", member)
            self._held.discard(member)
        finally:
            self._releasing.discard(member)

    def _busy_with(self, member: str) -> bool:
        return any(c.shard_key_of(k) == by_member(member) for c in self._controllers for k in c.in_flight())

    async def _shut_down(self) -> None:
        try:
            async with asyncio.timeout(self.sharding.renew_deadline):
                for member in sorted(self._held):
                    await self._write(self._assignment(member), "", expect=self.identity)
                await self._write(self.presence_name, "", expect=self.identity)
            self._log.info("left shard group %s", self.sharding.group)
        except Exception as error:
            self._log.warning("could not leave the shard group cleanly: %s", error)
        self._held.clear()

    def _assignment(self, member: str) -> str:
        return f"{self.sharding.group}-member-{member}"

    async def _write(self, name: str, holder: str, *, expect: str | object | None = ...) -> None:
        """Write `holder` into Lease `name`, compare-and-swap on the copy read (the cached one when
        there is one, so a renewal costs one request). With `expect`, only when the holder read is
        that one (None: free, or held by a shard that is not live); else `AssignmentTaken`."""
        namespace = self.sharding.namespace
        now = datetime.now(UTC)
        cached = self.leases.get(name, namespace)
        if cached is not None:
            lease = copy.deepcopy(cached)
        else:
            try:
                lease = await self.client.get(Lease, name, namespace=namespace)
            except ApiError as error:
                if error.status.code != 404 or holder == "":
                    raise
                record = LeaseRecord(holder, self.sharding.lease_duration, now, now)
                await self.client.create(
                    Lease(metadata=ObjectMeta(name=name, namespace=namespace), spec=spec_of(record))
                )
                return
        current = record_of(lease)
        if expect is None and current.holder and current.holder in self._live - {self.identity}:
            raise AssignmentTaken(f"{name} is held by live shard {current.holder}")
        if isinstance(expect, str) and current.holder != (expect or None):
            raise AssignmentTaken(f"{name} is held by {current.holder}")
        changes_hands = current.holder != (holder or None)
        lease.spec = spec_of(
            LeaseRecord(
                holder or None,
                self.sharding.lease_duration,
                now if changes_hands else current.acquire_time,
                now,
                current.transitions + (1 if changes_hands else 0),
            )
        )
        await self.client.replace(lease)  # the resourceVersion read makes it a compare-and-swap

    def _report(self) -> None:
        if self.metrics is None:
            return
        self.metrics.shards_live.labels(self.sharding.group).set(len(self._live))
        self.metrics.shard_members.labels(self.sharding.group).set(len(self.held))
