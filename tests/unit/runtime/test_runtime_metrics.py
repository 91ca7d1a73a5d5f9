"""The metrics endpoint, and request counting/rate limiting in the client transport."""

from __future__ import annotations

import asyncio
import contextlib

import httpx2
from prometheus_client import CollectorRegistry

from kokpit.runtime.clients import MeteredTransport
from kokpit.runtime.metrics import Metrics, serve_metrics
from kokpit.runtime.ratelimit import TokenBucket


async def http_get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = (await reader.read()).decode()
    writer.close()
    status = int(raw.split(" ", 2)[1])
    return status, raw.split("\r\n\r\n", 1)[1]


async def test_metrics_and_healthz_are_served() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.reconcile_total.labels("demo", "success").inc()
    metrics.leader.labels("kube-system/kokpit").set(1)
    healthy = [True]
    server = await serve_metrics(metrics.registry, "127.0.0.1", 0, healthy=lambda: healthy[0])
    try:
        status, body = await http_get(server.port, "/metrics")
        assert status == 200
        assert 'kokpit_reconcile_total{controller="demo",result="success"} 1.0' in body
        assert 'kokpit_leader{lease="kube-system/kokpit"} 1.0' in body
        assert await http_get(server.port, "/healthz") == (200, "ok\n")
        healthy[0] = False
        assert (await http_get(server.port, "/healthz"))[0] == 503
        assert (await http_get(server.port, "/nope"))[0] == 404
    finally:
        await server.aclose()


class Answer(httpx2.AsyncBaseTransport):
    """An HTTP peer answering every request with one status (the transport's own unit, not an API)."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.seen = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.seen += 1
        if self.status == 0:
            raise httpx2.ConnectError("refused", request=request)
        return httpx2.Response(self.status, request=request)


async def test_transport_counts_requests_by_method_and_code() -> None:
    metrics = Metrics(CollectorRegistry())
    ok = MeteredTransport(Answer(200), cluster="m1", bucket=None, metrics=metrics)
    down = MeteredTransport(Answer(0), cluster="m2", bucket=None, metrics=metrics)
    async with httpx2.AsyncClient(transport=ok, base_url="https://m1") as client:
        await client.get("/api")
        await client.patch("/api/x", content=b"{}")
    async with httpx2.AsyncClient(transport=down, base_url="https://m2") as client:
        with contextlib.suppress(httpx2.ConnectError):
            await client.get("/api")

    def count(cluster: str, method: str, code: str) -> float | None:
        return metrics.registry.get_sample_value(
            "kokpit_api_requests_total", {"cluster": cluster, "method": method, "code": code}
        )

    assert count("m1", "GET", "200") == 1
    assert count("m1", "PATCH", "200") == 1
    assert count("m2", "GET", "error") == 1


async def test_transport_waits_for_the_bucket() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(qps=10, burst=2, clock=lambda: now[0], sleep=sleep)
    transport = MeteredTransport(Answer(200), cluster="c", bucket=bucket, metrics=None)
    async with httpx2.AsyncClient(transport=transport, base_url="https://c") as client:
        for _ in range(4):
            await client.get("/")
    assert len(slept) == 2


async def test_lease_requests_do_not_wait_for_the_bucket() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(qps=10, burst=1, clock=lambda: now[0], sleep=sleep)
    transport = MeteredTransport(Answer(200), cluster="c", bucket=bucket, metrics=None)
    async with httpx2.AsyncClient(transport=transport, base_url="https://c") as client:
        await client.get("/api/v1/configmaps")  # the one token
        for _ in range(3):
            await client.put("/apis/coordination.k8s.io/v1/namespaces/kokpit-system/leases/kokpit-hub")
        assert slept == []
        await client.get("/api/v1/configmaps")
    assert len(slept) == 1
