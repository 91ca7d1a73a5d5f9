"""Application failover on the real sandbox: a Divided Deployment that cannot become available on member1
is moved off member1 the graceful way, and stays off.

kwok runs every pod it schedules, so member1's copy is made unavailable by an OverridePolicy giving it a
nodeSelector no kwok node matches: its pods stay Pending and the Deployment there is judged Unhealthy.
With `failover.application.decisionConditions.tolerationSeconds: 5` the binding then gets an eviction
task for member1 (reason ApplicationFailure, a deadline), the scheduler adds member1's replicas to
member2 and member3 (dynamic weights: steady, so member1 is not chosen again once the task is gone),
and member1's copy is kept until the new placement is healthy, well before the task's 600 s deadline
(purgeMode Graciously): the Event removing it says the workload is healthy elsewhere.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kokpit.propagation.failover import APPLICATION_FAILURE, APPLICATION_PRODUCER
from tests.support import HubThread, SandboxHandle, kubectl, kubectl_apply, kubectl_argv, wait_until

pytestmark = pytest.mark.integration

MEMBERS = ("member1", "member2", "member3")
TIMEOUT = 180.0
GRACE_PERIOD_SECONDS = 600
REPLICAS = 6


def get(kubeconfig: Path, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
    args = ["get", resource, name, "-o", "json", "--ignore-not-found", "--request-timeout=5s"]
    if namespace:
        args += ["-n", namespace]
    out = kubectl(kubeconfig, *args).stdout.strip()
    return json.loads(out) if out else None


def deployment(name: str, ns: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


def policy(name: str, ns: str) -> dict[str, Any]:
    """Divided over the three members by their room, leaving a member unavailable for 5 s."""
    return {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
            "placement": {
                "clusterAffinity": {"clusterNames": list(MEMBERS)},
                "replicaScheduling": {
                    "replicaSchedulingType": "Divided",
                    "replicaDivisionPreference": "Weighted",
                    "weightPreference": {"dynamicWeight": "AvailableReplicas"},
                },
            },
            "failover": {
                "application": {
                    "decisionConditions": {"tolerationSeconds": 5},
                    "purgeMode": "Graciously",
                    "gracePeriodSeconds": GRACE_PERIOD_SECONDS,
                }
            },
        },
    }


def unschedulable_on_member1(name: str, ns: str) -> dict[str, Any]:
    """member1's copy asks for a node no kwok node is: its pods stay Pending."""
    return {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "OverridePolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
            "overrideRules": [
                {
                    "targetCluster": {"clusterNames": ["member1"]},
                    "overriders": {
                        "plaintext": [
                            {
                                "path": "/spec/template/spec/nodeSelector",
                                "operator": "add",
                                "value": {"kokpit.io/no-such-node": "true"},
                            }
                        ]
                    },
                }
            ],
        },
    }


def binding_of(hub: Path, name: str, ns: str) -> dict[str, Any]:
    return get(hub, "resourcebindings.work.kokpit.io", f"{name}-deployment", ns) or {}


def placement(binding: dict[str, Any]) -> dict[str, int]:
    return {t["name"]: t.get("replicas", 0) for t in (binding.get("spec") or {}).get("clusters") or ()}


def replicas_on(fleet: SandboxHandle, name: str, ns: str, members: tuple[str, ...]) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for member in members:
        obj = get(fleet.kubeconfig(member), "deployment", name, ns)
        found[member] = obj["spec"]["replicas"] if obj else None
    return found


def watched(stream: str) -> list[dict[str, Any]]:
    """The objects of a `kubectl get -w -o json` stream, in order."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(stream):
        if stream[at].isspace():
            at += 1
            continue
        obj, at = decoder.raw_decode(stream, at)
        found.append(obj)
    return found


def ready_on(fleet: SandboxHandle, name: str, ns: str, member: str) -> int:
    obj = get(fleet.kubeconfig(member), "deployment", name, ns) or {}
    return int((obj.get("status") or {}).get("readyReplicas") or 0)


def hub_ready(hub: Path, name: str, ns: str, replicas: int) -> bool:
    status = (get(hub, "deployment", name, ns) or {}).get("status") or {}
    return status.get("readyReplicas") == replicas and status.get("replicas") == replicas


def cluster_ready(hub: Path, name: str) -> bool:
    cluster = get(hub, "clusters.cluster.kokpit.io", name) or {}
    conditions = (cluster.get("status") or {}).get("conditions") or ()
    taints = (cluster.get("spec") or {}).get("taints") or ()
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return ready and not taints


def events(hub: Path, ns: str, name: str, reason: str) -> list[str]:
    found = json.loads(kubectl(hub, "get", "events", "-n", ns, "-o", "json").stdout)
    return [
        str(e.get("note") or e.get("message") or "")
        for e in found.get("items") or ()
        if e.get("regarding", e.get("involvedObject", {})).get("name") == name and e.get("reason") == reason
    ]


@pytest.fixture
def namespace(fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path) -> Iterator[str]:
    hub, ns = fleet.kubeconfig("hub"), "app-failover"
    kubectl_apply(hub, tmp_path, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    try:
        yield ns
    finally:
        kubectl(hub, "delete", "deployment", "--all", "-n", ns, "--wait=true", check=False)
        kubectl(hub, "delete", "propagationpolicies,overridepolicies", "--all", "-n", ns, check=False)


def test_an_unavailable_copy_moves_off_its_member_the_graceful_way(
    fleet: SandboxHandle, namespace: str, tmp_path: Path
) -> None:
    hub, ns, name = fleet.kubeconfig("hub"), namespace, "shop"
    wait_until("every member Ready", lambda: all(cluster_ready(hub, m) for m in MEMBERS), timeout=TIMEOUT)
    kubectl_apply(
        hub, tmp_path, unschedulable_on_member1("pending-on-member1", ns), policy("move-when-down", ns)
    )
    kubectl_apply(hub, tmp_path, deployment(name, ns, REPLICAS))
    wait_until(
        f"{REPLICAS} replicas placed, some on member1",
        lambda: (
            placement(binding_of(hub, name, ns)).get("member1", 0) > 0
            and sum(placement(binding_of(hub, name, ns)).values()) == REPLICAS
        ),
        timeout=TIMEOUT,
    )
    first = placement(binding_of(hub, name, ns))
    survivors = tuple(m for m in MEMBERS if m != "member1")
    print(f"placed at first: {first}")

    # Watch the move: every version of the binding (the eviction task is open for a second or two, as
    # kwok readies the replacement at once), and member1's copy kept until the replacement is ready.
    log = tmp_path / "binding-watch.json"
    with log.open("w") as out:
        watch = subprocess.Popen(
            kubectl_argv(hub, "get", "resourcebindings.work.kokpit.io", f"{name}-deployment", "-n", ns,
                         "-w", "--output-watch-events=false", "-o", "json"),
            stdout=out, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            seen: list[tuple[int | None, dict[str, int], int]] = []

            def moved_and_purged() -> bool:
                member1 = replicas_on(fleet, name, ns, ("member1",))["member1"]
                binding = binding_of(hub, name, ns)
                ready = sum(ready_on(fleet, name, ns, m) for m in survivors)
                if not seen or seen[-1] != (member1, placement(binding), ready):
                    seen.append((member1, placement(binding), ready))
                open_now = (binding.get("spec") or {}).get("gracefulEvictionTasks")
                return "member1" not in placement(binding) and not open_now and member1 is None

            wait_until("the workload moved off member1, its copy removed", moved_and_purged, timeout=TIMEOUT)
            time.sleep(1)  # the watch's last lines
        finally:
            watch.terminate()
            watch.wait()
    print(f"(member1's copy, placement, ready on {survivors}) as seen: {seen}")
    # Before its first sighting member1's copy is not yet delivered; only a copy that existed can go early.
    delivered = [i for i, (member1, _, _) in enumerate(seen) if member1 is not None]
    assert delivered, f"member1's copy was delivered before the move: {seen}"
    for member1, _, ready in seen[delivered[0] :]:
        if member1 is None:
            assert ready == REPLICAS, f"member1's copy went before the replacement was ready: {seen}"

    versions = watched(log.read_text())
    tasks = [t for b in versions for t in (b.get("spec") or {}).get("gracefulEvictionTasks") or ()]
    assert tasks, f"the binding held an eviction task for member1 ({len(versions)} versions watched)"
    for task in tasks:
        assert task["fromCluster"] == "member1"
        assert task["reason"] == APPLICATION_FAILURE and task["producer"] == APPLICATION_PRODUCER
        assert task["purgeMode"] == "Graciously" and task["gracePeriodSeconds"] == GRACE_PERIOD_SECONDS
        assert task["creationTimestamp"] and task["deadline"] and task["replicas"] == first["member1"]
        assert "tolerated for 5s" in task["message"]
    print(f"eviction task seen on the binding: {tasks[0]}")
    tasked = [b for b in versions if (b.get("spec") or {}).get("gracefulEvictionTasks")]
    assert all("member1" not in placement(b) for b in tasked), "member1 left the placement with its task"

    after = placement(binding_of(hub, name, ns))
    assert set(after) == set(survivors) and sum(after.values()) == REPLICAS, after
    assert all(after[m] >= first.get(m, 0) for m in survivors), "the survivors only gained replicas"
    evicted = events(hub, ns, name, APPLICATION_FAILURE)
    assert evicted and "evicted from member1" in evicted[0] and "at the latest" in evicted[0], evicted
    done = events(hub, ns, name, "GracefulEvictionDone")
    assert done and "the workload is healthy on" in done[0], (
        f"removed for the replacement, not the deadline: {done}"
    )
    wait_until(
        f"the hub template shows {REPLICAS} ready",
        lambda: hub_ready(hub, name, ns, REPLICAS),
        timeout=TIMEOUT,
    )

    # Stays off: member1 is not chosen again once the task is gone (a few tolerationSeconds later).
    time.sleep(12)
    assert placement(binding_of(hub, name, ns)) == after
    assert replicas_on(fleet, name, ns, MEMBERS) == {"member1": None, **after}
    assert len(events(hub, ns, name, APPLICATION_FAILURE)) == 1, "evicted once"
