"""The join step: a Ready hosted cluster becomes a member of the fleet (a Cluster and its kubeconfig
Secret, annotated as made for it), and leaves it when `spec.join` turns false or it is deleted."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from kokpit.api.cluster import SECRET_NAMESPACE
from kokpit.api.hostedcluster import HostedClusterSpec
from kokpit.fleet.join import JoinRequest, cluster_manifest
from kokpit.fleet.members import ClusterResource
from kokpit.fleet.names import KUBECONFIG_KEY, kubeconfig_secret_name
from kokpit.hosted import names
from kokpit.hosted.context import Pass, StepContext
from kokpit.runtime import delete_if_present, get_or_none


def made_for(existing: Any, namespace: str, name: str) -> bool:
    """`made_for` is true when the fleet Cluster `existing` was made for HostedCluster namespace/name."""
    return existing is not None and (existing.metadata.annotations or {}).get(
        names.HOSTED_BY_ANNOTATION
    ) == names.hosted_by(namespace, name)


async def ensure_joined(
    ctx: StepContext,
    obj: Any,
    spec: HostedClusterSpec,
    endpoint: str,
    admin: bytes,
    ready: bool,
    state: Pass,
) -> None:
    """`ensure_joined` makes the fleet membership match `spec.join` once the cluster is Ready; sets
    `Joined`. A fleet Cluster of the same name not made for this cluster is left alone (NameTaken)."""
    name = str(obj.metadata.name)
    fleet_name = names.fleet_cluster_name(name)
    owner = names.hosted_by(str(obj.metadata.namespace), name)
    existing = await get_or_none(ctx.client, ClusterResource, fleet_name)
    ours = made_for(existing, str(obj.metadata.namespace), name)
    if not spec.join:
        if ours:
            await unjoin(ctx, fleet_name)
        state.set("Joined", False, "JoinDisabled", "spec.join is false")
        return
    if existing is not None and not ours:
        state.set(
            "Joined",
            False,
            "NameTaken",
            f"the fleet already has a Cluster {fleet_name} not made for this cluster",
        )
        return
    if not ready and not ours:
        state.set("Joined", False, "WaitingForReady", "joins the fleet once Ready")
        return
    secret = Secret(
        metadata=ObjectMeta(
            name=kubeconfig_secret_name(fleet_name),
            namespace=SECRET_NAMESPACE,
            labels={"kokpit.io/cluster": fleet_name, names.CLUSTER_LABEL: name},
            annotations={names.HOSTED_BY_ANNOTATION: owner},
        ),
        type="Opaque",
        data={KUBECONFIG_KEY: base64.b64encode(admin).decode()},
    )
    current = await get_or_none(
        ctx.client, Secret, kubeconfig_secret_name(fleet_name), namespace=SECRET_NAMESPACE
    )
    if current is None or (current.data or {}) != secret.data:
        await ctx.client.apply(secret, field_manager="kokpit", force=True)
    if existing is None:
        manifest = cluster_manifest(JoinRequest(fleet_name, Path("-"), provider="kokpit"), server=endpoint)
        manifest["metadata"]["annotations"] = {names.HOSTED_BY_ANNOTATION: owner}
        manifest["metadata"]["labels"] = {names.CLUSTER_LABEL: name}
        await ctx.client.create(ClusterResource.from_dict(manifest))
        await ctx.event(obj, "Normal", "Joined", f"joined the fleet as Cluster {fleet_name}")
    state.set("Joined", True, "Joined", f"Cluster {fleet_name}")


async def unjoin(ctx: StepContext, fleet_name: str) -> None:
    """`unjoin` deletes the fleet Cluster and its kubeconfig Secret (absent ones are fine)."""
    await delete_if_present(ctx.client, ClusterResource, fleet_name)
    await delete_if_present(
        ctx.client, Secret, kubeconfig_secret_name(fleet_name), namespace=SECRET_NAMESPACE
    )
