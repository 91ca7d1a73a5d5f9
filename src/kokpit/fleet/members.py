"""How controllers reach member clusters: the `MemberAccess` interface and the hub's implementation.

A controller that talks to members (health, delivery) holds a `MemberAccess` and asks it for a
member's client; it never cares how that client came to be. The hub's `MemberClients` reaches every
Push member with the kubeconfig in its Secret: the client is made on first use from the cached
Cluster and Secret, registered in the manager under `member/<name>`, and replaced when the Secret
changes, so credentials rotate without a restart. The kokpit agent implements the same interface with
the one member it runs next to (`kokpit.agent.local_member`), which is how one execution reconciler
serves both modes.
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

import yaml
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret

from kokpit.api.cluster import CLUSTER, SECRET_NAMESPACE
from kokpit.errors import KokpitError
from kokpit.fleet.kubeconfigs import refuse_credential_plugins
from kokpit.fleet.names import KUBECONFIG_KEY, member_client_name
from kokpit.runtime import Informer, Manager
from kokpit.runtime.resources import resource_class

ClusterResource = resource_class(CLUSTER)


class MemberUnavailable(KokpitError):
    """No client can be made for a member: no Cluster, no Secret, or an unusable kubeconfig."""


class MemberAccess(Protocol):
    """What a controller needs to reach members: their Clusters, and a client for each.

    `clusters` is the hub's informer of the `Cluster` objects this access knows (all of them on the
    hub, an agent's own one in the agent). `client_name(name)` is the member's client name in the
    manager's registry, under which informers of member objects are made; `client(name)` returns
    that client, or raises `MemberUnavailable` with the reason none can be had.
    """

    clusters: Informer

    def client_name(self, name: str) -> str: ...

    async def client(self, name: str) -> AsyncClient: ...


class MemberClients:
    """Clients of the fleet's members, shared by every domain of one manager (`member_clients`)."""

    def __init__(self, manager: Manager, *, hub: str = "hub") -> None:
        self.manager = manager
        self.hub = hub
        self.clusters: Informer = manager.informer(hub, ClusterResource)
        self.secrets: Informer = manager.informer(hub, Secret, namespace=SECRET_NAMESPACE)
        self._versions: dict[str, str] = {}
        self.allow_exec_credentials = False
        """Whether member kubeconfigs may run credential plugins on the hub; set by `fleet.setup`
        from the hub's `--allow-exec-credentials` (one shared object, so every domain obeys it)."""

    def secret_of(self, cluster: Any) -> tuple[str, str]:
        ref = (cluster.get("spec") or {}).get("secretRef") or {}
        return str(ref.get("namespace") or SECRET_NAMESPACE), str(ref.get("name") or "")

    def client_name(self, name: str) -> str:
        return member_client_name(name)

    async def client(self, name: str) -> AsyncClient:
        """The member's client, (re)built when its Secret changed since the last call."""
        cluster = self.clusters.get(name)
        if cluster is None:
            raise MemberUnavailable(f"cluster {name} is not known to the hub")
        namespace, secret_name = self.secret_of(cluster)
        if not secret_name:
            raise MemberUnavailable(f"cluster {name} has no spec.secretRef")
        secret = self.secrets.get(secret_name, namespace)
        if secret is None:
            raise MemberUnavailable(f"secret {namespace}/{secret_name} of cluster {name} does not exist")
        version = str(secret.metadata.resourceVersion)
        client_name = member_client_name(name)
        if self._versions.get(name) == version and client_name in self.manager.clients:
            return self.manager.clients.get(client_name)
        data = (secret.data or {}).get(KUBECONFIG_KEY)
        if not data:
            raise MemberUnavailable(f"secret {namespace}/{secret_name} has no {KUBECONFIG_KEY!r} key")
        try:
            kubeconfig = yaml.safe_load(base64.b64decode(data))
        except Exception as error:
            raise MemberUnavailable(
                f"the kubeconfig in secret {namespace}/{secret_name} is unusable: {error}"
            ) from error
        if not self.allow_exec_credentials and isinstance(kubeconfig, dict):
            try:
                refuse_credential_plugins(kubeconfig, source=f"secret {namespace}/{secret_name}")
            except KokpitError as error:
                raise MemberUnavailable(str(error)) from None
        try:
            if client_name in self.manager.clients:
                await self.manager.remove_cluster(client_name)
            self.manager.add_cluster(client_name, kubeconfig)
        except Exception as error:
            raise MemberUnavailable(
                f"the kubeconfig in secret {namespace}/{secret_name} is unusable: {error}"
            ) from error
        self._versions[name] = version
        return self.manager.clients.get(client_name)

    async def client_or_none(self, name: str) -> AsyncClient | None:
        """`client_or_none` is `client(name)`, or None when no client can be made."""
        try:
            return await self.client(name)
        except MemberUnavailable:
            return None

    async def forget(self, name: str) -> None:
        """Closes and drops the member's client (the member left the fleet)."""
        self._versions.pop(name, None)
        client_name = member_client_name(name)
        if client_name in self.manager.clients:
            await self.manager.remove_cluster(client_name)


def member_clients(manager: Manager, *, hub: str = "hub") -> MemberClients:
    """`member_clients` is the one `MemberClients` of `manager`, made by whichever domain asks first."""
    return manager.shared(f"member-clients/{hub}", lambda: MemberClients(manager, hub=hub))
