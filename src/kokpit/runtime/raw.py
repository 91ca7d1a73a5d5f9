"""Plain GETs on a cluster's API server through a lightkube client's own connection.

Health (`/readyz`), `/version` and aggregated discovery are not resources, and lightkube has no
public call for them. Going through the client's underlying HTTP client keeps its TLS, credentials,
rate limit and request metrics, instead of a second client that would bypass all three.
"""

from __future__ import annotations

from typing import Any

from lightkube import AsyncClient

DISCOVERY_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


async def get_raw(client: AsyncClient, path: str, *, accept: str | None = None, timeout: float = 5.0) -> Any:
    """GETs `path` (e.g. "/readyz"); returns the httpx response (status not checked)."""
    http = client._client._client  # lightkube's GenericAsyncClient -> its httpx client
    headers = {"Accept": accept} if accept else {}
    return await http.get(path, headers=headers, timeout=timeout)
