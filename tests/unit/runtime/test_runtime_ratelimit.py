"""TokenBucket over a fake clock."""

from __future__ import annotations

import pytest

from kokpit.runtime.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_allows_a_burst_then_refuses() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=10, burst=3, clock=clock)
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]


def test_tokens_refill_at_qps_up_to_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=10, burst=3, clock=clock)
    for _ in range(3):
        bucket.try_take()
    clock.now += 0.1
    assert bucket.try_take()
    assert not bucket.try_take()
    clock.now += 100
    assert bucket.tokens == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("qps", "burst", "taken", "expected_wait"),
    [
        pytest.param(50, 100, 100, 0.0, id="the 100th of a burst of 100 does not wait"),
        pytest.param(50, 100, 101, 0.02, id="the 101st waits one token at 50 qps"),
        pytest.param(50, 100, 110, 0.2, id="the 110th waits ten tokens"),
        pytest.param(5, 10, 12, 0.4, id="client-go defaults: 12th waits 2 tokens at 5 qps"),
    ],
)
def test_reserve_makes_later_callers_wait_out_the_debt(
    qps: float, burst: int, taken: int, expected_wait: float
) -> None:
    bucket = TokenBucket(qps=qps, burst=burst, clock=FakeClock())
    waits = [bucket.reserve() for _ in range(taken)]
    assert waits[-1] == pytest.approx(expected_wait)
    assert waits == sorted(waits)


def test_debt_is_repaid_by_time() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=10, burst=1, clock=clock)
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == pytest.approx(0.1)
    clock.now += 0.1
    assert bucket.reserve() == pytest.approx(0.1)


async def test_acquire_sleeps_for_the_reserved_delay() -> None:
    clock = FakeClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    bucket = TokenBucket(qps=4, burst=2, clock=clock, sleep=sleep)
    for _ in range(4):
        await bucket.acquire()
    assert slept == [pytest.approx(0.25), pytest.approx(0.25)]


@pytest.mark.parametrize(("qps", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_invalid_settings_are_refused(qps: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(qps=qps, burst=burst)
