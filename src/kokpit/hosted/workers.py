"""The machine-backed nodes of a HostedCluster, as the MachineSet that asks for them (pure).

`spec.workers` says how many real nodes and what they run; kokpit writes one MachineSet
`<name>-workers` in the HostedCluster's namespace, owned by it, whose Machines join this cluster
(`clusterRef` kind HostedCluster). The machine operator does the rest: claims Hosts, installs the
components, joins them by TLS bootstrap. This file only decides the MachineSet's content.

Without `workers.components`, the nodes run the built-in catalogue's default node
(`kokpit.machines.catalogue.DEFAULT_COMPONENTS`): kubelet and kube-proxy at the version the control
plane runs (the oldest of its components during an upgrade, so nodes follow the control plane and
are never newer than the API server), the others at their catalogue's newest version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kokpit.api.hostedcluster import WorkersSpec
from kokpit.api.machine import API_VERSION as MACHINES_API_VERSION
from kokpit.binaries.versions import InvalidVersionError, parse_version
from kokpit.hosted import names
from kokpit.machines.catalogue import DEFAULT_COMPONENTS

VERSIONED_WITH_KUBERNETES = ("kubelet", "kube-proxy")
"""Default components whose version is the cluster's Kubernetes version."""


class WorkersError(Exception):
    """The workers cannot be described (a default component missing from the catalogue, or no
    kubelet of the cluster's version); the message says which."""


def default_components(
    catalogue: Sequence[Mapping[str, Any]], version: str, *, cluster_domain: str
) -> list[dict[str, Any]]:
    """`default_components` is the default node's component list for Kubernetes `version`, from the
    NodeComponent manifests of `catalogue`; kubelet gets the cluster's DNS domain."""
    by_name = {str(m["metadata"]["name"]): m for m in catalogue}
    components: list[dict[str, Any]] = []
    for name in DEFAULT_COMPONENTS:
        manifest = by_name.get(name)
        if manifest is None:
            raise WorkersError(f"the built-in NodeComponent {name} is missing")
        offered = [str(v) for v in (manifest.get("spec") or {}).get("versions") or []]
        if name in VERSIONED_WITH_KUBERNETES:
            if version not in offered:
                raise WorkersError(
                    f"the built-in NodeComponent {name} offers {', '.join(offered) or 'no version'}, "
                    f"not {version}: list workers.components"
                )
            chosen = version
        elif offered:
            chosen = max(offered, key=_version_key)
        else:
            raise WorkersError(f"the built-in NodeComponent {name} offers no version")
        component: dict[str, Any] = {"name": name, "version": chosen}
        if name == "kubelet":
            component["parameters"] = {"clusterDomain": cluster_domain}
        components.append(component)
    return components


def _version_key(text: str) -> tuple[int, ...]:
    try:
        return parse_version(text)
    except InvalidVersionError:
        return (0,)


def machine_set(
    *,
    namespace: str,
    cluster: str,
    owner: Mapping[str, Any],
    workers: WorkersSpec,
    components: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """`machine_set` is the MachineSet manifest of hosted cluster `namespace/cluster`'s workers,
    owned by the HostedCluster (`owner`, an owner reference); its Machines carry `CLUSTER_LABEL`."""
    template_spec: dict[str, Any] = {
        "clusterRef": {"kind": "HostedCluster", "name": cluster},
        "components": [dict(c) for c in components],
    }
    if workers.labels:
        template_spec["labels"] = dict(workers.labels)
    if workers.taints:
        template_spec["taints"] = [t.to_dict() for t in workers.taints]
    spec: dict[str, Any] = {
        "replicas": workers.replicas,
        "template": {"metadata": {"labels": {names.CLUSTER_LABEL: cluster}}, "spec": template_spec},
    }
    if workers.host_selector is not None:
        spec["hostSelector"] = workers.host_selector.to_dict()
    if workers.strategy is not None:
        spec["strategy"] = workers.strategy.to_dict()
    return {
        "apiVersion": MACHINES_API_VERSION,
        "kind": "MachineSet",
        "metadata": {
            "name": names.workers_machine_set_name(cluster),
            "namespace": namespace,
            "labels": {names.CLUSTER_LABEL: cluster, **names.MANAGED_BY},
            "ownerReferences": [dict(owner)],
        },
        "spec": spec,
    }


def components_of(workers: WorkersSpec) -> list[dict[str, Any]] | None:
    """`components_of` is `workers.components` as MachineSet JSON, or None when unset (the default)."""
    if workers.components is None:
        return None
    return [c.to_dict() for c in workers.components]
