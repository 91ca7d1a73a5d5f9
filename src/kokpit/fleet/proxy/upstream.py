"""Raw, streaming HTTP to a member's API server, with the credentials of a kubeconfig.

The proxy forwards requests it does not interpret (any path, watches, logs), so it cannot use
lightkube's typed client: this is the one small HTTP client both ends of the proxy use — the hub
for Push members (the kubeconfig from the member's Secret) and the agent for its own member (the
kubeconfig it was started with). Responses are handed over unread, so a watch streams event by
event; bodies are never decompressed (the caller asked for the encoding it gets).
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
from lightkube.config.client_adapter import verify_cluster

from kokpit.errors import KokpitError
from kokpit.fleet.proxy.forwarding import Headers
from kokpit.runtime.clients import Kubeconfig, load_kubeconfig


class UpstreamUnusable(KokpitError):
    """The kubeconfig cannot be used to reach the member (no server, a credential plugin, ...)."""


class Upstream:
    """`Upstream` sends requests to one API server as the kubeconfig's user; `aclose()` when done."""

    def __init__(
        self,
        server: str,
        ssl_context: ssl.SSLContext,
        *,
        authorization: str | None = None,
        token_file: Path | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self._authorization = authorization
        self._token_file = token_file
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl_context, limit=0),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Kubeconfig) -> Upstream:
        """`from_kubeconfig` reads the current context's server, CA and client certificate or token;
        raises `UpstreamUnusable` for what this client cannot present (exec plugins, auth providers)."""
        try:
            config = load_kubeconfig(kubeconfig)
        except Exception as error:
            raise UpstreamUnusable(f"the kubeconfig is unusable: {error}") from None
        user = config.user
        if user is None:
            raise UpstreamUnusable("the kubeconfig has no user")
        if user.exec or user.auth_provider:
            raise UpstreamUnusable("the proxy cannot use kubeconfigs with credential plugins")
        if not config.cluster.server.startswith("https://"):
            raise UpstreamUnusable(f"the proxy reaches members over https only, not {config.cluster.server}")
        try:
            context = verify_cluster(config.cluster, user, config.abs_file, trust_env=False)
        except Exception as error:
            raise UpstreamUnusable(f"the kubeconfig's TLS settings are unusable: {error}") from None
        authorization = None
        if user.token:
            authorization = f"Bearer {user.token}"
        elif user.username and user.password:
            basic = base64.b64encode(f"{user.username}:{user.password}".encode()).decode()
            authorization = f"Basic {basic}"
        token_file = Path(config.abs_file(user.token_file)) if user.token_file else None
        return cls(config.cluster.server, context, authorization=authorization, token_file=token_file)

    def _auth_headers(self) -> Headers:
        if self._token_file is not None:
            # Re-read per request: a projected ServiceAccount token is rotated in place.
            return [("Authorization", f"Bearer {self._token_file.read_text().strip()}")]
        return [("Authorization", self._authorization)] if self._authorization else []

    async def send(
        self, method: str, path: str, headers: Headers, body: bytes | None = None
    ) -> aiohttp.ClientResponse:
        """Sends one request (`path` with its query string) and returns the response with its body
        unread: the caller streams it and must `release()` it. Connection failures raise
        `aiohttp.ClientError`."""
        return await self._http.request(
            method,
            self.server + path,
            headers=_multi(headers + self._auth_headers()),
            data=body if body else None,
            allow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.close()


def _multi(headers: Headers) -> Any:
    from multidict import CIMultiDict

    return CIMultiDict(headers)


def kubeconfig_of_secret_data(data: Mapping[str, str], key: str) -> dict[str, Any]:
    """The kubeconfig kept base64-encoded under `key` of a Secret's data; raises `UpstreamUnusable`."""
    import yaml

    raw = data.get(key)
    if not raw:
        raise UpstreamUnusable(f"the secret has no {key!r} key")
    try:
        loaded = yaml.safe_load(base64.b64decode(raw))
    except Exception as error:
        raise UpstreamUnusable(f"the kubeconfig in the secret is unusable: {error}") from None
    if not isinstance(loaded, dict):
        raise UpstreamUnusable("the kubeconfig in the secret is not a mapping")
    return loaded
