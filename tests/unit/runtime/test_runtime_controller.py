"""Controller outcomes: success, requeue_after, retry with backoff, terminal errors; metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from kokpit.runtime.controller import Controller, Result, TerminalError
from kokpit.runtime.keys import Key
from kokpit.runtime.metrics import Metrics
from kokpit.runtime.shards import ShardKey, by_hash

K = Key("hub", "default", "x")


class Scripted:
    """Answers reconcile with the next scripted outcome (an exception, a Result, or None)."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[Key] = []

    async def reconcile(self, key: Key) -> Result:
        self.calls.append(key)
        outcome = self.outcomes.pop(0) if self.outcomes else Result()
        if isinstance(outcome, BaseException):
            raise outcome
        assert isinstance(outcome, Result)
        return outcome


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def run_until(controller: Controller, predicate: Callable[[], bool], within: float = 2.0) -> None:
    """Runs the controller until `predicate()` holds (fails after `within` seconds)."""
    task = asyncio.create_task(controller.run())
    try:
        for _ in range(int(within / 0.005)):
            if predicate():
                break
            await asyncio.sleep(0.005)
        assert predicate(), "condition not reached in time"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_errors_retry_with_backoff_then_success_forgets() -> None:
    metrics = Metrics(CollectorRegistry())
    reconciler = Scripted(RuntimeError("boom"), RuntimeError("boom"), Result())
    controller = Controller("c", reconciler, metrics=metrics, backoff_base=0.01)
    controller.enqueue(K)
    await run_until(controller, lambda: len(reconciler.calls) == 3)
    await asyncio.sleep(0.05)
    assert reconciler.calls == [K, K, K]
    assert controller.queue.num_requeues(K) == 0
    assert sample(metrics, "kokpit_reconcile_total", controller="c", result="error") == 2
    assert sample(metrics, "kokpit_reconcile_total", controller="c", result="success") == 1
    assert sample(metrics, "kokpit_reconcile_errors_total", controller="c") == 2
    assert sample(metrics, "kokpit_reconcile_duration_seconds_count", controller="c") == 3


async def test_terminal_error_is_not_retried() -> None:
    metrics = Metrics(CollectorRegistry())
    reconciler = Scripted(TerminalError("bad spec"))
    controller = Controller("t", reconciler, metrics=metrics, backoff_base=0.001)
    controller.enqueue(K)
    await run_until(controller, lambda: len(reconciler.calls) == 1)
    await asyncio.sleep(0.05)
    assert reconciler.calls == [K]
    assert sample(metrics, "kokpit_reconcile_total", controller="t", result="terminal") == 1
    assert sample(metrics, "kokpit_reconcile_errors_total", controller="t") == 1


async def test_requeue_after_is_honoured() -> None:
    metrics = Metrics(CollectorRegistry())
    reconciler = Scripted(Result(requeue_after=0.05), Result())
    controller = Controller("r", reconciler, metrics=metrics)
    controller.enqueue(K)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await run_until(controller, lambda: len(reconciler.calls) == 2)
    assert loop.time() - start >= 0.045
    assert sample(metrics, "kokpit_reconcile_total", controller="r", result="requeue") == 1


async def test_a_key_stopped_mid_reconcile_is_queued_again() -> None:
    started = asyncio.Event()

    class Slow:
        async def reconcile(self, key: Key) -> Result:
            started.set()
            await asyncio.sleep(10)
            return Result()

    controller = Controller("s", Slow(), workers=1)
    controller.enqueue(K)
    task = asyncio.create_task(controller.run())
    await asyncio.wait_for(started.wait(), 1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(controller.queue) == 1


async def test_a_coalesced_watch_reconciles_a_burst_once_after_its_first_event() -> None:
    from typing import Any, cast

    from lightkube.resources.core_v1 import ConfigMap

    from kokpit.runtime.informer import Informer

    informer = Informer("hub", ConfigMap, cast(Any, None))
    called = asyncio.Event()

    class Recorded(Scripted):
        async def reconcile(self, key: Key) -> Result:
            called.set()
            return await super().reconcile(key)

    reconciler = Recorded()
    controller = Controller("c", reconciler)
    controller.watch(informer, mapper=lambda obj: [K], coalesce=0.1)
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(controller.run())
    try:
        first = loop.time()
        for n in range(5):  # a burst: five changes of the same object, 10 ms apart
            informer.on_update({"n": n}, {"n": n + 1})
            await asyncio.sleep(0.01)
        await asyncio.wait_for(called.wait(), timeout=2)
        assert loop.time() - first >= 0.095
        await asyncio.sleep(0.2)
        assert reconciler.calls == [K]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_sharded_controller_reconciles_only_the_keys_its_shard_owns() -> None:
    mine, theirs = Key("hub", "default", "mine"), Key("hub", "default", "theirs")
    reconciler = Scripted()
    disowned: list[Key] = []
    controller = Controller(
        "c", reconciler, shard_key=lambda key: by_hash(key.name), on_disowned=disowned.append
    )
    owned: set[ShardKey] = {by_hash("mine")}
    controller.owns = owned.__contains__
    controller.enqueue(theirs)
    controller.enqueue(mine)
    await run_until(controller, lambda: reconciler.calls == [mine] and disowned == [theirs])
    owned.add(by_hash("theirs"))
    controller.enqueue(theirs)
    await run_until(controller, lambda: reconciler.calls == [mine, theirs])
    assert controller.in_flight() == set()


async def test_without_a_manager_sharing_the_work_a_sharded_controller_reconciles_every_key() -> None:
    reconciler = Scripted()
    controller = Controller("c", reconciler, shard_key=lambda key: by_hash(key.name))
    controller.enqueue(K)
    await run_until(controller, lambda: reconciler.calls == [K])
