"""The etcd operator: `EtcdCluster` (create, scale, repair, upgrade, back up, restore) and `EtcdBackup`.

    setup(manager, hub_settings)              # the hub process: settings from `kokpit hub run`
    add_etcd_controllers(manager, EtcdSettings(process_root=..., backup_root=...))   # tests, tools

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
from kokpit.fleet.members import member_clients
from kokpit.runtime import Controller, EventRecorder, Manager
from kokpit.settings import HubSettings


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
    `cluster` (which must be registered). Meta clusters of the kubernetes runtime are fleet members,
    reached through the manager's shared member clients unless `settings.meta_clients` says otherwise."""
    client = manager.clients.get(cluster)
    if settings.meta_clients is None:
        settings.meta_clients = member_clients(manager, hub=cluster).client_or_none
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


def setup(manager: Manager, settings: HubSettings) -> None:
    """`setup` adds the etcd operator to the hub's `manager`."""
    add_etcd_controllers(
        manager,
        EtcdSettings(
            process_root=settings.etcd_root,
            backup_root=settings.backup_root,
            tie_to_parent=settings.tie_to_parent,
        ),
        cluster=settings.hub,
    )


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
    "setup",
]
