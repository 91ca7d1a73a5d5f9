"""Leader election between two managers in one process, on the hub's Lease API."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import pytest

from kokpit.runtime import Key, LeaderElection, Manager, Result
from tests.support import SandboxHandle

pytestmark = pytest.mark.integration

LEASE = 4.0
RENEW = 3.0
RETRY = 0.5


class Noop:
    async def reconcile(self, key: Key) -> Result:
        return Result()


def candidate(rt_sandbox: SandboxHandle, lease: str, *, release: bool) -> Manager:
    manager = Manager(
        leader_election=LeaderElection(
            lease,
            namespace="default",
            lease_duration=LEASE,
            renew_deadline=RENEW,
            retry_period=RETRY,
            release_on_cancel=release,
        )
    )
    manager.add_cluster("hub", rt_sandbox.kubeconfig("hub"))
    manager.controller("noop", Noop())
    return manager


async def test_one_leader_and_a_takeover_within_the_lease_duration(rt_sandbox: SandboxHandle) -> None:
    lease = f"rt-{uuid.uuid4().hex[:8]}"
    a = candidate(rt_sandbox, lease, release=False)
    b = candidate(rt_sandbox, lease, release=False)
    runs = {id(a): asyncio.create_task(a.run()), id(b): asyncio.create_task(b.run())}
    both_seen = False
    try:
        deadline = time.monotonic() + 30
        while not (a.leading or b.leading):
            assert time.monotonic() < deadline, "nobody became leader"
            await asyncio.sleep(0.05)
        for _ in range(40):  # 2 s of both running: never two leaders
            both_seen = both_seen or (a.leading and b.leading)
            await asyncio.sleep(0.05)
        assert not both_seen
        leader, follower = (a, b) if a.leading else (b, a)

        # Stop the leader without releasing the lease, as if the process died.
        runs[id(leader)].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runs[id(leader)]
        stopped = time.monotonic()
        while not follower.leading:
            assert time.monotonic() - stopped < LEASE + 2 * RETRY + 2.0, "no takeover in time"
            await asyncio.sleep(0.05)
        took = time.monotonic() - stopped
        # It waited for the lease to expire on its own clock: not at once.
        assert took >= LEASE - RENEW - RETRY
        assert follower.elector is not None and follower.elector.holder == follower.elector.identity
    finally:
        for task in runs.values():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_a_released_lease_is_taken_over_at_once(rt_sandbox: SandboxHandle) -> None:
    lease = f"rt-{uuid.uuid4().hex[:8]}"
    a = candidate(rt_sandbox, lease, release=True)
    run_a = asyncio.create_task(a.run())
    b = candidate(rt_sandbox, lease, release=True)
    run_b: asyncio.Task[None] | None = None
    try:
        deadline = time.monotonic() + 30
        while not a.leading:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        run_b = asyncio.create_task(b.run())
        await asyncio.sleep(1.0)
        assert not b.leading
        a.stop()
        await asyncio.wait_for(run_a, 10)
        released = time.monotonic()
        while not b.leading:
            assert time.monotonic() - released < LEASE, "a released lease must not need to expire"
            await asyncio.sleep(0.05)
    finally:
        for task in (run_a, run_b):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
