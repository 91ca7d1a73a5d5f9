"""Components at scale: N Components on 3 members, against the same objects written as plain templates.

Starts a sandbox of 3 members (4 kwok nodes each, room for both phases' pods), installs kokpit, runs
`kokpit hub run` as its own process and joins the members. Then, in the same run:

1. baseline (`plain`): for each of N services, what its Component would render (the built-in
   Deployment, Service and PodDisruptionBudget, planned by `kokpit.components.plan` exactly as the
   controller plans them) written to the hub as plain templates with their PropagationPolicy, in
   namespace `bench-plain`; timed from the first write until every member runs every Deployment
   with its replica updated and available;
2. kokpit (`components`): the N Components themselves (placed on the 3 members, one replica each),
   in namespace `bench-components`; timed the same way on the members, and until every Component's
   own status says `Available=True` on the hub.

The ratio is what rendering costs on top of delivery: the Component controller's render, its
writes of the objects and policies, and its status. The second phase runs with the first one's
objects still delivered (kokpit then has more to watch, not more to write).

    .venv/bin/python bench/components.py [--count 200]

Prints one JSON object.
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
from kokpit.api.component import Component
from kokpit.binaries import find_binaries
from kokpit.components.builtin import builtin_templates
from kokpit.components.plan import plan_component
from kokpit.components.selection import Candidate
from kokpit.controlplane import processes

PLAIN, COMPONENTS = "bench-plain", "bench-components"
NODES_PER_MEMBER = 4


def kubectl_json(kubeconfig: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            str(find_binaries().kubectl),
            f"--kubeconfig={kubeconfig}",
            "--request-timeout=20s",
            *args,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return dict(json.loads(done.stdout)) if done.returncode == 0 and done.stdout.strip() else {}


def apply(kubeconfig: Path, docs: list[dict[str, Any]]) -> None:
    subprocess.run(
        [str(find_binaries().kubectl), f"--kubeconfig={kubeconfig}", "apply", "--server-side", "-f", "-"],
        input="\n---\n".join(json.dumps(doc) for doc in docs),
        text=True,
        capture_output=True,
        check=True,
    )


def component(name: str, namespace: str, members: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kokpit.io/v1beta1",
        "kind": "Component",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "workloadType": "Deployment",
            "language": "python",
            "runType": "server",
            "image": "demo:1",
            "exposure": {"port": 8080},
            "placement": {"clusters": [{"name": m, "replicas": 1} for m in members]},
        },
    }


def plain_objects(doc: dict[str, Any], members: list[str]) -> list[dict[str, Any]]:
    """What the controller would write for `doc`, as plain objects: no owner, no Component label."""
    candidates = [Candidate(t, builtin=True) for t in builtin_templates()]
    plan = plan_component(Component.model_validate(doc), candidates, {m: {} for m in members})
    assert not plan.errors, plan.errors
    objects = [*plan.objects, *plan.propagation_policies, *plan.override_policies]
    for obj in objects:
        obj["metadata"].pop("labels", None)
    return objects


def available_on(kubeconfig: Path, namespace: str) -> int:
    """How many Deployments in `namespace` have every replica updated and available."""
    listed = kubectl_json(kubeconfig, "get", "deployments", "-n", namespace)
    count = 0
    for d in listed.get("items") or ():
        wanted, status = (d.get("spec") or {}).get("replicas", 1), d.get("status") or {}
        current = status.get("observedGeneration", 0) >= d["metadata"].get("generation", 1)
        if current and min(status.get("availableReplicas", 0), status.get("updatedReplicas", 0)) >= wanted:
            count += 1
    return count


def components_available(hub: Path, namespace: str) -> int:
    listed = kubectl_json(hub, "get", "components.apps.kokpit.io", "-n", namespace)
    return sum(
        any(
            c.get("type") == "Available" and c.get("status") == "True"
            for c in (i.get("status") or {}).get("conditions") or ()
        )
        for i in listed.get("items") or ()
    )


def wait(what: str, condition: Callable[[], bool], *, timeout: float = 900.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.5)


def phase(
    hub: Path, members: dict[str, Path], namespace: str, docs: list[dict[str, Any]], count: int
) -> tuple[float, dict[str, int]]:
    """Writes `docs` to the hub; seconds until every member runs `count` available Deployments."""
    apply(hub, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}])
    started = time.monotonic()
    apply(hub, docs)
    seen: dict[str, int] = {}

    def all_available() -> bool:
        seen.update({m: available_on(k, namespace) for m, k in members.items()})
        return all(n >= count for n in seen.values())

    wait(f"{count} Deployments available on every member in {namespace}", all_available)
    return time.monotonic() - started, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    names = [f"svc-{i:04d}" for i in range(args.count)]

    with tempfile.TemporaryDirectory(prefix="kokpit-bench-") as tmp:
        directory = Path(tmp) / "sandbox"
        state = sandbox.up(
            directory, sandbox.UpOptions(members=3, nodes=NODES_PER_MEMBER, tie_to_parent=True)
        )
        hub = Path(state.clusters["hub"].kubeconfig)
        members = {m.name: Path(m.kubeconfig) for m in state.members}
        hub_process = None
        try:
            cli("install", hub=hub)
            hub_process = launch_hub(hub, directory / "logs" / "kokpit-hub.log")
            for name, kubeconfig in members.items():
                cli("join", name, "--kubeconfig", str(kubeconfig), hub=hub)
            clusters = sorted(members)

            def joined() -> bool:
                listed = kubectl_json(hub, "get", "clusters.cluster.kokpit.io").get("items") or ()
                ready = [
                    c
                    for c in listed
                    if any(
                        x["type"] == "Ready" and x["status"] == "True"
                        for x in c.get("status", {}).get("conditions") or ()
                    )
                ]
                return len(ready) == len(clusters)

            wait("every member Ready", joined, timeout=180)

            plain_docs = [o for n in names for o in plain_objects(component(n, PLAIN, clusters), clusters)]
            plain_seconds, plain_seen = phase(hub, members, PLAIN, plain_docs, args.count)

            started = time.monotonic()
            component_docs = [component(n, COMPONENTS, clusters) for n in names]
            member_seconds, component_seen = phase(hub, members, COMPONENTS, component_docs, args.count)
            wait(
                f"{args.count} Components Available on the hub",
                lambda: components_available(hub, COMPONENTS) >= args.count,
            )
            status_seconds = time.monotonic() - started
        finally:
            if hub_process is not None:
                processes.stop([(hub_process.pid, hub_process.argv[0])])
            sandbox.down(directory)

    result: dict[str, Any] = {
        "benchmark": "components",
        "machine": f"{platform.node()} {platform.machine()} cpus={os.cpu_count()}",
        "count": args.count,
        "members": len(members),
        "objects_per_service": len(plain_docs) // args.count,
        "plain_templates_available_on_members_seconds": round(plain_seconds, 2),
        "components_available_on_members_seconds": round(member_seconds, 2),
        "components_status_available_on_hub_seconds": round(status_seconds, 2),
        "ratio_components_to_plain": round(member_seconds / plain_seconds, 2) if plain_seconds else None,
        "available_deployments": {"plain": plain_seen, "components": component_seen},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
