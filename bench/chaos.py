"""Delivery under chaos, the long run: N SIGKILLs of `kokpit hub run` (and of API servers) while
templates are created, edited, re-placed and deleted; afterwards every member must hold exactly the
desired state.

Starts a sandbox (hub + `--members` members, or uses `--sandbox-dir`), installs kokpit and joins the
members, then, in the same run:

1. baseline: `--kills` rounds of the same random operations without any fault, timed until the
   members hold the desired state;
2. chaos: `--kills` SIGKILLs of `kokpit hub run` at random moments, plus `--apiserver-kills` of the
   hub API server and as many of member API servers, with operations between them; timed until the
   members converge, with the objects lost, on clusters not selected and at a stale revision
   (`tests/faults/delivery_chaos.py`).

Prints one JSON object (the seed replays a run with `--seed`).

    .venv/bin/python bench/chaos.py --kills 100 [--apiserver-kills 5] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the chaos driver lives with the tests

from kokpit import sandbox
from tests.faults.delivery_chaos import Chaos
from tests.support import ExternalSandbox, SandboxHandle, ensure_joined, kubectl, wait_until


def members_ready(run: Chaos) -> bool:
    out = kubectl(run.hub_kubeconfig, "get", "clusters.cluster.kokpit.io", "-o", "json", check=False).stdout
    ready = {
        item["metadata"]["name"]
        for item in (json.loads(out)["items"] if out else [])
        for condition in (item.get("status") or {}).get("conditions") or []
        if condition["type"] == "Ready" and condition["status"] == "True"
    }
    return set(run.sandbox.members) <= ready


def one_run(
    handle: SandboxHandle,
    logs: Path,
    *,
    seed: int,
    kills: int,
    apiserver_kills: int,
    faults: bool,
    timeout: float,
) -> dict[str, Any]:
    namespace = f"chaos-{uuid.uuid4().hex[:8]}"
    kubectl(handle.kubeconfig("hub"), "create", "namespace", namespace)
    run = Chaos(handle, namespace, logs, seed)
    started = time.monotonic()
    with run.running():
        wait_until("every member Ready", lambda: members_ready(run), timeout=120)
        try:
            if not faults:
                run.run(kills=kills, fault=lambda: None, between=(0.0, 0.2))
            else:
                run.run(kills=kills, fault=run.kill_hub)
                targets = ["hub"] * apiserver_kills + [run.random_member() for _ in range(apiserver_kills)]
                run.rng.shuffle(targets)
                for target in targets:
                    run.run(kills=1, fault=lambda target=target: run.kill_apiserver(target))  # type: ignore[misc]
            divergence, seconds = run.converge(timeout=timeout)
        finally:
            run.clean_up()
    kubectl(handle.kubeconfig("hub"), "delete", "namespace", namespace, "--wait=false", check=False)
    return {
        "seed": seed,
        "kills": run.kills,
        "operations": run.operations,
        "failed_operations": run.failed_operations,
        "restart_seconds_median": round(statistics.median(run.restart_seconds), 2)
        if run.restart_seconds
        else None,
        "converge_seconds": round(seconds, 1),
        "total_seconds": round(time.monotonic() - started, 1),
        **divergence.counts(),
        "details": divergence.details[:20],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs of kokpit hub run")
    parser.add_argument("--apiserver-kills", type=int, default=5, help="of the hub's and of members' each")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--sandbox-dir", type=Path, default=None, help="use a running sandbox")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to converge")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)

    with tempfile.TemporaryDirectory(prefix="kokpit-chaos-") as tmp:
        logs = Path(tmp) / "hub-logs"
        logs.mkdir()
        own = args.sandbox_dir is None
        directory = Path(tmp) / "sandbox" if own else args.sandbox_dir.resolve()
        if own:
            state = sandbox.up(
                directory, sandbox.UpOptions(members=args.members, nodes=3, tie_to_parent=True)
            )
            handle = SandboxHandle(dir=directory, state=state)
        else:
            handle = ExternalSandbox(dir=directory, state=sandbox.load(directory))
        try:
            ensure_joined(handle, handle.kubeconfig("hub"))
            common = {"kills": args.kills, "apiserver_kills": args.apiserver_kills, "timeout": args.timeout}
            baseline = one_run(handle, logs, seed=seed, faults=False, **common)
            chaos = one_run(handle, logs, seed=seed, faults=True, **common)
        finally:
            if own:
                sandbox.down(directory)

    print(
        json.dumps(
            {
                "benchmark": "chaos",
                "machine": f"{platform.node()} {platform.machine()} cpus={os.cpu_count()}",
                "members": len(handle.members),
                "baseline_without_faults": baseline,
                "chaos": chaos,
                "converge_ratio_vs_baseline": (
                    round(chaos["converge_seconds"] / baseline["converge_seconds"], 2)
                    if baseline["converge_seconds"]
                    else None
                ),
                "ok": all(chaos[k] == 0 and baseline[k] == 0 for k in ("lost", "unselected", "stale")),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
