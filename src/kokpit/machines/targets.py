"""The cluster a Machine joins, as the machine operator needs it: the URL and CA nodes use, and a client.

A Machine's `clusterRef` names a `HostedCluster` (its admin kubeconfig Secret, named in its status) or
a fleet `Cluster` (its kubeconfig Secret in kokpit-system). Both come down to one kubeconfig the hub
already keeps; from it kokpit reads the server URL and the cluster CA the node's bootstrap kubeconfig
carries (the same CA signs the API server's kubelet client certificate, so it is also the kubelet's
`authentication.x509.clientCAFile`), and opens a client to create the bootstrap token and RBAC and
to watch the Node.

A server on a loopback address is refused here with a reason of its own: no node can reach it (a
hosted cluster must serve on the nodes' network, `spec.exposure.address`).
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret

from kokpit.api.cluster import CLUSTER, SECRET_NAMESPACE
from kokpit.api.hostedcluster import HOSTED_CLUSTER
from kokpit.errors import KokpitError
from kokpit.fleet.kubeconfigs import KubeconfigError, refuse_credential_plugins
from kokpit.fleet.names import KUBECONFIG_KEY
from kokpit.runtime import get_or_none
from kokpit.runtime.clients import make_client
from kokpit.runtime.resources import resource_class

HOSTED_CLUSTER_KIND = "HostedCluster"
CLUSTER_KIND = "Cluster"

_HostedClusterResource = resource_class(HOSTED_CLUSTER)
_ClusterResource = resource_class(CLUSTER)


class TargetUnavailable(KokpitError):
    """The target cluster cannot take nodes now; `reason` is a condition reason (CamelCase)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class TargetAccess:
    """What the machine operator needs of a target cluster."""

    kind: str
    """`HostedCluster` or `Cluster`."""
    namespace: str | None
    """The HostedCluster's namespace (None for a fleet Cluster, which is cluster-scoped)."""
    name: str
    server: str
    """The API server's URL as nodes must use it (the template context's `cluster.server`)."""
    ca_data: str
    """The cluster CA, base64 PEM (`cluster.caData`): what the bootstrap kubeconfig trusts and what
    the kubelet's `authentication.x509.clientCAFile` holds (it signed the API server's kubelet client
    certificate, used for logs and exec)."""
    kubeconfig: bytes
    """The kubeconfig kokpit itself uses for the cluster (admin for a HostedCluster)."""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace or "", self.name)

    def client(self, *, timeout: float = 10.0) -> AsyncClient:
        """A new client to the target cluster (the caller closes it; `TargetClients` caches them)."""
        return make_client(
            f"target/{'/'.join(p for p in self.key if p)}",
            yaml.safe_load(self.kubeconfig),
            qps=None,
            timeout=timeout,
        )


def access_from_kubeconfig(
    kubeconfig: bytes,
    *,
    kind: str,
    name: str,
    namespace: str | None,
    source: str,
    server: str | None = None,
    allow_exec_credentials: bool = False,
    for_nodes: bool = True,
) -> TargetAccess:
    """`access_from_kubeconfig` reads the URL and CA of the current context of `kubeconfig` (pure).

    `server` overrides the kubeconfig's URL (a fleet Cluster's `spec.apiEndpoint`). Raises
    `TargetUnavailable` when the kubeconfig is unusable, carries no embedded CA, runs credential
    plugins (unless allowed), or, `for_nodes`, its server is on a loopback address (pass
    `for_nodes=False` when only kokpit itself talks to the cluster: drains, Node conditions)."""
    try:
        config = yaml.safe_load(kubeconfig)
    except yaml.YAMLError as error:
        raise TargetUnavailable("KubeconfigInvalid", f"{source} is not valid YAML: {error}") from None
    if not isinstance(config, dict):
        raise TargetUnavailable("KubeconfigInvalid", f"{source} is not a kubeconfig")
    if not allow_exec_credentials:
        try:
            refuse_credential_plugins(config, source=source)
        except KubeconfigError as error:
            raise TargetUnavailable("KubeconfigInvalid", str(error)) from None
    cluster = _current_cluster(config, source)
    url = server or str(cluster.get("server") or "")
    ca_data = str(cluster.get("certificate-authority-data") or "")
    if not url.startswith("https://"):
        raise TargetUnavailable("KubeconfigInvalid", f"{source}: server {url!r} is not an https URL")
    if not ca_data:
        raise TargetUnavailable(
            "NoClusterCA", f"{source} embeds no certificate-authority-data: nodes could not verify {url}"
        )
    try:
        pem = base64.b64decode(ca_data, validate=True)
    except ValueError:
        raise TargetUnavailable(
            "NoClusterCA", f"{source}: certificate-authority-data is not base64"
        ) from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise TargetUnavailable(
            "NoClusterCA", f"{source}: certificate-authority-data is not a PEM certificate"
        )
    problem = loopback_problem(url) if for_nodes else None
    if problem is not None:
        raise TargetUnavailable("NotReachableByNodes", f"{kind} {name}: {problem}")
    return TargetAccess(
        kind=kind, namespace=namespace, name=name, server=url, ca_data=ca_data, kubeconfig=kubeconfig
    )


def loopback_problem(server: str) -> str | None:
    """`loopback_problem` says why nodes cannot reach `server` (its host is `localhost` or a loopback
    address, which on a node is the node itself), or None."""
    host = urlsplit(server).hostname or ""
    if host == "localhost":
        loopback = True
    else:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
    if not loopback:
        return None
    return (
        f"the API server {server} is on a loopback address, which nodes cannot reach; serve it on "
        "the nodes' network (a HostedCluster's spec.exposure.address)"
    )


def _current_cluster(config: dict[str, Any], source: str) -> dict[str, Any]:
    contexts = {str(c.get("name")): c.get("context") or {} for c in config.get("contexts") or []}
    clusters = {str(c.get("name")): c.get("cluster") or {} for c in config.get("clusters") or []}
    current = config.get("current-context") or (next(iter(contexts)) if len(contexts) == 1 else None)
    context = contexts.get(str(current)) if current is not None else None
    if context is None:
        raise TargetUnavailable("KubeconfigInvalid", f"{source} has no current context")
    cluster = clusters.get(str(context.get("cluster")))
    if not isinstance(cluster, dict):
        raise TargetUnavailable("KubeconfigInvalid", f"{source}: context {current!r} names no cluster")
    return cluster


async def target_cluster_access(
    hub: AsyncClient,
    *,
    kind: str,
    name: str,
    namespace: str,
    allow_exec_credentials: bool = False,
    for_nodes: bool = True,
) -> TargetAccess:
    """`target_cluster_access` finds the server URL, CA and kubeconfig of a Machine's target cluster.

    `kind` is `HostedCluster` (in `namespace`, the Machine's unless its clusterRef names another) or
    `Cluster` (a fleet member; `namespace` is ignored). Raises `TargetUnavailable` with a reason:
    `ClusterNotFound`, `KubeconfigPending` (a HostedCluster before its API server has a kubeconfig),
    `KubeconfigInvalid`, `NoClusterCA`, `NotReachableByNodes` (only `for_nodes`: a loopback server),
    `PullModeUnsupported`."""
    if kind == HOSTED_CLUSTER_KIND:
        hosted = await get_or_none(hub, _HostedClusterResource, name, namespace=namespace)
        if hosted is None:
            raise TargetUnavailable("ClusterNotFound", f"HostedCluster {namespace}/{name} does not exist")
        ref = (hosted.get("status") or {}).get("adminKubeconfigSecretRef") or {}
        if not ref.get("name"):
            raise TargetUnavailable(
                "KubeconfigPending", f"HostedCluster {namespace}/{name} has no admin kubeconfig yet"
            )
        secret_namespace, secret_name, key = namespace, str(ref["name"]), str(ref.get("key") or "kubeconfig")
        server = None
        target_namespace: str | None = namespace
    elif kind == CLUSTER_KIND:
        cluster = await get_or_none(hub, _ClusterResource, name)
        if cluster is None:
            raise TargetUnavailable("ClusterNotFound", f"Cluster {name} is not in the fleet")
        spec = cluster.get("spec") or {}
        if spec.get("syncMode") != "Push" or not spec.get("secretRef"):
            raise TargetUnavailable(
                "PullModeUnsupported", f"Cluster {name} has no kubeconfig on the hub (syncMode Pull)"
            )
        secret_namespace = str(spec["secretRef"].get("namespace") or SECRET_NAMESPACE)
        secret_name, key = str(spec["secretRef"]["name"]), KUBECONFIG_KEY
        server = spec.get("apiEndpoint")
        target_namespace = None
    else:
        raise TargetUnavailable(
            "UnknownClusterKind", f"clusterRef.kind {kind!r} is not HostedCluster or Cluster"
        )
    secret = await get_or_none(hub, Secret, secret_name, namespace=secret_namespace)
    data = (secret.data or {}).get(key) if secret is not None else None
    if not data:
        raise TargetUnavailable(
            "KubeconfigPending", f"secret {secret_namespace}/{secret_name} has no {key!r} key yet"
        )
    return access_from_kubeconfig(
        base64.b64decode(data),
        kind=kind,
        name=name,
        namespace=target_namespace,
        source=f"secret {secret_namespace}/{secret_name}",
        server=server,
        allow_exec_credentials=allow_exec_credentials,
        for_nodes=for_nodes,
    )


class TargetClients:
    """`TargetClients` keeps one client per target cluster, rebuilt when its kubeconfig changes
    (renewed certificates), so reconciles of many Machines of one cluster share connections."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._clients: dict[tuple[str, str, str], tuple[bytes, AsyncClient]] = {}

    async def get(self, access: TargetAccess) -> AsyncClient:
        cached = self._clients.get(access.key)
        if cached is not None and cached[0] == access.kubeconfig:
            return cached[1]
        if cached is not None:
            await cached[1].close()
        client = access.client(timeout=self.timeout)
        self._clients[access.key] = (access.kubeconfig, client)
        return client

    async def forget(self, key: tuple[str, str, str]) -> None:
        cached = self._clients.pop(key, None)
        if cached is not None:
            await cached[1].close()

    async def aclose(self) -> None:
        for _, client in self._clients.values():
            await client.close()
        self._clients.clear()
