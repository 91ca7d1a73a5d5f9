"""Every name the etcd operator derives, in one place, so an object can be followed with `kubectl get`.

Member names come from `kokpit.etcd.planner` (`<cluster>-<index>`); the rest are here.
"""

from __future__ import annotations

from datetime import datetime

from kokpit.controlplane.runtime import Group

FINALIZER = "etcd.kokpit.io/cleanup"
CLUSTER_LABEL = "etcd.kokpit.io/cluster"


def pki_secret_name(cluster: str) -> str:
    """`pki_secret_name` is the hub Secret with the cluster's CA and member certificates."""
    return f"{cluster}-etcd-pki"


def client_secret_name(cluster: str) -> str:
    """`client_secret_name` is the hub Secret with ca.crt, tls.crt and tls.key for clients."""
    return f"{cluster}-etcd-client"


def group_of(namespace: str, cluster: str) -> Group:
    """`group_of` is the runtime group holding the cluster's members."""
    return Group(namespace=namespace, name=cluster)


def cluster_token(namespace: str, cluster: str, uid: str) -> str:
    """`cluster_token` is the --initial-cluster-token: unique per EtcdCluster object, so members of
    two clusters never join each other by mistake."""
    return f"{namespace}-{cluster}-{uid[:8]}"


SNAPSHOT_SUFFIX = ".db"


def snapshot_prefix(namespace: str, cluster: str) -> str:
    """`snapshot_prefix` starts every snapshot file name of a cluster (retention looks only at these)."""
    return f"{namespace}-{cluster}-"


def snapshot_file_name(namespace: str, cluster: str, moment: datetime, *, tag: str = "") -> str:
    """`snapshot_file_name` is `<namespace>-<cluster>-<UTC time>[-tag].db`; names sort by time."""
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    return f"{snapshot_prefix(namespace, cluster)}{stamp}{f'-{tag}' if tag else ''}{SNAPSHOT_SUFFIX}"
