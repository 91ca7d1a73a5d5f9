"""How long `kokpit sandbox up --members N` takes to be ready, and how much memory the sandbox uses.

Runs `kokpit sandbox up` as a user would (a separate process), samples the resident memory of every
sandbox process while it starts and for a settling period after, then stops it. The baseline, taken
in the same run on the same machine, is a sandbox of the hub alone (`--members 0`): the ratio says
what the members cost on top of one control plane.

    .venv/bin/python bench/sandbox_up.py [--members 3] [--nodes 3] [--repeat 3]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from kokpit.sandbox.state import read_state


def _rss_of_tree(directory: Path) -> int:
    """Total RSS in bytes of the processes whose command line mentions `directory`."""
    total = 0
    needle = str(directory).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle not in (proc / "cmdline").read_bytes():
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def measure(members: int, nodes: int, *, settle_seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kokpit-bench-") as tmp:
        directory = Path(tmp) / "sandbox"
        peak = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _rss_of_tree(directory))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        try:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "kokpit.cli.main",
                    "sandbox",
                    "up",
                    "--members",
                    str(members),
                    "--nodes",
                    str(nodes),
                    "--dir",
                    str(directory),
                ],
                check=True,
                capture_output=True,
            )
            ready = time.monotonic() - started
            time.sleep(settle_seconds)
            state = read_state(directory)
            processes = len(state.all_components()) if state else 0
        finally:
            stop.set()
            sampler.join()
            subprocess.run(
                [sys.executable, "-m", "kokpit.cli.main", "sandbox", "down", "--dir", str(directory)],
                check=False,
                capture_output=True,
            )
        return {"ready_seconds": round(ready, 2), "peak_rss_mib": round(peak / 2**20), "processes": processes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds of sampling after ready")
    args = parser.parse_args()

    runs = [measure(args.members, args.nodes, settle_seconds=args.settle) for _ in range(args.repeat)]
    baseline = [measure(0, 0, settle_seconds=args.settle) for _ in range(args.repeat)]
    ready = statistics.median(run["ready_seconds"] for run in runs)
    base_ready = statistics.median(run["ready_seconds"] for run in baseline)
    peak = max(run["peak_rss_mib"] for run in runs)
    base_peak = max(run["peak_rss_mib"] for run in baseline)
    print(
        json.dumps(
            {
                "benchmark": "sandbox_up",
                "machine": f"{platform.node()} {platform.machine()} cpus={_cpus()}",
                "members": args.members,
                "nodes_per_member": args.nodes,
                "runs": runs,
                "ready_seconds_median": ready,
                "peak_rss_mib": peak,
                "baseline": {
                    "members": 0,
                    "runs": baseline,
                    "ready_seconds_median": base_ready,
                    "peak_rss_mib": base_peak,
                },
                "ratio_ready": round(ready / base_ready, 2) if base_ready else None,
                "ratio_peak_rss": round(peak / base_peak, 2) if base_peak else None,
            },
            indent=2,
        )
    )


def _cpus() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
