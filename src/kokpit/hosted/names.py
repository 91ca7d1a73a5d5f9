"""Every name the hosted-cluster controller derives, so an object can be followed with `kubectl get`.

A HostedCluster `ns/demo` owns, in the hub: the EtcdCluster `ns/demo-etcd` (dedicated etcd), the
Secrets `ns/demo-pki` (its CAs and certificates) and `ns/demo-admin-kubeconfig`; with workers, the
MachineSet `ns/demo-workers` (its Machines carry `CLUSTER_LABEL=demo`); when joined, the fleet's
`Cluster demo` and its Secret `kokpit-system/demo-kubeconfig`.
"""

from __future__ import annotations

from kokpit.controlplane.runtime import Group

FINALIZER = "cluster.kokpit.io/hosted-cleanup"
CLUSTER_LABEL = "cluster.kokpit.io/hosted-cluster"
"""On every hub object made for a hosted cluster; the value is the HostedCluster's name."""
HOSTED_BY_ANNOTATION = "cluster.kokpit.io/hosted-by"
"""On the fleet Cluster of a joined hosted cluster: `<namespace>/<name>` of its HostedCluster."""
MANAGED_BY = {"app.kubernetes.io/managed-by": "kokpit"}

ADMIN_KUBECONFIG_KEY = "kubeconfig"

APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
KWOK = "kwok"
CONTROL_PLANE = (APISERVER, CONTROLLER_MANAGER, SCHEDULER)
"""The control-plane components in upgrade order: the API server first."""
COMPONENTS = (*CONTROL_PLANE, KWOK)

NODE_LABEL = "cluster.kokpit.io/hosted-node"
"""On kwok nodes kokpit creates in a hosted cluster."""


def etcd_cluster_name(cluster: str) -> str:
    """`etcd_cluster_name` is the dedicated EtcdCluster of hosted cluster `cluster`."""
    return f"{cluster}-etcd"


def pki_secret_name(cluster: str) -> str:
    """`pki_secret_name` is the hub Secret with the cluster's CAs, certificates and keys."""
    return f"{cluster}-pki"


def admin_kubeconfig_secret_name(cluster: str) -> str:
    """`admin_kubeconfig_secret_name` is the hub Secret with the admin kubeconfig (key `kubeconfig`)."""
    return f"{cluster}-admin-kubeconfig"


def workers_machine_set_name(cluster: str) -> str:
    """`workers_machine_set_name` is the MachineSet of the cluster's machine-backed nodes."""
    return f"{cluster}-workers"


def group_of(namespace: str, cluster: str) -> Group:
    """`group_of` is the runtime group holding the cluster's control-plane components."""
    return Group(namespace=namespace, name=cluster)


def fleet_cluster_name(cluster: str) -> str:
    """`fleet_cluster_name` is the name of the fleet `Cluster` a joined hosted cluster gets."""
    return cluster


def hosted_by(namespace: str, cluster: str) -> str:
    """`hosted_by` is the value of `HOSTED_BY_ANNOTATION` for HostedCluster `namespace/cluster`."""
    return f"{namespace}/{cluster}"


def node_name(cluster: str, index: int) -> str:
    """`node_name` is the name of the `index`-th kwok node of hosted cluster `cluster`."""
    return f"{cluster}-node-{index}"


def etcd_prefix(namespace: str, cluster: str) -> str:
    """`etcd_prefix` is the default key prefix of a hosted cluster in a shared etcd."""
    return f"/{namespace}/{cluster}"
