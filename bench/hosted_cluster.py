"""Time from a HostedCluster resource to Ready, for 1 and for N concurrent clusters, and memory per
hosted control plane (process runtime, real binaries, 3 kwok nodes each).

Starts a sandbox hub, installs kokpit, runs the etcd, fleet and hosted-cluster controllers in this
process, then creates the clusters and times each until `Ready=True` (which includes etcd, the PKI,
the control plane, kwok nodes Ready and addons applied). Memory is the proportional set size (PSS)
of every process of one hosted cluster (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok) once Ready. The baseline, measured in the same run on the same machine, is
`kokpit sandbox up` of a hub and one member with 3 nodes: the same binaries started directly, for
two control planes.

    .venv/bin/python bench/hosted_cluster.py [--concurrent 5]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from kokpit import sandbox
from kokpit.controlplane import processes
from kokpit.etcd import EtcdSettings, add_etcd_controllers
from kokpit.fleet import setup_fleet
from kokpit.hosted import HostedClusterResource, HostedSettings, setup_hosted
from kokpit.hosted.versions import load_supported
from kokpit.hub.install import install
from kokpit.runtime import Manager, get_condition


def rss_kib(pid: int) -> int:
    """Proportional set size: shared pages (every component maps the same multi-call `kube` binary)
    are divided among the processes sharing them, so sums over processes do not double count."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cluster_pids(root: Path) -> list[int]:
    pids = []
    for state in root.glob("*/state.json"):
        record = json.loads(state.read_text())
        if processes.is_alive(int(record["pid"])):
            pids.append(int(record["pid"]))
    return pids


async def create_and_time(manager: Manager, namespace: str, names: list[str], version: str) -> list[float]:
    client = manager.clients.get("hub")
    started = time.monotonic()
    for name in names:
        body = {
            "apiVersion": "cluster.kokpit.io/v1alpha1",
            "kind": "HostedCluster",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"kubernetesVersion": version, "nodes": 3, "join": False},
        }
        await client.create(HostedClusterResource.from_dict(body))
    done: dict[str, float] = {}
    while len(done) < len(names):
        for name in names:
            if name in done:
                continue
            obj = await client.get(HostedClusterResource, name, namespace=namespace)
            ready = get_condition((obj.get("status") or {}).get("conditions"), "Ready")
            if ready is not None and ready.get("status") == "True":
                done[name] = time.monotonic() - started
        if time.monotonic() - started > 300:
            raise SystemExit(f"timed out: {sorted(set(names) - set(done))} not Ready")
        await asyncio.sleep(0.1)
    return [done[n] for n in names]


async def delete_all(manager: Manager, namespace: str) -> None:
    client = manager.clients.get("hub")
    async for obj in client.list(HostedClusterResource, namespace=namespace):
        await client.delete(HostedClusterResource, str(obj.metadata.name), namespace=namespace)
    for _ in range(600):
        if not [o async for o in client.list(HostedClusterResource, namespace=namespace)]:
            return
        await asyncio.sleep(0.25)


async def run(hub: Path, work: Path, concurrent: int) -> dict[str, Any]:
    version = load_supported().default
    manager = Manager(sync_timeout=30)
    manager.add_cluster("hub", hub)
    client = manager.clients.get("hub")
    await install(client)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    await client.create(Namespace(metadata=ObjectMeta(name=namespace)))
    etcd_root, cp_root = work / "etcd", work / "cp"
    add_etcd_controllers(
        manager,
        EtcdSettings(
            process_root=etcd_root,
            backup_root=work / "b",
            resync_seconds=0.5,
            busy_seconds=0.2,
            tie_to_parent=True,
        ),
    )
    setup_fleet(manager, hub="hub")
    setup_hosted(
        manager,
        HostedSettings(process_root=cp_root, resync_seconds=1.0, busy_seconds=0.2, tie_to_parent=True),
    )
    task = asyncio.create_task(manager.run())
    try:
        await asyncio.sleep(1)
        single = await create_and_time(manager, namespace, ["bench-one"], version)
        memory = {
            "control_plane_kib": sum(rss_kib(p) for p in cluster_pids(cp_root / namespace / "bench-one")),
            "etcd_kib": sum(rss_kib(p) for p in cluster_pids(etcd_root / namespace / "bench-one-etcd")),
        }
        await delete_all(manager, namespace)
        names = [f"bench-{i}" for i in range(concurrent)]
        many = await create_and_time(manager, namespace, names, version)
        per_cluster = [
            sum(rss_kib(p) for p in cluster_pids(cp_root / namespace / n))
            + sum(rss_kib(p) for p in cluster_pids(etcd_root / namespace / f"{n}-etcd"))
            for n in names
        ]
        await delete_all(manager, namespace)
    finally:
        manager.stop()
        await asyncio.wait_for(task, 60)
    return {
        "version": version,
        "single_ready_s": round(single[0], 2),
        "concurrent": concurrent,
        "concurrent_ready_s": {
            "min": round(min(many), 2),
            "median": round(statistics.median(many), 2),
            "max": round(max(many), 2),
        },
        "memory_one_cluster_mib": {
            "control_plane": round(memory["control_plane_kib"] / 1024, 1),
            "etcd": round(memory["etcd_kib"] / 1024, 1),
            "total": round((memory["control_plane_kib"] + memory["etcd_kib"]) / 1024, 1),
        },
        "memory_concurrent_mib_per_cluster_median": round(statistics.median(per_cluster) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrent", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kokpit-bench-hosted-") as tmp:
        work = Path(tmp)
        started = time.monotonic()
        baseline_state = sandbox.up(
            work / "baseline", sandbox.UpOptions(members=1, nodes=3, tie_to_parent=True)
        )
        baseline = time.monotonic() - started
        sandbox.down(Path(baseline_state.dir))
        state = sandbox.up(work / "sandbox", sandbox.UpOptions(members=0, nodes=0, tie_to_parent=True))
        try:
            result = asyncio.run(run(Path(state.clusters["hub"].kubeconfig), work, args.concurrent))
        finally:
            sandbox.down(work / "sandbox")
    result["baseline_sandbox_up_hub_and_member_s"] = round(baseline, 2)
    result["ratio_single_to_baseline"] = round(result["single_ready_s"] / baseline, 2)
    result["machine"] = {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
