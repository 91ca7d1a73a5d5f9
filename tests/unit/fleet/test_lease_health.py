"""A Pull member judged by its agent's Lease and report: table tests of `kokpit.fleet.lease_health`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kokpit.fleet.health import Probe, ProbeHistory, ProbeOutcome, Thresholds, decide_health
from kokpit.fleet.lease_health import (
    AGENT_LEASE_EXPIRED,
    AGENT_NOT_AVAILABLE,
    AGENT_REPORT_PENDING,
    LeaseSighting,
    agent_report,
    judge_agent,
    revived,
    sight,
)
from kokpit.runtime import Condition
from kokpit.runtime.leader import LeaseRecord

WALL = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)


def record(holder: str | None = "host-a", *, renewed: datetime = WALL, duration: float = 40) -> LeaseRecord:
    return LeaseRecord(holder=holder, lease_duration=duration, renew_time=renewed)


READY = Condition.true("Healthy", "ClusterReady", "the member's API server is ready")
NOT_READY = Condition.false("Healthy", "ClusterNotReady", "/readyz answered HTTP 500")
UNREACHABLE = Condition.unknown("Healthy", "ClusterUnreachable", "/readyz did not answer")


@pytest.mark.parametrize(
    ("previous", "new", "now", "renewed_at"),
    [
        pytest.param(None, record(), 100.0, 100.0, id="first sighting renewed just now: counts from now"),
        pytest.param(
            None, record(renewed=WALL - timedelta(seconds=30)), 100.0, 70.0, id="first sighting, 30s old"
        ),
        pytest.param(
            None, record(renewed=WALL + timedelta(seconds=30)), 100.0, 100.0, id="agent clock ahead: now"
        ),
        pytest.param(LeaseSighting(record(), 50.0), record(), 100.0, 50.0, id="unchanged: keeps its time"),
        pytest.param(
            LeaseSighting(record(renewed=WALL - timedelta(seconds=10)), 50.0),
            record(renewed=WALL - timedelta(hours=5)),
            100.0,
            100.0,
            id="changed, even to an older renewTime: renewed now (the agent's clock is not believed)",
        ),
    ],
)
def test_a_lease_counts_as_renewed_when_the_hub_sees_it_change(
    previous: LeaseSighting | None, new: LeaseRecord, now: float, renewed_at: float
) -> None:
    assert sight(previous, new, monotonic=now, wall=WALL).renewed_at == renewed_at


@pytest.mark.parametrize(
    ("sighting", "report", "now", "outcome", "reason", "decisive"),
    [
        pytest.param(None, READY, 0.0, ProbeOutcome.UNREACHABLE, AGENT_NOT_AVAILABLE, True, id="no lease"),
        pytest.param(
            LeaseSighting(record(), 0.0),
            READY,
            39.0,
            ProbeOutcome.READY,
            "ClusterReady",
            False,
            id="fresh, ready",
        ),
        pytest.param(
            LeaseSighting(record(), 0.0),
            NOT_READY,
            1.0,
            ProbeOutcome.NOT_READY,
            "ClusterNotReady",
            False,
            id="fresh, the member not ready",
        ),
        pytest.param(
            LeaseSighting(record(), 0.0),
            UNREACHABLE,
            1.0,
            ProbeOutcome.UNREACHABLE,
            "ClusterUnreachable",
            False,
            id="fresh, the agent cannot reach its member",
        ),
        pytest.param(
            LeaseSighting(record(), 0.0),
            None,
            1.0,
            ProbeOutcome.UNREACHABLE,
            AGENT_REPORT_PENDING,
            False,
            id="fresh, no report yet",
        ),
        pytest.param(
            LeaseSighting(record(), 0.0),
            READY,
            40.0,
            ProbeOutcome.UNREACHABLE,
            AGENT_LEASE_EXPIRED,
            True,
            id="not renewed for its 40s: expired, whatever the last report said",
        ),
        pytest.param(
            LeaseSighting(record(holder=None), 0.0),
            READY,
            1.0,
            ProbeOutcome.UNREACHABLE,
            AGENT_LEASE_EXPIRED,
            True,
            id="released",
        ),
    ],
)
def test_a_pull_member_is_judged_by_lease_then_report(
    sighting: LeaseSighting | None,
    report: Condition | None,
    now: float,
    outcome: ProbeOutcome,
    reason: str,
    decisive: bool,
) -> None:
    judgement = judge_agent("edge1", sighting, report, monotonic=now)
    assert (judgement.probe.outcome, judgement.probe.reason, judgement.decisive) == (
        outcome,
        reason,
        decisive,
    )
    if outcome == ProbeOutcome.UNREACHABLE and reason != "ClusterUnreachable":
        assert "kokpit-es-edge1/kokpit-agent" in judgement.probe.message


def test_a_fresh_lease_asks_to_be_looked_at_again_when_it_would_expire() -> None:
    judgement = judge_agent("edge1", LeaseSighting(record(), 100.0), READY, monotonic=130.0)
    assert judgement.recheck_after == timedelta(seconds=10)


def test_an_expired_lease_makes_the_cluster_unknown_and_tainted_at_once_then_no_execute_after_the_grace() -> (
    None
):
    thresholds = Thresholds(failure_threshold=3, no_execute_grace=timedelta(seconds=60))
    judgement = judge_agent("edge1", LeaseSighting(record(), 0.0), READY, monotonic=41.0)
    history = ProbeHistory()
    history.record(judgement.probe.outcome)
    ready = Condition.true("Ready", "ClusterReady")
    decision = decide_health(
        current=ready,
        current_since=WALL - timedelta(hours=1),
        history=history,
        probe=judgement.probe,
        now=WALL,
        thresholds=judgement.thresholds(thresholds),
    )
    assert (decision.ready.status, decision.ready.reason) == ("Unknown", AGENT_LEASE_EXPIRED)
    assert [(t["key"], t["effect"]) for t in decision.taints] == [
        ("cluster.kokpit.io/unreachable", "NoSchedule")
    ]
    later = decide_health(
        current=decision.ready,
        current_since=WALL,
        history=history,
        probe=judgement.probe,
        now=WALL + timedelta(seconds=61),
        thresholds=judgement.thresholds(thresholds),
    )
    assert [t["effect"] for t in later.taints] == ["NoSchedule", "NoExecute"]


def test_a_member_the_agent_reports_not_ready_waits_for_the_usual_threshold() -> None:
    thresholds = Thresholds(failure_threshold=2)
    judgement = judge_agent("edge1", LeaseSighting(record(), 0.0), NOT_READY, monotonic=1.0)
    assert judgement.thresholds(thresholds) == thresholds


@pytest.mark.parametrize(
    ("old", "new", "wakes"),
    [
        pytest.param(record(), record(renewed=WALL + timedelta(seconds=10)), False, id="a plain renewal"),
        pytest.param(record(), record(holder="host-b"), True, id="a new holder"),
        pytest.param(record(holder=None), record(), True, id="taken after a release"),
        pytest.param(record(), record(duration=20), True, id="a new duration"),
    ],
)
def test_only_lease_changes_that_matter_wake_the_hub(old: LeaseRecord, new: LeaseRecord, wakes: bool) -> None:
    assert revived(old, new) is wakes


@pytest.mark.parametrize(
    ("probe", "status", "reason"),
    [
        pytest.param(Probe(ProbeOutcome.READY, "ok"), "True", "ClusterReady", id="ready"),
        pytest.param(Probe(ProbeOutcome.NOT_READY, "HTTP 500"), "False", "ClusterNotReady", id="not ready"),
        pytest.param(
            Probe(ProbeOutcome.UNREACHABLE, "refused"), "Unknown", "ClusterUnreachable", id="unreachable"
        ),
    ],
)
def test_what_an_agent_reports_the_hub_reads_back_as_the_same_probe(
    probe: Probe, status: str, reason: str
) -> None:
    report = agent_report(probe)
    assert (report.type, report.status, report.reason) == ("Healthy", status, reason)
    judged = judge_agent("edge1", LeaseSighting(record(), 0.0), report, monotonic=1.0).probe
    assert judged.outcome == probe.outcome
