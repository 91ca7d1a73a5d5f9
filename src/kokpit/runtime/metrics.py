"""Prometheus metrics of the runtime, registered in a registry the caller owns, and their HTTP endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger("kokpit.runtime.metrics")

# Reconcile results, the values of kokpit_reconcile_total's `result` label.
RESULT_SUCCESS = "success"
RESULT_REQUEUE = "requeue"
RESULT_ERROR = "error"
RESULT_TERMINAL = "terminal"


class Metrics:
    """`Metrics` creates the runtime's metrics in `registry` (a fresh one when not given).

    One `Metrics` per registry: registering the same names twice in one registry fails.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.reconcile_total = Counter(
            "kokpit_reconcile_total",
            "Reconciles by controller and result.",
            ["controller", "result"],
            registry=r,
        )
        self.reconcile_errors_total = Counter(
            "kokpit_reconcile_errors_total",
            "Reconciles that failed, terminal or not.",
            ["controller"],
            registry=r,
        )
        self.reconcile_duration_seconds = Histogram(
            "kokpit_reconcile_duration_seconds",
            "Time spent in one reconcile.",
            ["controller"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
        )
        self.workqueue_depth = Gauge(
            "kokpit_workqueue_depth", "Keys waiting in a controller's queue.", ["controller"], registry=r
        )
        self.watch_restarts_total = Counter(
            "kokpit_watch_restarts_total",
            "Watches restarted, by cluster, resource and reason (idle, gone, error, closed).",
            ["cluster", "resource", "reason"],
            registry=r,
        )
        self.api_requests_total = Counter(
            "kokpit_api_requests_total",
            "Requests made to API servers, by cluster, HTTP method and status code ('error' when none).",
            ["cluster", "method", "code"],
            registry=r,
        )
        self.leader = Gauge("kokpit_leader", "1 while this process holds the lease.", ["lease"], registry=r)
        self.shards_live = Gauge(
            "kokpit_shards_live", "Shards of the group this one sees live.", ["group"], registry=r
        )
        self.shard_members = Gauge(
            "kokpit_shard_members", "Members this shard writes.", ["group"], registry=r
        )


class MetricsServer:
    """`MetricsServer` serves `/metrics` and `/healthz` until `aclose`; `port` is the bound port."""

    def __init__(self, server: asyncio.Server) -> None:
        self._server = server

    @property
    def port(self) -> int:
        sock = self._server.sockets[0]
        return int(sock.getsockname()[1])

    async def aclose(self) -> None:
        self._server.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await self._server.wait_closed()


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


async def serve_metrics(
    registry: CollectorRegistry,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    healthy: Callable[[], bool] | None = None,
) -> MetricsServer:
    """`serve_metrics` starts a tiny HTTP/1.1 server for Prometheus and liveness probes.

    `GET /metrics` renders `registry`; `GET /healthz` answers 200 `ok` (503 when `healthy()` is
    false). One request per connection, which is all a scraper or a probe needs. Port 0 picks a
    free port; read it from the returned server's `port`.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10.0):
                request_line = await reader.readline()
                while True:  # drain headers
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
            parts = request_line.decode("latin-1").split()
            method, path = (parts[0], parts[1].split("?", 1)[0]) if len(parts) >= 2 else ("", "")
            if method != "GET":
                out = _response("405 Method Not Allowed", "text/plain", b"method not allowed\n")
            elif path == "/metrics":
                out = _response("200 OK", CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path == "/healthz":
                if healthy is None or healthy():
                    out = _response("200 OK", "text/plain", b"ok\n")
                else:
                    out = _response("503 Service Unavailable", "text/plain", b"unhealthy\n")
            else:
                out = _response("404 Not Found", "text/plain", b"not found\n")
            writer.write(out)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        except Exception:
            log.exception("metrics endpoint failed to answer")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host, port)
    return MetricsServer(server)
