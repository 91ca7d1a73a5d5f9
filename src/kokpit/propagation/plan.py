"""What-if for delivery: where a template would go, with how many replicas, and what each member would get.

`plan_template` runs exactly what the binding controller runs (`select_policy`, `schedule`,
`render_manifest`) over a snapshot of the hub's Clusters and policies, and writes nothing; `format_plan`
turns the result into text for `kokpit plan`. Both are pure, so the what-if is tested without a cluster.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from kokpit.api.override import AnyOverridePolicy
from kokpit.api.policy import AnyPropagationPolicy, PropagationPolicy
from kokpit.propagation import names
from kokpit.propagation.clusters import ClusterInfo
from kokpit.propagation.overrides import OverrideError
from kokpit.propagation.replicas import resource_request, workload_replicas
from kokpit.propagation.scheduler import Decision, SchedulingError, schedule
from kokpit.propagation.selectors import select_policy
from kokpit.propagation.work_render import (
    RenderedManifest,
    binding_ref_of,
    divided_replicas,
    override_rules,
    render_manifest,
)

OutputFormat = Literal["diff", "yaml", "summary"]


@dataclass(frozen=True)
class ClusterPlan:
    """What one cluster would get, and why."""

    cluster: str
    selected: bool
    replicas: int
    reason: str
    rendered: RenderedManifest | None = None
    """The manifest after overrides; None when not selected or when an override failed."""
    error: str | None = None
    """Why the manifest could not be rendered (an override failed)."""


@dataclass(frozen=True)
class Plan:
    """The what-if for one template."""

    template: str
    """`Kind namespace/name` of the template, for display."""
    policy: names.PolicyRef | None
    """The claiming propagation policy; None when no policy selects the template."""
    overrides: list[str] = field(default_factory=list)
    """The matching override policies, in the order their rules apply (`Kind namespace/name`)."""
    clusters: list[ClusterPlan] = field(default_factory=list)
    """One entry per known cluster, by name."""
    scheduling_error: str | None = None
    """`Reason: message` when the placement cannot be satisfied."""


def policy_ref(policy: AnyPropagationPolicy) -> names.PolicyRef:
    """`policy_ref` is the `names.PolicyRef` of a parsed propagation policy."""
    namespace = policy.metadata.namespace if isinstance(policy, PropagationPolicy) else None
    return names.PolicyRef(kind=policy.kind, namespace=namespace, name=policy.metadata.name or "")


def describe(obj: Mapping[str, Any] | AnyOverridePolicy) -> str:
    """`describe` is `Kind namespace/name` (or `Kind name` when cluster-scoped) of an object or policy."""
    if isinstance(obj, Mapping):
        kind = str(obj.get("kind", "?"))
        metadata = obj.get("metadata") or {}
        namespace, name = metadata.get("namespace"), metadata.get("name", "?")
    else:
        kind, namespace, name = obj.kind, obj.metadata.namespace, obj.metadata.name
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def plan_template(
    template: Mapping[str, Any],
    *,
    clusters: Sequence[ClusterInfo],
    policies: Sequence[AnyPropagationPolicy],
    override_policies: Sequence[AnyOverridePolicy] = (),
    previous: Mapping[str, int] | None = None,
) -> Plan:
    """`plan_template` says what delivery would do with `template` (a dict as the API server returns it,
    or as written in a file) given the hub's `clusters`, propagation `policies` and `override_policies`.
    `previous` is the current decision of its binding, if any, for the scheduler's stability rules."""
    title = describe(template)
    policy = select_policy(template, policies)
    if policy is None:
        return Plan(
            template=title,
            policy=None,
            clusters=[
                ClusterPlan(c.name, False, 0, "no propagation policy selects the template") for c in clusters
            ],
        )
    selected_overrides, rules = override_rules(template, override_policies)
    override_names = [describe(p) for p in selected_overrides]
    placement = policy.spec.placement
    try:
        result = schedule(
            clusters,
            placement,
            replicas=workload_replicas(template) or 0,
            workload_request=resource_request(template),
            previous=previous,
        )
    except SchedulingError as error:
        return Plan(
            template=title,
            policy=policy_ref(policy),
            overrides=override_names,
            clusters=[_not_selected(d) for d in error.decisions],
            scheduling_error=f"{error.reason}: {error}",
        )
    strategy = placement.replica_scheduling
    scheduling_type = strategy.replica_scheduling_type if strategy is not None else None
    binding = binding_ref_of(template)
    by_name = {c.name: c for c in clusters}
    plans: list[ClusterPlan] = []
    for decision in result.decisions:
        if not decision.selected:
            plans.append(_not_selected(decision))
            continue
        try:
            rendered = render_manifest(
                template,
                cluster=by_name[decision.cluster],
                binding=binding,
                replicas=divided_replicas(scheduling_type, decision.replicas),
                rules=rules,
            )
        except OverrideError as error:
            plans.append(
                ClusterPlan(decision.cluster, True, decision.replicas, decision.reason, error=str(error))
            )
            continue
        plans.append(ClusterPlan(decision.cluster, True, decision.replicas, decision.reason, rendered))
    return Plan(template=title, policy=policy_ref(policy), overrides=override_names, clusters=plans)


def _not_selected(decision: Decision) -> ClusterPlan:
    return ClusterPlan(decision.cluster, False, 0, decision.reason)


def _policy_text(ref: names.PolicyRef) -> str:
    return f"{ref.kind} {ref.namespace}/{ref.name}" if ref.namespace else f"{ref.kind} {ref.name}"


def _yaml(manifest: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(manifest), sort_keys=False, default_flow_style=False)


def _indent(text: str, prefix: str = "    ") -> str:
    return "".join(f"{prefix}{line}\n" if line else "\n" for line in text.splitlines())


def format_plan(plan: Plan, *, output: OutputFormat = "diff") -> str:
    """`format_plan` renders `plan` as text: a header (template, policy, overrides), then per cluster
    whether it is selected and why, its replicas and, for selected clusters, with `output` "diff" what the
    overrides changed (one line per change, and a unified diff from the template to the cluster's copy with
    its replicas and overrides, routing labels left out), with "yaml" the whole manifest the member would
    get, with "summary" nothing more."""
    lines = [f"template: {plan.template}"]
    if plan.policy is None:
        lines.append("policy:   none (nothing would be propagated)")
    else:
        lines.append(f"policy:   {_policy_text(plan.policy)}")
        lines.append(f"overrides: {', '.join(plan.overrides) if plan.overrides else 'none'}")
    if plan.scheduling_error:
        lines.append(f"scheduling fails: {plan.scheduling_error}")
    text = "\n".join(lines) + "\n"
    for entry in plan.clusters:
        mark = "selected" if entry.selected else "not selected"
        replicas = f", replicas {entry.replicas}" if entry.selected else ""
        text += f"\n{entry.cluster}: {mark}{replicas} ({entry.reason})\n"
        if entry.error is not None:
            text += f"    override failed: {entry.error}\n"
        if entry.rendered is None or output == "summary":
            continue
        if output == "yaml":
            text += _indent(_yaml(entry.rendered.manifest))
            continue
        for change in entry.rendered.changes:
            text += f"    override: {change}\n"
        diff = difflib.unified_diff(
            _yaml(entry.rendered.stripped).splitlines(),
            _yaml(entry.rendered.overridden).splitlines(),
            fromfile="template",
            tofile=entry.cluster,
            lineterm="",
        )
        text += _indent("\n".join(diff))
    return text
