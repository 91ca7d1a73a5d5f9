"""The controller contract: a level-triggered `reconcile(key)` fed by a de-duplicating queue.

A controller watches informers; each event is mapped to keys and queued. Workers take keys and
call the reconciler, which reads the current state from caches (never from the event). Failures
retry with per-key exponential backoff; `TerminalError` does not retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from ._tasks import cancel_and_wait
from .informer import Handler, Informer
from .keys import Key
from .logs import with_fields
from .metrics import RESULT_ERROR, RESULT_REQUEUE, RESULT_SUCCESS, RESULT_TERMINAL, Metrics
from .queue import ExponentialBackoff, QueueShutDown, WorkQueue
from .shards import ShardKey

log = logging.getLogger("kokpit.runtime.controller")

Mapper = Callable[[Any], Iterable[Key]]


@dataclass(frozen=True)
class Result:
    """`Result` of one reconcile: `requeue_after` seconds asks for another pass later."""

    requeue_after: float | None = None


class TerminalError(Exception):
    """A reconcile failure that retrying cannot fix: logged and counted, never retried.

    The key is reconciled again only when a new event arrives for it.
    """


class Reconciler(Protocol):
    async def reconcile(self, key: Key) -> Result: ...


class Controller:
    """`Controller` runs `workers` concurrent reconciles of `reconciler`, one key at a time per key.

    `watch(informer, mapper)` routes the informer's events into the queue; `mapper(obj)` returns
    the keys to reconcile (default: the object's own key). `run()` works until cancelled and may
    be started again later (the manager stops it when leadership is lost); on every start, every
    object of every watched informer is queued again, so nothing missed meanwhile is lost.

    With `shard_key` (key -> `ShardKey`) the controller is sharded: when its manager shares the
    work among replicas it runs on every replica and reconciles only the keys `owns` grants this
    one; the others are dropped (and `on_disowned(key)` told, to forget what it cached of them).
    """

    def __init__(
        self,
        name: str,
        reconciler: Reconciler,
        *,
        workers: int = 2,
        metrics: Metrics | None = None,
        backoff_base: float = 0.005,
        backoff_max: float = 60.0,
        shard_key: Callable[[Key], ShardKey] | None = None,
        on_disowned: Callable[[Key], None] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.name = name
        self.reconciler = reconciler
        self.workers = workers
        self.metrics = metrics
        self.queue: WorkQueue[Key] = WorkQueue(
            backoff=ExponentialBackoff(base=backoff_base, max_delay=backoff_max),
            on_depth=self._report_depth,
        )
        self.shard_key = shard_key
        self.on_disowned = on_disowned
        self.owns: Callable[[ShardKey], bool] | None = None
        """Set by a manager that shares the work among replicas."""
        self._in_flight: set[Key] = set()
        self._sources: list[tuple[Informer, Mapper]] = []
        self._log = with_fields(log, controller=name)

    def __repr__(self) -> str:
        return f"Controller({self.name!r})"

    def _report_depth(self, depth: int) -> None:
        if self.metrics is not None:
            self.metrics.workqueue_depth.labels(self.name).set(depth)

    def watch(
        self,
        informer: Informer,
        mapper: Mapper | None = None,
        *,
        coalesce: float = 0.0,
        relevant: Callable[[Any, Any], bool] | None = None,
    ) -> None:
        """`watch` queues the keys `mapper` gives for every add, update and delete of `informer`.

        On update both the old and the new object are mapped, so a key the object stops pointing
        at is reconciled too. With `coalesce` seconds, a key is reconciled that long after the first
        event of a burst, once for the whole burst: for reconciles that write a summary of many
        objects (a binding's status from its Works), where each event would otherwise cost a write.
        `relevant(old, new)`, when given, drops the updates it answers False for (a change of the
        object's status alone, for a reconciler that only reads its spec).
        """
        cluster = informer.cluster
        fn: Mapper = mapper if mapper is not None else (lambda obj: [Key.of(cluster, obj)])

        def enqueue(obj: Any) -> None:
            for key in fn(obj):
                if coalesce > 0:
                    self.queue.add_after(key, coalesce)
                else:
                    self.queue.add(key)

        def update(old: Any, new: Any) -> None:
            if relevant is not None and not relevant(old, new):
                return
            enqueue(old)
            enqueue(new)

        self._sources.append((informer, fn))
        informer.add_handler(Handler(add=enqueue, update=update, delete=enqueue))

    def unwatch_cluster(self, cluster: str) -> None:
        """`unwatch_cluster` forgets the informers of a cluster that left."""
        self._sources = [(i, m) for i, m in self._sources if i.cluster != cluster]

    def shard_key_of(self, key: Key) -> ShardKey | None:
        return None if self.shard_key is None else self.shard_key(key)

    def in_flight(self) -> set[Key]:
        """The keys being reconciled right now."""
        return set(self._in_flight)

    def _owned(self, key: Key) -> bool:
        if self.shard_key is None or self.owns is None:
            return True
        return self.owns(self.shard_key(key))

    def enqueue(self, key: Key, *, after: float | None = None) -> None:
        if after:
            self.queue.add_after(key, after)
        else:
            self.queue.add(key)

    def resync(self) -> None:
        """`resync` queues the keys of every cached object of every watched informer."""
        for informer, mapper in list(self._sources):
            for obj in informer.list():
                try:
                    for key in mapper(obj):
                        self.queue.add(key)
                except Exception:
                    self._log.exception("mapper failed during resync")

    async def run(self) -> None:
        self._log.info("controller starting with %d workers", self.workers)
        self.resync()
        tasks = [
            asyncio.create_task(self._worker(), name=f"controller {self.name} worker {i}")
            for i in range(self.workers)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                await cancel_and_wait(task)
            self._log.info("controller stopped")

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except QueueShutDown:
                return
            if not self._owned(key):
                self.queue.forget(key)
                self.queue.done(key)
                if self.on_disowned is not None:
                    self.on_disowned(key)
                continue
            self._in_flight.add(key)
            try:
                await self.process(key)
            except asyncio.CancelledError:
                # Stopped mid-reconcile: make sure the key is looked at on the next start.
                self.queue.done(key)
                self.queue.add(key)
                raise
            finally:
                self._in_flight.discard(key)
            self.queue.done(key)

    async def process(self, key: Key) -> None:
        """`process` runs one reconcile of `key` and decides what happens to the key next."""
        start = time.perf_counter()
        result_label = RESULT_SUCCESS
        try:
            result = await self.reconciler.reconcile(key)
        except asyncio.CancelledError:
            raise
        except TerminalError as exc:
            result_label = RESULT_TERMINAL
            self.queue.forget(key)
            self._log.error(
                "reconcile failed for good: %s", exc, extra={"key": str(key), "cluster": key.cluster}
            )
        except Exception as exc:
            result_label = RESULT_ERROR
            self.queue.add_rate_limited(key)
            self._log.warning(
                "reconcile failed (retry %d): %s: %s",
                self.queue.num_requeues(key),
                type(exc).__name__,
                exc,
                extra={"key": str(key), "cluster": key.cluster},
                exc_info=self._log.isEnabledFor(logging.DEBUG),
            )
        else:
            self.queue.forget(key)
            if result is not None and result.requeue_after is not None:
                result_label = RESULT_REQUEUE
                self.queue.add_after(key, result.requeue_after)
        finally:
            elapsed = time.perf_counter() - start
            if self.metrics is not None:
                self.metrics.reconcile_duration_seconds.labels(self.name).observe(elapsed)
        if self.metrics is not None:
            self.metrics.reconcile_total.labels(self.name, result_label).inc()
            if result_label in (RESULT_ERROR, RESULT_TERMINAL):
                self.metrics.reconcile_errors_total.labels(self.name).inc()
