"""An EtcdCluster's status from what was observed and decided: pure.

Conditions: `Ready` (Available and Healthy), `Available` (a healthy quorum answered kokpit itself),
`Healthy` (every wanted member is a healthy voter), `Progressing` (what is being done, or why nothing
can be), `BackupReady` (when backups are scheduled), and the warnings `EvenSize` and
`VersionAvailable`. The controller stores them through `kokpit.runtime.status_writer`; which types it
owns depends on the spec (`owned_conditions`), so `EvenSize` and `BackupReady` disappear when the
spec no longer calls for them (server-side apply drops what the writer no longer owns).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kokpit.api.etcd import EtcdPhase
from kokpit.etcd.planner import Action, Kind, MemberView, quorum, version_key
from kokpit.runtime import Condition, StatusPatch, format_time

REPAIR_REASONS = frozenset(
    {"ReplacingMember", "MemberDown", "LearnerStuck", "OrphanComponent", "StrayMember", "StartingLearner"}
)
DEGRADED_REASONS = frozenset({"MemberUnhealthy", "QuorumAtRisk", "NoQuorum"})


@dataclass(frozen=True)
class MemberReport:
    """A member view plus what status shows of it beyond the planner's needs."""

    view: MemberView
    client_url: str | None = None
    peer_url: str | None = None
    db_size: int | None = None
    unhealthy_since: datetime | None = None


@dataclass(frozen=True)
class Problem:
    """Something that stops progress until the spec or the world changes (shown in Progressing)."""

    reason: str
    message: str


def phase_of(action: Action, *, available: bool, healthy: bool, problem: Problem | None) -> EtcdPhase:
    """`phase_of` is the one-word summary of the cluster."""
    if problem is not None:
        return EtcdPhase.FAILED if not available else EtcdPhase.DEGRADED
    if action.reason == "Paused":
        return EtcdPhase.PAUSED
    if action.kind is Kind.BOOTSTRAP or action.reason == "Bootstrapping":
        return EtcdPhase.CREATING
    if action.kind is Kind.UPGRADE:
        return EtcdPhase.UPGRADING
    if action.reason in REPAIR_REASONS:
        return EtcdPhase.REPAIRING
    if action.kind in (Kind.ADD, Kind.PROMOTE, Kind.REMOVE) or action.reason in ("LearnerCatchingUp",):
        return EtcdPhase.SCALING
    if action.reason in DEGRADED_REASONS or not available:
        return EtcdPhase.DEGRADED
    return EtcdPhase.RUNNING if healthy else EtcdPhase.DEGRADED


def member_status(report: MemberReport) -> dict[str, Any]:
    view = report.view
    out: dict[str, Any] = {
        "name": view.name,
        "healthy": view.healthy,
        "isLeader": view.leader,
        "isLearner": view.learner,
        "running": view.running,
    }
    if view.id is not None:
        out["id"] = f"{view.id:x}"
    if report.client_url:
        out["clientURL"] = report.client_url
    if report.peer_url:
        out["peerURL"] = report.peer_url
    if report.db_size is not None:
        out["dbSize"] = report.db_size
    if view.version:
        out["version"] = view.version
    if report.unhealthy_since is not None:
        out["unhealthySince"] = format_time(report.unhealthy_since)
    return out


BASE_CONDITIONS = ("Ready", "Available", "Healthy", "Progressing", "VersionAvailable")


def owned_conditions(*, size: int, backups_scheduled: bool) -> tuple[str, ...]:
    """`owned_conditions` are the condition types the EtcdCluster controller writes for this spec."""
    return (
        *BASE_CONDITIONS,
        *(("EvenSize",) if size % 2 == 0 else ()),
        *(("BackupReady",) if backups_scheduled else ()),
    )


@dataclass(frozen=True)
class ClusterStatus:
    """The status one pass computed: top-level fields and conditions, and the condition types owned."""

    fields: dict[str, Any]
    conditions: tuple[Condition, ...]
    owned: tuple[str, ...] = field(default=BASE_CONDITIONS)

    def write(self, patch: StatusPatch) -> None:
        """`write` records this status in `patch` (a status writer owning `owned`)."""
        patch.fields.clear()
        patch.fields.update(self.fields)
        for condition in self.conditions:
            patch.set(condition)


def cluster_status(
    *,
    size: int,
    generation: int | None,
    members: Sequence[MemberReport],
    reachable: bool,
    action: Action,
    version: str,
    version_available: bool,
    client_secret: str,
    problem: Problem | None = None,
    unreachable: Problem | None = None,
    backup: Problem | None = None,
    backups_scheduled: bool = False,
    last_backup: Mapping[str, Any] | None = None,
) -> ClusterStatus:
    """`cluster_status` is the whole status the controller writes. `reachable` means kokpit itself got
    the member list from a member; `unreachable` says why no member could be reached from here (shown
    in Available and Ready instead of a bare NoQuorum); `backup` is the last scheduled backup's
    failure (None when it worked or none was due)."""
    voting = [m.view for m in members if m.view.id is not None and not m.view.learner]
    healthy_voting = [m for m in voting if m.healthy]
    learners = [m.view for m in members if m.view.learner]
    available = reachable and bool(voting) and len(healthy_voting) >= quorum(len(voting))
    healthy = available and len(healthy_voting) == len(voting) == size and not learners
    leader = next((m.name for m in voting if m.leader), None)
    versions = [m.version for m in voting if m.version]
    current_version = min(versions, key=version_key) if versions else None

    conditions: list[Condition] = []
    if available:
        conditions.append(
            Condition.true(
                "Available", "QuorumHealthy", f"{len(healthy_voting)} of {len(voting)} voting members healthy"
            )
        )
    elif unreachable is not None and not reachable:
        conditions.append(Condition.false("Available", unreachable.reason, unreachable.message))
    elif not voting:
        conditions.append(Condition.false("Available", "NotCreated", "no member has joined yet"))
    else:
        conditions.append(
            Condition.false(
                "Available", "NoQuorum", f"{len(healthy_voting)} of {len(voting)} voting members healthy"
            )
        )
    if healthy:
        conditions.append(Condition.true("Healthy", "AllMembersHealthy", f"{size} healthy members"))
    else:
        unhealthy = sorted(m.name for m in voting if not m.healthy)
        detail = f"unhealthy: {', '.join(unhealthy)}; " if unhealthy else ""
        conditions.append(
            Condition.false(
                "Healthy",
                "MembersUnhealthy" if unhealthy else "SizeMismatch",
                f"{detail}{len(healthy_voting)} healthy voters and {len(learners)} learners for size {size}",
            )
        )
    if problem is not None:
        conditions.append(Condition.false("Progressing", problem.reason, problem.message))
    elif action.kind in (Kind.NONE, Kind.BLOCKED):
        conditions.append(Condition.false("Progressing", action.reason, action.message))
    else:
        conditions.append(Condition.true("Progressing", action.reason, action.message))
    conditions.append(_ready(available=available, healthy=healthy, problem=problem, unreachable=unreachable))
    if size % 2 == 0:
        conditions.append(
            Condition.true(
                "EvenSize",
                "EvenSize",
                f"{size} members tolerate {(size - 1) // 2} failures, as {size - 1} do; prefer an odd size",
            )
        )
    if version_available:
        conditions.append(
            Condition.true("VersionAvailable", "VersionAvailable", f"etcd {version} is available")
        )
    else:
        conditions.append(
            Condition.false(
                "VersionAvailable",
                "VersionUnavailable",
                f"etcd {version} is not built or not known; members keep their current version",
            )
        )
    if backups_scheduled:
        if backup is not None:
            conditions.append(Condition.false("BackupReady", backup.reason, backup.message))
        elif last_backup:
            conditions.append(
                Condition.true("BackupReady", "BackupTaken", f"last snapshot {last_backup.get('path')}")
            )
        else:
            conditions.append(Condition.false("BackupReady", "NoBackupYet", "no snapshot taken yet"))

    fields: dict[str, Any] = {
        "phase": phase_of(action, available=available, healthy=healthy, problem=problem).value,
        "size": len(voting),
        "readyMembers": len(healthy_voting),
        "members": [member_status(m) for m in members],
        "clientEndpoints": [
            m.client_url for m in members if m.client_url and m.view.id is not None and not m.view.learner
        ],
        "clientSecretRef": {"name": client_secret},
    }
    if generation is not None:
        fields["observedGeneration"] = generation
    if leader:
        fields["leader"] = leader
    if current_version:
        fields["currentVersion"] = current_version
    if last_backup:
        fields["lastBackup"] = dict(last_backup)
    return ClusterStatus(
        fields=fields,
        conditions=tuple(conditions),
        owned=owned_conditions(size=size, backups_scheduled=backups_scheduled),
    )


def _ready(
    *, available: bool, healthy: bool, problem: Problem | None, unreachable: Problem | None
) -> Condition:
    """Ready is True only when kokpit reached a healthy quorum and every wanted member is a healthy
    voter; otherwise it carries the most telling reason: what stops progress, why the members cannot
    be reached, or plainly NotReady."""
    if available and healthy:
        return Condition.true("Ready", "Ready", "available and healthy")
    if problem is not None:
        return Condition.false("Ready", problem.reason, problem.message)
    if unreachable is not None and not available:
        return Condition.false("Ready", unreachable.reason, unreachable.message)
    return Condition.false("Ready", "NotReady", "not every wanted member is a healthy voter")
