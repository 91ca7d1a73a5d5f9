"""Failover: from killing a member's API server to its replicas ready on the other members.

Starts a sandbox (hub + 3 members), installs kokpit, runs `kokpit hub run` (probe period and NoExecute
grace from the flags), joins the members, and propagates a Divided Deployment of 6 replicas to two of
them with a policy tolerating kokpit's health taints for `--toleration-seconds`. Then it SIGKILLs the API
server of the first chosen member and times, from the kill:

- `detected`: the hub marks the member not Ready;
- `no_execute`: its NoExecute health taint is there (`--no-execute-grace` after detection);
- `evicted`: the binding no longer places anything on it;
- `ready_elsewhere`: the other members run all 6 replicas ready, and the hub template shows 6 ready.

Then it restarts the API server and times until the stale copy is gone from the returning member. The
baseline, measured in the same run on the same members, is a raw writer: a Deployment of the evicted
replicas created directly on a surviving member until it shows them ready, i.e. the floor of
`ready_elsewhere - evicted`.

    .venv/bin/python bench/failover.py [--toleration-seconds 10] [--probe-period 1] [--no-execute-grace 5]

Prints one JSON object. The issue's goal: ready within tolerationSeconds + 15 s of the NoExecute taint.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import cli, launch_hub
from kokpit import sandbox
from kokpit.binaries import find_binaries
from kokpit.controlplane import processes

HEALTH_TAINTS = ("cluster.kokpit.io/unreachable", "cluster.kokpit.io/not-ready")
NAMESPACE = "bench-failover"
NAME = "web"
REPLICAS = 6


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(find_binaries().kubectl), f"--kubeconfig={kubeconfig}", "--request-timeout=5s", *args],
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
    )
    return done.stdout if done.returncode == 0 else ""


def get(kubeconfig: Path, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
    args = ["get", resource, name, "-o", "json", "--ignore-not-found"]
    if namespace:
        args += ["-n", namespace]
    out = kubectl(kubeconfig, *args).strip()
    return json.loads(out) if out else None


def apply(kubeconfig: Path, *docs: dict[str, Any]) -> None:
    body = "\n".join(json.dumps(doc) for doc in docs)
    subprocess.run(
        [str(find_binaries().kubectl), f"--kubeconfig={kubeconfig}", "apply", "-f", "-"],
        input=body,
        text=True,
        capture_output=True,
        check=True,
    )


def deployment(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


def policy(toleration_seconds: int, members: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": "survive", "namespace": NAMESPACE},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME}],
            "placement": {
                "clusterAffinity": {"clusterNames": members},
                "clusterTolerations": [
                    {
                        "key": key,
                        "operator": "Exists",
                        "effect": "NoExecute",
                        "tolerationSeconds": toleration_seconds,
                    }
                    for key in HEALTH_TAINTS
                ],
                "spreadConstraints": [{"spreadByField": "cluster", "maxGroups": 2, "minGroups": 1}],
                "replicaScheduling": {
                    "replicaSchedulingType": "Divided",
                    "replicaDivisionPreference": "Weighted",
                },
            },
        },
    }


def placement(hub: Path) -> dict[str, int]:
    binding = get(hub, "resourcebindings.work.kokpit.io", f"{NAME}-deployment", NAMESPACE) or {}
    return {t["name"]: t.get("replicas", 0) for t in (binding.get("spec") or {}).get("clusters") or ()}


def cluster(hub: Path, name: str) -> dict[str, Any]:
    return get(hub, "clusters.cluster.kokpit.io", name) or {}


def ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or ()
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def no_execute(obj: dict[str, Any]) -> bool:
    taints = (obj.get("spec") or {}).get("taints") or ()
    return any(t.get("key") in HEALTH_TAINTS and t.get("effect") == "NoExecute" for t in taints)


def ready_replicas(kubeconfig: Path, name: str) -> int:
    obj = get(kubeconfig, "deployment", name, NAMESPACE) or {}
    return int((obj.get("status") or {}).get("readyReplicas") or 0)


def wait(what: str, condition: Callable[[], bool], *, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--toleration-seconds", type=int, default=10)
    parser.add_argument("--probe-period", type=float, default=1.0)
    parser.add_argument("--no-execute-grace", type=float, default=5.0)
    args = parser.parse_args()

    marks: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="kokpit-bench-") as tmp:
        directory = Path(tmp) / "sandbox"
        state = sandbox.up(directory, sandbox.UpOptions(members=3, nodes=3, tie_to_parent=True))
        hub = Path(state.clusters["hub"].kubeconfig)
        members = [m.name for m in state.members]
        hub_process = None
        try:
            cli("install", hub=hub)
            hub_process = launch_hub(
                hub,
                directory / "logs" / "kokpit-hub.log",
                f"--probe-period={args.probe_period}",
                f"--no-execute-grace={args.no_execute_grace}",
            )
            for member in state.members:
                cli("join", member.name, "--kubeconfig", member.kubeconfig, hub=hub)
            wait("every member Ready", lambda: all(ready(cluster(hub, m)) for m in members))
            apply(hub, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
            apply(hub, policy(args.toleration_seconds, members), deployment(NAME, REPLICAS))
            wait("6 replicas placed", lambda: sum(placement(hub).values()) == REPLICAS)
            before = placement(hub)
            victim = sorted(before)[0]
            survivors = [m for m in members if m != victim]
            kubeconfigs = {m.name: Path(m.kubeconfig) for m in state.members}
            wait(
                "6 ready before the kill",
                lambda: sum(ready_replicas(kubeconfigs[m], NAME) for m in before) == 6,
            )

            killed = time.monotonic()
            sandbox.kill(directory, victim, "kube-apiserver")

            def ready_elsewhere() -> bool:
                if victim in placement(hub):
                    return False
                on_survivors = sum(ready_replicas(kubeconfigs[m], NAME) for m in survivors)
                template = get(hub, "deployment", NAME, NAMESPACE) or {}
                return (
                    on_survivors == REPLICAS
                    and (template.get("status") or {}).get("readyReplicas") == REPLICAS
                )

            steps: list[tuple[str, Callable[[], bool]]] = [
                ("detected", lambda: not ready(cluster(hub, victim))),
                ("no_execute", lambda: no_execute(cluster(hub, victim))),
                ("evicted", lambda: victim not in placement(hub)),
                ("ready_elsewhere", ready_elsewhere),
            ]
            try:
                for mark, condition in steps:
                    wait(mark, condition)
                    marks[mark] = time.monotonic() - killed
            finally:
                sandbox.restart(directory, victim, "kube-apiserver", tie_to_parent=True)
            restarted = time.monotonic()
            wait(
                "the stale copy removed",
                lambda: (
                    get(kubeconfigs[victim], "deployment", NAME, NAMESPACE) is None
                    and ready(cluster(hub, victim))
                ),
            )
            stale_removed = time.monotonic() - restarted

            # The baseline: a raw writer puts the evicted replicas on a survivor directly.
            evicted_replicas = before[victim]
            started = time.monotonic()
            apply(
                kubeconfigs[survivors[-1]],
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
            )
            apply(kubeconfigs[survivors[-1]], deployment("baseline", evicted_replicas))
            wait(
                "the baseline ready",
                lambda: ready_replicas(kubeconfigs[survivors[-1]], "baseline") == evicted_replicas,
            )
            baseline = time.monotonic() - started
        finally:
            if hub_process is not None:
                processes.stop([(hub_process.pid, hub_process.argv[0])])
            sandbox.down(directory)

    replacement = marks["ready_elsewhere"] - marks["evicted"]
    result: dict[str, Any] = {
        "benchmark": "failover",
        "machine": f"{platform.node()} {platform.machine()} cpus={os.cpu_count()}",
        "toleration_seconds": args.toleration_seconds,
        "probe_period_seconds": args.probe_period,
        "no_execute_grace_seconds": args.no_execute_grace,
        "seconds_from_kill": {name: round(value, 2) for name, value in marks.items()},
        "ready_after_no_execute_seconds": round(marks["ready_elsewhere"] - marks["no_execute"], 2),
        "goal_seconds_after_no_execute": args.toleration_seconds + 15,
        "replacement_seconds": round(replacement, 2),
        "stale_copy_removed_after_restart_seconds": round(stale_removed, 2),
        "baseline_raw_writer_ready_seconds": round(baseline, 2),
        "ratio_replacement_to_baseline": round(replacement / baseline, 1) if baseline else None,
        "before": before,
        "victim": victim,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
