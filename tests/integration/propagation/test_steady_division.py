"""Scaling a Divided Deployment keeps its distribution on the real sandbox (Karmada's steady division).

12 replicas at 2/4/6 (static weights 1:2:3), then dynamic weights: the same total moves nothing, a
scale to 6 gives 1/2/3 and a scale to 24, with about equal room on the members, only adds replicas.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import HubThread, SandboxHandle, kubectl, kubectl_argv, wait_until

pytestmark = pytest.mark.integration

MEMBERS = ("member1", "member2", "member3")
TIMEOUT = 90.0


def apply(kubeconfig: Path, *docs: dict[str, Any]) -> None:
    stdin = "\n".join(json.dumps(doc) for doc in docs)
    argv = ["apply", "--server-side", "--force-conflicts", "--field-manager=test", "-f", "-"]
    subprocess.run(kubectl_argv(kubeconfig, *argv), input=stdin, text=True, check=True, capture_output=True)


def deployment(name: str, namespace: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
            },
        },
    }


def policy(name: str, namespace: str, weight_preference: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name}],
            "placement": {
                "clusterAffinity": {"clusterNames": list(MEMBERS)},
                "replicaScheduling": {
                    "replicaSchedulingType": "Divided",
                    "replicaDivisionPreference": "Weighted",
                    "weightPreference": weight_preference,
                },
            },
        },
    }


STATIC_1_2_3 = {
    "staticWeightList": [
        {"targetCluster": {"clusterNames": [member]}, "weight": weight}
        for member, weight in zip(MEMBERS, (1, 2, 3), strict=True)
    ]
}
DYNAMIC = {"dynamicWeight": "AvailableReplicas"}


def placed(hub: Path, name: str, namespace: str) -> dict[str, int]:
    out = kubectl(
        hub, "get", "resourcebindings.work.kokpit.io", f"{name}-deployment", "-n", namespace, "-o", "json",
        check=False,
    ).stdout  # fmt: skip
    if not out:
        return {}
    return {c["name"]: c.get("replicas", 0) for c in json.loads(out)["spec"].get("clusters") or []}


def on_members(fleet: SandboxHandle, name: str, namespace: str) -> dict[str, int]:
    found = {}
    for member in MEMBERS:
        out = fleet.kubectl(
            member, "get", "deployment", name, "-n", namespace, "-o", "json", check=False
        ).stdout
        if out:
            found[member] = int(json.loads(out)["spec"]["replicas"])
    return found


@pytest.fixture
def namespace(fleet: SandboxHandle, hub_controllers: HubThread) -> Iterator[str]:
    hub = fleet.kubeconfig("hub")
    name = f"steady-{uuid.uuid4().hex[:8]}"
    kubectl(hub, "create", "namespace", name)
    try:
        yield name
    finally:
        kubectl(hub, "delete", "namespace", name, "--wait=false", check=False)


def test_scaling_keeps_the_distribution(fleet: SandboxHandle, namespace: str) -> None:
    hub = fleet.kubeconfig("hub")
    apply(hub, policy("web", namespace, STATIC_1_2_3), deployment("web", namespace, 12))
    at_2_4_6 = {"member1": 2, "member2": 4, "member3": 6}
    wait_until("12 at 2/4/6", lambda: placed(hub, "web", namespace) == at_2_4_6, timeout=TIMEOUT)
    wait_until(
        "2/4/6 on the members", lambda: on_members(fleet, "web", namespace) == at_2_4_6, timeout=TIMEOUT
    )

    apply(hub, policy("web", namespace, DYNAMIC), deployment("web", namespace, 6))
    at_1_2_3 = {"member1": 1, "member2": 2, "member3": 3}
    wait_until("6 at 1/2/3", lambda: placed(hub, "web", namespace) == at_1_2_3, timeout=TIMEOUT)

    apply(hub, deployment("web", namespace, 24))
    wait_until("24 placed", lambda: sum(placed(hub, "web", namespace).values()) == 24, timeout=TIMEOUT)
    scaled = placed(hub, "web", namespace)
    print(f"12 at 2/4/6 -> 6 at 1/2/3 -> 24 at {scaled}")
    assert all(scaled.get(member, 0) >= count for member, count in at_1_2_3.items()), scaled
    wait_until("the members run it", lambda: on_members(fleet, "web", namespace) == scaled, timeout=TIMEOUT)
