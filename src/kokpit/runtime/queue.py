"""The work queue between event handlers and reconcile workers.

Semantics are client-go's workqueue: a key waiting in the queue is stored once however often it is
added; a key being processed is never handed to a second worker, and if it is added meanwhile it is
queued again once the first worker calls `done`. Failures back off per key, exponentially.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class QueueShutDown(Exception):
    """Raised by `WorkQueue.get` once the queue is shut down."""


class ExponentialBackoff(Generic[K]):
    """`ExponentialBackoff` gives each key a delay of `base * 2**failures`, capped at `max_delay`.

    `when` counts a failure and returns the delay to use for it; `forget` resets the key.
    """

    def __init__(self, *, base: float = 0.005, max_delay: float = 60.0) -> None:
        if base <= 0 or max_delay < base:
            raise ValueError(f"need 0 < base <= max_delay, got base={base} max_delay={max_delay}")
        self.base = base
        self.max_delay = max_delay
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        # Cap the exponent too, so a key failing for days does not build a huge float.
        if failures >= 64:
            return self.max_delay
        return min(self.base * (2.0**failures), self.max_delay)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)


class WorkQueue(Generic[K]):
    """`WorkQueue` hands keys to workers: `key = await get()`, work, then always `done(key)`.

    - `add(key)` queues a key unless it is already waiting (de-duplication);
    - `add_after(key, delay)` adds it later (the earliest pending deadline wins);
    - `add_rate_limited(key)` adds it after its next backoff delay; `forget(key)` resets the backoff;
    - `shutdown()` wakes every `get` with `QueueShutDown` and drops pending delayed adds.

    `on_depth`, when given, is called with the number of waiting keys whenever it changes.
    Must be used from one event loop (it is not thread-safe).
    """

    def __init__(
        self,
        *,
        backoff: ExponentialBackoff[K] | None = None,
        on_depth: Callable[[int], None] | None = None,
    ) -> None:
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._delayed: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._wakeup = asyncio.Event()
        self._shutting_down = False
        self._backoff: ExponentialBackoff[K] = backoff if backoff is not None else ExponentialBackoff()
        self._on_depth = on_depth

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def _report(self) -> None:
        if self._on_depth is not None:
            self._on_depth(len(self._queue))

    def add(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # re-queued by done()
        self._queue.append(key)
        self._report()
        self._wakeup.set()

    async def get(self) -> K:
        while not self._queue:
            if self._shutting_down:
                raise QueueShutDown()
            self._wakeup.clear()
            await self._wakeup.wait()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        self._report()
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._report()
            self._wakeup.set()

    def add_after(self, key: K, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        pending = self._delayed.get(key)
        if pending is not None:
            if pending[0] <= deadline:
                return
            pending[1].cancel()
        handle = loop.call_at(deadline, self._fire, key)
        self._delayed[key] = (deadline, handle)

    def _fire(self, key: K) -> None:
        self._delayed.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: K) -> None:
        self.add_after(key, self._backoff.when(key))

    def forget(self, key: K) -> None:
        self._backoff.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._backoff.failures(key)

    def shutdown(self) -> None:
        self._shutting_down = True
        for _, handle in self._delayed.values():
            handle.cancel()
        self._delayed.clear()
        self._wakeup.set()
