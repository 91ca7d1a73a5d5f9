"""How the hub judges a Pull member it cannot reach: by its agent's Lease and what the agent reports.

Pure. The hub never dials a Pull member; its agent renews the Lease `kokpit-agent` in the member's
execution namespace and writes the `Healthy` condition of the Cluster (`AGENT_CONDITION`: its own
probe of the member's API server). Each pass of the cluster reconciler turns those into one `Probe`,
which then goes through the fleet's usual thresholds and taints (`health.decide_health`):

- no Lease: no agent has come yet (`AgentNotAvailable`);
- a Lease not renewed for its duration: the agent is gone or cut off (`AgentLeaseExpired`), which
  decides at once: the lease duration already was the grace;
- a fresh Lease: the agent's report, or `AgentReportPending` until it made one.

Freshness is measured on the hub's own clock, as the Kubernetes node lifecycle controller and leader
election do: a Lease counts as renewed when the hub sees its record change, so the agent's clock never
matters. Only a Lease first seen (the hub just started) is dated by its `renewTime`, so an agent that
died before the hub started is not trusted for another full duration.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from kokpit.fleet.health import Probe, ProbeOutcome, Thresholds
from kokpit.fleet.names import AGENT_LEASE_NAME, execution_namespace
from kokpit.runtime import Condition
from kokpit.runtime.conditions import FALSE, TRUE, UNKNOWN
from kokpit.runtime.leader import LeaseRecord

AGENT_CONDITION = "Healthy"
"""The Cluster condition an agent writes: its member's API server as the agent last probed it."""

AGENT_NOT_AVAILABLE = "AgentNotAvailable"
AGENT_LEASE_EXPIRED = "AgentLeaseExpired"
AGENT_REPORT_PENDING = "AgentReportPending"


_REPORT_OF = {
    ProbeOutcome.READY: (TRUE, "ClusterReady"),
    ProbeOutcome.NOT_READY: (FALSE, "ClusterNotReady"),
    ProbeOutcome.UNREACHABLE: (UNKNOWN, "ClusterUnreachable"),
}


def agent_report(probe: Probe) -> Condition:
    """`agent_report` is the `Healthy` condition an agent writes for its probe of the member: what
    `judge_agent` reads back on the hub (the reasons are those of the hub's own probes)."""
    status, reason = _REPORT_OF[probe.outcome]
    return Condition(AGENT_CONDITION, status, probe.reason or reason, probe.message)


@dataclass(frozen=True)
class LeaseSighting:
    """A Lease record and the hub's monotonic time from which it counts as renewed."""

    record: LeaseRecord
    renewed_at: float


def sight(
    previous: LeaseSighting | None, record: LeaseRecord, *, monotonic: float, wall: datetime
) -> LeaseSighting:
    """`sight` keeps `previous` while the record is unchanged; a changed record was renewed now; a
    record seen for the first time was renewed as long ago as its `renewTime` says (never later than
    now), the one moment the agent's clock is believed."""
    if previous is not None:
        return previous if previous.record == record else LeaseSighting(record, monotonic)
    age = 0.0
    if record.renew_time is not None:
        age = max(0.0, (wall - record.renew_time).total_seconds())
    return LeaseSighting(record, monotonic - age)


@dataclass(frozen=True)
class AgentJudgement:
    """What the hub makes of a Pull member in one pass."""

    probe: Probe
    decisive: bool = False
    """True when the probe needs no run of consecutive observations (the lease already was one)."""
    recheck_after: timedelta | None = None
    """When the judgement changes without any event: the fresh lease expiring."""

    def thresholds(self, base: Thresholds) -> Thresholds:
        """The thresholds to decide with: `base`, or one failure enough when the judgement is decisive."""
        return replace(base, failure_threshold=1) if self.decisive else base


def judge_agent(
    cluster: str, sighting: LeaseSighting | None, report: Condition | None, *, monotonic: float
) -> AgentJudgement:
    """`judge_agent` turns the agent Lease of Pull member `cluster` (as sighted) and the agent's
    `Healthy` condition (`report`, None when absent) into one probe for `decide_health`."""
    where = f"{execution_namespace(cluster)}/{AGENT_LEASE_NAME}"
    if sighting is None:
        return AgentJudgement(
            Probe(
                ProbeOutcome.UNREACHABLE,
                f"no kokpit agent has renewed the Lease {where} yet (run kokpit agent next to the member)",
                reason=AGENT_NOT_AVAILABLE,
            ),
            decisive=True,
        )
    record = sighting.record
    left = sighting.renewed_at + record.lease_duration - monotonic
    if not record.holder or left <= 0:
        why = "released" if not record.holder else f"not renewed within its {record.lease_duration:g}s"
        return AgentJudgement(
            Probe(
                ProbeOutcome.UNREACHABLE,
                f"the kokpit agent's Lease {where} was {why}: the agent stopped or lost the hub",
                reason=AGENT_LEASE_EXPIRED,
            ),
            decisive=True,
        )
    recheck = timedelta(seconds=left)
    if report is None:
        probe = Probe(
            ProbeOutcome.UNREACHABLE,
            f"the kokpit agent renews {where} but has not reported on its member yet",
            reason=AGENT_REPORT_PENDING,
        )
        return AgentJudgement(probe, recheck_after=recheck)
    outcome = {TRUE: ProbeOutcome.READY, FALSE: ProbeOutcome.NOT_READY}.get(
        report.status, ProbeOutcome.UNREACHABLE
    )
    message = f"reported by the kokpit agent: {report.message}" if report.message else ""
    return AgentJudgement(Probe(outcome, message, reason=report.reason), recheck_after=recheck)


def revived(old: LeaseRecord, new: LeaseRecord) -> bool:
    """`revived` says whether a Lease update deserves a pass at once rather than at the next period:
    a new holder, or a record released before and held now. Plain renewals do not (they would
    wake the hub for every agent every few seconds); expiry is found by `recheck_after`."""
    return old.holder != new.holder or old.lease_duration != new.lease_duration


__all__ = [
    "AGENT_CONDITION",
    "AGENT_LEASE_EXPIRED",
    "AGENT_NOT_AVAILABLE",
    "AGENT_REPORT_PENDING",
    "AgentJudgement",
    "LeaseSighting",
    "agent_report",
    "judge_agent",
    "revived",
    "sight",
]
