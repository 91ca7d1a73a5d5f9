"""WorkQueue: de-duplication, one worker per key, backoff, delayed adds, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from kokpit.runtime.queue import ExponentialBackoff, QueueShutDown, WorkQueue


async def test_a_key_added_twice_while_waiting_is_processed_once() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"
    assert len(q) == 0


async def test_a_key_added_while_processing_is_handed_out_again_only_after_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")  # re-added while being processed
    q.add("a")
    assert len(q) == 0, "must not be handed to a second worker meanwhile"
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    assert not second.done()
    q.done(key)
    assert await asyncio.wait_for(second, 1) == "a"
    q.done("a")
    assert len(q) == 0


async def test_concurrent_workers_never_process_one_key_at_once() -> None:
    q: WorkQueue[int] = WorkQueue()
    active: set[int] = set()
    overlaps: list[int] = []
    processed: list[int] = []

    async def worker() -> None:
        while True:
            try:
                key = await q.get()
            except QueueShutDown:
                return
            if key in active:
                overlaps.append(key)
            active.add(key)
            await asyncio.sleep(0.001)
            processed.append(key)
            active.discard(key)
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    for round_ in range(50):
        for key in range(3):
            q.add(key)
        if round_ % 5 == 0:
            await asyncio.sleep(0.002)
    await asyncio.sleep(0.05)
    q.shutdown()
    await asyncio.gather(*workers)
    assert overlaps == []
    assert set(processed) == {0, 1, 2}


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        pytest.param(0, 0.005, id="first failure waits the base 5ms"),
        pytest.param(1, 0.010, id="second doubles"),
        pytest.param(4, 0.080, id="fifth is 16x"),
        pytest.param(20, 60.0, id="capped at 60s"),
        pytest.param(500, 60.0, id="still capped after very many"),
    ],
)
def test_backoff_grows_exponentially_to_the_cap(failures: int, expected: float) -> None:
    backoff: ExponentialBackoff[str] = ExponentialBackoff()
    for _ in range(failures):
        backoff.when("k")
    assert backoff.when("k") == pytest.approx(expected)


def test_backoff_is_per_key_and_reset_by_forget() -> None:
    backoff: ExponentialBackoff[str] = ExponentialBackoff(base=1.0, max_delay=100.0)
    assert [backoff.when("a") for _ in range(3)] == [1.0, 2.0, 4.0]
    assert backoff.when("b") == 1.0
    backoff.forget("a")
    assert backoff.failures("a") == 0
    assert backoff.when("a") == 1.0


async def test_add_rate_limited_delays_growingly_and_forget_resets() -> None:
    q: WorkQueue[str] = WorkQueue(backoff=ExponentialBackoff(base=0.02, max_delay=1.0))
    loop = asyncio.get_running_loop()
    waits = []
    for _ in range(3):
        start = loop.time()
        q.add_rate_limited("k")
        key = await asyncio.wait_for(q.get(), 2)
        waits.append(loop.time() - start)
        q.done(key)
    assert q.num_requeues("k") == 3
    assert waits[0] >= 0.015
    assert waits[2] >= 0.07  # 0.08 nominal
    assert waits[0] < waits[2]
    q.forget("k")
    assert q.num_requeues("k") == 0


async def test_add_after_adds_later_and_earliest_deadline_wins() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("k", 5.0)
    q.add_after("k", 0.03)  # earlier: replaces
    q.add_after("k", 10.0)  # later: ignored
    assert len(q) == 0
    assert await asyncio.wait_for(q.get(), 1) == "k"
    q.done("k")
    await asyncio.sleep(0.05)
    assert len(q) == 0


async def test_shutdown_wakes_waiting_workers_and_drops_delayed_adds() -> None:
    q: WorkQueue[str] = WorkQueue()
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add_after("later", 0.01)
    q.shutdown()
    with pytest.raises(QueueShutDown):
        await asyncio.wait_for(waiter, 1)
    q.add("x")
    await asyncio.sleep(0.03)
    assert len(q) == 0


async def test_depth_is_reported_on_every_change() -> None:
    depths: list[int] = []
    q: WorkQueue[str] = WorkQueue(on_depth=depths.append)
    q.add("a")
    q.add("b")
    q.add("a")
    key = await q.get()
    q.add(key)
    q.done(key)
    assert depths == [1, 2, 1, 2]
