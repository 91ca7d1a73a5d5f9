"""One lightkube AsyncClient per cluster, each behind a client-side rate limit and request metrics.

The limit and the counting live in an httpx transport wrapped around lightkube's own, so every
request lightkube makes (get, list, watch, apply, ...) goes through them without wrapping any call.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from lightkube import AsyncClient, KubeConfig, SingleConfig
from lightkube.config.client_adapter import verify_cluster

from .metrics import Metrics
from .ratelimit import TokenBucket

log = logging.getLogger("kokpit.runtime.clients")

DEFAULT_QPS = 50.0
DEFAULT_BURST = 100
FIELD_MANAGER = "kokpit"

Kubeconfig = str | os.PathLike[str] | Mapping[str, Any]


def is_lease_request(request: httpx2.Request) -> bool:
    """Lease requests (leader election, shard presence, agents' heartbeats) skip the token bucket: a
    renewal queued behind a burst of the controllers' requests misses its deadline and the process
    stops leading (seen with 10,000 templates on the hub). controller-runtime gives leader election
    a client of its own for the same reason; here they share the connection and identity."""
    return request.url.path.startswith("/apis/coordination.k8s.io/")


class MeteredTransport(httpx2.AsyncBaseTransport):
    """`MeteredTransport` waits for the cluster's token bucket before each request and counts it.

    Requests are counted in `kokpit_api_requests_total{cluster,method,code}`, with code `error`
    when no response came back (connection refused, timeout, ...).
    """

    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        *,
        cluster: str,
        bucket: TokenBucket | None,
        metrics: Metrics | None,
    ) -> None:
        self._inner = inner
        self._cluster = cluster
        self.bucket = bucket
        self._metrics = metrics

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.bucket is not None and not is_lease_request(request):
            await self.bucket.acquire()
        try:
            response = await self._inner.handle_async_request(request)
        except Exception:
            self._count(request.method, "error")
            raise
        self._count(request.method, str(response.status_code))
        return response

    def replace_inner(self, inner: httpx2.AsyncBaseTransport) -> httpx2.AsyncBaseTransport:
        """`replace_inner` sends every later request through `inner` and returns the transport it
        replaces (still serving the requests already in flight: the caller closes it when done)."""
        old, self._inner = self._inner, inner
        return old

    def _count(self, method: str, code: str) -> None:
        if self._metrics is not None:
            self._metrics.api_requests_total.labels(self._cluster, method, code).inc()

    async def aclose(self) -> None:
        await self._inner.aclose()


def load_kubeconfig(kubeconfig: Kubeconfig, *, context: str | None = None) -> SingleConfig:
    """`load_kubeconfig` reads a kubeconfig from a path or a dict and selects `context`."""
    if isinstance(kubeconfig, Mapping):
        config = KubeConfig.from_dict(dict(kubeconfig))
    else:
        config = KubeConfig.from_file(Path(kubeconfig))
    single: SingleConfig | None = config.get(context_name=context)
    if single is None:
        raise ValueError(f"kubeconfig has no context {context!r}")
    return single


def _transport(
    kubeconfig: Kubeconfig, *, context: str | None
) -> tuple[SingleConfig, httpx2.AsyncHTTPTransport]:
    """The kubeconfig's cluster and a connection pool presenting its TLS identity."""
    config = load_kubeconfig(kubeconfig, context=context)
    assert config.user is not None
    ssl_context = verify_cluster(config.cluster, config.user, config.abs_file, trust_env=False)
    # Watches hold a connection each, so the pool must not cap connections (httpx's default is 100).
    inner = httpx2.AsyncHTTPTransport(
        verify=ssl_context,
        trust_env=False,
        limits=httpx2.Limits(max_connections=None, max_keepalive_connections=32),
    )
    return config, inner


def make_client(
    cluster: str,
    kubeconfig: Kubeconfig,
    *,
    context: str | None = None,
    qps: float | None = DEFAULT_QPS,
    burst: int = DEFAULT_BURST,
    metrics: Metrics | None = None,
    timeout: float = 10.0,
) -> AsyncClient:
    """`make_client` builds one rate-limited, metered lightkube AsyncClient (no limit when qps is None)."""
    client, _ = _metered_client(
        cluster, kubeconfig, context=context, qps=qps, burst=burst, metrics=metrics, timeout=timeout
    )
    return client


def _metered_client(
    cluster: str,
    kubeconfig: Kubeconfig,
    *,
    context: str | None,
    qps: float | None,
    burst: int,
    metrics: Metrics | None,
    timeout: float,
) -> tuple[AsyncClient, MeteredTransport]:
    config, inner = _transport(kubeconfig, context=context)
    bucket = TokenBucket(qps, burst) if qps is not None else None
    transport = MeteredTransport(inner, cluster=cluster, bucket=bucket, metrics=metrics)
    client = AsyncClient(
        config,
        timeout=httpx2.Timeout(timeout),
        field_manager=FIELD_MANAGER,
        trust_env=False,
        transport=transport,
    )
    return client, transport


@dataclass(frozen=True)
class RateLimit:
    """A client's token bucket: `qps` requests a second (None: no limit), bursts of `burst`."""

    qps: float | None
    burst: int


class ClusterClients:
    """`ClusterClients` is the registry of API clients, one per cluster name.

    Every client carries a token bucket of `qps`/`burst` (client-go's 5/10 is far too low for a
    control plane driving many clusters) and counts its requests in `metrics`.
    """

    def __init__(
        self,
        *,
        metrics: Metrics | None = None,
        qps: float | None = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        timeout: float = 10.0,
    ) -> None:
        self._metrics = metrics
        self._qps = qps
        self._burst = burst
        self._timeout = timeout
        self._clients: dict[str, AsyncClient] = {}
        self._transports: dict[str, MeteredTransport] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._clients

    def add(
        self,
        name: str,
        kubeconfig: Kubeconfig,
        *,
        context: str | None = None,
        limit: RateLimit | None = None,
    ) -> AsyncClient:
        """`add` builds the client of cluster `name` (with `limit` instead of the registry's own);
        a cluster can be added only once."""
        if name in self._clients:
            raise ValueError(f"cluster {name!r} is already registered")
        client, transport = _metered_client(
            name,
            kubeconfig,
            context=context,
            qps=self._qps if limit is None else limit.qps,
            burst=self._burst if limit is None else limit.burst,
            metrics=self._metrics,
            timeout=self._timeout,
        )
        self._clients[name] = client
        self._transports[name] = transport
        log.info("cluster client added", extra={"cluster": name})
        return client

    def reload_identity(
        self, name: str, kubeconfig: Kubeconfig, *, context: str | None = None
    ) -> httpx2.AsyncBaseTransport:
        """`reload_identity` makes the client of `name` present the client certificate of `kubeconfig`
        (a renewed one) on every request from now on, without replacing the client: the informers,
        electors and recorders holding it carry on. The server and CA must be those it had. Returns
        the previous connection pool, which still serves the requests in flight (open watches); the
        caller closes it (`aclose`) once their old certificate may go."""
        transport = self._transports.get(name)
        if transport is None:
            raise KeyError(f"no client for cluster {name!r}; known: {sorted(self._clients)}")
        _, inner = _transport(kubeconfig, context=context)
        log.info("cluster client identity reloaded", extra={"cluster": name})
        return transport.replace_inner(inner)

    def get(self, name: str) -> AsyncClient:
        try:
            return self._clients[name]
        except KeyError:
            raise KeyError(f"no client for cluster {name!r}; known: {sorted(self._clients)}") from None

    def names(self) -> list[str]:
        return sorted(self._clients)

    async def remove(self, name: str) -> None:
        """`remove` forgets cluster `name` and closes its client (no error when unknown)."""
        client = self._clients.pop(name, None)
        self._transports.pop(name, None)
        if client is not None:
            await client.aclose()
            log.info("cluster client removed", extra={"cluster": name})

    async def aclose(self) -> None:
        for name in list(self._clients):
            await self.remove(name)
