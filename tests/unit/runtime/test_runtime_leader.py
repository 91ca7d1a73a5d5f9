"""Leader election decisions: pure functions over lease records and local observation times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kokpit.runtime.leader import Action, LeaseRecord, Observation, decide, next_record, observe

ME = "me"
OTHER = "other"
T = datetime(2025, 1, 1, tzinfo=UTC)


def held_by(holder: str | None, *, renewed: int = 0, duration: float = 15.0) -> LeaseRecord:
    return LeaseRecord(
        holder=holder,
        lease_duration=duration,
        acquire_time=T,
        renew_time=T.replace(second=renewed),
        transitions=2,
    )


@pytest.mark.parametrize(
    ("observation", "now", "expected"),
    [
        pytest.param(None, 0.0, Action.ACQUIRE, id="no lease: create it"),
        pytest.param(Observation(held_by(ME), 0.0), 100.0, Action.RENEW, id="ours: renew"),
        pytest.param(Observation(held_by(None), 0.0), 0.0, Action.ACQUIRE, id="released: take at once"),
        pytest.param(Observation(held_by(OTHER), 0.0), 14.9, Action.WAIT, id="other, seen 14.9s ago: wait"),
        pytest.param(Observation(held_by(OTHER), 0.0), 15.0, Action.ACQUIRE, id="other, unchanged 15s: take"),
        pytest.param(
            Observation(held_by(OTHER, duration=60), 0.0),
            30.0,
            Action.WAIT,
            id="the lease's own duration counts",
        ),
    ],
)
def test_decide(observation: Observation | None, now: float, expected: Action) -> None:
    assert decide(observation, ME, now) is expected


def test_observation_time_restarts_only_when_the_record_changes() -> None:
    first = observe(None, held_by(OTHER, renewed=1), now=10.0)
    same = observe(first, held_by(OTHER, renewed=1), now=20.0)
    assert same.observed_at == 10.0
    renewed = observe(same, held_by(OTHER, renewed=3), now=24.0)
    assert renewed.observed_at == 24.0
    # The holder keeps renewing: a candidate never gets to take the lease.
    assert decide(renewed, ME, now=24.0 + 14.0) is Action.WAIT


def test_a_killed_holder_is_replaced_a_full_duration_after_its_last_renewal_was_seen() -> None:
    """The renewTime written by another machine is never compared with our clock."""
    stale = held_by(OTHER, renewed=0)
    # We first see the record at local time 1000 even if its renewTime looks hours old.
    observation = observe(None, stale, now=1000.0)
    assert decide(observation, ME, now=1014.0) is Action.WAIT
    assert decide(observe(observation, stale, now=1015.0), ME, now=1015.0) is Action.ACQUIRE


@pytest.mark.parametrize(
    ("current", "action", "holder", "transitions", "acquire_changes"),
    [
        pytest.param(None, Action.ACQUIRE, ME, 0, True, id="first ever acquire"),
        pytest.param(held_by(OTHER), Action.ACQUIRE, ME, 3, True, id="taking over counts a transition"),
        pytest.param(held_by(None), Action.ACQUIRE, ME, 2, True, id="taking a released lease does not"),
        pytest.param(held_by(ME), Action.RENEW, ME, 2, False, id="renew keeps acquire time"),
    ],
)
def test_next_record(
    current: LeaseRecord | None, action: Action, holder: str, transitions: int, acquire_changes: bool
) -> None:
    now = datetime(2025, 6, 1, tzinfo=UTC)
    record = next_record(current, action, ME, 15.0, now)
    assert record.holder == holder
    assert record.renew_time == now
    assert record.transitions == transitions
    assert (record.acquire_time == now) is acquire_changes


def test_nothing_is_written_when_waiting() -> None:
    with pytest.raises(ValueError):
        next_record(held_by(OTHER), Action.WAIT, ME, 15.0, T)
