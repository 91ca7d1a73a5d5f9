"""Failover on the real sandbox: a member whose API server dies loses its replicas to the others, the hub
template is whole again, and the member, once back, keeps no stale copy.

The hub controllers here probe members every second and add the NoExecute taint after 5 s, so the
test does not wait for production's grace periods; the policy tolerates the health taints for 10 s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kokpit.propagation.failover import TAINT_UNTOLERATED
from kokpit.settings import HubSettings
from tests.support import HubThread, SandboxHandle, kubectl, kubectl_apply, wait_until

pytestmark = pytest.mark.integration

MEMBERS = ("member1", "member2", "member3")
TIMEOUT = 180.0
HEALTH_TAINTS = ("cluster.kokpit.io/unreachable", "cluster.kokpit.io/not-ready")


@pytest.fixture(scope="module")
def fast_hub(fleet: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    """Every hub controller, with health probes every second and NoExecute after 5 s."""
    settings = HubSettings(
        state_dir=tmp_path_factory.mktemp("hub-state"),
        probe_period=1.0,
        probe_timeout=1.0,
        failure_threshold=2,
        no_execute_grace=5.0,
    )
    hub = HubThread(fleet.kubeconfig("hub"), settings=settings).start()
    try:
        yield hub
    finally:
        hub.stop()


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


def failover_policy(name: str, ns: str, **extra: Any) -> dict[str, Any]:
    """Divided over two of the three members, tolerating the health taints for 10 s."""
    return {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
            "placement": {
                "clusterAffinity": {"clusterNames": list(MEMBERS)},
                "clusterTolerations": [
                    {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}
                    for key in HEALTH_TAINTS
                ],
                "spreadConstraints": [{"spreadByField": "cluster", "maxGroups": 2, "minGroups": 1}],
                "replicaScheduling": {
                    "replicaSchedulingType": "Divided",
                    "replicaDivisionPreference": "Weighted",
                },
            },
            **extra,
        },
    }


def placement(hub: Path, name: str, ns: str) -> dict[str, int]:
    binding = get(hub, "resourcebindings.work.kokpit.io", f"{name}-deployment", ns) or {}
    return {t["name"]: t.get("replicas", 0) for t in (binding.get("spec") or {}).get("clusters") or ()}


def replicas_on(fleet: SandboxHandle, name: str, ns: str, members: tuple[str, ...]) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for member in members:
        obj = get(fleet.kubeconfig(member), "deployment", name, ns)
        found[member] = obj["spec"]["replicas"] if obj else None
    return found


def hub_ready(hub: Path, name: str, ns: str, replicas: int) -> bool:
    status = (get(hub, "deployment", name, ns) or {}).get("status") or {}
    return status.get("readyReplicas") == replicas and status.get("replicas") == replicas


def events(hub: Path, ns: str, name: str) -> list[dict[str, Any]]:
    found = json.loads(kubectl(hub, "get", "events", "-n", ns, "-o", "json").stdout)
    return [
        e
        for e in found.get("items") or ()
        if e.get("regarding", e.get("involvedObject", {})).get("name") == name
    ]


def cluster_ready(hub: Path, name: str) -> bool:
    cluster = get(hub, "clusters.cluster.kokpit.io", name) or {}
    conditions = (cluster.get("status") or {}).get("conditions") or ()
    taints = (cluster.get("spec") or {}).get("taints") or ()
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return ready and not any(t.get("key") in HEALTH_TAINTS for t in taints)


def test_a_dead_member_loses_its_replicas_to_the_others_and_keeps_no_stale_copy(
    fleet: SandboxHandle, fast_hub: HubThread, tmp_path: Path
) -> None:
    hub, ns, name = fleet.kubeconfig("hub"), "failover-e2e", "web"
    wait_until("every member Ready", lambda: all(cluster_ready(hub, m) for m in MEMBERS), timeout=TIMEOUT)
    kubectl_apply(hub, tmp_path, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    kubectl_apply(hub, tmp_path, failover_policy("survive", ns), deployment(name, ns, 6))
    wait_until("6 replicas placed on two members", lambda: sum(placement(hub, name, ns).values()) == 6)
    before = placement(hub, name, ns)
    assert len(before) == 2 and set(before.values()) == {3}
    victim = sorted(before)[0]
    survivors = tuple(m for m in MEMBERS if m != victim)
    wait_until("the hub template shows 6 ready", lambda: hub_ready(hub, name, ns, 6), timeout=TIMEOUT)

    fleet.kill(victim, "kube-apiserver")
    try:
        seen_tasks: list[dict[str, Any]] = []

        def moved() -> bool:
            binding = get(hub, "resourcebindings.work.kokpit.io", f"{name}-deployment", ns) or {}
            seen_tasks.extend((binding.get("spec") or {}).get("gracefulEvictionTasks") or ())
            return victim not in placement(hub, name, ns) and sum(placement(hub, name, ns).values()) == 6

        wait_until(f"the replicas of {victim} placed elsewhere", moved, timeout=TIMEOUT)
        after = placement(hub, name, ns)
        assert set(after) == set(survivors), after
        assert after == {m: 3 for m in survivors}
        wait_until(
            "the survivors run all 6 replicas",
            lambda: replicas_on(fleet, name, ns, survivors) == {m: 3 for m in survivors},
            timeout=TIMEOUT,
        )
        wait_until(
            "the hub template shows 6 ready again", lambda: hub_ready(hub, name, ns, 6), timeout=TIMEOUT
        )

        evicted = [e for e in events(hub, ns, name) if e["reason"] == TAINT_UNTOLERATED]
        assert evicted, "an Event says the workload was evicted"
        message = evicted[0].get("note") or evicted[0].get("message") or ""
        assert victim in message and "tolerated for 10s" in message
        for task in seen_tasks:
            assert task["fromCluster"] == victim and task["reason"] == TAINT_UNTOLERATED
            assert task["purgeMode"] == "Graciously" and task["deadline"] and task["creationTimestamp"]
        print(f"eviction tasks seen on the binding: {seen_tasks[:1]}")
    finally:
        fleet.restart(victim, "kube-apiserver")

    wait_until(f"{victim} Ready again", lambda: cluster_ready(hub, victim), timeout=TIMEOUT)
    wait_until(
        f"the stale copy on {victim} removed",
        lambda: replicas_on(fleet, name, ns, (victim,)) == {victim: None},
        timeout=TIMEOUT,
    )
    assert placement(hub, name, ns) == {m: 3 for m in survivors}, "the returning member is not chosen again"
    on_members = replicas_on(fleet, name, ns, MEMBERS)
    assert sum(r or 0 for r in on_members.values()) == 6, f"nothing duplicated: {on_members}"
    done = [e for e in events(hub, ns, name) if e["reason"] == "GracefulEvictionDone"]
    assert done, "an Event says the copy left behind was removed"

    kubectl(hub, "delete", "deployment", name, "-n", ns, "--wait=true")
    wait_until(
        "the deployment gone from every member",
        lambda: all(v is None for v in replicas_on(fleet, name, ns, MEMBERS).values()),
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize(
    ("failover", "message"),
    [
        pytest.param(
            {"application": {"decisionConditions": {"tolerationSeconds": 30}, "purgeMode": "Sometimes"}},
            "Immediately",
            id="an unknown purgeMode",
        ),
        pytest.param(
            {"application": {"decisionConditions": {"tolerationSeconds": -5}}},
            "greater than or equal to 0",
            id="a negative decision tolerationSeconds",
        ),
        pytest.param(
            {"application": {"purgeMode": "Never", "gracePeriodSeconds": 60}},
            "gracePeriodSeconds applies only to purgeMode Graciously",
            id="a grace period without Graciously",
        ),
    ],
)
def test_bad_failover_input_is_refused(
    fleet: SandboxHandle, tmp_path: Path, failover: dict[str, Any], message: str
) -> None:
    hub, ns = fleet.kubeconfig("hub"), "failover-refused"
    kubectl_apply(hub, tmp_path, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    result = kubectl_apply(hub, tmp_path, failover_policy("bad", ns, failover=failover), check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert get(hub, "propagationpolicies.policy.kokpit.io", "bad", ns) is None
