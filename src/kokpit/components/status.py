"""A Component's status from its plan and the Works delivery keeps for its hub objects.

Delivery reports per object and per cluster (each cluster's `Work` of a hub object: the manifest it
carries, whether it was applied, the member's status of it); a Component's user asks per cluster: is
it rendered, applied, how many replicas are ready. `component_status` folds one into the other and
decides the four conditions:

- `Rendered`: every placed cluster was rendered (else the reason of the first that was not, every
  failing cluster in the message);
- `Applied`: every rendered object is applied on every cluster it goes to, by a Work carrying the
  object as it is now rendered (`ApplyFailed` with the member's message, or `Applying` while waiting);
- `Available`: on every rendered cluster the workload has as many updated and available replicas as
  wanted;
- `Progressing`: True while applying or becoming available, False with `Complete` when done and
  `Blocked` when a cluster cannot be rendered or applied.

Pure: the controller passes the Works from its cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kokpit.api.work import APPLIED as APPLIED_WORK
from kokpit.components.plan import HASH_ANNOTATION, ComponentPlan, ObjectKey, object_key
from kokpit.runtime import Condition

RENDERED = "Rendered"
APPLIED = "Applied"
AVAILABLE = "Available"
PROGRESSING = "Progressing"
CONDITIONS = (RENDERED, APPLIED, AVAILABLE, PROGRESSING)

WORKLOAD_KINDS = frozenset({("apps/v1", "Deployment"), ("apps/v1", "StatefulSet")})


@dataclass(frozen=True)
class ClusterReport:
    """What delivery says about one cluster's copy of one object."""

    applied: bool
    """True applied, False refused."""
    message: str = ""
    status: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ComponentStatusView:
    """The status fields and conditions to write, and the member failures to raise as Events."""

    fields: dict[str, Any]
    conditions: list[Condition]
    failures: list[tuple[str, str]]
    """`(cluster, message)` for each cluster whose member refused an object."""

    @property
    def settled(self) -> bool:
        """`settled` tells whether nothing is moving any more (no faster requeue needed)."""
        return not any(c.type == PROGRESSING and c.status == "True" for c in self.conditions)


def work_report(work: Mapping[str, Any] | None, rendered_hash: str) -> ClusterReport | None:
    """`work_report` is what one cluster's Work says of a hub object rendered as `rendered_hash`: None
    while the Work does not carry that rendering yet or has not been applied since it changed (older
    reports say nothing of it)."""
    if work is None:
        return None
    manifests = ((work.get("spec") or {}).get("workload") or {}).get("manifests") or []
    annotations = ((manifests[0] if manifests else {}).get("metadata") or {}).get("annotations") or {}
    if annotations.get(HASH_ANNOTATION) != rendered_hash:
        return None
    status = work.get("status") or {}
    generation = (work.get("metadata") or {}).get("generation")
    applied = next((c for c in status.get("conditions") or [] if c.get("type") == APPLIED_WORK), None)
    if applied is None or applied.get("observedGeneration") != generation:
        return None
    manifest_statuses = status.get("manifestStatuses") or []
    return ClusterReport(
        applied=applied.get("status") == "True",
        message=str(applied.get("message") or ""),
        status=(manifest_statuses[0].get("status") if manifest_statuses else None),
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def component_status(
    plan: ComponentPlan, reports: Mapping[ObjectKey, Mapping[str, ClusterReport]], *, generation: int | None
) -> ComponentStatusView:
    """`component_status` is the status of a Component planned as `plan`, given for each hub object
    and cluster the report of its Work (`work_report`; missing: nothing reported yet)."""
    clusters: list[dict[str, Any]] = []
    failures: list[tuple[str, str]] = []
    waiting: list[str] = []
    unavailable: list[str] = []
    totals = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0}
    for rendering in plan.clusters:
        entry: dict[str, Any] = {"name": rendering.cluster, "rendered": rendering.error is None}
        if rendering.template is not None:
            entry["template"] = rendering.template
        entry.update({"replicas": rendering.replicas, "image": rendering.image})
        if rendering.error is not None:
            entry["applied"] = False
            clusters.append(entry)
            continue
        states = [reports.get(object_key(o), {}).get(rendering.cluster) for o in rendering.objects]
        refused = [r for r in states if r is not None and r.applied is False]
        applied = all(r is not None and r.applied for r in states)
        entry["applied"] = applied
        if refused:
            failures.append((rendering.cluster, "; ".join(r.message or "refused" for r in refused)))
        elif not applied:
            waiting.append(rendering.cluster)
        workload = next(
            (
                state
                for obj, state in zip(rendering.objects, states, strict=True)
                if (obj.get("apiVersion"), obj.get("kind")) in WORKLOAD_KINDS
            ),
            None,
        )
        status = (workload.status if workload is not None else None) or {}
        ready, available = _int(status.get("readyReplicas")), _int(status.get("availableReplicas"))
        updated = _int(status.get("updatedReplicas"))
        entry.update({"readyReplicas": ready, "availableReplicas": available})
        if not applied or min(available, updated) < rendering.replicas:
            unavailable.append(
                f"{rendering.cluster}: {min(available, updated)}/{rendering.replicas} available"
            )
        totals["replicas"] += rendering.replicas
        totals["readyReplicas"] += ready
        totals["availableReplicas"] += available
        clusters.append(entry)
    conditions = _conditions(plan, failures, waiting, unavailable)
    fields: dict[str, Any] = {"observedGeneration": generation, **totals, "clusters": clusters}
    return ComponentStatusView(fields=fields, conditions=conditions, failures=failures)


def _conditions(
    plan: ComponentPlan, failures: list[tuple[str, str]], waiting: list[str], unavailable: list[str]
) -> list[Condition]:
    rendered_clusters = [c for c in plan.clusters if c.error is None]
    if not plan.clusters:
        rendered = Condition.false(RENDERED, "NoClusters", "the placement names no cluster and selects none")
    elif plan.errors:
        first = plan.errors[0].error
        assert first is not None
        message = "; ".join(f"{c.cluster}: {c.error.message}" for c in plan.errors if c.error is not None)
        rendered = Condition.false(RENDERED, first.reason, message)
    else:
        templates = sorted({c.template or "" for c in plan.clusters})
        rendered = Condition.true(
            RENDERED, "Rendered", f"{len(plan.objects)} objects with {', '.join(templates)}"
        )
    if not rendered_clusters:
        applied = Condition.false(APPLIED, "NothingRendered", "no cluster was rendered")
    elif failures:
        applied = Condition.false(APPLIED, "ApplyFailed", "; ".join(f"{c}: {m}" for c, m in failures))
    elif waiting:
        applied = Condition.false(APPLIED, "Applying", f"waiting for {', '.join(waiting)}")
    else:
        applied = Condition.true(
            APPLIED, "Applied", f"applied on {', '.join(c.cluster for c in rendered_clusters)}"
        )
    if not rendered_clusters:
        available = Condition.false(AVAILABLE, "NothingRendered", "no cluster was rendered")
    elif unavailable:
        available = Condition.false(AVAILABLE, "Unavailable", "; ".join(unavailable))
    else:
        available = Condition.true(AVAILABLE, "Available", "every cluster has its replicas available")
    if rendered.status != "True" or failures:
        blocked_by = rendered if rendered.status != "True" else applied
        progressing = Condition.false(PROGRESSING, "Blocked", f"{blocked_by.type}: {blocked_by.message}")
    elif applied.status != "True" or available.status != "True":
        progressing = Condition.true(
            PROGRESSING, "Progressing", (applied if applied.status != "True" else available).message
        )
    else:
        progressing = Condition.false(PROGRESSING, "Complete", "rendered, applied and available everywhere")
    return [rendered, applied, available, progressing]
