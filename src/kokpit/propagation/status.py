"""Pure status logic of delivery: how healthy a member object is, what a Work's status says, and how
the Works of a binding add up into the binding's `aggregatedStatus` and the template's own `status`.

Health (`judge_health`), by kind, from the member's copy of the object:

- Deployment, StatefulSet, ReplicaSet (apps): Healthy when the controller has observed the current
  generation and every desired replica is updated (Deployment, StatefulSet), ready and available;
  Unhealthy when observed and short of that (or a Deployment reports ProgressDeadlineExceeded); Unknown
  until the member's controller has observed the current generation.
- DaemonSet (apps): the same with desiredNumberScheduled, numberReady, updatedNumberScheduled and
  numberAvailable.
- Job (batch): Healthy once Complete, Unhealthy once Failed, Unknown while running.
- Pod (core): Healthy when Ready or Succeeded, Unhealthy when Failed or not ready, Unknown with no status.
- A kind with a resource interpreter (`kokpit.propagation.interpreter`) whose `healthInterpretation` is
  set: Healthy or Unhealthy as the expression says, Unhealthy with the error when it fails.
- Any other kind: Healthy once it exists in the member.

A template on the hub (`template_status`): for Deployments, StatefulSets, ReplicaSets and DaemonSets the
replica counters of the members' copies are summed, `observedGeneration` is the template's generation,
and two conditions describe the fleet, each message naming the clusters that are not fine:
`Applied` (every chosen cluster applied its Work) and `Available` (every chosen cluster is healthy).
Deployments keep their usual meaning of `Available`, so `kubectl rollout status` works on the hub.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kokpit.api.work import APPLIED, AVAILABLE, FULLY_APPLIED, Health
from kokpit.propagation.interpreter import Interpreter, InterpreterError, Interpreters
from kokpit.propagation.replicas import workload_replicas
from kokpit.runtime.conditions import FALSE, TRUE, Condition, get_condition

MAX_MESSAGE = 4096

HEALTHY = Health.HEALTHY
UNHEALTHY = Health.UNHEALTHY
UNKNOWN_HEALTH = Health.UNKNOWN


@dataclass(frozen=True)
class Verdict:
    """The health of one object and, unless healthy, why."""

    health: Health
    message: str = ""


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _group(obj: Mapping[str, Any]) -> str:
    return str(obj.get("apiVersion") or "").rpartition("/")[0]


def _observed(obj: Mapping[str, Any]) -> bool | None:
    """Whether the member's controller has seen the current spec; None when it has not said."""
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    if not isinstance(observed, int):
        return None
    generation = _int((obj.get("metadata") or {}).get("generation"), 0)
    return observed >= generation


def _replica_verdict(obj: Mapping[str, Any], *, updated_field: str | None) -> Verdict:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    desired = _int(spec.get("replicas"), 1)
    observed = _observed(obj)
    if observed is None or not observed:
        return Verdict(UNKNOWN_HEALTH, "the member's controller has not observed the current generation")
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return Verdict(UNHEALTHY, str(condition.get("message") or "progress deadline exceeded"))
    ready = _int(status.get("readyReplicas"))
    available = _int(status.get("availableReplicas"), ready)
    counts = [ready, available]
    if updated_field is not None:
        counts.append(_int(status.get(updated_field)))
    if all(count >= desired for count in counts):
        return Verdict(HEALTHY)
    parts = [f"{ready}/{desired} replicas ready"]
    if updated_field is not None:
        parts.append(f"{_int(status.get(updated_field))}/{desired} updated")
    if available < desired:
        parts.append(f"{available}/{desired} available")
    return Verdict(UNHEALTHY, ", ".join(parts))


def _daemonset_verdict(obj: Mapping[str, Any]) -> Verdict:
    status = obj.get("status") or {}
    observed = _observed(obj)
    if observed is None or not observed:
        return Verdict(UNKNOWN_HEALTH, "the member's controller has not observed the current generation")
    desired = _int(status.get("desiredNumberScheduled"))
    ready = _int(status.get("numberReady"))
    updated = _int(status.get("updatedNumberScheduled"))
    available = _int(status.get("numberAvailable"))
    if ready >= desired and updated >= desired and available >= desired:
        return Verdict(HEALTHY)
    return Verdict(UNHEALTHY, f"{ready}/{desired} pods ready, {updated}/{desired} updated")


def _job_verdict(obj: Mapping[str, Any]) -> Verdict:
    conditions = (obj.get("status") or {}).get("conditions") or ()
    for condition in conditions:
        if condition.get("status") != TRUE:
            continue
        if condition.get("type") == "Complete":
            return Verdict(HEALTHY)
        if condition.get("type") == "Failed":
            return Verdict(UNHEALTHY, str(condition.get("message") or condition.get("reason") or "failed"))
    return Verdict(UNKNOWN_HEALTH, "the job has not finished")


def _pod_verdict(obj: Mapping[str, Any]) -> Verdict:
    status = obj.get("status") or {}
    phase = status.get("phase")
    if not status or not phase:
        return Verdict(UNKNOWN_HEALTH, "the pod has no status yet")
    if phase == "Succeeded":
        return Verdict(HEALTHY)
    if phase == "Failed":
        return Verdict(UNHEALTHY, str(status.get("message") or status.get("reason") or "the pod failed"))
    ready = get_condition(status.get("conditions"), "Ready")
    if ready is not None and ready.get("status") == TRUE:
        return Verdict(HEALTHY)
    return Verdict(UNHEALTHY, f"the pod is {phase} and not ready")


def judge_health(obj: Mapping[str, Any] | None, *, interpreters: Interpreters | None = None) -> Verdict:
    """`judge_health` judges a member's copy of an applied object (None: not there, or not seen yet) by
    the rules in the module docstring; `interpreters` teach it custom kinds."""
    if obj is None:
        return Verdict(UNKNOWN_HEALTH, "not observed in the member yet")
    interpreter = interpreters.get(obj) if interpreters is not None else None
    if interpreter is not None and interpreter.health_program is not None:
        try:
            healthy = interpreter.healthy(obj)
        except InterpreterError as error:
            return Verdict(UNHEALTHY, str(error))
        if healthy:
            return Verdict(HEALTHY)
        return Verdict(UNHEALTHY, f"the healthInterpretation of {interpreter.name} is false")
    group, kind = _group(obj), obj.get("kind")
    if group == "apps" and kind in ("Deployment", "StatefulSet"):
        return _replica_verdict(obj, updated_field="updatedReplicas")
    if group == "apps" and kind == "ReplicaSet":
        return _replica_verdict(obj, updated_field=None)
    if group == "apps" and kind == "DaemonSet":
        return _daemonset_verdict(obj)
    if group == "batch" and kind == "Job":
        return _job_verdict(obj)
    if group == "" and kind == "Pod":
        return _pod_verdict(obj)
    return Verdict(HEALTHY)


def worst(healths: Iterable[Health]) -> Health:
    """`worst` is Unhealthy if any is, else Unknown if any is (or there are none), else Healthy."""
    seen = set(healths)
    if UNHEALTHY in seen:
        return UNHEALTHY
    if UNKNOWN_HEALTH in seen or not seen:
        return UNKNOWN_HEALTH
    return HEALTHY


def _clip(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


# --- one Work --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestOutcome:
    """What happened to one manifest of a Work in its member."""

    identifier: Mapping[str, Any]
    """`apply_plan.manifest_identifier`."""
    applied: bool
    reason: str = ""
    """Why it was not applied (an Applied condition reason: Conflict, Invalid, KindNotServed, ...)."""
    message: str = ""
    """The member's or kokpit's message when not applied."""
    observed: Mapping[str, Any] | None = None
    """The member's copy as last observed (None when absent or not observed yet)."""


@dataclass(frozen=True)
class WorkProblem:
    """Something that stopped the whole Work (no member client, dispatching suspended)."""

    reason: str
    message: str
    status: str = FALSE


@dataclass(frozen=True)
class WorkReport:
    """What one pass over a Work found: its `Applied` and `Available` conditions and one
    `manifestStatuses` entry per manifest. The execution controller writes it with the status writer."""

    applied: Condition
    available: Condition
    manifest_statuses: list[dict[str, Any]] = field(default_factory=list)


def work_report(
    outcomes: Sequence[ManifestOutcome],
    *,
    cluster: str,
    problem: WorkProblem | None = None,
    interpreters: Interpreters | None = None,
) -> WorkReport:
    """`work_report` is a Work's status: `Applied` (all manifests applied, else the first failure's
    reason and every failure named), `Available` (all applied objects healthy, custom kinds judged by
    `interpreters`) and `manifestStatuses`."""
    manifest_statuses: list[dict[str, Any]] = []
    unhealthy: list[str] = []
    unknown: list[str] = []
    for outcome in outcomes:
        verdict = (
            judge_health(outcome.observed, interpreters=interpreters)
            if outcome.applied
            else Verdict(UNKNOWN_HEALTH)
        )
        entry: dict[str, Any] = {"identifier": dict(outcome.identifier), "health": str(verdict.health)}
        observed_status = (outcome.observed or {}).get("status")
        if outcome.observed is not None and isinstance(observed_status, Mapping):
            entry["status"] = dict(observed_status)
        manifest_statuses.append(entry)
        what = _describe(outcome.identifier)
        if verdict.health == UNHEALTHY:
            unhealthy.append(f"{what}: {verdict.message}")
        elif verdict.health == UNKNOWN_HEALTH and outcome.applied:
            unknown.append(f"{what}: {verdict.message}")

    failures = [o for o in outcomes if not o.applied]
    if problem is not None:
        applied = Condition(APPLIED, problem.status, problem.reason, problem.message)
    elif failures:
        detail = "; ".join(f"{_describe(o.identifier)}: {o.message}" for o in failures)
        applied = Condition.false(
            APPLIED,
            failures[0].reason or "ApplyFailed",
            f"{len(failures)} of {len(outcomes)} manifests not applied to {cluster}: {detail}",
        )
    else:
        applied = Condition.true(
            APPLIED, "AppliedSuccessful", f"{len(outcomes)} manifests applied to {cluster}"
        )

    if unhealthy:
        available = Condition.false(AVAILABLE, "Unhealthy", "; ".join(unhealthy))
    elif problem is not None or failures:
        available = Condition.unknown(AVAILABLE, "NotApplied", "not every manifest is applied")
    elif unknown:
        available = Condition.unknown(AVAILABLE, "HealthUnknown", "; ".join(unknown))
    else:
        available = Condition.true(AVAILABLE, "Healthy", f"every applied object is healthy in {cluster}")
    return WorkReport(_clipped(applied), _clipped(available), manifest_statuses)


def _clipped(condition: Condition) -> Condition:
    return Condition(condition.type, condition.status, condition.reason, _clip(condition.message))


def _describe(identifier: Mapping[str, Any]) -> str:
    namespace = identifier.get("namespace")
    kind, name = identifier.get("kind", ""), identifier.get("name", "")
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


# --- a binding -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterReport:
    """What one chosen cluster reported for a binding, read from its Work (None fields: no Work yet)."""

    cluster: str
    applied: bool | None
    applied_message: str = ""
    health: Health = UNKNOWN_HEALTH
    health_message: str = ""
    status: Mapping[str, Any] | None = None
    """The member's status of the template's copy."""


def replicas_carried(
    work: Mapping[str, Any] | None, template: Mapping[str, Any], *, interpreter: Interpreter | None = None
) -> int | None:
    """`replicas_carried` is the replica count the Work's copy of `template` ({kind, name, namespace})
    holds; None without one (or when the interpreter's expression fails on it). A Work's status speaks
    of the share it carries: graceful eviction waits until the survivors' Works hold their new shares
    before their health may end a task."""
    for manifest in (((work or {}).get("spec") or {}).get("workload") or {}).get("manifests") or ():
        metadata = manifest.get("metadata") or {}
        if manifest.get("kind") == template.get("kind") and metadata.get("name") == template.get("name"):
            try:
                return workload_replicas(manifest, interpreter=interpreter)
            except InterpreterError:
                return None
    return None


def report_from_work(
    cluster: str, work: Mapping[str, Any] | None, *, template: Mapping[str, Any] | None
) -> ClusterReport:
    """`report_from_work` reads a cluster's report from its Work: Applied and Available conditions, and
    the status of the manifest matching `template` ({kind, name, namespace}), else of the first manifest.
    A Work whose status is not from its current generation counts as not applied yet."""
    if work is None:
        return ClusterReport(cluster, applied=None, applied_message=f"no Work for cluster {cluster} yet")
    status = work.get("status") or {}
    conditions = status.get("conditions") or []
    generation = (work.get("metadata") or {}).get("generation")
    applied_condition = get_condition(conditions, APPLIED)
    if applied_condition is None or (
        isinstance(generation, int) and applied_condition.get("observedGeneration") not in (None, generation)
    ):
        return ClusterReport(cluster, applied=None, applied_message=f"cluster {cluster} has not reported yet")
    applied = applied_condition.get("status") == TRUE
    available_condition = get_condition(conditions, AVAILABLE) or {}
    manifests = status.get("manifestStatuses") or []
    chosen: Mapping[str, Any] | None = None
    if template is not None:
        for entry in manifests:
            identifier = entry.get("identifier") or {}
            if (
                identifier.get("kind") == template.get("kind")
                and identifier.get("name") == template.get("name")
                and (identifier.get("namespace") or None) == (template.get("namespace") or None)
            ):
                chosen = entry
                break
    if chosen is None and manifests:
        chosen = manifests[0]
    health = (
        worst(Health(str(m.get("health") or UNKNOWN_HEALTH)) for m in manifests)
        if applied
        else UNKNOWN_HEALTH
    )
    return ClusterReport(
        cluster,
        applied=applied,
        applied_message="" if applied else str(applied_condition.get("message") or ""),
        health=health,
        health_message="" if health == HEALTHY else str(available_condition.get("message") or ""),
        status=(chosen or {}).get("status"),
    )


def aggregated_status(reports: Sequence[ClusterReport]) -> list[dict[str, Any]]:
    """`aggregated_status` is a binding's `status.aggregatedStatus`, one item per chosen cluster by name."""
    items: list[dict[str, Any]] = []
    for report in sorted(reports, key=lambda r: r.cluster):
        item: dict[str, Any] = {"clusterName": report.cluster, "health": str(report.health)}
        if report.applied is not None:
            item["applied"] = report.applied
        if report.status is not None:
            item["status"] = dict(report.status)
        if report.applied_message and not report.applied:
            item["appliedMessage"] = _clip(report.applied_message)
        items.append(item)
    return items


def _cluster_problems(reports: Sequence[ClusterReport]) -> tuple[list[str], list[str], list[str]]:
    """(not applied, unhealthy, unknown) clusters, each as `cluster: message`."""
    failed, unhealthy, unknown = [], [], []
    for report in sorted(reports, key=lambda r: r.cluster):
        if report.applied is not True:
            failed.append(f"{report.cluster}: {report.applied_message or 'not applied'}")
        elif report.health == UNHEALTHY:
            unhealthy.append(f"{report.cluster}: {report.health_message or 'unhealthy'}")
        elif report.health == UNKNOWN_HEALTH:
            unknown.append(f"{report.cluster}: {report.health_message or 'health unknown'}")
    return failed, unhealthy, unknown


def fully_applied_condition(reports: Sequence[ClusterReport]) -> Condition:
    """`fully_applied_condition` is the binding's `FullyApplied` condition: True when every chosen
    cluster applied its Work, else False naming the clusters that did not and why."""
    if not reports:
        return Condition.false(FULLY_APPLIED, "NoClusters", "no cluster is chosen")
    failed, _, _ = _cluster_problems(reports)
    if failed:
        reason = (
            "NotYetApplied"
            if all(r.applied is None for r in reports if r.applied is not True)
            else "ApplyFailed"
        )
        message = f"{len(failed)} of {len(reports)} clusters did not apply: " + "; ".join(failed)
        return Condition.false(FULLY_APPLIED, reason, _clip(message))
    return Condition.true(
        FULLY_APPLIED, "FullyApplied", f"applied to {', '.join(sorted(r.cluster for r in reports))}"
    )


# --- a template ------------------------------------------------------------------------------------------

SUMMED_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "Deployment"): (
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
    ),
    ("apps", "StatefulSet"): (
        "replicas",
        "readyReplicas",
        "currentReplicas",
        "updatedReplicas",
        "availableReplicas",
    ),
    ("apps", "ReplicaSet"): ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas"),
    ("apps", "DaemonSet"): (
        "currentNumberScheduled",
        "numberMisscheduled",
        "desiredNumberScheduled",
        "numberReady",
        "updatedNumberScheduled",
        "numberAvailable",
        "numberUnavailable",
    ),
}
"""The kinds whose template status kokpit fills, and the counters summed over the members."""


def has_template_status(group: str, kind: str, *, interpreter: Interpreter | None = None) -> bool:
    """`has_template_status` tells whether kokpit writes the status of templates of this kind: a kind
    of `SUMMED_FIELDS`, or one whose `interpreter` aggregates status."""
    return (group, kind) in SUMMED_FIELDS or (interpreter is not None and bool(interpreter.status_fields))


@dataclass(frozen=True)
class TemplateStatus:
    """A template's fleet-wide status: the summed counters and `observedGeneration` (`fields`), and its
    `Applied` and `Available` conditions."""

    fields: dict[str, Any]
    applied: Condition
    available: Condition


def template_status(
    group: str,
    kind: str,
    reports: Sequence[ClusterReport],
    *,
    generation: int | None,
    interpreter: Interpreter | None = None,
) -> TemplateStatus | None:
    """`template_status` is the fleet-wide status of a template of a kind in `SUMMED_FIELDS` (None for
    other kinds): the members' counters summed, `observedGeneration`, and the `Applied` and `Available`
    conditions. A custom kind whose `interpreter` aggregates status gets its `statusAggregation`
    fields instead of the sums; when an expression fails, `Available` is False with the error."""
    status: dict[str, Any]
    aggregation_error = ""
    if interpreter is not None and interpreter.status_fields:
        members = {report.cluster: {"status": dict(report.status or {})} for report in reports}
        try:
            status = interpreter.aggregate_status(members)
        except InterpreterError as error:
            status, aggregation_error = {}, str(error)
    else:
        fields = SUMMED_FIELDS.get((group, kind))
        if fields is None:
            return None
        status = dict.fromkeys(fields, 0)
        for report in reports:
            member_status = report.status or {}
            for name in fields:
                status[name] += _int(member_status.get(name))
    if generation is not None:
        status["observedGeneration"] = generation
    failed, unhealthy, unknown = _cluster_problems(reports)
    clusters = ", ".join(sorted(r.cluster for r in reports)) or "no cluster"
    if not reports:
        applied = Condition.false(APPLIED, "NoClusters", "no cluster is chosen")
    elif failed:
        applied = Condition.false(
            APPLIED,
            "ApplyFailed",
            f"not applied in {len(failed)} of {len(reports)} clusters: " + "; ".join(failed),
        )
    else:
        applied = Condition.true(APPLIED, "Applied", f"applied in {clusters}")
    if not reports:
        available = Condition.false(AVAILABLE, "NoClusters", "no cluster is chosen")
    elif aggregation_error:
        available = Condition.false(AVAILABLE, "StatusAggregationFailed", aggregation_error)
    elif unhealthy:
        available = Condition.false(
            AVAILABLE,
            "ClustersUnhealthy",
            f"unhealthy in {len(unhealthy)} of {len(reports)} clusters: " + "; ".join(unhealthy),
        )
    elif failed:
        available = Condition.false(AVAILABLE, "NotApplied", "not applied in " + "; ".join(failed))
    elif unknown:
        available = Condition.unknown(AVAILABLE, "HealthUnknown", "; ".join(unknown))
    else:
        available = Condition.true(AVAILABLE, "ClustersHealthy", f"healthy in {clusters}")
    return TemplateStatus(status, _clipped(applied), _clipped(available))
