"""Time from `kokpit join` to the member's Cluster being Ready with its summaries filled.

Starts a sandbox (hub + members), installs kokpit, runs `kokpit hub run` (default probe period), and
joins each member, timing until `Ready=True` with version, node and resource summaries; then
unjoins and joins again, `--rounds` times. The baseline, measured in the same run against the same
members, is one direct probe with the same client library (readyz, version, discovery, nodes,
pods): the ratio says what the controller adds on top of the bare requests.

    .venv/bin/python bench/join_ready.py [--members 3] [--rounds 3]

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
from pathlib import Path
from typing import Any

from lightkube import ApiError, Client, KubeConfig

from harness import cli, launch_hub
from kokpit import sandbox
from kokpit.controlplane import processes
from kokpit.fleet.members import ClusterResource
from kokpit.fleet.probe import observe
from kokpit.runtime.clients import make_client


def cluster_ready(hub: Client, name: str) -> bool:
    try:
        item = hub.get(ClusterResource, name)
    except ApiError:
        return False
    status = item.get("status") or {}
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
    return ready and bool(status.get("nodeSummary")) and bool(status.get("resourceSummary"))


async def direct_probe(kubeconfig: Path) -> float:
    client = make_client("bench", kubeconfig, qps=None)
    try:
        started = time.perf_counter()
        await observe(client)
        return time.perf_counter() - started
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kokpit-bench-") as tmp:
        directory = Path(tmp) / "sandbox"
        state = sandbox.up(directory, sandbox.UpOptions(members=args.members, nodes=3, tie_to_parent=True))
        hub = Path(state.clusters["hub"].kubeconfig)
        hub_process = None
        try:
            cli("install", hub=hub)
            hub_process = launch_hub(hub, directory / "logs" / "kokpit-hub.log")
            reader = Client(KubeConfig.from_file(hub), trust_env=False)
            join_seconds: list[float] = []
            command_seconds: list[float] = []
            for round_ in range(args.rounds):
                for member in state.members:
                    if round_:
                        cli("unjoin", member.name, hub=hub)
                    started = time.monotonic()
                    cli("join", member.name, "--kubeconfig", member.kubeconfig, hub=hub)
                    command_seconds.append(time.monotonic() - started)
                    while not cluster_ready(reader, member.name):
                        time.sleep(0.02)
                    join_seconds.append(time.monotonic() - started)
            baseline = [
                asyncio.run(direct_probe(Path(member.kubeconfig)))
                for _ in range(args.rounds)
                for member in state.members
            ]
        finally:
            if hub_process is not None:
                processes.stop([(hub_process.pid, hub_process.argv[0])])
            sandbox.down(directory)

    median = statistics.median(join_seconds)
    base = statistics.median(baseline)
    result: dict[str, Any] = {
        "benchmark": "join_ready",
        "machine": f"{platform.node()} {platform.machine()} cpus={os.cpu_count()}",
        "members": args.members,
        "joins": len(join_seconds),
        "join_to_ready_seconds": {
            "median": round(median, 3),
            "max": round(max(join_seconds), 3),
            "all": [round(s, 3) for s in join_seconds],
        },
        "join_command_seconds": {"median": round(statistics.median(command_seconds), 3)},
        "baseline_direct_probe_seconds": {"median": round(base, 3)},
        "ratio": round(median / base, 1) if base else None,
        "note": "join_to_ready starts before `kokpit join` (a new Python process that checks the member) "
        "and ends when the hub shows Ready with summaries",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
