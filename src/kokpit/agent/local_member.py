"""The agent's `MemberAccess`: the one member it runs next to, reached with the member's own kubeconfig.

The execution reconciler asks a `MemberAccess` for clients; in the hub that is `MemberClients` (every
Push member, by Secret), in the agent it is this: its own Cluster, watched on the hub by name (the only
Cluster its RBAC lets it see), and the member client the agent registered at start. Any other name is
`MemberUnavailable`, so a stray Work can never make the agent reach elsewhere.
"""

from __future__ import annotations

from lightkube import AsyncClient

from kokpit.fleet.members import ClusterResource, MemberUnavailable
from kokpit.fleet.names import member_client_name
from kokpit.runtime import Informer, Manager


class LocalMember:
    """Access to member `cluster` through the client registered in `manager` as its member client."""

    def __init__(self, manager: Manager, cluster: str, *, hub: str = "hub") -> None:
        self.manager = manager
        self.cluster = cluster
        self.clusters: Informer = manager.informer(hub, ClusterResource, fields={"metadata.name": cluster})

    def client_name(self, name: str) -> str:
        return member_client_name(name)

    async def client(self, name: str) -> AsyncClient:
        if name != self.cluster:
            raise MemberUnavailable(f"the agent of {self.cluster} does not reach cluster {name}")
        client_name = member_client_name(name)
        if client_name not in self.manager.clients:
            raise MemberUnavailable(f"the agent of {name} has no client for its member")
        return self.manager.clients.get(client_name)


__all__ = ["LocalMember"]
