"""Propagation at scale: N Deployments, each with a ConfigMap, to M members, against a plain writer.

Starts a sandbox of M members, installs kokpit, joins the members and runs `kokpit hub run` as its
own process. Then, in the same run:

1. baseline: the same 2N objects written directly to every member by a plain concurrent writer
   using the same client library (lightkube), in namespace `bench-direct`; timed until written, and
   until every Deployment is ready on every member (the members' own controllers bound that); the
   namespace is then deleted and waited for, so its removal does not load the measured phase;
2. kokpit: the 2N templates written to the hub in namespace `bench`, with one PropagationPolicy
   dividing each Deployment's M replicas equally over the M members (one each) and sending the
   ConfigMaps to all; timed until every object is applied on every member, and until the hub's
   aggregated status shows every Deployment ready;
3. latency from a template edit to the member update, over `--edits` sequential edits (p50, p99).

It samples the hub process's RSS throughout, and over the measured phase (templates written until
the hub's status shows all ready) counts requests and CPU:

- `hub_requests_per_object`: the hub API server's own `apiserver_request_total`, delta over the
  phase, less the benchmark's own requests to it (counted on its client), per propagated object
  (each Deployment and each ConfigMap is one); also by verb and by verb/resource;
- `member_requests_per_object`: the same on every member's API server, summed, per object;
- CPU seconds of the hub process and of the hub's kube-apiserver (utime + stime from /proc).

With `--restart-wait S` the hub is then stopped and started again over the delivered templates,
and the members' write requests over the next S seconds are reported (a restart is not a storm).
With `--profile PATH` py-spy records the hub process over the measured phase (a flame graph SVG).
With `--shards N`, N `kokpit hub run --shards` replicas share delivery instead of one hub: CPU is
their sum, `hub_peak_rss_mib` the largest replica's and `hub_shards_peak_rss_total_mib` all of
them together, the profile the first replica's. `--applied-only` skips the direct writer, the wait
for the hub's status and the edits (for sizes whose readiness takes longer than one sits through).
Prints one JSON object.

    .venv/bin/python bench/propagation.py [--count 1000] [--members 3] [--edits 100]
        [--restart-wait 30] [--profile bench/propagation-flame.svg] [--shards 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from harness import launch_hub
from kokpit import sandbox
from kokpit.controlplane import processes
from kokpit.fleet.join import JoinRequest, join
from kokpit.hub.install import install
from kokpit.runtime.raw import get_raw

Deployment = create_namespaced_resource("apps", "v1", "Deployment", "deployments")
ConfigMap = create_namespaced_resource("", "v1", "ConfigMap", "configmaps")
CONCURRENCY = 32
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"})
_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Requests = Counter[tuple[str, str]]
"""Requests by (verb, resource), e.g. ("PATCH", "works/status")."""


def parse_request_totals(text: str) -> Requests:
    """`apiserver_request_total` of a Prometheus text page, summed by (verb, resource[/subresource]).

    Codes, scopes and groups are summed away: the benchmark asks how many requests, of which kind.
    """
    totals: Requests = Counter()
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource = f"{resource}/{labels['subresource']}"
        totals[(labels.get("verb", ""), resource)] += int(float(match["value"]))
    return totals


def requests_between(before: Requests, after: Requests, *, own: Requests | None = None) -> Requests:
    """What the server counted between two scrapes, less `own` (the benchmark's requests)."""
    delta = Counter(after)
    delta.subtract(before)
    if own:
        delta.subtract(own)
    return Counter({key: value for key, value in delta.items() if value > 0})


def summary(requests: Requests, objects: int) -> dict[str, Any]:
    """Totals per object, by verb and by verb/resource (largest first)."""
    by_verb: Counter[str] = Counter()
    for (verb, _), value in requests.items():
        by_verb[verb] += value
    total = sum(requests.values())
    writes = sum(v for verb, v in by_verb.items() if verb in WRITE_VERBS)
    return {
        "total": total,
        "per_object": round(total / objects, 2) if objects else None,
        "writes": writes,
        "writes_per_object": round(writes / objects, 2) if objects else None,
        "by_verb": dict(by_verb.most_common()),
        "by_verb_resource": {f"{verb} {resource}": v for (verb, resource), v in requests.most_common()},
    }


async def scrape(api: AsyncClient) -> Requests:
    response = await get_raw(api, "/metrics", accept="text/plain", timeout=30)
    response.raise_for_status()
    return parse_request_totals(response.text)


def counting(api: AsyncClient) -> Requests:
    """Counts the requests `api` sends by (verb, resource), as the server would label them (roughly:
    GET on a collection is LIST, a `watch=` query is WATCH)."""
    seen: Requests = Counter()

    async def hook(request: Any) -> None:
        parts = [part for part in request.url.path.split("/") if part]
        method = request.method
        if "namespaces" in parts and parts.index("namespaces") + 2 < len(parts):
            rest = parts[parts.index("namespaces") + 2 :]
        elif parts and parts[0] in ("api", "apis"):
            rest = parts[2:] if parts[0] == "api" else parts[3:]
        else:
            rest = parts
        resource = "/".join([rest[0], *rest[2:3]]) if rest else ""
        if method == "GET":
            if "watch" in str(request.url.query):
                method = "WATCH"
            elif len(rest) == 1:
                method = "LIST"
        seen[(method, resource)] += 1

    api._client._client.event_hooks["request"].append(hook)
    return seen


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


@dataclass(frozen=True)
class Baseline:
    """The direct writer's figures: all objects written, and all its Deployments ready on the members
    (which the members' own controllers bound)."""

    applied: float
    ready: float


async def baseline(members: dict[str, Path], count_: int, replicas: int) -> Baseline:
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

        async def all_ready() -> bool:
            for api in apis.values():
                ready = 0
                listed = api.list(Deployment, namespace="bench-direct", labels={"bench": "propagation"})
                async for item in listed:
                    ready += (item.get("status") or {}).get("readyReplicas") == replicas
                if ready < count_:
                    return False
            return True

        await wait_for("the direct Deployments ready on the members", all_ready, timeout=1800, poll=1.0)
        ready = time.monotonic() - started
        progress(f"baseline: ready on the members after {ready:.1f}s")
        # The baseline's pods would take the nodes' pod slots the measured run needs, and their deletion
        # would load the members during it: gone before it starts.
        for api in apis.values():
            await api.delete(Namespace, "bench-direct")

        async def gone() -> bool:
            for api in apis.values():
                try:
                    await api.get(Namespace, "bench-direct")
                except ApiError as error:
                    if error.status.code == 404:
                        continue
                    raise
                return False
            return True

        await wait_for("the baseline's namespace gone from the members", gone, timeout=1800, poll=1.0)
        return Baseline(elapsed, ready)
    finally:
        for api in apis.values():
            await api.close()


@dataclass
class Watched:
    """The processes whose CPU the measured phase counts, and the profiler to stop at its end."""

    hub_pids: list[int]
    """Every `kokpit hub run` replica (one per shard); the profile is of the first."""
    apiserver_pid: int
    profile: Path | None = None
    profiler: subprocess.Popen[bytes] | None = None

    def start_profile(self) -> None:
        if self.profile is not None:
            self.profiler = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--pid",
                    str(self.hub_pids[0]),
                    "--output",
                    str(self.profile),
                    "--format",
                    "flamegraph",
                    "--rate",
                    "50",
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def stop_profile(self) -> None:
        if self.profiler is not None:
            self.profiler.send_signal(signal.SIGINT)  # py-spy writes the SVG on SIGINT
            self.profiler.wait(timeout=120)
            self.profiler = None


def hub_cpu(watched: Watched) -> float:
    return sum(cpu_seconds(pid) for pid in watched.hub_pids)


async def through_kokpit(
    hub_path: Path,
    members: dict[str, Path],
    count_: int,
    edits: int,
    timeout: float,
    watched: Watched,
    *,
    wait_ready: bool = True,
) -> dict[str, Any]:
    hub = client(hub_path)
    apis = {name: client(path) for name, path in members.items()}
    hub_own = counting(hub)
    members_own = {name: counting(api) for name, api in apis.items()}
    Policy = create_namespaced_resource(
        "policy.kokpit.io", "v1alpha1", "PropagationPolicy", "propagationpolicies"
    )
    try:
        await ensure_namespace(hub, "bench")
        await hub.create(Policy.from_dict(policy("bench", list(members))))
        replicas = len(members)
        hub_before = await scrape(hub)
        members_before = {name: await scrape(api) for name, api in apis.items()}
        hub_own.clear()
        for own in members_own.values():
            own.clear()
        cpu_before = hub_cpu(watched), cpu_seconds(watched.apiserver_pid)
        watched.start_profile()
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

        ready: float | None = None
        if wait_ready:
            await wait_for("the hub's aggregated status ready", all_ready, timeout=timeout, poll=1.0)
            ready = time.monotonic() - started
        cpu_after = hub_cpu(watched), cpu_seconds(watched.apiserver_pid)
        watched.stop_profile()
        own_at_end = Counter(hub_own)  # the scrapes below are the benchmark's too, after the phase
        hub_requests = requests_between(hub_before, await scrape(hub), own=own_at_end)
        member_requests: Requests = Counter()
        for name, api in apis.items():
            own = Counter(members_own[name])
            member_requests.update(requests_between(members_before[name], await scrape(api), own=own))
        objects = 2 * count_

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
            **({"hub_status_ready_seconds": round(ready, 2)} if ready is not None else {}),
            "hub_requests_per_object": summary(hub_requests, objects)["per_object"],
            "member_requests_per_object": summary(member_requests, objects)["per_object"],
            "hub_requests": summary(hub_requests, objects),
            "member_requests": summary(member_requests, objects),
            "hub_process_cpu_seconds": round(cpu_after[0] - cpu_before[0], 1),
            "hub_apiserver_cpu_seconds": round(cpu_after[1] - cpu_before[1], 1),
            "edit_latencies": latencies,
        }
    finally:
        await hub.close()
        for api in apis.values():
            await api.close()


async def member_writes(members: dict[str, Path]) -> dict[str, Requests]:
    """Every member's request totals now (to diff around a hub restart)."""
    found = {}
    for name, path in members.items():
        api = client(path)
        try:
            found[name] = await scrape(api)
        finally:
            await api.close()
    return found


def restart_figures(
    before: dict[str, Requests], after: dict[str, Requests], objects: int, wait: float
) -> dict[str, Any]:
    """Members' writes while a hub restarted over delivered templates (scrapes are GETs: not writes)."""
    writes: Requests = Counter()
    for name in before:
        delta = requests_between(before[name], after[name])
        writes.update({key: value for key, value in delta.items() if key[0] in WRITE_VERBS})
    return {
        "seconds_watched": wait,
        "member_writes": sum(writes.values()),
        "member_writes_by_verb_resource": {f"{v} {r}": n for (v, r), n in writes.most_common()},
        "objects_delivered": objects,
    }


async def join_all(hub_path: Path, members: dict[str, Path]) -> None:
    hub = client(hub_path)
    try:
        await install(hub)
        for name, path in members.items():
            await join(hub, JoinRequest(name, path))
    finally:
        await hub.close()


async def members_ready(hub_path: Path, members: dict[str, Path], timeout: float = 120) -> None:
    """Waits until the hub reports every member Ready: the measured phase starts from a running hub, not
    from one still probing its members for the first time (templates would find no cluster fit)."""
    Cluster = create_global_resource("cluster.kokpit.io", "v1alpha1", "Cluster", "clusters")
    hub = client(hub_path)
    try:

        async def ready() -> bool:
            found = 0
            async for cluster in hub.list(Cluster):
                conditions = (cluster.get("status") or {}).get("conditions") or []
                found += any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
            return found >= len(members)

        await wait_for("every member Ready on the hub", ready, timeout=timeout)
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


def baseline_figures(base: Baseline, measured: dict[str, Any]) -> dict[str, Any]:
    return {
        "baseline_direct_writer_seconds": round(base.applied, 2),
        "ratio_applied_vs_direct": round(measured["applied_seconds"] / base.applied, 2),
        "baseline_direct_ready_seconds": round(base.ready, 2),
        "ratio_hub_ready_vs_direct_ready": round(measured["hub_status_ready_seconds"] / base.ready, 2),
    }


def keep_logs(directory: Path, into: Path) -> None:
    for log in directory.rglob("*.log"):
        target = into / log.relative_to(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, target)


def launch_hubs(hub: Path, logs: Path, shards: int, options: list[str]) -> list[processes.LaunchedProcess]:
    """One plain `kokpit hub run`, or `shards` of them sharing delivery, each with `options`."""
    if shards == 0:
        return [launch_hub(hub, logs / "kokpit-hub.log", *options)]
    return [
        launch_hub(hub, logs / f"kokpit-hub-shard-{i}.log", "--shards", f"--id=shard-{i}", *options)
        for i in range(shards)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="Deployments (each with a ConfigMap)")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument(
        "--restart-wait",
        type=float,
        default=0,
        help="Then restart the hub and count member writes over this many seconds (0: no restart)",
    )
    parser.add_argument("--profile", type=Path, help="py-spy flame graph (SVG) of the measured phase")
    parser.add_argument(
        "--shards",
        type=int,
        default=0,
        help="Run this many `kokpit hub run --shards` replicas sharing delivery (0: one plain hub)",
    )
    parser.add_argument(
        "--applied-only",
        action="store_true",
        help="No direct writer, no wait for the hub's status, no edits: the time until every object "
        "is applied on the members, and the hub's RSS (for runs too large to wait for readiness)",
    )
    parser.add_argument("--keep-logs", type=Path, help="Copy every log of the run (hub, sandbox) here")
    parser.add_argument(
        "--hub-arg",
        action="append",
        default=[],
        help="An option for every `kokpit hub run` (repeat it), e.g. --hub-arg=--qps=400",
    )
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
        hubs: list[processes.LaunchedProcess] = []
        peak = peak_total = 0
        stop = threading.Event()
        restart: dict[str, Any] | None = None

        try:
            asyncio.run(join_all(hub, members))
            hubs = launch_hubs(hub, directory / "logs", args.shards, args.hub_arg)

            def sample() -> None:
                nonlocal peak, peak_total
                while not stop.is_set():
                    sizes = [rss_of(h.pid) for h in hubs]
                    peak, peak_total = max(peak, *sizes), max(peak_total, sum(sizes))
                    time.sleep(0.5)

            threading.Thread(target=sample, daemon=True).start()
            asyncio.run(members_ready(hub, members))
            base = None if args.applied_only else asyncio.run(baseline(members, args.count, replicas=1))
            watched = Watched(
                [h.pid for h in hubs], state.clusters["hub"].components["kube-apiserver"].pid, args.profile
            )
            try:
                measured = asyncio.run(
                    through_kokpit(
                        hub,
                        members,
                        args.count,
                        0 if args.applied_only else args.edits,
                        args.timeout,
                        watched,
                        wait_ready=not args.applied_only,
                    )
                )
            finally:
                watched.stop_profile()
            if args.restart_wait > 0:
                progress(f"restarting the hub; counting member writes for {args.restart_wait:.0f}s")
                processes.stop([(h.pid, h.argv[0]) for h in hubs])
                before = asyncio.run(member_writes(members))
                hubs = launch_hubs(hub, directory / "logs" / "restarted", args.shards, args.hub_arg)
                time.sleep(args.restart_wait)
                after = asyncio.run(member_writes(members))
                restart = restart_figures(before, after, 2 * args.count, args.restart_wait)
        finally:
            stop.set()
            processes.stop([(h.pid, h.argv[0]) for h in hubs])
            sandbox.down(directory)
            if args.keep_logs is not None:
                keep_logs(directory, args.keep_logs)

    latencies = measured.pop("edit_latencies")
    print(
        json.dumps(
            {
                "benchmark": "propagation",
                "machine": f"{platform.node()} {platform.machine()} cpus={os.cpu_count()}",
                "deployments": args.count,
                "configmaps": args.count,
                "members": args.members,
                "shards": args.shards,
                "hub_args": args.hub_arg,
                **measured,
                "hub_peak_rss_mib": round(peak / 2**20),
                **({"hub_shards_peak_rss_total_mib": round(peak_total / 2**20)} if args.shards else {}),
                **(baseline_figures(base, measured) if base is not None else {}),
                **(
                    {
                        "edit_to_member_ms": {
                            "edits": len(latencies),
                            "p50": round(statistics.median(latencies) * 1000, 1),
                            "p99": round(percentile(latencies, 0.99) * 1000, 1),
                        }
                    }
                    if latencies
                    else {}
                ),
                **({"restart": restart} if restart is not None else {}),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
