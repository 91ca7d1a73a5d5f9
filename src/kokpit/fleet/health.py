"""How a member's probes turn into its `Ready` condition and its taints.

Pure. One probe is noisy (a slow answer, a restarting API server), so the condition changes only
after `failure_threshold` consecutive failed probes, and back after `success_threshold` good ones
(Karmada's cluster-failure/success thresholds). A member that answers but is not ready is
`Ready=False` and tainted `cluster.kokpit.io/not-ready`; one that does not answer at all is
`Ready=Unknown` and tainted `cluster.kokpit.io/unreachable`. The taint's effect is NoSchedule at
once (nothing new goes there) and, once the condition has been bad for `no_execute_grace`,
NoExecute too (what runs there may be moved elsewhere by failover).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from kokpit.runtime import Condition, format_time

READY = "Ready"

TAINT_NOT_READY = "cluster.kokpit.io/not-ready"
TAINT_UNREACHABLE = "cluster.kokpit.io/unreachable"
HEALTH_TAINT_KEYS = (TAINT_NOT_READY, TAINT_UNREACHABLE)


class ProbeOutcome(StrEnum):
    READY = "Ready"
    NOT_READY = "NotReady"
    UNREACHABLE = "Unreachable"


@dataclass(frozen=True)
class Probe:
    """One look at a member: what `/readyz` said, and a message for people."""

    outcome: ProbeOutcome
    message: str
    reason: str = ""
    """The condition's reason when it is more precise than the outcome's (e.g. `AgentNotAvailable`)."""


@dataclass(frozen=True)
class Thresholds:
    failure_threshold: int = 2
    success_threshold: int = 1
    no_execute_grace: timedelta = timedelta(seconds=60)


@dataclass
class ProbeHistory:
    """Consecutive outcomes of the latest probes of one member (kept in memory by the controller).

    Losing it on a restart only delays the next transition by a few probes: the condition itself
    lives in the Cluster's status.
    """

    outcome: ProbeOutcome | None = None
    count: int = 0

    def record(self, outcome: ProbeOutcome) -> None:
        if outcome == self.outcome:
            self.count += 1
        else:
            self.outcome, self.count = outcome, 1


@dataclass(frozen=True)
class HealthDecision:
    ready: Condition
    taints: list[dict[str, Any]] = field(default_factory=list)
    """The health taints the member should carry (only kokpit's own keys)."""
    recheck_after: timedelta | None = None
    """When the decision may change without a new probe (the NoExecute grace ending)."""


_CONDITION_OF = {
    ProbeOutcome.READY: Condition.true(READY, "ClusterReady", "the member's API server is ready"),
    ProbeOutcome.NOT_READY: Condition.false(READY, "ClusterNotReady"),
    ProbeOutcome.UNREACHABLE: Condition.unknown(READY, "ClusterUnreachable"),
}


def decide_health(
    *,
    current: Condition | None,
    current_since: datetime | None,
    history: ProbeHistory,
    probe: Probe,
    now: datetime,
    thresholds: Thresholds,
) -> HealthDecision:
    """The `Ready` condition and health taints after `probe` (already recorded in `history`).

    `current`/`current_since` are the condition on the Cluster now and its lastTransitionTime.
    A first probe (no current condition) decides at once, so a new member is Ready quickly.
    """
    wanted = _CONDITION_OF[probe.outcome]
    needed = (
        thresholds.success_threshold if probe.outcome == ProbeOutcome.READY else thresholds.failure_threshold
    )
    observed = Condition(READY, wanted.status, probe.reason or wanted.reason, probe.message or wanted.message)
    if current is None or (current.status != wanted.status and history.count >= needed):
        ready, since = observed, now
    elif current.status == wanted.status:
        ready, since = observed, current_since or now
    else:
        ready = current
        since = current_since or now

    if ready.status == "True":
        return HealthDecision(ready=ready)
    key = TAINT_NOT_READY if ready.status == "False" else TAINT_UNREACHABLE
    taints = [{"key": key, "effect": "NoSchedule", "timeAdded": format_time(since)}]
    bad_for = now - since
    if bad_for >= thresholds.no_execute_grace:
        taints.append(
            {"key": key, "effect": "NoExecute", "timeAdded": format_time(since + thresholds.no_execute_grace)}
        )
        return HealthDecision(ready=ready, taints=taints)
    return HealthDecision(ready=ready, taints=taints, recheck_after=thresholds.no_execute_grace - bad_for)
