"""Hosted clusters (Kube-on-Kube): a whole Kubernetes cluster from one `HostedCluster` resource.

    setup(manager, hub_settings)                                   # the hub process
    setup_hosted(manager, HostedSettings(process_root=Path(...)))   # tests, tools

One reconcile (`controller`) drives the control plane through one interface (`plane.ControlPlane`)
with two implementations: local processes (`process_plane`) and Deployments in a meta cluster
(`kubernetes_plane`, rendered by `kubernetes_runtime`). Its etcd is an `EtcdCluster` run by the etcd
operator, which must be registered in the same manager (`kokpit.etcd.add_etcd_controllers`). The
steps have files of their own (`pki_step`, `etcd`, `addons_step`, `join`, `status`); pure decisions
live in `versions`, `plan`, `certificates`, `components` and `kubernetes_runtime`.
"""

from __future__ import annotations

from typing import Any

from kokpit.etcd.resources import EtcdClusterResource
from kokpit.fleet.members import member_clients
from kokpit.hosted import names
from kokpit.hosted.controller import HostedClusterReconciler, HostedClusterResource
from kokpit.hosted.settings import HostedSettings
from kokpit.hosted.versions import SupportedVersions, check_version_change, load_supported
from kokpit.runtime import Controller, EventRecorder, Key, Manager
from kokpit.settings import HubSettings


def setup_hosted(
    manager: Manager, settings: HostedSettings | None = None, *, hub: str = "hub"
) -> tuple[Controller, HostedClusterReconciler]:
    """`setup_hosted` adds the HostedCluster controller to `manager` (which must have the `hub`
    cluster); it also wakes up when a cluster's EtcdCluster changes."""
    client = manager.clients.get(hub)
    settings = settings or HostedSettings()
    if settings.meta_clients is None:
        settings.meta_clients = member_clients(manager, hub=hub).client_or_none
    clusters = manager.informer(hub, HostedClusterResource)
    etcd_clusters = manager.informer(hub, EtcdClusterResource)
    reconciler = HostedClusterReconciler(
        client, clusters, settings, recorder=EventRecorder(client, "kokpit-hosted")
    )
    controller = manager.controller("hostedclusters", reconciler, workers=4)
    controller.watch(clusters)

    def owner_of(obj: Any) -> list[Key]:
        owner = (obj.metadata.labels or {}).get(names.CLUSTER_LABEL)
        return [Key(hub, obj.metadata.namespace, owner)] if owner else []

    controller.watch(etcd_clusters, owner_of)
    return controller, reconciler


def setup(manager: Manager, settings: HubSettings) -> None:
    """`setup` adds the hosted-cluster controller to the hub's `manager`."""
    setup_hosted(
        manager,
        HostedSettings(process_root=settings.controlplane_root, tie_to_parent=settings.tie_to_parent),
        hub=settings.hub,
    )


__all__ = [
    "HostedClusterReconciler",
    "HostedClusterResource",
    "HostedSettings",
    "SupportedVersions",
    "check_version_change",
    "load_supported",
    "setup",
    "setup_hosted",
]
