"""Reading and writing the replica count and the per-replica resource request of a workload manifest.

Known workloads: Deployment, StatefulSet and ReplicaSet (`spec.replicas`, 1 when unset) and Job
(`spec.parallelism`, 1 when unset), in their built-in API groups. Everything else has no replicas: it is
propagated whole to every chosen cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kokpit.propagation.clusters import QuantityError, ResourceRequest, parse_quantity

if TYPE_CHECKING:
    from kokpit.propagation.interpreter import Interpreter

_REPLICAS_FIELD: dict[tuple[str, str], str] = {
    ("apps", "Deployment"): "replicas",
    ("apps", "StatefulSet"): "replicas",
    ("apps", "ReplicaSet"): "replicas",
    ("batch", "Job"): "parallelism",
}


def _group(manifest: Mapping[str, Any]) -> str:
    api_version = str(manifest.get("apiVersion", ""))
    return api_version.rpartition("/")[0]


def replicas_field(manifest: Mapping[str, Any]) -> str | None:
    """`replicas_field` is the spec field holding the replica count of `manifest`'s kind, or None."""
    return _REPLICAS_FIELD.get((_group(manifest), str(manifest.get("kind", ""))))


def workload_replicas(manifest: Mapping[str, Any], *, interpreter: Interpreter | None = None) -> int | None:
    """`workload_replicas` is the replica count of a workload manifest (spec.replicas of a Deployment,
    StatefulSet or ReplicaSet, spec.parallelism of a Job; 1 when unset), or None for other kinds.
    With an `interpreter` that reads replicas, its `replicaResource` decides instead (raising
    `InterpreterError` when the expression fails on `manifest`)."""
    if interpreter is not None and interpreter.has_replicas:
        return interpreter.replicas(manifest)
    name = replicas_field(manifest)
    if name is None:
        return None
    spec = manifest.get("spec") or {}
    value = spec.get(name, 1)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 1


def with_replicas(
    manifest: Mapping[str, Any], replicas: int, *, interpreter: Interpreter | None = None
) -> dict[str, Any]:
    """`with_replicas` returns a copy of `manifest` with its replica count set to `replicas`; other kinds
    are copied unchanged. The input is never modified. With an `interpreter` that reads replicas, the
    count is written at its `replicaRevision` path."""
    if interpreter is not None and interpreter.has_replicas:
        return interpreter.with_replicas(manifest, replicas)
    out = copy.deepcopy(dict(manifest))
    name = replicas_field(out)
    if name is not None:
        spec = out.get("spec")
        out["spec"] = spec = dict(spec) if isinstance(spec, Mapping) else {}
        spec[name] = replicas
    return out


def pod_spec(manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """`pod_spec` is the pod spec of a Pod, or the pod template's spec of a Deployment, StatefulSet,
    DaemonSet, ReplicaSet, Job or CronJob; None for other kinds or a malformed manifest."""
    path = pod_spec_path(manifest)
    if path is None:
        return None
    node: Any = manifest
    for step in path:
        node = node.get(step) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None


def pod_spec_path(manifest: Mapping[str, Any]) -> tuple[str, ...] | None:
    """`pod_spec_path` is the path of the pod spec within `manifest` by its kind, or None."""
    kind = manifest.get("kind")
    if kind == "Pod":
        return ("spec",)
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return ("spec", "template", "spec")
    if kind == "CronJob":
        return ("spec", "jobTemplate", "spec", "template", "spec")
    return None


def _container_request(container: Mapping[str, Any]) -> dict[str, Decimal]:
    resources = container.get("resources") or {}
    # Kubernetes defaults requests to limits when only limits are given.
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    out: dict[str, Decimal] = {}
    for name, value in merged.items():
        try:
            out[str(name)] = parse_quantity(value)
        except QuantityError:
            continue
    return out


def resource_request(manifest: Mapping[str, Any]) -> ResourceRequest:
    """`resource_request` is what one replica of `manifest` requests: the sum over the pod template's
    containers (requests, or limits where requests are unset), raised per resource to the largest init
    container, as the Kubernetes scheduler counts it. Empty for kinds without a pod template."""
    spec = pod_spec(manifest)
    if spec is None:
        return ResourceRequest()
    total: dict[str, Decimal] = {}
    for container in spec.get("containers") or ():
        for name, value in _container_request(container).items():
            total[name] = total.get(name, Decimal(0)) + value
    for container in spec.get("initContainers") or ():
        for name, value in _container_request(container).items():
            total[name] = max(total.get(name, Decimal(0)), value)
    return ResourceRequest(dict(sorted(total.items())))
