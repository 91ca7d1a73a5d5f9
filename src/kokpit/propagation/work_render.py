"""Rendering: a binding's template, for one member cluster, as the `Work` the member-side applies.

Pure: the binding controller and `kokpit plan` gather the template, the binding's target, the matching
override policies and the cluster, and call `render_manifest` / `render_work`. What comes out is what
the member gets, so the what-if of `kokpit plan` and the controller can never disagree.

Steps for one cluster (Karmada's order):

1. **Strip** what the hub's API server set and a member must not receive (`strip_template`): status, uid,
   resourceVersion, managedFields, creationTimestamp, generation, ownerReferences, finalizers,
   deletionTimestamp, selfLink, the kubectl last-applied annotation and kokpit's own
   `kokpit.io/suspend-dispatching` (an instruction to kokpit, not part of the copy); per kind, the
   Service cluster IPs the hub allocated, a Job's generated selector and controller-uid labels, and a
   ServiceAccount's generated token Secrets.
2. **Replicas**: when the placement divides replicas, the cluster's share (`with_replicas`).
3. **Overrides**: the rules of every matching OverridePolicy/ClusterOverridePolicy
   (`select_overrides` order: cluster-wide first, then namespaced; each policy's rules in order),
   applied by `apply_overrides`, so an override may still change the replicas.
4. **Routing**: the `kokpit.io/*` labels and annotations of the binding and cluster
   (`names.binding_metadata`), added last so no override can cut an object loose from its binding.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kokpit.api.override import AnyOverridePolicy, RuleWithCluster
from kokpit.api.policy import ConflictResolution, ReplicaSchedulingType
from kokpit.api.work import API_VERSION as WORK_API_VERSION
from kokpit.propagation import names
from kokpit.propagation.clusters import ClusterInfo
from kokpit.propagation.interpreter import Interpreter
from kokpit.propagation.overrides import apply_overrides
from kokpit.propagation.replicas import with_replicas, workload_replicas
from kokpit.propagation.selectors import select_overrides
from kokpit.propagation.suspension import SUSPEND_DISPATCHING_ANNOTATION

PROPAGATION_FINALIZER = names.PROPAGATION_FINALIZER

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"

SERVER_SET_METADATA = (
    "uid",
    "resourceVersion",
    "managedFields",
    "creationTimestamp",
    "generation",
    "ownerReferences",
    "finalizers",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "generateName",
)
"""Metadata fields the hub's API server (or its controllers) set on a template."""

_JOB_GENERATED_LABELS = (
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
)


def strip_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """`strip_template` returns a copy of `template` without status and the server-set fields listed in the
    module docstring; `template` is not modified. Empty labels/annotations maps left behind are removed."""
    out = copy.deepcopy(dict(template))
    out.pop("status", None)
    metadata = out.get("metadata")
    if not isinstance(metadata, dict):
        metadata = out["metadata"] = {}
    for key in SERVER_SET_METADATA:
        metadata.pop(key, None)
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED_ANNOTATION, None)
        annotations.pop(SUSPEND_DISPATCHING_ANNOTATION, None)
        if not annotations:
            del metadata["annotations"]
    group = str(out.get("apiVersion", "")).rpartition("/")[0]
    kind = out.get("kind")
    if group == "" and kind == "Service":
        _strip_service(out)
    elif group == "batch" and kind == "Job":
        _strip_job(out)
    elif group == "" and kind == "ServiceAccount":
        _strip_service_account(out)
    return out


def _strip_service(service: dict[str, Any]) -> None:
    spec = service.get("spec")
    if not isinstance(spec, dict):
        return
    # Addresses come from the hub's service CIDR; each member allocates its own. Headless stays headless.
    if spec.get("clusterIP") not in ("None", None):
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    spec.pop("healthCheckNodePort", None)


def _strip_job(job: dict[str, Any]) -> None:
    spec = job.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector"):
        return
    spec.pop("selector", None)
    template = spec.get("template")
    metadata = template.get("metadata") if isinstance(template, dict) else None
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    if isinstance(labels, dict):
        for key in _JOB_GENERATED_LABELS:
            labels.pop(key, None)


def _strip_service_account(account: dict[str, Any]) -> None:
    secrets = account.get("secrets")
    name = (account.get("metadata") or {}).get("name", "")
    if isinstance(secrets, list):
        kept = [s for s in secrets if not str((s or {}).get("name", "")).startswith(f"{name}-token-")]
        if kept:
            account["secrets"] = kept
        else:
            del account["secrets"]


def override_rules(
    template: Mapping[str, Any], policies: Sequence[AnyOverridePolicy]
) -> tuple[list[AnyOverridePolicy], list[RuleWithCluster]]:
    """`override_rules` returns the override policies matching `template` (in `select_overrides` order) and
    their rules flattened in the order they are applied."""
    selected = select_overrides(template, policies)
    return selected, [rule for policy in selected for rule in policy.spec.override_rules]


@dataclass(frozen=True)
class RenderedManifest:
    """The manifest for one cluster and how it got there."""

    manifest: dict[str, Any]
    """What the member receives."""
    stripped: dict[str, Any]
    """The template without server-set fields (`strip_template`), its replica count unchanged."""
    overridden: dict[str, Any]
    """After the cluster's replicas and the overrides, before the routing metadata."""
    changes: list[str] = field(default_factory=list)
    """What the overrides changed, one line each."""


def render_manifest(
    template: Mapping[str, Any],
    *,
    cluster: ClusterInfo,
    binding: names.BindingRef,
    replicas: int | None = None,
    rules: Sequence[RuleWithCluster] = (),
    interpreter: Interpreter | None = None,
) -> RenderedManifest:
    """`render_manifest` renders `template` for `cluster`: stripped, with `replicas` when not None (the
    caller passes the cluster's share only when the placement divides, see `divided_replicas`), then
    `rules` applied (`override_rules`), then the routing labels and annotations of `binding` added.
    Raises `OverrideError` when a rule cannot be applied. A custom kind's replicas are found and written
    by its `interpreter` (`kokpit.propagation.interpreter`)."""
    stripped = strip_template(template)
    base = stripped
    if replicas is not None and workload_replicas(base, interpreter=interpreter) is not None:
        base = with_replicas(base, replicas, interpreter=interpreter)
    overridden, changes = apply_overrides(base, rules, cluster)
    manifest = copy.deepcopy(overridden)
    labels, annotations = names.binding_metadata(binding, cluster=cluster.name)
    metadata = manifest.get("metadata")
    if not isinstance(metadata, dict):
        metadata = manifest["metadata"] = {}
    metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **annotations}
    return RenderedManifest(manifest=manifest, stripped=stripped, overridden=overridden, changes=changes)


def divided_replicas(replica_scheduling_type: ReplicaSchedulingType | None, share: int) -> int | None:
    """`divided_replicas` is the replica count to write into a cluster's copy: its `share` when the
    placement divides replicas, else None (the template's own count stays)."""
    return share if replica_scheduling_type is ReplicaSchedulingType.DIVIDED else None


def binding_ref_of(template: Mapping[str, Any]) -> names.BindingRef:
    """`binding_ref_of` is the (Cluster)ResourceBinding of `template`: in its namespace, named by
    `names.binding_name`."""
    metadata = template.get("metadata") or {}
    return names.BindingRef(
        namespace=metadata.get("namespace") or None,
        name=names.binding_name(kind=str(template.get("kind", "")), name=str(metadata.get("name", ""))),
    )


def render_work(
    manifest: Mapping[str, Any],
    *,
    cluster: str,
    binding: names.BindingRef,
    conflict_resolution: ConflictResolution = ConflictResolution.ABORT,
    preserve_resources_on_deletion: bool | None = None,
    suspend_dispatching: bool = False,
) -> dict[str, Any]:
    """`render_work` is the `Work` (as a dict, ready for server-side apply) carrying `manifest` to
    `cluster` for `binding`: named by `names.work_name` in `names.execution_namespace(cluster)`, labelled
    and annotated with `names.binding_metadata`; `suspend_dispatching` (`suspension`) marks it
    `spec.suspendDispatching` so the member keeps what it has. It carries the execution finalizer
    (`names.WORK_FINALIZER`) from its first write."""
    labels, annotations = names.binding_metadata(binding, cluster=cluster)
    spec: dict[str, Any] = {
        "workload": {"manifests": [copy.deepcopy(dict(manifest))]},
        "conflictResolution": conflict_resolution.value,
    }
    if preserve_resources_on_deletion is not None:
        spec["preserveResourcesOnDeletion"] = preserve_resources_on_deletion
    if suspend_dispatching:
        spec["suspendDispatching"] = True
    return {
        "apiVersion": WORK_API_VERSION,
        "kind": "Work",
        "metadata": {
            "name": names.work_name(binding_namespace=binding.namespace, binding=binding.name),
            "namespace": names.execution_namespace(cluster),
            "labels": labels,
            "annotations": annotations,
            "finalizers": [names.WORK_FINALIZER],
        },
        "spec": spec,
    }
