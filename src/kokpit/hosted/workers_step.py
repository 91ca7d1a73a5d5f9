"""The workers step: the MachineSet of a HostedCluster's machine-backed nodes, kept as `spec.workers`
says, and taken away (its Machines drained and their Hosts freed first) before the control plane is.

The content is decided in `workers` (pure); here it is written to the hub. The Ready nodes are
counted in the cluster itself (`inside`), where they are real.
"""

from __future__ import annotations

import functools
from typing import Any

from lightkube import ApiError
from lightkube.types import CascadeType

from kokpit.api.hostedcluster import HostedClusterSpec, NetworkingSpec
from kokpit.api.machine import MACHINE, MACHINE_SET
from kokpit.hosted import names, workers
from kokpit.hosted.context import StepContext, owner_reference
from kokpit.machines.catalogue import builtin_components
from kokpit.runtime import get_or_none, is_not_found
from kokpit.runtime.resources import resource_class

MachineSetResource = resource_class(MACHINE_SET)
MachineResource = resource_class(MACHINE)


@functools.cache
def _catalogue() -> tuple[dict[str, Any], ...]:
    return tuple(builtin_components())


async def ensure_workers(
    ctx: StepContext, obj: Any, spec: HostedClusterSpec, version: str, networking: NetworkingSpec
) -> tuple[int, str | None]:
    """`ensure_workers` writes (or deletes) the workers' MachineSet; returns how many worker nodes
    are wanted and, when the MachineSet cannot be described, why (for `NodesReady`)."""
    namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
    set_name = names.workers_machine_set_name(name)
    existing = await get_or_none(ctx.client, MachineSetResource, set_name, namespace=namespace)
    if spec.workers is None:
        if existing is not None and _ours(existing, name) and existing.metadata.deletionTimestamp is None:
            await ctx.client.delete(
                MachineSetResource, set_name, namespace=namespace, cascade=CascadeType.FOREGROUND
            )
            await ctx.event(obj, "Normal", "WorkersRemoved", f"MachineSet {set_name} deleted")
        return 0, None
    if existing is not None and not _ours(existing, name):
        return spec.workers.replicas, f"MachineSet {set_name} exists and was not made for this cluster"
    components = workers.components_of(spec.workers)
    if components is None:
        try:
            components = workers.default_components(
                _catalogue(), version, cluster_domain=networking.cluster_domain
            )
        except workers.WorkersError as error:
            return spec.workers.replicas, str(error)
    owner = owner_reference(obj).to_dict()
    manifest = workers.machine_set(
        namespace=namespace, cluster=name, owner=owner, workers=spec.workers, components=components
    )
    if existing is None or _differs(existing, manifest):
        await ctx.client.apply(MachineSetResource.from_dict(manifest), field_manager="kokpit", force=True)
        if existing is None:
            await ctx.event(
                obj, "Normal", "WorkersRequested", f"MachineSet {set_name}: {spec.workers.replicas} machines"
            )
    return spec.workers.replicas, None


async def remove_workers(ctx: StepContext, obj: Any) -> bool:
    """`remove_workers` deletes the workers' MachineSet (foreground: its Machines go first, each
    draining its node and freeing its Host); True once neither it nor any Machine of the cluster is
    left, so the control plane may go."""
    namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
    set_name = names.workers_machine_set_name(name)
    existing = await get_or_none(ctx.client, MachineSetResource, set_name, namespace=namespace)
    if existing is not None and _ours(existing, name):
        if existing.metadata.deletionTimestamp is None:
            await ctx.client.delete(
                MachineSetResource, set_name, namespace=namespace, cascade=CascadeType.FOREGROUND
            )
            await ctx.event(obj, "Normal", "WorkersRemoved", f"MachineSet {set_name} deleted")
        return False
    try:
        async for _ in ctx.client.list(
            MachineResource, namespace=namespace, labels={names.CLUSTER_LABEL: name}
        ):
            return False
    except ApiError as error:
        if not is_not_found(error):  # no Machine type on this hub: no machines either
            raise
    return True


def _ours(machine_set: Any, cluster: str) -> bool:
    return (machine_set.metadata.labels or {}).get(names.CLUSTER_LABEL) == cluster


def _differs(existing: Any, manifest: dict[str, Any]) -> bool:
    labels = existing.metadata.labels or {}
    wanted_labels = manifest["metadata"]["labels"]
    owners = [o.get("uid") for o in (existing.to_dict()["metadata"].get("ownerReferences") or [])]
    return (
        (existing.get("spec") or {}) != manifest["spec"]
        or any(labels.get(k) != v for k, v in wanted_labels.items())
        or manifest["metadata"]["ownerReferences"][0]["uid"] not in owners
    )
