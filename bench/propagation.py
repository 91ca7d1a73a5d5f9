"""Propagation at scale: N Deployments, each with a ConfigMap, to M members, against a plain writer.

Starts a sandbox of M members, installs kokpit, joins the members and runs `kokpit hub run` as its
own process. Then, in the same run:

1. baseline: the same 2N objects written directly to every member by a plain concurrent writer
   using the same client library (lightkube), in namespace `bench-direct`;
2. kokpit: the 2N templates written to the hub in namespace `bench`, with one PropagationPolicy
   dividing each Deployment's M replicas equally over the M members (one each) and sending the
   ConfigMaps to all; timed until every object is applied on every member, and until the hub's
   aggregated status shows every Deployment ready;
3. latency from a template edit to the member update, over `--edits` sequential edits (p50, p99).

It samples the hub process's RSS throughout. Prints one JSON object.

    .venv/bin/python bench/propagation.py [--count 1000] [--members 3] [--edits 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from kokpit import sandbox
from kokpit.controlplane import processes
from kokpit.fleet.join import JoinRequest, join
from kokpit.hub.install import install
from kokpit.sandbox.ports import PortAllocator

Deployment = create_namespaced_resource("apps", "v1", "Deployment", "deployments")
ConfigMap = create_namespaced_resource("", "v1", "ConfigMap", "configmaps")
CONCURRENCY = 32


def deployment(name: str, namespace: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"bench": "propagation"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx:1.27",
                            "envFrom": [{"configMapRef": {"name": name}}],
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                        }
                    ]
                },
            },
        },
    }


def config_map(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"bench": "propagation"}},
        "data": {"GREETING": f"hello from {name}"},
    }


def policy(namespace: str, members: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": "bench", "namespace": namespace},
        "spec": {
            "resourceSelectors": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "labelSelector": {"matchLabels": {"bench": "propagation"}},
                },
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "labelSelector": {"matchLabels": {"bench": "propagation"}},
                },
            ],
            "placement": {
                "clusterAffinity": {"clusterNames": members},
                "replicaScheduling": {
                    "replicaSchedulingType": "Divided",
                    "replicaDivisionPreference": "Weighted",
                    "weightPreference": {
                        "staticWeightList": [
                            {"targetCluster": {"clusterNames": [member]}, "weight": 1} for member in members
                        ]
                    },
                },
            },
        },
    }


def client(kubeconfig: Path) -> AsyncClient:
    return AsyncClient(KubeConfig.from_file(kubeconfig), field_manager="bench", trust_env=False)


async def bounded(tasks: list[Callable[[], Awaitable[Any]]], limit: int = CONCURRENCY) -> None:
    gate = asyncio.Semaphore(limit)

    async def run(task: Callable[[], Awaitable[Any]]) -> None:
        async with gate:
            await task()

    await asyncio.gather(*(run(task) for task in tasks))


async def ensure_namespace(api: AsyncClient, name: str) -> None:
    try:
        await api.create(Namespace(metadata=ObjectMeta(name=name)))
    except ApiError as error:
        if error.status.code != 409:
            raise


async def count(api: AsyncClient, resource: Any, namespace: str) -> int:
    return len(
        [item async for item in api.list(resource, namespace=namespace, labels={"bench": "propagation"})]
    )


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def wait_for(
    what: str, condition: Callable[[], Awaitable[bool]], *, timeout: float, poll: float = 0.5
) -> float:
    progress(f"waiting for {what}")
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(poll)
    return time.monotonic() - started


async def baseline(members: dict[str, Path], count_: int, replicas: int) -> float:
    apis = {name: client(path) for name, path in members.items()}
    try:
        for api in apis.values():
            await ensure_namespace(api, "bench-direct")
        started = time.monotonic()
        tasks: list[Callable[[], Awaitable[Any]]] = []
        for api in apis.values():
            for i in range(count_):
                name = f"app-{i:05d}"
                tasks.append(partial(api.create, ConfigMap.from_dict(config_map(name, "bench-direct"))))
                tasks.append(
                    partial(api.create, Deployment.from_dict(deployment(name, "bench-direct", replicas)))
                )
        await bounded(tasks)
        elapsed = time.monotonic() - started
        progress(f"baseline: {len(tasks)} objects written directly in {elapsed:.1f}s")
        # The baseline's pods would take the nodes' pod slots the measured run needs.
        for api in apis.values():
            await api.delete(Namespace, "bench-direct")
        return elapsed
    finally:
        for api in apis.values():
            await api.close()


async def through_kokpit(
    hub_path: Path, members: dict[str, Path], count_: int, edits: int, timeout: float
) -> dict[str, Any]:
    hub = client(hub_path)
    apis = {name: client(path) for name, path in members.items()}
    Policy = create_namespaced_resource(
        "policy.kokpit.io", "v1alpha1", "PropagationPolicy", "propagationpolicies"
    )
    try:
        await ensure_namespace(hub, "bench")
        await hub.create(Policy.from_dict(policy("bench", list(members))))
        replicas = len(members)
        started = time.monotonic()
        tasks: list[Callable[[], Awaitable[Any]]] = []
        for i in range(count_):
            name = f"app-{i:05d}"
            tasks.append(partial(hub.create, ConfigMap.from_dict(config_map(name, "bench"))))
            tasks.append(partial(hub.create, Deployment.from_dict(deployment(name, "bench", replicas))))
        await bounded(tasks)
        written = time.monotonic() - started
        progress(f"kokpit: {len(tasks)} templates written to the hub in {written:.1f}s")

        async def all_applied() -> bool:
            for api in apis.values():
                if (
                    await count(api, Deployment, "bench") < count_
                    or await count(api, ConfigMap, "bench") < count_
                ):
                    return False
            return True

        await wait_for("every object applied on every member", all_applied, timeout=timeout)
        applied = time.monotonic() - started

        async def all_ready() -> bool:
            ready = 0
            async for item in hub.list(Deployment, namespace="bench", labels={"bench": "propagation"}):
                status = item.get("status") or {}
                if status.get("readyReplicas") == replicas:
                    ready += 1
            return ready >= count_

        await wait_for("the hub's aggregated status ready", all_ready, timeout=timeout, poll=1.0)
        ready = time.monotonic() - started

        member = next(iter(apis.values()))
        latencies = []
        for n in range(edits):
            name = f"app-{n % count_:05d}"
            value = f"edit-{n}"
            before = time.monotonic()
            await hub.patch(ConfigMap, name, {"data": {"EDIT": value}}, namespace="bench")

            async def updated(name: str = name, value: str = value) -> bool:
                found = await member.get(ConfigMap, name, namespace="bench")
                return bool((found.get("data") or {}).get("EDIT") == value)

            await wait_for("the edit on the member", updated, timeout=60, poll=0.005)
            latencies.append(time.monotonic() - before)
        return {
            "templates_written_seconds": round(written, 2),
            "applied_seconds": round(applied, 2),
            "hub_status_ready_seconds": round(ready, 2),
            "edit_latencies": latencies,
        }
    finally:
        await hub.close()
        for api in apis.values():
            await api.close()


async def join_all(hub_path: Path, members: dict[str, Path]) -> None:
    hub = client(hub_path)
    try:
        await install(hub)
        for name, path in members.items():
            await join(hub, JoinRequest(name, path))
    finally:
        await hub.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def rss_of(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="Deployments (each with a ConfigMap)")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kokpit-bench-") as tmp:
        directory = Path(tmp) / "sandbox"
        state = sandbox.up(
            directory,
            sandbox.UpOptions(
                members=args.members,
                # 110 pods per kwok node: room for one pod per Deployment on every member.
                nodes=max(3, args.count // 100 + 2),
                tie_to_parent=True,
            ),
        )
        hub = Path(state.clusters["hub"].kubeconfig)
        members = {m.name: Path(m.kubeconfig) for m in state.members}
        hub_process = None
        peak = 0
        stop = threading.Event()
        try:
            asyncio.run(join_all(hub, members))
            hub_process = processes.launch(
                processes.ProcessSpec(
                    name="hub",
                    argv=[
                        sys.executable,
                        "-m",
                        "kokpit.cli.main",
                        "hub",
                        "run",
                        f"--kubeconfig={hub}",
                        f"--metrics-port={PortAllocator().take()}",
                    ],
                    log_path=directory / "logs" / "kokpit-hub.log",
                ),
                tie_to_parent=True,
            )
            pid = hub_process.pid

            def sample() -> None:
                nonlocal peak
                while not stop.is_set():
                    peak = max(peak, rss_of(pid))
                    time.sleep(0.5)

            threading.Thread(target=sample, daemon=True).start()
            base = asyncio.run(baseline(members, args.count, replicas=1))
            measured = asyncio.run(through_kokpit(hub, members, args.count, args.edits, args.timeout))
        finally:
            stop.set()
            if hub_process is not None:
                processes.stop([(hub_process.pid, hub_process.argv[0])])
            sandbox.down(directory)

    latencies = measured.pop("edit_latencies")
    print(
        json.dumps(
            {
                "benchmark": "propagation",
                "machine": f"{platform.node()} {platform.machine()} cpus={os.cpu_count()}",
                "deployments": args.count,
                "configmaps": args.count,
                "members": args.members,
                **measured,
                "hub_peak_rss_mib": round(peak / 2**20),
                "baseline_direct_writer_seconds": round(base, 2),
                "ratio_applied_vs_direct": round(measured["applied_seconds"] / base, 2) if base else None,
                "edit_to_member_ms": {
                    "edits": len(latencies),
                    "p50": round(statistics.median(latencies) * 1000, 1),
                    "p99": round(percentile(latencies, 0.99) * 1000, 1),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
