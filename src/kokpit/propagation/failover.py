"""Failover: when a resource must leave a cluster it is on, and when the copy it leaves behind may go.

Pure decisions over plain data; the binding reconciler (`kokpit.propagation.binding_controller`) gathers
the clusters, the binding's tasks and the Works, calls these functions, writes the result into the
binding and asks to be woken at the returned moment. Nothing here remembers anything between calls:
every deadline is computed from a time stored on a resource (a taint's `timeAdded`, a Work condition's
`lastTransitionTime`, a task's `creationTimestamp`), so a restarted hub decides the same.

**Cluster failover** (`taint_eviction`): a NoExecute taint evicts the resource from a cluster unless a
`clusterTolerations` entry tolerates it; a toleration with `tolerationSeconds` tolerates it for that long
after the taint's `timeAdded` (the shortest of the matching tolerations wins, as in core/v1; a taint
without `timeAdded` counts as added long ago). kokpit's own health taints (`cluster.kokpit.io/
not-ready` and `/unreachable`) turn NoExecute once a cluster has been bad for the hub's `no_execute_grace`.
The copy left behind is purged Graciously, with `CLUSTER_GRACE_PERIOD_SECONDS` at the latest.

**Application failover** (`application_eviction`, the policy's `failover.application`): a workload whose
copy on a cluster has been Unhealthy for `decisionConditions.tolerationSeconds` (default 300) is evicted
from it, the copy purged per `purgeMode` and `gracePeriodSeconds`. Unknown health (a cluster not heard
from) is the cluster failover's business, not this one's.

**Eviction tasks** (`open_tasks`, `settle_tasks`; the binding's `spec.gracefulEvictionTasks`): an evicted
cluster leaves the placement at once and the scheduler places its replicas elsewhere (the cluster is not
feasible while its task lasts). With purgeMode Immediately its copy is removed at once and no task is
kept. With Graciously a task keeps the copy until every cluster of the new placement reports the
workload healthy, or until the task's deadline (creationTimestamp + gracePeriodSeconds). With Never the
task (suppressDeletion true) keeps the copy until someone removes the task or sets suppressDeletion to
false.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kokpit.api.policy import (
    DEFAULT_APPLICATION_TOLERATION_SECONDS,
    DEFAULT_GRACE_PERIOD_SECONDS,
    ApplicationFailoverBehavior,
    PurgeMode,
    Toleration,
)
from kokpit.propagation.clusters import ClusterInfo
from kokpit.propagation.scheduler import tolerates
from kokpit.runtime.conditions import format_time, parse_time

TAINT_UNTOLERATED = "TaintUntolerated"
"""Eviction reason: a NoExecute taint no toleration tolerates (any more). Karmada's reason."""
APPLICATION_FAILURE = "ApplicationFailure"
"""Eviction reason: the workload stayed unhealthy on the cluster. Karmada's reason."""
TAINT_PRODUCER = "kokpit-taint-eviction"
"""Producer of the tasks of cluster failover."""
APPLICATION_PRODUCER = "kokpit-application-failover"
"""Producer of the tasks of application failover."""
CLUSTER_GRACE_PERIOD_SECONDS = DEFAULT_GRACE_PERIOD_SECONDS
"""The longest a copy on a cluster evicted by a taint is kept while its replacement gets healthy."""


@dataclass(frozen=True)
class Eviction:
    """A decision that the resource leaves `cluster`, and how its copy there is purged."""

    cluster: str
    reason: str
    message: str
    producer: str
    purge_mode: PurgeMode = PurgeMode.GRACIOUSLY
    grace_period_seconds: int | None = CLUSTER_GRACE_PERIOD_SECONDS


@dataclass(frozen=True)
class EvictionTask:
    """One entry of a binding's `spec.gracefulEvictionTasks`, as plain data."""

    from_cluster: str
    reason: str
    producer: str
    purge_mode: PurgeMode = PurgeMode.GRACIOUSLY
    message: str = ""
    replicas: int | None = None
    grace_period_seconds: int | None = None
    suppress_deletion: bool | None = None
    creation_timestamp: datetime | None = None

    @property
    def deadline(self) -> datetime | None:
        """When a Graciously task ends even if the replacement is not healthy yet."""
        if self.purge_mode is not PurgeMode.GRACIOUSLY or self.creation_timestamp is None:
            return None
        seconds = (
            DEFAULT_GRACE_PERIOD_SECONDS if self.grace_period_seconds is None else self.grace_period_seconds
        )
        return self.creation_timestamp + timedelta(seconds=seconds)

    def to_dict(self) -> dict[str, Any]:
        """The task as the binding's spec holds it (camelCase, unset fields left out)."""
        body: dict[str, Any] = {
            "fromCluster": self.from_cluster,
            "purgeMode": str(self.purge_mode),
            "reason": self.reason,
            "producer": self.producer,
        }
        if self.message:
            body["message"] = self.message[:1024]
        if self.replicas is not None:
            body["replicas"] = self.replicas
        if self.grace_period_seconds is not None:
            body["gracePeriodSeconds"] = self.grace_period_seconds
        if self.suppress_deletion is not None:
            body["suppressDeletion"] = self.suppress_deletion
        if self.creation_timestamp is not None:
            body["creationTimestamp"] = format_time(self.creation_timestamp)
        if self.deadline is not None:
            body["deadline"] = format_time(self.deadline)
        return body

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> EvictionTask | None:
        """The task of a binding's spec entry; None for an entry without a cluster."""
        cluster = body.get("fromCluster")
        if not cluster:
            return None
        try:
            mode = PurgeMode(str(body.get("purgeMode") or PurgeMode.GRACIOUSLY))
        except ValueError:
            mode = PurgeMode.GRACIOUSLY
        replicas, grace = body.get("replicas"), body.get("gracePeriodSeconds")
        suppress = body.get("suppressDeletion")
        return cls(
            from_cluster=str(cluster),
            reason=str(body.get("reason") or TAINT_UNTOLERATED),
            producer=str(body.get("producer") or TAINT_PRODUCER),
            purge_mode=mode,
            message=str(body.get("message") or ""),
            replicas=replicas if isinstance(replicas, int) else None,
            grace_period_seconds=grace if isinstance(grace, int) else None,
            suppress_deletion=suppress if isinstance(suppress, bool) else None,
            creation_timestamp=parse_time(body.get("creationTimestamp")),
        )


def _earliest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return min(present) if present else None


def taint_eviction(
    cluster: ClusterInfo, tolerations: Sequence[Toleration], *, now: datetime
) -> tuple[Eviction | None, datetime | None]:
    """`taint_eviction` decides whether the resource must leave `cluster` because of its NoExecute taints:
    (the eviction or None, the moment the answer changes by itself or None). Taints are looked at by
    (key, value); the first one not tolerated, or tolerated for a time that is over, evicts."""
    recheck: datetime | None = None
    for taint in sorted(cluster.taints, key=lambda t: (t.key, t.value)):
        if taint.effect != "NoExecute":
            continue
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return Eviction(
                cluster.name, TAINT_UNTOLERATED, f"taint {taint} not tolerated", TAINT_PRODUCER
            ), None
        if any(t.toleration_seconds is None for t in matching):
            continue  # tolerated for ever
        seconds = min(t.toleration_seconds for t in matching if t.toleration_seconds is not None)
        if taint.time_added is None:
            message = f"taint {taint} tolerated for {seconds}s, and it has no timeAdded"
            return Eviction(cluster.name, TAINT_UNTOLERATED, message, TAINT_PRODUCER), None
        deadline = taint.time_added + timedelta(seconds=seconds)
        if now >= deadline:
            message = f"taint {taint} tolerated for {seconds}s, added {format_time(taint.time_added)}"
            return Eviction(cluster.name, TAINT_UNTOLERATED, message, TAINT_PRODUCER), None
        recheck = _earliest(recheck, deadline)
    return None, recheck


def unhealthy_since(work: Mapping[str, Any] | None, *, now: datetime) -> datetime | None:
    """`unhealthy_since` is when the workload of a Work became unhealthy on its member: the
    lastTransitionTime of its Available condition when that is False with a manifest judged Unhealthy
    (`now` when the time is missing); None while it is healthy, unknown or not reported."""
    status = (work or {}).get("status") or {}
    if not any((m.get("health") == "Unhealthy") for m in status.get("manifestStatuses") or ()):
        return None
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Available" and condition.get("status") == "False":
            return parse_time(condition.get("lastTransitionTime")) or now
    return None


def application_eviction(
    cluster: str,
    since: datetime | None,
    behavior: ApplicationFailoverBehavior,
    *,
    now: datetime,
) -> tuple[Eviction | None, datetime | None]:
    """`application_eviction` decides whether the workload leaves `cluster` because it has been
    unhealthy there `since` (None: it is not) for the behavior's tolerationSeconds: (the eviction or None,
    the moment it would be due)."""
    if since is None:
        return None, None
    configured = behavior.decision_conditions.toleration_seconds
    seconds = DEFAULT_APPLICATION_TOLERATION_SECONDS if configured is None else configured
    due = since + timedelta(seconds=seconds)
    if now < due:
        return None, due
    grace = behavior.grace_period_seconds
    if behavior.purge_mode is PurgeMode.GRACIOUSLY and grace is None:
        grace = DEFAULT_GRACE_PERIOD_SECONDS
    message = f"unhealthy since {format_time(since)}, tolerated for {seconds}s"
    return (
        Eviction(
            cluster,
            APPLICATION_FAILURE,
            message,
            APPLICATION_PRODUCER,
            purge_mode=behavior.purge_mode,
            grace_period_seconds=grace if behavior.purge_mode is PurgeMode.GRACIOUSLY else None,
        ),
        None,
    )


def open_tasks(
    tasks: Sequence[EvictionTask],
    evictions: Sequence[Eviction],
    *,
    replicas: Mapping[str, int],
    now: datetime,
) -> list[EvictionTask]:
    """`open_tasks` adds a task for each eviction of a cluster without one (`replicas`: what each cluster
    ran); Immediately purges get none. Existing tasks are kept as they are; the result is by cluster."""
    by_cluster = {task.from_cluster: task for task in tasks}
    for eviction in evictions:
        if eviction.cluster in by_cluster or eviction.purge_mode is PurgeMode.IMMEDIATELY:
            continue
        by_cluster[eviction.cluster] = EvictionTask(
            from_cluster=eviction.cluster,
            reason=eviction.reason,
            producer=eviction.producer,
            purge_mode=eviction.purge_mode,
            message=eviction.message,
            replicas=replicas.get(eviction.cluster),
            grace_period_seconds=eviction.grace_period_seconds
            if eviction.purge_mode is PurgeMode.GRACIOUSLY
            else None,
            suppress_deletion=True if eviction.purge_mode is PurgeMode.NEVER else None,
            creation_timestamp=now,
        )
    return [by_cluster[name] for name in sorted(by_cluster)]


@dataclass(frozen=True)
class Settled:
    """The outcome of `settle_tasks`: the tasks still open, the ended ones with why, when to look again."""

    kept: list[EvictionTask]
    ended: list[tuple[EvictionTask, str]]
    recheck: datetime | None = None


def settle_tasks(
    tasks: Sequence[EvictionTask],
    *,
    targets: Sequence[str],
    healthy: Mapping[str, bool],
    now: datetime,
) -> Settled:
    """`settle_tasks` ends the tasks whose copy may go: a Graciously task once every cluster of the new
    placement (`targets`, not empty) is `healthy`, or at its deadline; a Never task once suppressDeletion
    is no longer true. A task whose cluster is among the targets again has nothing left to purge and
    ends too."""
    kept: list[EvictionTask] = []
    ended: list[tuple[EvictionTask, str]] = []
    recheck: datetime | None = None
    replacement_healthy = bool(targets) and all(healthy.get(name, False) for name in targets)
    for task in tasks:
        if task.from_cluster in targets:
            ended.append((task, f"{task.from_cluster} is chosen again"))
        elif task.purge_mode is PurgeMode.NEVER:
            if task.suppress_deletion is False:
                ended.append((task, "suppressDeletion was set to false"))
            else:
                kept.append(task)
        elif task.purge_mode is PurgeMode.IMMEDIATELY:
            ended.append((task, "purgeMode Immediately"))
        elif replacement_healthy:
            ended.append((task, f"the workload is healthy on {', '.join(sorted(targets))}"))
        elif task.deadline is not None and now >= task.deadline:
            ended.append((task, f"the grace period of {task.grace_period_seconds}s is over"))
        else:
            kept.append(task)
            recheck = _earliest(recheck, task.deadline)
    return Settled(kept=kept, ended=ended, recheck=recheck)


@dataclass(frozen=True)
class FailoverPlan:
    """What `plan_failover` decided for one binding before it is scheduled."""

    evictions: list[Eviction]
    """The clusters the resource leaves now."""
    tasks: list[EvictionTask]
    """The binding's eviction tasks, new ones included."""
    excluded: dict[str, str]
    """The clusters the scheduler must not choose, with why."""
    recheck: datetime | None = None
    """When a toleration or application failover deadline comes."""


def plan_failover(
    clusters: Sequence[ClusterInfo],
    *,
    tolerations: Sequence[Toleration],
    application: ApplicationFailoverBehavior | None,
    placed: Mapping[str, int],
    unhealthy: Mapping[str, datetime | None],
    tasks: Sequence[EvictionTask],
    now: datetime,
) -> FailoverPlan:
    """`plan_failover` decides which of the clusters the resource is `placed` on (cluster -> replicas) it
    leaves now: taint evictions first, then application failover (`unhealthy`: since when the workload is
    unhealthy on each cluster). Every cluster whose NoExecute taints are not tolerated (any more), and
    every cluster with an eviction task, is excluded from scheduling."""
    evictions: list[Eviction] = []
    excluded: dict[str, str] = {}
    recheck: datetime | None = None
    for cluster in sorted(clusters, key=lambda c: c.name):
        eviction, due = taint_eviction(cluster, tolerations, now=now)
        recheck = _earliest(recheck, due)
        if eviction is not None:
            excluded[cluster.name] = f"evicted: {eviction.message}"
            if cluster.name in placed:
                evictions.append(eviction)
            continue
        if application is not None and cluster.name in placed:
            eviction, due = application_eviction(
                cluster.name, unhealthy.get(cluster.name), application, now=now
            )
            recheck = _earliest(recheck, due)
            if eviction is not None:
                excluded[cluster.name] = f"evicted: {eviction.message}"
                evictions.append(eviction)
    opened = open_tasks(tasks, evictions, replicas=placed, now=now)
    for task in opened:
        excluded.setdefault(task.from_cluster, f"being evicted ({task.reason}): {task.message}")
    return FailoverPlan(evictions=evictions, tasks=opened, excluded=excluded, recheck=recheck)


__all__ = [
    "APPLICATION_FAILURE",
    "APPLICATION_PRODUCER",
    "CLUSTER_GRACE_PERIOD_SECONDS",
    "TAINT_PRODUCER",
    "TAINT_UNTOLERATED",
    "Eviction",
    "EvictionTask",
    "FailoverPlan",
    "Settled",
    "application_eviction",
    "open_tasks",
    "plan_failover",
    "settle_tasks",
    "taint_eviction",
    "unhealthy_since",
]
