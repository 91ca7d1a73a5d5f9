"""The agent's end of the tunnel: dial the hub, then serve the hub's requests into the member.

The member may accept no inbound connection at all, so the agent dials out: it reads where the
hub's tunnel endpoint is (`kube-public/kokpit-hub-endpoints`, through the hub API with its own
credentials), connects with mutual TLS (its agent certificate; the CA the hub published) and keeps
one WebSocket open. Each stream on it is one request the hub already authenticated and authorised;
the agent sends it to its member with its own member credentials plus the impersonation headers
the hub put in the request's head, and streams the answer back.

The hub kubeconfig is read again on every dial, so a renewed certificate is used from the next
link on; a link that drops is dialed again with backoff, and every request on it ends at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from pathlib import Path

import aiohttp
from lightkube.config.client_adapter import user_cert
from lightkube.resources.core_v1 import ConfigMap

from kokpit.fleet.names import HUB_ENDPOINTS_CONFIGMAP, HUB_ENDPOINTS_NAMESPACE
from kokpit.fleet.proxy.endpoints import Endpoints
from kokpit.fleet.proxy.forwarding import RequestHead, ResponseHead, response_headers, status_body
from kokpit.fleet.proxy.upstream import Upstream
from kokpit.runtime.clients import load_kubeconfig, make_client
from kokpit.runtime.tunnel import LinkClosed, Session, Stream, StreamReset, run_websocket, websocket_sender
from kokpit.runtime.tunnel.framing import MAX_HEAD

log = logging.getLogger("kokpit.agent.tunnel")

HEARTBEAT = 5.0
BACKOFF_MIN = 0.5
BACKOFF_MAX = 30.0


async def read_endpoints(hub_kubeconfig: Path) -> Endpoints:
    """The hub's published endpoints, read through the hub API as the agent."""
    client = make_client("hub", hub_kubeconfig, qps=None)
    try:
        published = await client.get(ConfigMap, HUB_ENDPOINTS_CONFIGMAP, namespace=HUB_ENDPOINTS_NAMESPACE)
    finally:
        await client.close()
    return Endpoints.of_configmap_data(published.data)


def client_tls(hub_kubeconfig: Path, ca_pem: str) -> ssl.SSLContext:
    """TLS to the tunnel endpoint: trust the published CA, present the agent's certificate."""
    config = load_kubeconfig(hub_kubeconfig)
    if config.user is None:
        raise ValueError(f"{hub_kubeconfig} has no user")
    cert = user_cert(config.user, config.abs_file)
    if cert is None:
        raise ValueError(f"{hub_kubeconfig} has no client certificate: the tunnel needs the agent's")
    context = ssl.create_default_context(cadata=ca_pem)
    context.load_cert_chain(*cert)
    return context


async def serve_stream(stream: Stream, upstream: Upstream) -> None:
    """Sends one request of the hub to the member and streams the answer back. When the hub's side
    goes away (the caller left, the link dropped) the member's answer is closed at once."""
    try:
        try:
            head = RequestHead.decode(await stream.read_head())
        except ValueError as error:
            await stream.reset(f"bad request head: {error}")
            return
        body = b"".join([chunk async for chunk in stream.chunks()])
        try:
            answer = await upstream.send(head.method, head.path, head.headers, body or None)
        except (aiohttp.ClientError, OSError) as error:
            message = f"the agent cannot reach its member: {error}"
            await stream.send_head(ResponseHead(503, [("Content-Type", "application/json")]).encode())
            await stream.write(status_body(503, "ServiceUnavailable", message))
            await stream.end()
            return
        try:
            headers = response_headers(answer.headers.items())
            await stream.send_head(ResponseHead(answer.status, headers).encode())
            async for chunk in answer.content.iter_any():
                await stream.write(chunk)
            await stream.end()
        except (aiohttp.ClientError, OSError) as error:
            await stream.reset(f"the member's answer broke off: {error}")
        finally:
            answer.close()
    except StreamReset:
        pass  # the hub's side is gone: nothing to answer to


async def serve_session(session: Session, upstream: Upstream) -> None:
    """Serves every stream the hub opens on `session` until the link closes."""
    tasks: set[asyncio.Task[None]] = set()
    try:
        while True:
            stream = await session.accept()
            task = asyncio.create_task(serve_stream(stream, upstream), name=f"tunnel stream {stream.id}")
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    except LinkClosed:
        pass
    finally:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def connect_once(cluster: str, hub_kubeconfig: Path, upstream: Upstream) -> None:
    """Dials the tunnel once and serves it until the link drops (returns) or dialing fails (raises)."""
    endpoints = await read_endpoints(hub_kubeconfig)
    context = client_tls(hub_kubeconfig, endpoints.ca_pem)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(
            endpoints.tunnel_url, ssl=context, heartbeat=HEARTBEAT, max_msg_size=MAX_HEAD + 64
        )
        log.info("tunnel of cluster %s connected to %s", cluster, endpoints.tunnel_url)
        session = Session(websocket_sender(ws), dialer=True)
        server = asyncio.create_task(serve_session(session, upstream), name="tunnel streams")
        try:
            await run_websocket(ws, session)
        finally:
            session.close("link closed")
            await server


async def run_tunnel(cluster: str, hub_kubeconfig: Path, member_kubeconfig: Path) -> None:
    """`run_tunnel` keeps cluster `cluster`'s tunnel to the hub up, forever (until cancelled):
    dials, serves the hub's requests into the member, dials again with jittered exponential
    backoff (0.5 s to 30 s) whenever the link drops or dialing fails."""
    upstream = Upstream.from_kubeconfig(member_kubeconfig)
    delay = BACKOFF_MIN
    try:
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await connect_once(cluster, hub_kubeconfig, upstream)
                log.info("tunnel of cluster %s closed; dialing again", cluster)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("tunnel of cluster %s: %s: %s", cluster, type(error).__name__, error)
            if asyncio.get_running_loop().time() - started > BACKOFF_MAX:
                delay = BACKOFF_MIN  # it was up for a while: this is a new outage
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, BACKOFF_MAX)
    finally:
        with contextlib.suppress(Exception):
            await upstream.aclose()
