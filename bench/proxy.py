"""Request latency and watch event delay through the hub's proxy, against the same member direct.

Starts a sandbox (hub + one member), installs kokpit, joins the member (Push), and runs the hub's
controllers with the proxy in this process. A Pull Cluster `bench-pull` is carried by `run_tunnel`
(in a thread of this process, with the member's kubeconfig and an agent certificate of the hub CA),
so the same member is measured three ways in the same run, with the same HTTP client:

    direct   the member's API server with its admin kubeconfig
    proxy    the hub's proxy, Push path (the hub forwards with the member's kubeconfig)
    tunnel   the hub's proxy, Pull path (through the agent's WebSocket tunnel)

Latency: `--requests` sequential GETs of the configmaps of `default`. Watch delay: a watch open on
each path, a ConfigMap created `--events` times; the time from the create's answer to its event on
each watch.

    .venv/bin/python bench/proxy.py [--requests 300] [--events 30]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from harness import cli
from kokpit import sandbox
from kokpit.agent.tunnel_client import run_tunnel
from kokpit.binaries import find_binaries
from kokpit.controlplane import pki
from kokpit.fleet.names import AGENTS_GROUP, agent_user
from kokpit.fleet.proxy.kubeconfig import proxy_kubeconfig
from kokpit.fleet.proxy.upstream import Upstream
from kokpit.hub.manager import HubOptions, build_manager
from kokpit.hub.proxy import proxy_service
from kokpit.sandbox.sandbox import cluster_root
from kokpit.settings import HubSettings

PULL = "bench-pull"
PATH = "/api/v1/namespaces/default/configmaps"


def kubectl_apply(kubeconfig: Path, docs: list[dict[str, Any]]) -> None:
    subprocess.run(
        [str(find_binaries().kubectl), f"--kubeconfig={kubeconfig}", "apply", "-f", "-"],
        input=yaml.safe_dump_all(docs),
        capture_output=True,
        text=True,
        check=True,
    )


def in_thread(coro_fn: Any) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()

    def run() -> None:
        with contextlib.suppress(BaseException):  # cancelled at the end of the run
            loop.run_until_complete(coro_fn())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return loop, thread


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "n": len(ordered),
    }


async def latency(upstream: Upstream, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        answer = await upstream.send("GET", PATH, [("Accept", "application/json")])
        await answer.read()
        answer.close()
        assert answer.status == 200, answer.status
        samples.append(time.perf_counter() - start)
    return samples


async def watch_delays(paths: dict[str, Upstream], direct: Upstream, events: int) -> dict[str, list[float]]:
    listed = await direct.send("GET", PATH, [("Accept", "application/json")])
    version = json.loads(await listed.read())["metadata"]["resourceVersion"]
    listed.close()
    seen: dict[str, dict[str, float]] = {name: {} for name in paths}
    watches = {
        name: await up.send(
            "GET", f"{PATH}?watch=1&resourceVersion={version}", [("Accept", "application/json")]
        )
        for name, up in paths.items()
    }

    async def read(name: str) -> None:
        buffer = b""
        async for chunk in watches[name].content.iter_any():
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                event = json.loads(line)
                seen[name].setdefault(event["object"]["metadata"]["name"], time.perf_counter())
                arrived.set()

    arrived = asyncio.Event()
    readers = [asyncio.create_task(read(name)) for name in paths]
    created: dict[str, float] = {}
    prefix = f"bench-{int(time.time())}"
    for n in range(events):
        name = f"{prefix}-{n}"
        body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}).encode()
        answer = await direct.send("POST", PATH, [("Content-Type", "application/json")], body)
        await answer.read()
        answer.close()
        created[name] = time.perf_counter()
        deadline = time.monotonic() + 10
        while any(name not in seen[p] for p in paths) and time.monotonic() < deadline:
            arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), 1)
    for task in readers:
        task.cancel()
    for watch in watches.values():
        watch.close()
    for n in range(events):
        answer = await direct.send("DELETE", f"{PATH}/{prefix}-{n}", [])
        answer.close()
    return {p: [max(0.0, seen[p][c] - created[c]) for c in created if c in seen[p]] for p in paths}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--events", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kokpit-bench-proxy-") as tmp:
        directory = Path(tmp)
        sandbox.up(directory / "sb", sandbox.UpOptions(members=1, nodes=2, tie_to_parent=True))
        try:
            result = measure(directory, args)
        finally:
            sandbox.down(directory / "sb")
    print(json.dumps(result, indent=2))


def measure(directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    state = sandbox.load(directory / "sb")
    hub = Path(state.clusters["hub"].kubeconfig)
    member = Path(state.clusters["member1"].kubeconfig)
    cli("install", hub=hub)
    cli("join", "member1", "--kubeconfig", str(member), hub=hub)
    kubectl_apply(
        hub,
        [
            {
                "apiVersion": "cluster.kokpit.io/v1alpha1",
                "kind": "Cluster",
                "metadata": {"name": PULL},
                "spec": {"syncMode": "Pull"},
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "bench-endpoints", "namespace": "kube-public"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "bench-endpoints", "namespace": "kube-public"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "bench-endpoints",
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": agent_user(PULL)}
                ],
            },
        ],
    )
    hub_pki = pki.read_cluster_pki(cluster_root(directory / "sb", "hub") / "pki")
    agent_cert = pki.issue(
        hub_pki.ca, common_name=agent_user(PULL), organizations=[AGENTS_GROUP], client=True
    )
    hub_config = yaml.safe_load(hub.read_text())
    agent_kubeconfig = directory / "agent.kubeconfig"
    pki.write_kubeconfig(
        pki.kubeconfig(
            cluster="hub",
            server=hub_config["clusters"][0]["cluster"]["server"],
            ca_pem=hub_pki.ca.cert_pem,
            user=agent_user(PULL),
            credentials=agent_cert,
        ),
        agent_kubeconfig,
    )
    manager = build_manager(
        HubOptions(
            kubeconfig=hub,
            metrics_port=None,
            leader_elect=False,
            settings=HubSettings(state_dir=directory / "hub", proxy_address="127.0.0.1:0"),
        )
    )
    hub_loop, hub_thread = in_thread(manager.run)
    service = proxy_service(manager)
    assert service is not None
    deadline = time.monotonic() + 60
    while service.endpoints is None or PULL not in [c.metadata.name for c in service.clusters.list()]:
        assert time.monotonic() < deadline, "the proxy did not start"
        time.sleep(0.2)
    endpoints = service.endpoints
    time.sleep(2)  # the published ConfigMap, read by the tunnel
    tunnel_loop, tunnel_thread = in_thread(lambda: run_tunnel(PULL, agent_kubeconfig, member))
    while PULL not in service.tunnels.connected():
        assert time.monotonic() < deadline + 60, "the tunnel did not connect"
        time.sleep(0.1)

    async def run() -> dict[str, Any]:
        paths = {
            "direct": Upstream.from_kubeconfig(member),
            "proxy": Upstream.from_kubeconfig(
                proxy_kubeconfig(hub_config, cluster="member1", endpoints=endpoints)
            ),
            "tunnel": Upstream.from_kubeconfig(
                proxy_kubeconfig(hub_config, cluster=PULL, endpoints=endpoints)
            ),
        }
        try:
            for up in paths.values():
                await latency(up, 20)  # warm connections and the proxy's review cache
            lat = {name: percentiles(await latency(up, args.requests)) for name, up in paths.items()}
            delays = await watch_delays(paths, paths["direct"], args.events)
            return {"latency": lat, "watch_event_delay": {p: percentiles(d) for p, d in delays.items()}}
        finally:
            for up in paths.values():
                await up.aclose()

    figures = asyncio.run(run())
    for loop in (tunnel_loop, hub_loop):
        for task in asyncio.all_tasks(loop):
            loop.call_soon_threadsafe(task.cancel)
    tunnel_thread.join(10)
    hub_loop.call_soon_threadsafe(manager.stop)
    hub_thread.join(30)
    lat = figures["latency"]
    return {
        "benchmark": "proxy",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "requests": args.requests,
        "events": args.events,
        **figures,
        "ratio_p50": {
            "proxy_vs_direct": round(lat["proxy"]["p50_ms"] / lat["direct"]["p50_ms"], 2),
            "tunnel_vs_direct": round(lat["tunnel"]["p50_ms"] / lat["direct"]["p50_ms"], 2),
        },
        "agent": "not measured here: the tunnel runs in this process, not in a kokpit agent process",
    }


if __name__ == "__main__":
    main()
