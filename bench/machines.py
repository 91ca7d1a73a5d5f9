"""How long a host takes to become a Ready Kubernetes node, for one host and for 3 in parallel, and
how much memory a real node uses, against a kwok node of the same cluster in the same run.

Starts a sandbox hub, 3 sandbox hosts (`kokpit sandbox hosts up`: network namespaces with sshd),
installs kokpit, runs the etcd, hosted-cluster and Machine controllers in this process (the Machine
controller with the hub's default settings), and creates a HostedCluster serving on the hosts'
bridge (10.77.0.1) with one kwok node. Then, in order:

- baseline: 3 kwok nodes (the Node manifest the sandbox gives kwok), each timed from its creation
  to `Ready=True`; kwok's memory is its process's RSS divided by the nodes it serves;
- 3 sequential Machines, one on each (fresh) host, with the built-in components (containerd, runc,
  CNI plugins, kubelet, kube-proxy at the control plane's version), each timed from the Machine's
  creation to `Ready=True` (TLS bootstrap included, the Node Ready); then a pod of kokpit's local
  web image runs on it and the node's memory is read: every process in the host's network namespace
  (kubelet, containerd, the shims, kube-proxy; the host's sshd and its sessions excluded) or in a
  cgroup under the host's `cgroupRoot` (the pods' containers); then the Machine is deleted;
- 3 Machines at once, one per host: wall time until all 3 are Ready.

    flock /tmp/kokpit-integration.lock .venv/bin/python bench/machines.py

Needs root and Debian's openssh-server (sandbox hosts). Prints one JSON object.
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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from lightkube import ApiError, AsyncClient, codecs
from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Pod

from kokpit import sandbox
from kokpit.controlplane import kwok, processes
from kokpit.controlplane.kwok import NODE_CPU, NODE_MEMORY, NODE_PODS
from kokpit.etcd import EtcdSettings, add_etcd_controllers
from kokpit.etcd.resources import EtcdClusterResource
from kokpit.hosted import HostedClusterResource, HostedSettings, setup_hosted
from kokpit.hosted.versions import load_supported
from kokpit.hosted.workers import default_components
from kokpit.hub.install import install
from kokpit.machines import MachineResource, MachineSettings, setup_machines
from kokpit.machines.catalogue import builtin_components
from kokpit.machines.targets import target_cluster_access
from kokpit.runtime import Manager, get_condition
from kokpit.runtime.resources import PlainNode
from kokpit.sandbox import network, teardown
from kokpit.sandbox.hosts import Inventory, hosts_down, hosts_up, read_state

GATEWAY = "10.77.0.1"
"""The hosts' bridge address in the root namespace: where the hosted cluster serves for nodes."""
CLUSTER = "bench-nodes"
TIMEOUT = 300.0


# --- memory, from /proc --------------------------------------------------------------------------


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def _ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def _descends_from(pid: int, ancestor: int) -> bool:
    seen = 0
    while pid > 1 and seen < 64:
        if pid == ancestor:
            return True
        pid, seen = _ppid(pid), seen + 1
    return False


def node_memory(directory: Path, host: str) -> dict[str, Any]:
    """RSS (and PSS) of the node software on sandbox host `host`: the processes in its network
    namespace and in its cgroup root, minus its sshd and what runs under it (the operator's SSH
    sessions are not the node). kubelet and kube-proxy map the same multi-call `kube` binary, so
    their RSS counts it twice; PSS divides shared pages and is given beside it."""
    state = read_state(directory)
    assert state is not None
    plan = next(p for p in state.hosts if p.name == host)
    sshd = state.sshd.get(host)
    in_pods = set(teardown.pids_in_cgroup(plan.cgroup_root))
    pids = set(in_pods)
    inode = network.netns_inode(plan.netns)
    if inode is not None:
        pids.update(network.pids_in_netns(inode))
    if sshd is not None:
        pids = {pid for pid in pids if not _descends_from(pid, sshd.pid)}
    groups: dict[str, dict[str, Any]] = {}
    for pid in sorted(pids):
        rss = _status_kib(pid, "VmRSS")
        if rss == 0:
            continue  # gone meanwhile, or a kernel thread
        # The pods' processes (pause is busybox sh + sleep, the web container httpd) by their
        # cgroup; the daemons by name.
        group = "pods" if pid in in_pods else _comm(pid)
        entry = groups.setdefault(group, {"processes": [], "rss_kib": 0, "pss_kib": 0})
        entry["processes"].append(_comm(pid))
        entry["rss_kib"] += rss
        entry["pss_kib"] += _pss_kib(pid)
    return {
        "rss_mib": round(sum(e["rss_kib"] for e in groups.values()) / 1024, 1),
        "pss_mib": round(sum(e["pss_kib"] for e in groups.values()) / 1024, 1),
        "by_process": {
            name: {"processes": sorted(e["processes"]), "rss_mib": round(e["rss_kib"] / 1024, 1)}
            for name, e in sorted(groups.items())
        },
    }


def kwok_pid(cp_root: Path) -> int:
    """The pid of the hosted cluster's kwok (from the state.json the process runtime writes)."""
    for state in cp_root.glob("**/state.json"):
        try:
            record = json.loads(state.read_text())
        except (OSError, ValueError):
            continue
        if "kwok" in state.parent.name and processes.is_alive(int(record.get("pid", 0))):
            return int(record["pid"])
    raise SystemExit(f"no running kwok under {cp_root}")


# --- waiting ---------------------------------------------------------------------------------------


async def until(what: str, check: Callable[[], Awaitable[bool]], *, period: float = 0.1) -> float:
    """Polls `check` until true; returns the seconds it took, exits naming `what` after TIMEOUT."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > TIMEOUT:
            raise SystemExit(f"timed out after {TIMEOUT:.0f}s waiting for {what}")
        await asyncio.sleep(period)
    return time.monotonic() - started


def _ready(status: dict[str, Any] | None) -> bool:
    condition = get_condition((status or {}).get("conditions"), "Ready")
    return condition is not None and condition.get("status") == "True"


async def _gone(client: AsyncClient, resource: type[Any], name: str, namespace: str | None) -> bool:
    try:
        await client.get(resource, name, namespace=namespace)
    except ApiError as error:
        if error.status.code == 404:
            return True
        raise
    return False


# --- the bench -------------------------------------------------------------------------------------


class Bench:
    """The hub namespace, the target cluster and the hosts one run measures with."""

    def __init__(self, client: AsyncClient, namespace: str, inventory: Inventory, version: str) -> None:
        self.client = client
        self.namespace = namespace
        self.inventory = inventory
        self.components = default_components(builtin_components(), version, cluster_domain="cluster.local")
        self.target: AsyncClient | None = None

    async def machine_ready(self, name: str) -> bool:
        obj = await self.client.get(MachineResource, name, namespace=self.namespace)
        return _ready(obj.get("status"))

    async def create_machine(self, name: str, host: str) -> None:
        body = {
            "apiVersion": "machines.kokpit.io/v1alpha1",
            "kind": "Machine",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "hostRef": {"name": host},
                "clusterRef": {"kind": "HostedCluster", "name": CLUSTER},
                "components": self.components,
            },
        }
        await self.client.create(MachineResource.from_dict(body))

    async def delete_machine(self, name: str) -> float:
        await self.client.delete(MachineResource, name, namespace=self.namespace)
        return await until(
            f"Machine {name} deleted",
            lambda: _gone(self.client, MachineResource, name, self.namespace),
            period=0.25,
        )

    async def kwok_node_ready(self, name: str) -> float:
        assert self.target is not None
        target = self.target
        manifest = kwok.fake_node(
            name, cpu=NODE_CPU, memory=NODE_MEMORY, pods=NODE_PODS, labels={"kokpit.io/bench": "kwok"}
        )

        async def ready() -> bool:
            return _ready((await target.get(PlainNode, name)).get("status"))

        started = time.monotonic()
        await target.create(PlainNode.from_dict(manifest))
        await until(f"kwok node {name} Ready", ready, period=0.05)
        return time.monotonic() - started

    async def run_pod(self, node: str) -> None:
        """A pod of kokpit's local web image on `node`, Running (its sandbox, shim and container are
        then part of the node's memory)."""
        assert self.target is not None
        target = self.target
        name = f"web-{node}"
        await target.create(
            Pod(
                metadata=ObjectMeta(name=name, namespace="default"),
                spec=PodSpec(
                    nodeName=node,
                    containers=[Container(name="web", image="kokpit.local/web:1.0", imagePullPolicy="Never")],
                ),
            )
        )

        async def running() -> bool:
            pod = await target.get(Pod, name, namespace="default")
            return pod.status is not None and pod.status.phase == "Running"

        await until(f"pod {name} Running", running, period=0.25)

    async def delete_pod(self, node: str) -> None:
        assert self.target is not None
        await self.target.delete(Pod, f"web-{node}", namespace="default", grace_period=0)


def _ready_check(bench: Bench, name: str) -> Callable[[], Awaitable[bool]]:
    return lambda: bench.machine_ready(name)


async def measure(bench: Bench, hosts_dir: Path, cp_root: Path, repeat: int) -> dict[str, Any]:
    assert bench.target is not None
    hosts = [h.name for h in bench.inventory.hosts]

    kwok_times = [await bench.kwok_node_ready(f"bench-kwok-{i}") for i in range(repeat)]
    kwok_nodes = [
        n
        async for n in bench.target.list(PlainNode)
        if kwok.NODE_ANNOTATION in (n["metadata"].get("annotations") or {})
    ]
    kwok_rss_kib = _status_kib(kwok_pid(cp_root), "VmRSS")

    single: list[float] = []
    deleted: list[float] = []
    idle: list[dict[str, Any]] = []
    with_pod: list[dict[str, Any]] = []
    for i in range(repeat):
        host = hosts[i % len(hosts)]
        name = f"single-{i}"
        started = time.monotonic()
        await bench.create_machine(name, host)
        await until(f"Machine {name} Ready", _ready_check(bench, name), period=0.1)
        single.append(time.monotonic() - started)
        await asyncio.sleep(5)  # let the new node settle (first status sync, kube-proxy rules)
        idle.append(node_memory(hosts_dir, host))
        await bench.run_pod(host)
        await asyncio.sleep(2)
        with_pod.append(node_memory(hosts_dir, host))
        await bench.delete_pod(host)
        deleted.append(await bench.delete_machine(name))

    names = [f"parallel-{i}" for i in range(len(hosts))]
    started = time.monotonic()
    await asyncio.gather(*(bench.create_machine(n, h) for n, h in zip(names, hosts, strict=True)))
    each: dict[str, float] = {}

    async def all_ready() -> bool:
        for n in names:
            if n not in each and await bench.machine_ready(n):
                each[n] = time.monotonic() - started
        return len(each) == len(names)

    wall = await until("3 Machines Ready", all_ready, period=0.1)
    await asyncio.sleep(5)
    parallel_memory = [node_memory(hosts_dir, h)["rss_mib"] for h in hosts]
    await asyncio.gather(*(bench.delete_machine(n) for n in names))

    single_median = statistics.median(single)
    kwok_median = statistics.median(kwok_times)
    kwok_per_node_mib = kwok_rss_kib / 1024 / max(1, len(kwok_nodes))
    memory_median = statistics.median(m["rss_mib"] for m in with_pod)
    median_run = sorted(with_pod, key=lambda m: float(m["rss_mib"]))[len(with_pod) // 2]
    return {
        "components": {c["name"]: c["version"] for c in bench.components},
        "host_to_ready_node_s": {
            "median": round(single_median, 2),
            "runs": [round(t, 2) for t in single],
        },
        "machine_delete_s": [round(t, 2) for t in deleted],
        "parallel_3_hosts_to_3_ready_nodes_s": {
            "wall": round(wall, 2),
            "each": [round(each[n], 2) for n in names],
        },
        "memory_real_node_mib": {
            "idle_rss_median": statistics.median(m["rss_mib"] for m in idle),
            "with_one_pod_rss_median": memory_median,
            "with_one_pod_pss_median": statistics.median(m["pss_mib"] for m in with_pod),
            "with_one_pod_by_process": median_run["by_process"],
            "parallel_3_nodes_rss_each": parallel_memory,
        },
        "baseline_kwok": {
            "node_ready_s": {"median": round(kwok_median, 3), "runs": [round(t, 3) for t in kwok_times]},
            "process_rss_mib": round(kwok_rss_kib / 1024, 1),
            "nodes_served": len(kwok_nodes),
            "rss_per_node_mib": round(kwok_per_node_mib, 1),
        },
        "ratio_ready_real_to_kwok": round(single_median / kwok_median, 1),
        "ratio_memory_real_to_kwok_per_node": round(memory_median / kwok_per_node_mib, 1),
        "ratio_memory_real_to_kwok_process": round(memory_median / (kwok_rss_kib / 1024), 1),
    }


async def run(hub: Path, work: Path, inventory: Inventory, repeat: int) -> dict[str, Any]:
    version = load_supported().default
    manager = Manager(sync_timeout=30)
    manager.add_cluster("hub", hub)
    client = manager.clients.get("hub")
    await install(client)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    await client.create(Namespace(metadata=ObjectMeta(name=namespace)))
    etcd_root, cp_root = work / "etcd", work / "cp"
    etcd = add_etcd_controllers(
        manager,
        EtcdSettings(
            process_root=etcd_root,
            backup_root=work / "b",
            resync_seconds=1.0,
            busy_seconds=0.3,
            tie_to_parent=True,
        ),
    )
    _, hosted = setup_hosted(
        manager,
        HostedSettings(process_root=cp_root, resync_seconds=1.0, busy_seconds=0.3, tie_to_parent=True),
    )
    _, machines = setup_machines(manager, MachineSettings())
    task = asyncio.create_task(manager.run())
    bench = Bench(client, namespace, inventory, version)
    try:
        for document in yaml.safe_load_all(inventory.path.read_text()):
            if document:
                document["metadata"]["namespace"] = namespace
                await client.apply(codecs.from_dict(document), field_manager="bench", force=True)
        await client.create(
            HostedClusterResource.from_dict(
                {
                    "apiVersion": "cluster.kokpit.io/v1alpha1",
                    "kind": "HostedCluster",
                    "metadata": {"name": CLUSTER, "namespace": namespace},
                    "spec": {
                        "kubernetesVersion": version,
                        "nodes": 1,
                        "exposure": {"address": GATEWAY},
                        "addons": [],
                        "join": False,
                    },
                }
            )
        )

        async def cluster_ready() -> bool:
            obj = await client.get(HostedClusterResource, CLUSTER, namespace=namespace)
            return _ready(obj.get("status"))

        cluster_s = await until("the hosted cluster Ready", cluster_ready, period=0.5)
        access = await target_cluster_access(client, kind="HostedCluster", name=CLUSTER, namespace=namespace)
        bench.target = access.client()
        result = await measure(bench, inventory.directory, cp_root, repeat)
        result["version"] = version
        result["hosted_cluster_ready_s"] = round(cluster_s, 2)
        return result
    finally:
        try:
            for resource in (MachineResource, HostedClusterResource, EtcdClusterResource):
                async for obj in client.list(resource, namespace=namespace):
                    await client.delete(resource, str(obj["metadata"]["name"]), namespace=namespace)
                for _ in range(720):
                    if not [o async for o in client.list(resource, namespace=namespace)]:
                        break
                    await asyncio.sleep(0.25)
        finally:
            if bench.target is not None:
                await bench.target.close()
            manager.stop()
            await asyncio.wait_for(task, 60)
            await machines.aclose()
            await hosted.aclose()
            await etcd.cluster_reconciler.aclose()
            for root in (cp_root, etcd_root):
                _stop_leftovers(root)


def _stop_leftovers(root: Path) -> None:
    """Stops any control plane or etcd process still running under `root` (a failed run)."""
    for state in root.glob("**/state.json"):
        try:
            record = json.loads(state.read_text())
        except (OSError, ValueError):
            continue
        processes.stop([(int(record.get("pid", 0)), record.get("argv0"))], grace_seconds=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="sequential host -> Ready node runs")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("sandbox hosts need root")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kokpit-bench-machines-") as tmp:
        work = Path(tmp)
        state = sandbox.up(work / "sandbox", sandbox.UpOptions(members=0, nodes=0, tie_to_parent=True))
        try:
            inventory = hosts_up(work / "hosts", 3, tie_to_parent=True)
            try:
                result = asyncio.run(
                    run(Path(state.clusters["hub"].kubeconfig), work, inventory, args.repeat)
                )
            finally:
                hosts_down(work / "hosts")
        finally:
            sandbox.down(work / "sandbox")
    result["bench_total_s"] = round(time.monotonic() - started, 1)
    result["machine"] = {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
