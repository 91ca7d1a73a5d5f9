"""The manager's controllers across a leadership lost and won back at once."""

from __future__ import annotations

import asyncio

from kokpit.runtime.controller import Result
from kokpit.runtime.keys import Key
from kokpit.runtime.manager import Manager

SLOW, NEXT = Key("hub", None, "slow"), Key("hub", None, "next")


class SlowToStop:
    """Its first reconcile blocks, and when cancelled takes a moment to finish its step."""

    def __init__(self) -> None:
        self.calls: list[Key] = []
        self.blocked = asyncio.Event()

    async def reconcile(self, key: Key) -> Result:
        self.calls.append(key)
        if len(self.calls) == 1:
            self.blocked.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                await asyncio.sleep(0.05)
                raise
        return Result()


async def test_a_controller_stopped_and_started_again_within_its_step_runs_again() -> None:
    manager = Manager()
    reconciler = SlowToStop()
    controller = manager.controller("c", reconciler, workers=1)
    # The elector's callbacks: leading, then lost, then won back while the step still finishes.
    manager._start_controllers()
    controller.enqueue(SLOW)
    await asyncio.wait_for(reconciler.blocked.wait(), 2)
    manager._stop_controllers()
    manager._start_controllers()
    controller.enqueue(NEXT)
    try:
        for _ in range(400):
            if NEXT in reconciler.calls:
                break
            await asyncio.sleep(0.005)
        assert NEXT in reconciler.calls, reconciler.calls
    finally:
        await manager._wait_controllers()
