"""Hosted clusters (Kube-on-Kube): a whole Kubernetes cluster from one `HostedCluster` resource.

    setup_hosted(manager, HostedSettings(process_root=Path("/var/lib/kokpit/hosted")))

The control plane runs through a component runtime (local processes today); its etcd is an
`EtcdCluster` run by the etcd operator, which must be registered in the same manager
(`kokpit.etcd.add_etcd_controllers`). Pure decisions live in `versions`, `plan`, `certificates` and
`components`; `controller` does the I/O.
"""

from __future__ import annotations

from typing import Any

from kokpit.etcd.resources import EtcdClusterResource
from kokpit.hosted import names
from kokpit.hosted.controller import HostedClusterReconciler, HostedClusterResource, HostedSettings
from kokpit.hosted.versions import SupportedVersions, check_version_change, load_supported
from kokpit.runtime import Controller, EventRecorder, Key, Manager


def setup_hosted(
    manager: Manager, settings: HostedSettings | None = None, *, hub: str = "hub"
) -> tuple[Controller, HostedClusterReconciler]:
    """`setup_hosted` adds the HostedCluster controller to `manager` (which must have the `hub`
    cluster); it also wakes up when a cluster's EtcdCluster changes."""
    client = manager.clients.get(hub)
    clusters = manager.informer(hub, HostedClusterResource)
    etcd_clusters = manager.informer(hub, EtcdClusterResource)
    reconciler = HostedClusterReconciler(
        client, clusters, settings or HostedSettings(), recorder=EventRecorder(client, "kokpit-hosted")
    )
    controller = manager.controller("hostedclusters", reconciler, workers=4)
    controller.watch(clusters)

    def owner_of(obj: Any) -> list[Key]:
        owner = (obj.metadata.labels or {}).get(names.CLUSTER_LABEL)
        return [Key(hub, obj.metadata.namespace, owner)] if owner else []

    controller.watch(etcd_clusters, owner_of)
    return controller, reconciler


__all__ = [
    "HostedClusterReconciler",
    "HostedClusterResource",
    "HostedSettings",
    "SupportedVersions",
    "check_version_change",
    "load_supported",
    "setup_hosted",
]
