"""Dependencies that follow their workload (`propagateDeps`): what a pod template references, and where an
attached binding sends its resource.

A Deployment is useless on a cluster without the ConfigMap its containers read. With `propagateDeps: true`
on the policy, the dependencies controller (`kokpit.propagation.dependencies_controller`) gives every
referenced object an *attached* binding whose `spec.requiredBy` lists the bindings needing it and their
clusters (Karmada's dependencies distributor); the binding controller then sends the object to the union of
its own clusters (when a policy selects it too) and its dependents' clusters (`target_clusters`). All of
that rests on the pure functions here.

`dependencies_of` reads the pod template of Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob
and Pod (`pod_spec_of`) and returns, in the workload's namespace, what the kubelet on the member needs
(Kubernetes' own `VisitPodSecretNames` / `VisitPodConfigmapNames`, as Karmada uses them):

- ConfigMaps: `configMap` and `projected` volumes, `envFrom[].configMapRef`, `env[].valueFrom.configMapKeyRef`
  of every container, init container and ephemeral container;
- Secrets: `imagePullSecrets`, `secret` and `projected` volumes, the secret references of volume plugins
  (azureFile, cephfs, cinder, flexVolume, iscsi, rbd, scaleIO, storageos, csi), `envFrom[].secretRef`,
  `env[].valueFrom.secretKeyRef`;
- the ServiceAccount of `serviceAccountName` (or the older `serviceAccount`), except `default`, which
  every namespace of every member has;
- PersistentVolumeClaims of `persistentVolumeClaim` volumes. A StatefulSet's `volumeClaimTemplates` and
  `ephemeral` volumes are not dependencies: the member's controllers create those claims.

References marked `optional` count too: the object goes along when it exists. References introduced by
an override policy are not seen (as in Karmada: dependencies come from the template).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kokpit.api.policy import POD_TEMPLATE_KINDS, PropagationPolicy
from kokpit.propagation.scheduler import TargetCluster

CONFIG_MAP = "ConfigMap"
SECRET = "Secret"
SERVICE_ACCOUNT = "ServiceAccount"
PERSISTENT_VOLUME_CLAIM = "PersistentVolumeClaim"
DEPENDENCY_KINDS = (CONFIG_MAP, SECRET, SERVICE_ACCOUNT, PERSISTENT_VOLUME_CLAIM)
"""The kinds (all `v1`, all namespaced) a pod template can depend on."""
DEFAULT_SERVICE_ACCOUNT = "default"

_POD_SPEC_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("v1", "Pod"): ("spec",),
    ("batch/v1", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
    **{
        kind: ("spec", "template", "spec")
        for kind in POD_TEMPLATE_KINDS
        if kind not in {("v1", "Pod"), ("batch/v1", "CronJob")}
    },
}

_VOLUME_SECRET_NAMES = (("azureFile", "secretName"),)
"""Volume plugins naming their Secret directly."""
_VOLUME_SECRET_REFS = (
    ("cephfs", "secretRef"),
    ("cinder", "secretRef"),
    ("flexVolume", "secretRef"),
    ("iscsi", "secretRef"),
    ("rbd", "secretRef"),
    ("scaleIO", "secretRef"),
    ("storageos", "secretRef"),
    ("csi", "nodePublishSecretRef"),
)
"""Volume plugins naming their Secret in a `{name: ...}` reference."""


@dataclass(frozen=True, order=True)
class DependentObjectReference:
    """An object a workload depends on (Karmada's DependentObjectReference); ordered by kind, then name."""

    kind: str
    name: str
    namespace: str | None = None
    api_version: str = "v1"

    @property
    def key(self) -> str:
        """`key` is `Kind/name`, the dependency's name within its namespace."""
        return f"{self.kind}/{self.name}"


def dependency_key(kind: str, name: str) -> str:
    """`dependency_key` is the `Kind/name` of a dependency (`DependentObjectReference.key`)."""
    return f"{kind}/{name}"


def parse_dependency_key(key: str) -> tuple[str, str] | None:
    """`parse_dependency_key` inverts `dependency_key`: (kind, name), or None for another kind or form."""
    kind, slash, name = key.partition("/")
    return (kind, name) if slash and name and kind in DEPENDENCY_KINDS else None


def has_pod_template(api_version: str, kind: str) -> bool:
    """`has_pod_template` says whether `dependencies_of` can read objects of `api_version` `kind`."""
    return (api_version, kind) in _POD_SPEC_PATHS


def pod_spec_of(workload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """`pod_spec_of` is the pod spec inside `workload` (a Pod's own spec, a CronJob's job template's pod
    spec, ...), or None for a kind without one or a workload missing it."""
    path = _POD_SPEC_PATHS.get((str(workload.get("apiVersion")), str(workload.get("kind"))))
    current: Any = workload
    for step in path or ():
        current = current.get(step) if isinstance(current, Mapping) else None
    return current if path and isinstance(current, Mapping) else None


def dependencies_of(workload: Mapping[str, Any]) -> list[DependentObjectReference]:
    """`dependencies_of` lists what `workload`'s pod template references (see the module docstring),
    each once, sorted; empty for kinds without a pod template."""
    spec = pod_spec_of(workload)
    if spec is None:
        return []
    namespace = (workload.get("metadata") or {}).get("namespace") or None
    found: set[tuple[str, str]] = set()
    found.update((CONFIG_MAP, n) for n in _config_map_names(spec))
    found.update((SECRET, n) for n in _secret_names(spec))
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if isinstance(account, str) and account and account != DEFAULT_SERVICE_ACCOUNT:
        found.add((SERVICE_ACCOUNT, account))
    for volume in _items(spec.get("volumes")):
        claim = _name(volume.get("persistentVolumeClaim"), "claimName")
        if claim:
            found.add((PERSISTENT_VOLUME_CLAIM, claim))
    return sorted(DependentObjectReference(kind, name, namespace) for kind, name in found)


def _items(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, Mapping))


def _name(ref: Any, field: str = "name") -> str | None:
    if not isinstance(ref, Mapping):
        return None
    value = ref.get(field)
    return value if isinstance(value, str) and value else None


def _containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from _items(spec.get(field))


def _env_names(spec: Mapping[str, Any], from_field: str, key_field: str) -> Iterator[str | None]:
    for container in _containers(spec):
        for source in _items(container.get("envFrom")):
            yield _name(source.get(from_field))
        for variable in _items(container.get("env")):
            value_from = variable.get("valueFrom")
            if isinstance(value_from, Mapping):
                yield _name(value_from.get(key_field))


def _projected(volume: Mapping[str, Any], field: str) -> Iterator[str | None]:
    projected = volume.get("projected")
    if isinstance(projected, Mapping):
        for source in _items(projected.get("sources")):
            yield _name(source.get(field))


def _config_map_names(spec: Mapping[str, Any]) -> set[str]:
    names: list[str | None] = list(_env_names(spec, "configMapRef", "configMapKeyRef"))
    for volume in _items(spec.get("volumes")):
        names.append(_name(volume.get("configMap")))
        names.extend(_projected(volume, "configMap"))
    return {n for n in names if n}


def _secret_names(spec: Mapping[str, Any]) -> set[str]:
    names: list[str | None] = [_name(ref) for ref in _items(spec.get("imagePullSecrets"))]
    names.extend(_env_names(spec, "secretRef", "secretKeyRef"))
    for volume in _items(spec.get("volumes")):
        names.append(_name(volume.get("secret"), "secretName"))
        names.extend(_projected(volume, "secret"))
        names.extend(_name(volume.get(plugin), field) for plugin, field in _VOLUME_SECRET_NAMES)
        names.extend(
            _name(source.get(field)) if isinstance(source := volume.get(plugin), Mapping) else None
            for plugin, field in _VOLUME_SECRET_REFS
        )
    return {n for n in names if n}


# --- attached bindings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dependent:
    """A binding with propagateDeps: its namespace and name, its scheduled clusters, and what its
    workload references."""

    namespace: str | None
    name: str
    clusters: Sequence[Mapping[str, Any]]
    """`spec.clusters` of the binding: `{name, replicas}` each."""
    dependencies: Sequence[DependentObjectReference]


def required_by(
    dependency: DependentObjectReference, dependents: Iterable[Dependent]
) -> list[dict[str, Any]]:
    """`required_by` is the `spec.requiredBy` of the attached binding of `dependency`: one snapshot
    (namespace, name, clusters) per dependent referencing it and scheduled somewhere, sorted by name, so
    the same world gives the same list."""
    snapshots = []
    for dependent in dependents:
        if dependency not in dependent.dependencies or not dependent.clusters:
            continue
        snapshot: dict[str, Any] = {"name": dependent.name}
        if dependent.namespace:
            snapshot["namespace"] = dependent.namespace
        snapshot["clusters"] = sorted(
            ({"name": str(c["name"]), "replicas": int(c.get("replicas") or 0)} for c in dependent.clusters),
            key=lambda c: str(c["name"]),
        )
        snapshots.append(snapshot)
    return sorted(snapshots, key=lambda s: (s.get("namespace") or "", s["name"]))


def target_clusters(
    clusters: Sequence[Mapping[str, Any]] | Sequence[TargetCluster],
    required: Sequence[Mapping[str, Any]] | None,
) -> list[TargetCluster]:
    """`target_clusters` is where a binding's resource goes: its own `clusters` (the scheduler's choice,
    replicas kept), then every other cluster its `required` snapshots (`spec.requiredBy`) are on, by
    name, with no replicas of its own (Karmada's mergeTargetClusters: a union, the own placement first)."""
    own = [
        c if isinstance(c, TargetCluster) else TargetCluster(str(c["name"]), int(c.get("replicas") or 0))
        for c in clusters
        if isinstance(c, TargetCluster) or c.get("name")
    ]
    seen = {c.name for c in own}
    extra = sorted(
        {
            str(cluster["name"])
            for snapshot in required or ()
            for cluster in snapshot.get("clusters") or ()
            if cluster.get("name")
        }
        - seen
    )
    return own + [TargetCluster(name, 0) for name in extra]


def attached_policy(binding: Mapping[str, Any]) -> PropagationPolicy:
    """`attached_policy` is how an attached binding no policy selects is delivered, as a policy: its
    template's kind, the binding's conflictResolution and preserveResourcesOnDeletion, Duplicated, no
    suspension. Nothing is scheduled from it; the clusters come from `target_clusters`."""
    spec = binding.get("spec") or {}
    resource = spec.get("resource") or {}
    delivery = {
        "resourceSelectors": [{"apiVersion": resource.get("apiVersion"), "kind": resource.get("kind")}],
        "conflictResolution": spec.get("conflictResolution") or "Abort",
    }
    if spec.get("preserveResourcesOnDeletion") is not None:
        delivery["preserveResourcesOnDeletion"] = spec["preserveResourcesOnDeletion"]
    metadata = binding.get("metadata") or {}
    return PropagationPolicy.model_validate(
        {"metadata": {"name": metadata.get("name"), "namespace": metadata.get("namespace")}, "spec": delivery}
    )


def describe_required_by(required: Sequence[Mapping[str, Any]]) -> str:
    """`describe_required_by` names the dependents in `required` for a condition message."""
    return ", ".join(
        f"{s.get('namespace')}/{s.get('name')}" if s.get("namespace") else str(s.get("name"))
        for s in required
    )


__all__ = [
    "DEPENDENCY_KINDS",
    "Dependent",
    "DependentObjectReference",
    "attached_policy",
    "dependencies_of",
    "dependency_key",
    "describe_required_by",
    "has_pod_template",
    "parse_dependency_key",
    "pod_spec_of",
    "required_by",
    "target_clusters",
]
