"""What delivery needs to know about a member cluster, as plain data, and the one cluster-affinity matcher.

A controller turns each `Cluster` object of its cache into a `ClusterInfo` with `cluster_info_from_object`
and hands the list to the scheduler; the override engine uses the same `affinity_mismatch` to decide which
override rules apply to a cluster, so "which clusters does this affinity mean" has one answer.

Capacity is kept as `Decimal` per resource name (cpu in cores, memory in bytes, pods as a count), parsed
from Kubernetes quantities by `parse_quantity`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from kokpit.api.policy import ClusterAffinity, FieldSelectorKey, FieldSelectorOperator
from kokpit.propagation.selectors import label_selector_matches
from kokpit.quantity import QuantityError, parse_quantity
from kokpit.runtime.conditions import parse_time

__all__ = ["QuantityError", "parse_quantity"]  # re-exported for the scheduler's callers

NOT_READY_TAINT = "cluster.kokpit.io/not-ready"
"""Taint the fleet controllers put on clusters whose Ready condition is not True."""
UNREACHABLE_TAINT = "cluster.kokpit.io/unreachable"
"""Taint the fleet controllers put on clusters the hub cannot reach."""


@dataclass(frozen=True)
class ClusterTaint:
    """A taint of a cluster (the semantics of core/v1 Taint)."""

    key: str
    effect: str
    """NoSchedule, PreferNoSchedule or NoExecute."""
    value: str = ""
    time_added: datetime | None = None
    """When the taint was added (NoExecute taints); tolerationSeconds counts from it."""

    def __str__(self) -> str:
        value = f"={self.value}" if self.value else ""
        return f"{self.key}{value}:{self.effect}"


@dataclass(frozen=True)
class ResourceRequest:
    """What one replica of a workload requests, per resource name (cpu in cores, memory in bytes, ...).
    Empty when unknown."""

    resources: Mapping[str, Decimal] = field(default_factory=dict)

    @classmethod
    def of(cls, **quantities: str | int) -> ResourceRequest:
        """`of` builds a request from quantities: `ResourceRequest.of(cpu="500m", memory="1Gi")`."""
        return cls({name: parse_quantity(value) for name, value in quantities.items()})

    def is_empty(self) -> bool:
        """`is_empty` says whether nothing positive is requested."""
        return not any(value > 0 for value in self.resources.values())


@dataclass(frozen=True)
class ClusterInfo:
    """One member as the scheduler sees it; built by `cluster_info_from_object` or by hand in tests."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    provider: str | None = None
    region: str | None = None
    zone: str | None = None
    taints: tuple[ClusterTaint, ...] = ()
    ready: bool = True
    allocatable: Mapping[str, Decimal] = field(default_factory=dict)
    """What the nodes can hold in total, per resource name."""
    allocated: Mapping[str, Decimal] = field(default_factory=dict)
    """Requested by scheduled pods."""
    allocating: Mapping[str, Decimal] = field(default_factory=dict)
    """Requested by pods not yet scheduled."""

    def field_value(self, key: FieldSelectorKey | str) -> str | None:
        """`field_value` is the cluster's provider, region or zone."""
        return {"provider": self.provider, "region": self.region, "zone": self.zone}.get(str(key))

    def free(self, resource: str) -> Decimal | None:
        """`free` is allocatable minus allocated and allocating for `resource`, or None when the cluster
        reports no allocatable amount of it."""
        if resource not in self.allocatable:
            return None
        used = self.allocated.get(resource, Decimal(0)) + self.allocating.get(resource, Decimal(0))
        return self.allocatable[resource] - used


def available_replicas(cluster: ClusterInfo, request: ResourceRequest | None) -> int:
    """`available_replicas` is how many more replicas requesting `request` fit into `cluster`: the
    smallest of free/requested over the requested resources and the free pod count. Without a request it
    is the free pod count. A resource the cluster does not report counts as none free; no information at
    all means 0."""
    limits: list[int] = []
    pods = cluster.free("pods")
    if pods is not None:
        limits.append(int(pods))
    if request is not None:
        for resource, amount in sorted(request.resources.items()):
            if amount <= 0 or resource == "pods":
                continue
            free = cluster.free(resource)
            limits.append(0 if free is None else int(free // amount))
    return max(0, min(limits)) if limits else 0


def _quantities(raw: Any) -> dict[str, Decimal]:
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, Decimal] = {}
    for name, value in raw.items():
        try:
            out[str(name)] = parse_quantity(value)
        except QuantityError:
            continue
    return out


def cluster_info_from_object(obj: Mapping[str, Any]) -> ClusterInfo:
    """`cluster_info_from_object` reads a `Cluster` object (a dict as the API server returns it) into a
    `ClusterInfo`. Ready means the Ready condition is True. Quantities that do not parse are left out."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    name = metadata.get("name")
    if not name:
        raise ValueError("a Cluster object needs metadata.name")
    ready = any(
        condition.get("type") == "Ready" and condition.get("status") == "True"
        for condition in status.get("conditions") or ()
    )
    taints = tuple(
        ClusterTaint(
            key=taint["key"],
            effect=taint.get("effect", ""),
            value=taint.get("value") or "",
            time_added=parse_time(taint.get("timeAdded")),
        )
        for taint in spec.get("taints") or ()
        if taint.get("key")
    )
    summary = status.get("resourceSummary") or {}
    return ClusterInfo(
        name=name,
        labels=dict(metadata.get("labels") or {}),
        provider=spec.get("provider"),
        region=spec.get("region"),
        zone=spec.get("zone"),
        taints=taints,
        ready=ready,
        allocatable=_quantities(summary.get("allocatable")),
        allocated=_quantities(summary.get("allocated")),
        allocating=_quantities(summary.get("allocating")),
    )


def affinity_mismatch(affinity: ClusterAffinity | None, cluster: ClusterInfo) -> str | None:
    """`affinity_mismatch` returns why `cluster` does not qualify under `affinity`, or None when it does.

    Checked in order: clusterNames ("not in clusterNames"), exclude ("excluded"), labelSelector ("label
    selector does not match"), fieldSelector ("region us-east not in [eu-west]", "provider aws in NotIn
    [aws]"). None or an empty affinity matches every cluster."""
    if affinity is None:
        return None
    if affinity.cluster_names and cluster.name not in affinity.cluster_names:
        return "not in clusterNames"
    if affinity.exclude and cluster.name in affinity.exclude:
        return "excluded"
    if affinity.label_selector is not None and not label_selector_matches(
        affinity.label_selector, cluster.labels
    ):
        return "label selector does not match"
    if affinity.field_selector is not None:
        for requirement in affinity.field_selector.match_expressions:
            value = cluster.field_value(requirement.key)
            values = ", ".join(requirement.values)
            shown = value if value is not None else "<unset>"
            if requirement.operator is FieldSelectorOperator.IN and value not in requirement.values:
                return f"{requirement.key} {shown} not in [{values}]"
            if requirement.operator is FieldSelectorOperator.NOT_IN and value in requirement.values:
                return f"{requirement.key} {shown} in NotIn [{values}]"
    return None


def matches_affinity(affinity: ClusterAffinity | None, cluster: ClusterInfo) -> bool:
    """`matches_affinity` says whether `cluster` qualifies under `affinity` (see `affinity_mismatch`)."""
    return affinity_mismatch(affinity, cluster) is None


def sorted_clusters(clusters: Sequence[ClusterInfo]) -> list[ClusterInfo]:
    """`sorted_clusters` orders clusters by name and refuses duplicate names."""
    ordered = sorted(clusters, key=lambda cluster: cluster.name)
    for before, after in itertools.pairwise(ordered):
        if before.name == after.name:
            raise ValueError(f"cluster {before.name} is listed twice")
    return ordered
