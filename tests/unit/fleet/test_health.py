"""The health hysteresis: how probes turn into the `Ready` condition and the health taints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kokpit.fleet.health import (
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    HealthDecision,
    Probe,
    ProbeHistory,
    ProbeOutcome,
    Thresholds,
    decide_health,
)
from kokpit.runtime import Condition

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
THRESHOLDS = Thresholds(failure_threshold=2, success_threshold=2, no_execute_grace=timedelta(seconds=60))
READY = Condition.true("Ready", "ClusterReady", "the member's API server is ready")
NOT_READY = Condition.false("Ready", "ClusterNotReady", "etcd failed")
UNREACHABLE = Condition.unknown("Ready", "ClusterUnreachable", "connection refused")
PROBES = {
    ProbeOutcome.READY: Probe(ProbeOutcome.READY, ""),
    ProbeOutcome.NOT_READY: Probe(ProbeOutcome.NOT_READY, "etcd failed"),
    ProbeOutcome.UNREACHABLE: Probe(ProbeOutcome.UNREACHABLE, "connection refused"),
}


def decide(
    current: Condition | None, outcomes: list[ProbeOutcome], *, bad_for: timedelta = timedelta(0)
) -> HealthDecision:
    """The decision after probing with `outcomes` in a row, the current condition `bad_for` old."""
    history = ProbeHistory()
    for outcome in outcomes:
        history.record(outcome)
    return decide_health(
        current=current,
        current_since=NOW - bad_for if current else None,
        history=history,
        probe=PROBES[outcomes[-1]],
        now=NOW,
        thresholds=THRESHOLDS,
    )


def taints(decision: HealthDecision) -> set[str]:
    return {f"{t['key']}:{t['effect']}" for t in decision.taints}


NR, UR, OK = ProbeOutcome.NOT_READY, ProbeOutcome.UNREACHABLE, ProbeOutcome.READY


@pytest.mark.parametrize(
    ("current", "outcomes", "bad_for", "status", "reason", "expected_taints"),
    [
        pytest.param(None, [OK], timedelta(0), "True", "ClusterReady", set(), id="a first good probe: ready"),
        pytest.param(
            None,
            [NR],
            timedelta(0),
            "False",
            "ClusterNotReady",
            {f"{TAINT_NOT_READY}:NoSchedule"},
            id="a first bad probe decides at once: not ready and NoSchedule",
        ),
        pytest.param(
            READY, [NR], timedelta(0), "True", "ClusterReady", set(), id="1 failure: still ready, no taint"
        ),
        pytest.param(
            READY,
            [NR, NR],
            timedelta(0),
            "False",
            "ClusterNotReady",
            {f"{TAINT_NOT_READY}:NoSchedule"},
            id="2 failures in a row: not ready and NoSchedule",
        ),
        pytest.param(
            READY,
            [UR, UR],
            timedelta(0),
            "Unknown",
            "ClusterUnreachable",
            {f"{TAINT_UNREACHABLE}:NoSchedule"},
            id="2 unanswered probes in a row: Unknown and the unreachable taint",
        ),
        pytest.param(
            NOT_READY,
            [NR],
            timedelta(seconds=59),
            "False",
            "ClusterNotReady",
            {f"{TAINT_NOT_READY}:NoSchedule"},
            id="not ready for less than the grace: NoSchedule only",
        ),
        pytest.param(
            NOT_READY,
            [NR],
            timedelta(seconds=60),
            "False",
            "ClusterNotReady",
            {f"{TAINT_NOT_READY}:NoSchedule", f"{TAINT_NOT_READY}:NoExecute"},
            id="not ready for the whole grace: NoExecute too",
        ),
        pytest.param(
            UNREACHABLE,
            [UR],
            timedelta(minutes=5),
            "Unknown",
            "ClusterUnreachable",
            {f"{TAINT_UNREACHABLE}:NoSchedule", f"{TAINT_UNREACHABLE}:NoExecute"},
            id="unreachable past the grace: unreachable NoSchedule and NoExecute",
        ),
        pytest.param(
            NOT_READY,
            [OK],
            timedelta(minutes=5),
            "False",
            "ClusterNotReady",
            {f"{TAINT_NOT_READY}:NoSchedule", f"{TAINT_NOT_READY}:NoExecute"},
            id="1 success of the 2 needed: still not ready and tainted",
        ),
        pytest.param(
            NOT_READY,
            [OK, OK],
            timedelta(minutes=5),
            "True",
            "ClusterReady",
            set(),
            id="2 successes in a row: ready again and every taint cleared",
        ),
        pytest.param(
            UNREACHABLE,
            [NR, NR],
            timedelta(0),
            "False",
            "ClusterNotReady",
            {f"{TAINT_NOT_READY}:NoSchedule"},
            id="unreachable, then answering but not ready twice: False and the not-ready taint",
        ),
        pytest.param(
            READY,
            [NR, UR],
            timedelta(0),
            "True",
            "ClusterReady",
            set(),
            id="a failure of each kind is not 2 in a row: still ready",
        ),
    ],
)
def test_decide_health(
    current: Condition | None,
    outcomes: list[ProbeOutcome],
    bad_for: timedelta,
    status: str,
    reason: str,
    expected_taints: set[str],
) -> None:
    decision = decide(current, outcomes, bad_for=bad_for)
    assert (decision.ready.type, decision.ready.status, decision.ready.reason) == ("Ready", status, reason)
    assert taints(decision) == expected_taints


def test_no_execute_is_rechecked_when_the_grace_ends_and_stamped_at_its_end() -> None:
    early = decide(NOT_READY, [NR], bad_for=timedelta(seconds=20))
    assert early.recheck_after == timedelta(seconds=40)
    late = decide(NOT_READY, [NR], bad_for=timedelta(seconds=90))
    assert late.recheck_after is None
    times = {t["effect"]: t["timeAdded"] for t in late.taints}
    assert times == {"NoSchedule": "2026-12-01T11:58:30Z", "NoExecute": "2026-12-01T11:59:30Z"}


def test_a_probe_reason_overrides_the_outcome_reason() -> None:
    probe = Probe(ProbeOutcome.UNREACHABLE, "no agent", reason="AgentNotAvailable")
    decision = decide_health(
        current=None, current_since=None, history=ProbeHistory(), probe=probe, now=NOW, thresholds=THRESHOLDS
    )
    assert decision.ready == Condition.unknown("Ready", "AgentNotAvailable", "no agent")
