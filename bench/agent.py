"""The agent's cost: RSS and CPU of `kokpit agent` idle and with 200 Works, and how fast it applies them.

Starts a sandbox with member1 (Push, joined by kubeconfig) and member2 behind a firewall (Pull: its
`kokpit-agent` process registers by token and runs in member2's network namespace), installs kokpit,
runs `kokpit hub run`, and waits until member2 is Ready. Then, reading `/proc` of the agent process:

- `idle`: RSS and CPU share over `--window` seconds with no Work;
- `apply`: `--works` ConfigMaps propagated (Duplicated, one Work each) to both members; the seconds until
  every Work of member2 is `Applied` (done by the agent) against the seconds until every Work of member1
  is (done by the hub's Push driver, the baseline, in the same run), and the agent's CPU meanwhile;
- `loaded`: RSS and CPU share over `--window` seconds holding those Works (resyncs, watches, Lease).

    sudo .venv/bin/python bench/agent.py [--works 200] [--window 30]

Needs root (the Pull member's network namespace). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import cli
from kokpit import sandbox
from kokpit.binaries import find_binaries
from kokpit.controlplane import processes
from kokpit.sandbox import UpOptions

PUSH, PULL = "member1", "member2"
NAMESPACE = "bench-agent"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(find_binaries().kubectl), f"--kubeconfig={kubeconfig}", "--request-timeout=30s", *args],
        capture_output=True,
        text=True,
        input=stdin,
        check=True,
    )
    return done.stdout


def wait(what: str, condition: Callable[[], bool], *, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.25)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no VmRSS for pid {pid}")


def sample(pid: int, window: float) -> dict[str, float]:
    """RSS at the end and the CPU share (of one core) over `window` seconds."""
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(window)
    share = (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start)
    return {"rss_mib": round(rss_mib(pid), 1), "cpu_percent": round(share * 100, 2)}


def cluster_ready(hub: Path, name: str) -> bool:
    out = kubectl(hub, "get", "clusters.cluster.kokpit.io", "-o", "json")
    for item in json.loads(out).get("items") or []:
        if item["metadata"]["name"] == name:
            conditions = (item.get("status") or {}).get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return False


def applied_works(hub: Path, member: str) -> int:
    out = kubectl(hub, "get", "works.work.kokpit.io", "-n", f"kokpit-es-{member}", "-o", "json")
    count = 0
    for item in json.loads(out).get("items") or []:
        if not str(item["metadata"]["name"]).startswith(f"{NAMESPACE}."):
            continue
        conditions = (item.get("status") or {}).get("conditions") or []
        count += any(c["type"] == "Applied" and c["status"] == "True" for c in conditions)
    return count


def documents(works: int) -> str:
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "policy.kokpit.io/v1alpha1",
            "kind": "PropagationPolicy",
            "metadata": {"name": "all", "namespace": NAMESPACE},
            "spec": {
                "resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap"}],
                "placement": {"clusterAffinity": {"clusterNames": [PUSH, PULL]}},
            },
        },
    ]
    docs += [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i:03d}", "namespace": NAMESPACE},
            "data": {"index": str(i)},
        }
        for i in range(works)
    ]
    return "\n---\n".join(json.dumps(doc) for doc in docs)


def measure(directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    state = sandbox.up(directory, UpOptions(members=2, nodes=1, pull=(PULL,), tie_to_parent=True))
    hub = Path(state.clusters["hub"].kubeconfig)
    cli("install", hub=hub)
    host = state.clusters["hub"].endpoint.removeprefix("https://").rsplit(":", 1)[0]
    hub_log = (directory / "kokpit-hub.log").open("w")
    hub_run = ["hub", "run", "--metrics-port", "0", "--probe-period", "2", "--no-leader-elect"]
    hub_run += ["--proxy-addr", f"{host}:0", "--state-dir", str(directory / "hub-state")]
    hub_process = subprocess.Popen(
        [sys.executable, "-m", "kokpit.cli.main", *hub_run],
        env={**os.environ, "KOKPIT_KUBECONFIG": str(hub)},
        stdout=hub_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        cli("join", PUSH, "--kubeconfig", state.clusters[PUSH].kubeconfig, hub=hub)
        wait("both members Ready", lambda: cluster_ready(hub, PUSH) and cluster_ready(hub, PULL))
        agent = state.clusters[PULL].components["kokpit-agent"].pid
        idle = sample(agent, args.window)

        cpu_before = cpu_seconds(agent)
        started = time.monotonic()
        kubectl(hub, "apply", "-f", "-", stdin=documents(args.works))
        done: dict[str, float] = {}
        while len(done) < 2:
            for member in (PUSH, PULL):
                if member not in done and applied_works(hub, member) >= args.works:
                    done[member] = time.monotonic() - started
            if time.monotonic() - started > 600:
                raise SystemExit(f"timed out applying {args.works} Works: {done}")
            time.sleep(0.5)
        apply_cpu = cpu_seconds(agent) - cpu_before
        loaded = sample(agent, args.window)
        return {
            "idle": idle,
            "apply": {
                "works": args.works,
                "agent_seconds": round(done[PULL], 2),
                "baseline_hub_push_seconds": round(done[PUSH], 2),
                "ratio": round(done[PULL] / done[PUSH], 2),
                "agent_cpu_seconds": round(apply_cpu, 2),
            },
            "loaded": loaded,
        }
    finally:
        processes.signal_group(hub_process.pid, signal.SIGTERM)
        hub_process.wait(30)
        hub_log.close()
        sandbox.down(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--works", type=int, default=200)
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/agent.py needs root (a Pull member's network namespace)")
    with tempfile.TemporaryDirectory(prefix="kokpit-bench-agent-") as tmp:
        result = measure(Path(tmp), args)
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
