"""The hub's proxy into every member, and the endpoint agents dial to carry their tunnel.

    /clusters/<name>/<path>   any Kubernetes API request, forwarded to member <name>
    /tunnel                   WebSocket of an agent (mutual TLS: its certificate names its cluster)
    /healthz                  200 while serving

A request is authenticated as the hub API server would (a client certificate of the hub's client
CA, verified by TLS; else a bearer token, by TokenReview), authorised by SubjectAccessReview on
`clusters/proxy` of that Cluster, then forwarded with the caller's identity as impersonation
headers: the member's RBAC decides what the caller may do there, and a refusal there is the
member's own 403. Push members are reached directly with the kubeconfig in their Secret; Pull
members through their agent's tunnel. Answers are streamed as they arrive (watches, `logs -f`);
when the member or the link goes away mid-answer, the caller's connection is cut, so its stream
ends instead of hanging.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from kokpit.api.cluster import SyncMode
from kokpit.fleet.names import KUBECONFIG_KEY, cluster_of_agent_user
from kokpit.fleet.proxy.auth import HubAuth
from kokpit.fleet.proxy.forwarding import (
    RequestHead,
    ResponseHead,
    proxy_verb,
    request_headers,
    response_headers,
    split_path,
    status_body,
    wants_upgrade,
)
from kokpit.fleet.proxy.identity import Identity, identity_of_certificate, tunnel_refusal
from kokpit.fleet.proxy.tunnels import Tunnels
from kokpit.fleet.proxy.upstream import Upstream, UpstreamUnusable, kubeconfig_of_secret_data
from kokpit.runtime import Informer
from kokpit.runtime.tunnel import Session, StreamReset, run_websocket, websocket_sender
from kokpit.runtime.tunnel.framing import MAX_HEAD

log = logging.getLogger("kokpit.fleet.proxy")

MAX_REQUEST_BODY = 64 * 1024 * 1024
HEARTBEAT = 5.0
"""Seconds between WebSocket pings on a tunnel: a link that stops answering is closed within 1.5x."""


class Refused(Exception):
    """A request the proxy answers itself, with a Kubernetes Status."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def response(self) -> web.Response:
        return web.Response(
            status=self.code,
            body=status_body(self.code, self.reason, self.message),
            content_type="application/json",
        )


def peer_certificate(request: web.BaseRequest) -> bytes | None:
    """The DER client certificate TLS verified against the hub's client CA, or None."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return bytes(der) if der else None


class PushUpstreams:
    """Upstreams of Push members from their kubeconfig Secrets, rebuilt when a Secret changes."""

    def __init__(self, secrets: Informer) -> None:
        self.secrets = secrets
        self._upstreams: dict[str, tuple[str, Upstream]] = {}
        self._retired: list[Upstream] = []

    def get(self, name: str, cluster: Any) -> Upstream:
        ref = (cluster.get("spec") or {}).get("secretRef") or {}
        namespace, secret_name = str(ref.get("namespace") or ""), str(ref.get("name") or "")
        secret = self.secrets.get(secret_name, namespace) if secret_name else None
        if secret is None:
            raise UpstreamUnusable(f"cluster {name} has no kubeconfig secret")
        version = str(secret.metadata.resourceVersion)
        held = self._upstreams.get(name)
        if held is not None and held[0] == version:
            return held[1]
        upstream = Upstream.from_kubeconfig(kubeconfig_of_secret_data(secret.data or {}, KUBECONFIG_KEY))
        if held is not None:
            self._retired.append(held[1])  # requests in flight keep it; closed with the server
        self._upstreams[name] = (version, upstream)
        return upstream

    async def aclose(self) -> None:
        for upstream in [u for _, u in self._upstreams.values()] + self._retired:
            await upstream.aclose()
        self._upstreams.clear()
        self._retired.clear()


@dataclass
class ProxyServer:
    """`ProxyServer` is the aiohttp application; `app()` builds it."""

    auth: HubAuth
    clusters: Informer
    upstreams: PushUpstreams
    tunnels: Tunnels
    heartbeat: float = HEARTBEAT

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BODY)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/tunnel", self._tunnel)
        app.router.add_route("*", "/clusters/{tail:.*}", self._proxy)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _cleanup(self, _: web.Application) -> None:
        self.tunnels.close()
        await self.upstreams.aclose()

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    # -- who is calling ---------------------------------------------------------------------------

    async def _authenticate(self, request: web.Request) -> Identity:
        der = peer_certificate(request)
        if der is not None:
            try:
                return identity_of_certificate(der)
            except ValueError as error:
                raise Refused(401, "Unauthorized", str(error)) from None
        authorization = request.headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            identity = await self.auth.authenticate_token(token.strip())
            if identity is not None:
                return identity
        raise Refused(401, "Unauthorized", "Unauthorized")

    # -- the proxy ------------------------------------------------------------------------------

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._forward(request)
        except Refused as refused:
            return refused.response()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        raw_path, question, query = request.raw_path.partition("?")
        split = split_path(raw_path)
        if split is None:
            raise Refused(404, "NotFound", f"no cluster in path {raw_path}")
        name, rest = split
        verb = proxy_verb(request.method)
        if verb is None:
            raise Refused(405, "MethodNotAllowed", f"method {request.method} is not proxied")
        identity = await self._authenticate(request)
        allowed, reason = await self.auth.may_proxy(identity, cluster=name, verb=verb)
        if not allowed:
            raise Refused(
                403,
                "Forbidden",
                f'clusters.cluster.kokpit.io "{name}" is forbidden: User "{identity.user}" cannot {verb} '
                f'resource "clusters/proxy" in API group "cluster.kokpit.io" at the cluster scope'
                + (f": {reason}" if reason else ""),
            )
        if wants_upgrade(request.headers):
            raise Refused(
                501, "NotImplemented", "connection upgrades (exec, attach, port-forward) are not proxied"
            )
        cluster = self.clusters.get(name)
        if cluster is None:
            raise Refused(404, "NotFound", f'clusters.cluster.kokpit.io "{name}" not found')
        path = rest + question + query
        headers = request_headers(request.headers.items(), identity)
        body = await request.read() if request.can_read_body else None
        if (cluster.get("spec") or {}).get("syncMode") == SyncMode.PULL.value:
            return await self._through_tunnel(request, name, RequestHead(request.method, path, headers), body)
        return await self._direct(request, name, cluster, path, headers, body)

    async def _direct(
        self,
        request: web.Request,
        name: str,
        cluster: Any,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
    ) -> web.StreamResponse:
        try:
            upstream = self.upstreams.get(name, cluster)
        except UpstreamUnusable as error:
            raise Refused(503, "ServiceUnavailable", f"cluster {name}: {error}") from None
        try:
            answer = await upstream.send(request.method, path, headers, body)
        except (aiohttp.ClientError, OSError) as error:
            raise Refused(503, "ServiceUnavailable", f"cluster {name} is unreachable: {error}") from None
        try:
            return await _stream(
                request, answer.status, list(answer.headers.items()), answer.content.iter_any()
            )
        finally:
            answer.close()

    async def _through_tunnel(
        self, request: web.Request, name: str, head: RequestHead, body: bytes | None
    ) -> web.StreamResponse:
        session = self.tunnels.get(name)
        if session is None:
            raise Refused(503, "ServiceUnavailable", f"cluster {name}: its agent is not connected")
        try:
            stream = await session.open(head.encode())
        except StreamReset as error:
            raise Refused(503, "ServiceUnavailable", f"cluster {name}: {error.reason}") from None
        try:
            try:
                if body:
                    await stream.write(body)
                await stream.end()
                answer = ResponseHead.decode(await stream.read_head())
            except (StreamReset, ValueError) as error:
                raise Refused(502, "BadGateway", f"cluster {name}: {error}") from None
            return await _stream(request, answer.status, answer.headers, stream.chunks())
        finally:
            if not stream.done:
                await stream.reset("the caller went away")

    # -- the tunnel -----------------------------------------------------------------------------

    async def _tunnel(self, request: web.Request) -> web.StreamResponse:
        der = peer_certificate(request)
        if der is None:
            return Refused(401, "Unauthorized", "the tunnel needs an agent's client certificate").response()
        try:
            identity = identity_of_certificate(der)
        except ValueError as error:
            return Refused(401, "Unauthorized", str(error)).response()
        name = cluster_of_agent_user(identity.user) or ""
        refusal = tunnel_refusal(identity, self.clusters.get(name) if name else None, name=name)
        if refusal is not None:
            log.warning("tunnel refused: %s", refusal)
            return Refused(403, "Forbidden", refusal).response()
        ws = web.WebSocketResponse(heartbeat=self.heartbeat, max_msg_size=MAX_HEAD + 64)
        await ws.prepare(request)
        session = Session(websocket_sender(ws), dialer=False)
        self.tunnels.attach(name, session)
        log.info("agent of cluster %s connected its tunnel", name)
        try:
            await run_websocket(ws, session)
        finally:
            self.tunnels.detach(name, session)
            log.info("agent of cluster %s disconnected its tunnel", name)
        return ws


async def _stream(
    request: web.Request, status: int, headers: list[tuple[str, str]], body: AsyncIterator[bytes]
) -> web.StreamResponse:
    """Sends the answer's head, then its body chunk by chunk as it arrives. If the source fails
    midway, the caller's connection is cut: it sees its stream end, never a truncated success."""
    response = web.StreamResponse(status=status)
    for key, value in response_headers(headers):
        response.headers.add(key, value)
    await response.prepare(request)
    try:
        async for chunk in body:
            await response.write(chunk)
    except (StreamReset, aiohttp.ClientError, OSError) as error:
        log.info("stream to %s cut: %s", request.path, error)
        if request.transport is not None:
            request.transport.abort()
        return response
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response
