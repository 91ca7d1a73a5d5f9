"""How the MachineSet and MachineHealthCheck controllers reach a Machine's target cluster.

They need the cluster's API (to drain a node, to read Node conditions), never the node-facing URL
and CA, so the lookup is one function, `(kind, namespace, name) -> client`, that tests and tools may
replace (a test gives a member's own client). The default resolves the cluster's kubeconfig on the
hub (`kokpit.machines.targets`) and keeps one client per cluster.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lightkube import AsyncClient

from kokpit.machines.targets import TargetClients, TargetUnavailable, target_cluster_access

TargetClient = Callable[[str, str, str], Awaitable[AsyncClient | None]]
"""`(kind, namespace, name)` of a Machine's clusterRef -> a client of that cluster; None when the
cluster no longer exists. Raises `TargetUnavailable` when it exists but cannot be used now."""


def cluster_of(machine: Any) -> tuple[str, str, str]:
    """`cluster_of` is the (kind, namespace, name) of a Machine's `spec.clusterRef` (the namespace of
    a HostedCluster defaults to the Machine's)."""
    ref = (machine.get("spec") or {}).get("clusterRef") or {}
    return (
        str(ref.get("kind", "")),
        str(ref.get("namespace") or machine.metadata.namespace),
        str(ref.get("name", "")),
    )


class HubTargets:
    """`HubTargets` is the default `TargetClient`: the target's kubeconfig as the hub keeps it."""

    def __init__(self, hub: AsyncClient, *, allow_exec_credentials: bool = False) -> None:
        self.hub = hub
        self.allow_exec_credentials = allow_exec_credentials
        self.clients = TargetClients()

    async def __call__(self, kind: str, namespace: str, name: str) -> AsyncClient | None:
        try:
            access = await target_cluster_access(
                self.hub,
                kind=kind,
                name=name,
                namespace=namespace,
                allow_exec_credentials=self.allow_exec_credentials,
            )
        except TargetUnavailable as error:
            if error.reason == "ClusterNotFound":
                return None
            raise
        return await self.clients.get(access)

    async def aclose(self) -> None:
        await self.clients.aclose()
