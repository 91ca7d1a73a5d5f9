"""lightkube classes for the etcd resource types, for clients, informers and status patches."""

from __future__ import annotations

from lightkube.generic_resource import create_namespaced_resource

from kokpit.api.etcd import ETCD_BACKUP, ETCD_CLUSTER, GROUP, VERSION

EtcdClusterResource = create_namespaced_resource(GROUP, VERSION, ETCD_CLUSTER.kind, ETCD_CLUSTER.plural)
"""EtcdCluster objects as lightkube generic resources (dict-like: `obj["spec"]`)."""

EtcdBackupResource = create_namespaced_resource(GROUP, VERSION, ETCD_BACKUP.kind, ETCD_BACKUP.plural)
"""EtcdBackup objects as lightkube generic resources."""
