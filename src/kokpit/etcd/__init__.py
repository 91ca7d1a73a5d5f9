"""The etcd operator: `EtcdCluster` (create, scale, repair, upgrade, back up, restore) and `EtcdBackup`.

    settings = EtcdSettings(process_root=Path("/var/lib/kokpit/etcd"), backup_root=Path("/var/backups"))
    add_etcd_controllers(manager, settings)   # the manager already has the "hub" cluster
    await manager.run()

The decisions live in `kokpit.etcd.planner` (pure); members run through a component runtime
(`kokpit.controlplane.runtime`): local processes or Pods in a meta cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from kokpit.etcd.backup_controller import EtcdBackupReconciler
from kokpit.etcd.client import ClientTLS, EtcdClient, EtcdError
from kokpit.etcd.controller import EtcdClusterReconciler, EtcdSettings, local_program
from kokpit.etcd.planner import Action, Desired, Kind, MemberView, Observed, Policy, plan
from kokpit.etcd.resources import EtcdBackupResource, EtcdClusterResource
from kokpit.runtime import Controller, EventRecorder, Manager


@dataclass
class EtcdControllers:
    """What `add_etcd_controllers` registered."""

    clusters: Controller
    backups: Controller
    cluster_reconciler: EtcdClusterReconciler
    backup_reconciler: EtcdBackupReconciler


def add_etcd_controllers(
    manager: Manager, settings: EtcdSettings, *, cluster: str = "hub"
) -> EtcdControllers:
    """`add_etcd_controllers` adds the EtcdCluster and EtcdBackup controllers to `manager`, watching
    `cluster` (which must be registered). Meta clusters of the kubernetes runtime are looked up in the
    manager's clients unless `settings.meta_clients` says otherwise."""
    client = manager.clients.get(cluster)
    if settings.meta_clients is None:
        settings.meta_clients = lambda name: manager.clients.get(name) if name in manager.clients else None
    clusters = manager.informer(cluster, EtcdClusterResource)
    backups = manager.informer(cluster, EtcdBackupResource)
    recorder = EventRecorder(client, "kokpit-etcd")
    cluster_reconciler = EtcdClusterReconciler(client, clusters, settings, recorder=recorder, cluster=cluster)
    backup_reconciler = EtcdBackupReconciler(client, backups, clusters, settings, recorder=recorder)
    cluster_controller = manager.controller("etcdclusters", cluster_reconciler, workers=2)
    cluster_controller.watch(clusters)
    backup_controller = manager.controller("etcdbackups", backup_reconciler, workers=1)
    backup_controller.watch(backups)
    return EtcdControllers(cluster_controller, backup_controller, cluster_reconciler, backup_reconciler)


__all__ = [
    "Action",
    "ClientTLS",
    "Desired",
    "EtcdBackupReconciler",
    "EtcdBackupResource",
    "EtcdClient",
    "EtcdClusterReconciler",
    "EtcdClusterResource",
    "EtcdControllers",
    "EtcdError",
    "EtcdSettings",
    "Kind",
    "MemberView",
    "Observed",
    "Policy",
    "add_etcd_controllers",
    "local_program",
    "plan",
]
