"""An EtcdCluster's status from what was observed and decided: pure.

Conditions: `Ready` (Available and Healthy), `Available` (a healthy quorum answers), `Healthy` (every
wanted member is a healthy voter), `Progressing` (what is being done, or why nothing can be),
`BackupReady` (when backups are scheduled), and the warnings `EvenSize` and `VersionAvailable`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kokpit.api.etcd import EtcdPhase
from kokpit.etcd.planner import Action, Kind, MemberView, quorum, version_key
from kokpit.runtime.conditions import StoredCondition as Condition
from kokpit.runtime.conditions import format_time, remove_condition, set_condition

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
    previous: Mapping[str, Any] | None = None,
    problem: Problem | None = None,
    backup: Problem | None = None,
    backups_scheduled: bool = False,
    last_backup: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """`cluster_status` is the whole status the controller writes. `backup` is the last scheduled
    backup's failure (None when it worked or none was due); `previous` is the status read back, whose
    conditions keep their transition times."""
    previous = previous or {}
    voting = [m.view for m in members if m.view.id is not None and not m.view.learner]
    healthy_voting = [m for m in voting if m.healthy]
    learners = [m.view for m in members if m.view.learner]
    available = reachable and bool(voting) and len(healthy_voting) >= quorum(len(voting))
    healthy = available and len(healthy_voting) == len(voting) == size and not learners
    leader = next((m.name for m in voting if m.leader), None)
    versions = [m.version for m in voting if m.version]
    current_version = min(versions, key=version_key) if versions else None

    conditions: list[Condition] = list(previous.get("conditions") or [])

    def put(type_: str, status: bool, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = set_condition(
            conditions, type_, status, reason, message, observed_generation=generation, now=now
        )

    if available:
        put(
            "Available",
            True,
            "QuorumHealthy",
            f"{len(healthy_voting)} of {len(voting)} voting members healthy",
        )
    elif not voting:
        put("Available", False, "NotCreated", "no member has joined yet")
    else:
        put("Available", False, "NoQuorum", f"{len(healthy_voting)} of {len(voting)} voting members healthy")
    if healthy:
        put("Healthy", True, "AllMembersHealthy", f"{size} healthy members")
    else:
        unhealthy = sorted(m.name for m in voting if not m.healthy)
        detail = f"unhealthy: {', '.join(unhealthy)}; " if unhealthy else ""
        put(
            "Healthy",
            False,
            "MembersUnhealthy" if unhealthy else "SizeMismatch",
            f"{detail}{len(healthy_voting)} healthy voters and {len(learners)} learners for size {size}",
        )
    if problem is not None:
        put("Progressing", False, problem.reason, problem.message)
    elif action.kind in (Kind.NONE, Kind.BLOCKED):
        put("Progressing", False, action.reason, action.message)
    else:
        put("Progressing", True, action.reason, action.message)
    put(
        "Ready",
        available and healthy,
        "Ready" if available and healthy else "NotReady",
        "available and healthy" if available and healthy else "not every wanted member is a healthy voter",
    )
    if size % 2 == 0:
        put(
            "EvenSize",
            True,
            "EvenSize",
            f"{size} members tolerate {(size - 1) // 2} failures, as {size - 1} do; prefer an odd size",
        )
    else:
        conditions = remove_condition(conditions, "EvenSize")
    if version_available:
        put("VersionAvailable", True, "VersionAvailable", f"etcd {version} is available")
    else:
        put(
            "VersionAvailable",
            False,
            "VersionUnavailable",
            f"etcd {version} is not built or not known; members keep their current version",
        )
    if backups_scheduled:
        if backup is not None:
            put("BackupReady", False, backup.reason, backup.message)
        elif last_backup:
            put("BackupReady", True, "BackupTaken", f"last snapshot {last_backup.get('path')}")
        else:
            put("BackupReady", False, "NoBackupYet", "no snapshot taken yet")
    else:
        conditions = remove_condition(conditions, "BackupReady")

    status: dict[str, Any] = {
        "phase": phase_of(action, available=available, healthy=healthy, problem=problem).value,
        "size": len(voting),
        "readyMembers": len(healthy_voting),
        "members": [member_status(m) for m in members],
        "clientEndpoints": [
            m.client_url for m in members if m.client_url and m.view.id is not None and not m.view.learner
        ],
        "clientSecretRef": {"name": client_secret},
        "conditions": conditions,
    }
    if generation is not None:
        status["observedGeneration"] = generation
    if leader:
        status["leader"] = leader
    if current_version:
        status["currentVersion"] = current_version
    if last_backup:
        status["lastBackup"] = dict(last_backup)
    return status
