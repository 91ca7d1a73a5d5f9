"""A token bucket: the client-side limit on how fast kokpit talks to one API server.

The arithmetic is pure over an injectable clock so it can be tested without sleeping; `acquire`
is the only part that waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# Clock arithmetic in floats: 100.1 - 100.0 is 0.0999..., which must still buy a whole token.
_EPSILON = 1e-9


class TokenBucket:
    """`TokenBucket` allows `qps` operations per second on average and bursts of up to `burst`.

    Tokens refill continuously at `qps` per second up to `burst`. `reserve` takes a token now and
    returns how long the caller must wait before using it (0 when a token was available), so
    waiting callers are served in order and never over-spend: the balance may go negative, which
    is the debt later callers wait out.
    """

    def __init__(
        self,
        qps: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if qps <= 0:
            raise ValueError(f"qps must be positive, got {qps}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.qps = float(qps)
        self.burst = int(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = clock()

    def _refill(self) -> float:
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
        return now

    @property
    def tokens(self) -> float:
        """`tokens` is the current balance (negative while callers are waiting out a debt)."""
        self._refill()
        return self._tokens

    def try_take(self) -> bool:
        """`try_take` takes a token if one is available now and says whether it did."""
        self._refill()
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens -= 1.0
            return True
        return False

    def reserve(self) -> float:
        """`reserve` takes a token and returns the seconds to wait before it may be used."""
        self._refill()
        self._tokens -= 1.0
        if self._tokens >= -_EPSILON:
            return 0.0
        return -self._tokens / self.qps

    async def acquire(self) -> None:
        """`acquire` waits until the caller may make one request."""
        delay = self.reserve()
        if delay > 0:
            await self._sleep(delay)
