"""The one interface the HostedCluster reconcile drives a control plane through, whatever runs it.

`ControlPlane` has two implementations: `process_plane.ProcessControlPlane` (local processes through
`kokpit.controlplane.runtime.ProcessRuntime`) and `kubernetes_plane.KubernetesControlPlane`
(Deployments in a meta cluster, rendered by `kubernetes_runtime`). The reconcile (`controller`) does
what is the same for both — the version check, etcd, the steps inside the cluster, the fleet join,
the status — and asks the control plane only what differs: which versions run, making them run
against an etcd, and whether kokpit reached the API server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from lightkube import AsyncClient

from kokpit.api.hostedcluster import HostedClusterSpec, NetworkingSpec
from kokpit.hosted import plan
from kokpit.hosted.components import EtcdAccess
from kokpit.hosted.context import Pass


@dataclass(frozen=True)
class Reached:
    """The API server answered kokpit: its admin kubeconfig and, when the runtime can run the steps
    inside the cluster (nodes, addons), a client to it."""

    admin: bytes
    client: AsyncClient | None


class ControlPlane(Protocol):
    """Runs the control-plane components of HostedClusters; every method is idempotent."""

    kind: str
    """`process` or `kubernetes`."""

    async def observe(self, obj: Any, spec: HostedClusterSpec, state: Pass) -> None:
        """Fills `state.running` (the version each component runs, None for none); raises `Stop` with
        a condition when the runtime cannot be looked at."""
        ...

    def check_target(self, obj: Any, target: str, state: Pass) -> None:
        """Raises `Stop` with a condition when `target` (and what runs now) cannot be run here."""
        ...

    async def ensure(
        self, obj: Any, spec: HostedClusterSpec, etcd: EtcdAccess, networking: NetworkingSpec, state: Pass
    ) -> Reached | None:
        """Makes the components run `state.target` (one at a time, API server first) against `etcd`,
        with the PKI and the admin kubeconfig Secret; sets the component conditions and the endpoint.
        Returns `Reached` once kokpit itself got an answer from the API server, else None."""
        ...

    async def delete(self, obj: Any, spec: HostedClusterSpec | None) -> None:
        """Stops the components and removes what the runtime holds of the cluster."""
        ...

    def restarts(self, namespace: str, name: str) -> Mapping[str, plan.RestartHistory]:
        """Restart histories by component (for the status)."""
        ...

    async def forget(self, namespace: str, name: str) -> None:
        """Drops what is kept in memory of a cluster that is gone."""
        ...

    async def aclose(self) -> None: ...
