"""What a Component becomes on the hub: its rendered templates and the policies that deliver them.

Each cluster the Component is placed on gets its own rendering (its template, replicas, image and
environment), but delivery propagates one template per object to many clusters. So `plan_component`
turns the renderings into what delivery understands, all of it named after the Component and in its
namespace:

- one hub object per rendered `(apiVersion, kind, name)`: the rendering of the first cluster, by
  name, that has it;
- PropagationPolicies (`Duplicated`): the objects grouped by the clusters they go to. The group
  reaching the most clusters is the policy named after the Component; any other group (an object only
  some clusters render, e.g. a PodDisruptionBudget where more than one replica runs) is
  `<component>-<hash of its clusters>`;
- one OverridePolicy per object that some cluster renders differently, named `<object>.<kind>`, with
  one rule per such cluster: plaintext JSON-patch operations (`replace`, `add`, `remove`) turning the
  hub object into that cluster's rendering (`json_patch`).

Everything here is pure: the controller reads the caches, calls `plan_component`, and applies what it
returns.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kokpit.api.component import ClusterPlacement, Component
from kokpit.api.override import OVERRIDE_POLICY
from kokpit.api.policy import PROPAGATION_POLICY
from kokpit.components.render import COMPONENT_LABEL, RenderError, render
from kokpit.components.selection import Candidate, select_template
from kokpit.propagation.selectors import label_selector_matches


@dataclass(frozen=True)
class ClusterRendering:
    """What one placed cluster gets, or why it gets nothing."""

    cluster: str
    template: str | None = None
    """The ComponentTemplate chosen for this cluster; None when none matches."""
    objects: list[dict[str, Any]] = field(default_factory=list)
    """The manifests rendered for this cluster (empty when `error` is set)."""
    replicas: int = 0
    """Replicas wanted on this cluster."""
    image: str = ""
    """The image wanted on this cluster."""
    error: RenderError | None = None
    """Why this cluster could not be rendered: ClusterNotFound, NoTemplate, or a `render` reason."""


@dataclass(frozen=True)
class ComponentPlan:
    """Every object the Component renders on the hub, and every cluster's part."""

    clusters: list[ClusterRendering]
    """One entry per placed cluster, in placement order (named ones, then those selected, by name)."""
    objects: list[dict[str, Any]]
    """The hub templates, sorted by kind and name."""
    propagation_policies: list[dict[str, Any]]
    override_policies: list[dict[str, Any]]

    @property
    def errors(self) -> list[ClusterRendering]:
        """`errors` is the clusters that could not be rendered."""
        return [c for c in self.clusters if c.error is not None]


HASH_ANNOTATION = "apps.kokpit.io/rendered-hash"
"""On every object the controller writes (and so on the members' copies): `rendered_hash` of it."""


def rendered_hash(obj: Mapping[str, Any]) -> str:
    """`rendered_hash` is a digest of a planned object, to tell which rendering a copy carries."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


ObjectKey = tuple[str, str, str]
"""`(apiVersion, kind, name)` of a rendered object."""


def object_key(obj: Mapping[str, Any]) -> ObjectKey:
    """`object_key` is the `(apiVersion, kind, name)` of a manifest."""
    return (str(obj.get("apiVersion")), str(obj.get("kind")), str((obj.get("metadata") or {}).get("name")))


def placed_clusters(
    component: Component, clusters: Mapping[str, Mapping[str, str]]
) -> list[tuple[str, ClusterPlacement | None]]:
    """`placed_clusters` is every cluster the Component is placed on with its placement entry: those
    named (known to the hub or not), then those `clusterSelector` matches among `clusters` (name →
    labels), by name."""
    placement = component.spec.placement
    if placement is None:
        return []
    named = [(entry.name, entry) for entry in placement.clusters or []]
    seen = {name for name, _ in named}
    selected: list[tuple[str, ClusterPlacement | None]] = []
    if placement.cluster_selector is not None:
        selected = [
            (name, None)
            for name in sorted(clusters)
            if name not in seen and label_selector_matches(placement.cluster_selector, clusters[name])
        ]
    return [*named, *selected]


def render_cluster(
    component: Component,
    candidates: Sequence[Candidate],
    *,
    cluster: str,
    labels: Mapping[str, str] | None,
    placement: ClusterPlacement | None,
) -> ClusterRendering:
    """`render_cluster` chooses the template for one cluster and renders it; `labels` None means the
    hub has no such cluster."""
    spec = component.spec
    replicas = (
        placement.replicas if placement is not None and placement.replicas is not None else spec.replicas
    )
    wanted = ClusterRendering(
        cluster=cluster,
        replicas=1 if replicas is None else replicas,
        image=placement.image if placement is not None and placement.image else spec.image,
    )
    if labels is None:
        error = RenderError("ClusterNotFound", f"no cluster {cluster} is registered with the hub")
        return replace(wanted, error=error)
    chosen = select_template(
        candidates,
        workload_type=spec.workload_type,
        language=spec.language,
        run_type=spec.run_type,
        cluster_labels=labels,
    )
    if chosen is None:
        error = RenderError(
            "NoTemplate",
            f"no ComponentTemplate serves {spec.workload_type} in {spec.language} run as {spec.run_type}",
        )
        return replace(wanted, error=error)
    try:
        rendered = render(
            chosen.template, component, cluster_name=cluster, cluster_labels=labels, placement=placement
        )
    except RenderError as error:
        return replace(wanted, template=chosen.name, error=error)
    return replace(wanted, template=chosen.name, objects=rendered.objects)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def json_patch(source: Any, target: Any, path: str = "") -> list[dict[str, Any]]:
    """`json_patch` is the plaintext overriders (RFC 6902 operations) turning `source` into `target`:
    mappings compared key by key, lists of the same named items (containers) item by item, anything
    else (other lists included) replaced whole."""
    if isinstance(source, Mapping) and isinstance(target, Mapping):
        operations: list[dict[str, Any]] = []
        for key in sorted(set(source) | set(target)):
            where = f"{path}/{_escape(str(key))}"
            if key not in target:
                operations.append({"path": where, "operator": "remove"})
            elif key not in source:
                operations.append({"path": where, "operator": "add", "value": copy.deepcopy(target[key])})
            else:
                operations.extend(json_patch(source[key], target[key], where))
        return operations
    if _same_names(source, target):
        return [
            op
            for index, (a, b) in enumerate(zip(source, target, strict=True))
            for op in json_patch(a, b, f"{path}/{index}")
        ]
    if source == target:
        return []
    return [{"path": path, "operator": "replace", "value": copy.deepcopy(target)}]


def _same_names(source: Any, target: Any) -> bool:
    """Lists of the same named items in the same order (a pod's containers): compared item by item."""
    if not isinstance(source, list) or not isinstance(target, list) or len(source) != len(target):
        return False
    return all(
        isinstance(a, Mapping) and isinstance(b, Mapping) and "name" in a and a.get("name") == b.get("name")
        for a, b in zip(source, target, strict=True)
    )


def _policy_name(component: str, clusters: Iterable[str]) -> str:
    digest = hashlib.sha256(",".join(sorted(clusters)).encode()).hexdigest()[:8]
    return f"{component}-{digest}"


def override_policy_name(key: ObjectKey) -> str:
    """`override_policy_name` is `<object>.<kind>`, lower case, e.g. `web.deployment`."""
    return f"{key[2]}.{key[1].lower()}"


def _selector(key: ObjectKey, namespace: str) -> dict[str, Any]:
    return {"apiVersion": key[0], "kind": key[1], "namespace": namespace, "name": key[2]}


def _metadata(name: str, namespace: str, component: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": {COMPONENT_LABEL: component}}


def plan_component(
    component: Component,
    candidates: Sequence[Candidate],
    clusters: Mapping[str, Mapping[str, str]],
) -> ComponentPlan:
    """`plan_component` renders `component` for each cluster it is placed on (`clusters`: the hub's
    clusters, name → labels) with the best of `candidates`, and derives the hub objects and policies
    described in the module docstring. Clusters that fail to render get nothing (their error is in
    `clusters`); the others are planned as usual."""
    name = component.metadata.name or ""
    namespace = component.metadata.namespace or "default"
    renderings = [
        render_cluster(component, candidates, cluster=cluster, labels=clusters.get(cluster), placement=entry)
        for cluster, entry in placed_clusters(component, clusters)
    ]
    per_object: dict[ObjectKey, dict[str, dict[str, Any]]] = {}
    for rendering in sorted((r for r in renderings if r.error is None), key=lambda r: r.cluster):
        for obj in rendering.objects:
            per_object.setdefault(object_key(obj), {})[rendering.cluster] = obj
    objects: dict[ObjectKey, dict[str, Any]] = {}
    groups: dict[tuple[str, ...], list[ObjectKey]] = {}
    overrides: list[dict[str, Any]] = []
    for key in sorted(per_object, key=lambda k: (k[1], k[2], k[0])):
        by_cluster = per_object[key]
        hub_object = objects[key] = copy.deepcopy(next(iter(by_cluster.values())))
        groups.setdefault(tuple(sorted(by_cluster)), []).append(key)
        rules = [
            {"targetCluster": {"clusterNames": [cluster]}, "overriders": {"plaintext": operations}}
            for cluster, obj in by_cluster.items()
            if (operations := json_patch(hub_object, obj))
        ]
        if rules:
            overrides.append(
                {
                    "apiVersion": OVERRIDE_POLICY.api_version,
                    "kind": OVERRIDE_POLICY.kind,
                    "metadata": _metadata(override_policy_name(key), namespace, name),
                    "spec": {"resourceSelectors": [_selector(key, namespace)], "overrideRules": rules},
                }
            )
    ordered = sorted(groups, key=lambda g: (-len(g), g))
    policies = [
        {
            "apiVersion": PROPAGATION_POLICY.api_version,
            "kind": PROPAGATION_POLICY.kind,
            "metadata": _metadata(name if index == 0 else _policy_name(name, group), namespace, name),
            "spec": {
                "resourceSelectors": [_selector(key, namespace) for key in groups[group]],
                "placement": {
                    "clusterAffinity": {"clusterNames": list(group)},
                    "replicaScheduling": {"replicaSchedulingType": "Duplicated"},
                },
            },
        }
        for index, group in enumerate(ordered)
    ]
    return ComponentPlan(
        clusters=renderings,
        objects=list(objects.values()),
        propagation_policies=policies,
        override_policies=overrides,
    )
