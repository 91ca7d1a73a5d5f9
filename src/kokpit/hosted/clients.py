"""API clients of hosted clusters, kept per cluster until its admin kubeconfig changes.

Both control-plane implementations probe the hosted API server with its admin credential; one
client per cluster keeps its connections, and a rotated kubeconfig (renewed certificates) replaces it.
"""

from __future__ import annotations

import yaml
from lightkube import AsyncClient

from kokpit.runtime.clients import make_client


class HostedClients:
    """`HostedClients` hands out one client per hosted cluster, rebuilt when its kubeconfig changes."""

    def __init__(self, *, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._clients: dict[tuple[str, str], tuple[bytes, AsyncClient]] = {}

    async def get(self, namespace: str, name: str, kubeconfig: bytes) -> AsyncClient:
        key = (namespace, name)
        cached = self._clients.get(key)
        if cached is not None and cached[0] == kubeconfig:
            return cached[1]
        if cached is not None:
            await cached[1].close()
        client = make_client(
            f"hosted/{namespace}/{name}", yaml.safe_load(kubeconfig), qps=None, timeout=self.timeout
        )
        self._clients[key] = (kubeconfig, client)
        return client

    async def forget(self, namespace: str, name: str) -> None:
        cached = self._clients.pop((namespace, name), None)
        if cached is not None:
            await cached[1].close()

    async def aclose(self) -> None:
        for _, client in self._clients.values():
            await client.close()
        self._clients.clear()
