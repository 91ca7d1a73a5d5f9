"""Delivery to a member behind a firewall, registered with a token: the same pipeline as Push.

member1 is a Push member (the hub's controllers write to it), member2 a Pull member (its agent,
in its namespace, watches its Works on the hub and applies them). A policy places on both; what a
user sees on the hub (status, deletion) does not depend on how a member is reached.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from kokpit.propagation import names
from tests.integration.pull.conftest import (
    PULL,
    PUSH,
    TIMEOUT,
    RestartableHub,
    apply,
    condition,
    get,
    get_on,
    pull_cluster,
)
from tests.support import SandboxHandle, kubectl, wait_until

pytestmark = pytest.mark.integration

MEMBERS = (PUSH, PULL)


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def config_map(name: str, ns: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": data,
    }


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
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "envFrom": [{"configMapRef": {"name": f"{name}-config"}}],
                        }
                    ]
                },
            },
        },
    }


def divided_policy(name: str, ns: str, weights: dict[str, int]) -> dict[str, Any]:
    return {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "resourceSelectors": [
                {"apiVersion": "apps/v1", "kind": "Deployment"},
                {"apiVersion": "v1", "kind": "ConfigMap"},
            ],
            "placement": {
                "clusterAffinity": {"clusterNames": list(weights)},
                "replicaScheduling": {
                    "replicaSchedulingType": "Divided",
                    "replicaDivisionPreference": "Weighted",
                    "weightPreference": {
                        "staticWeightList": [
                            {"targetCluster": {"clusterNames": [member]}, "weight": weight}
                            for member, weight in weights.items()
                        ]
                    },
                },
            },
        },
    }


def replicas_on(fleet: SandboxHandle, name: str, ns: str) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for member in MEMBERS:
        obj = get_on(fleet, member, "deployment", name, ns)
        found[member] = obj["spec"]["replicas"] if obj else None
    return found


def test_the_registered_member_is_a_ready_pull_cluster_the_hub_cannot_reach(
    pull_fleet: SandboxHandle, hub: RestartableHub
) -> None:
    cluster = pull_cluster(pull_fleet)
    assert cluster is not None
    assert cluster["spec"]["syncMode"] == "Pull"
    assert cluster["spec"].get("region") == pull_fleet.state.clusters[PULL].region
    assert condition(cluster, "Ready")["status"] == "True"
    wait_until(
        "the agent's report of the member's version and nodes",
        lambda: (
            ((pull_cluster(pull_fleet) or {}).get("status") or {}).get("kubernetesVersion")
            == pull_fleet.state.kubernetes_version
        ),
        timeout=TIMEOUT,
    )
    # The hub's side (this process) cannot open a connection to the member's API server at all.
    member = pull_fleet.state.clusters[PULL]
    assert member.pull is not None
    port = member.components["kube-apiserver"].ports["secure"]
    with pytest.raises(TimeoutError):
        socket.create_connection((member.pull.address, port), timeout=3).close()
    # The Push member is joined with its kubeconfig, as before.
    push = get(pull_fleet.kubeconfig("hub"), "clusters.cluster.kokpit.io", PUSH)
    assert push is not None and push["spec"].get("syncMode", "Push") == "Push"


def test_a_divided_policy_places_replicas_on_push_and_pull_reports_back_and_deletion_removes_them(
    pull_fleet: SandboxHandle, hub: RestartableHub, tmp_path: Path
) -> None:
    admin, ns = pull_fleet.kubeconfig("hub"), "pull-divided"
    apply(admin, tmp_path, namespace(ns))
    apply(
        admin,
        tmp_path,
        divided_policy("spread", ns, {PUSH: 2, PULL: 1}),
        config_map("web-config", ns, {"GREETING": "hello"}),
        deployment("web", ns, 6),
    )
    wait_until(
        "4 replicas on the Push member and 2 on the Pull member",
        lambda: replicas_on(pull_fleet, "web", ns) == {PUSH: 4, PULL: 2},
        timeout=TIMEOUT,
    )
    on_pull = get_on(pull_fleet, PULL, "configmap", "web-config", ns)
    assert on_pull is not None and on_pull["data"] == {"GREETING": "hello"}
    managed = json.loads(
        pull_fleet.kubectl(
            PULL, "get", "deployment", "web", "-n", ns, "-o", "json", "--show-managed-fields"
        ).stdout
    )
    assert "kokpit" in {entry["manager"] for entry in managed["metadata"]["managedFields"]}

    # The Work of the Pull member carries the status its agent reported.
    work = names.work_name(binding_namespace=ns, binding=names.binding_name(kind="Deployment", name="web"))

    def work_applied() -> bool:
        found = get(admin, "works.work.kokpit.io", work, names.execution_namespace(PULL))
        return condition(found, "Applied").get("status") == "True"

    wait_until("the Pull member's Work Applied", work_applied, timeout=TIMEOUT)

    def hub_ready() -> bool:
        status = (get(admin, "deployment", "web", ns) or {}).get("status") or {}
        return status.get("readyReplicas") == 6 and status.get("replicas") == 6

    wait_until("the template's status adds up both members (6 ready)", hub_ready, timeout=TIMEOUT)

    # An edit of the template reaches both.
    apply(admin, tmp_path, config_map("web-config", ns, {"GREETING": "hello again"}))
    wait_until(
        "the edit on both members",
        lambda: all(
            ((get_on(pull_fleet, m, "configmap", "web-config", ns) or {}).get("data") or {}).get("GREETING")
            == "hello again"
            for m in MEMBERS
        ),
        timeout=TIMEOUT,
    )

    kubectl(admin, "delete", "deployment", "web", "-n", ns, "--wait=true")
    kubectl(admin, "delete", "configmap", "web-config", "-n", ns, "--wait=true")
    wait_until(
        "the copies gone from both members",
        lambda: (
            replicas_on(pull_fleet, "web", ns) == dict.fromkeys(MEMBERS)
            and all(get_on(pull_fleet, m, "configmap", "web-config", ns) is None for m in MEMBERS)
        ),
        timeout=TIMEOUT,
    )
    kubectl(admin, "delete", "namespace", ns, "--wait=false")


def test_a_crd_its_objects_and_a_cluster_role_reach_the_pull_member_too(
    pull_fleet: SandboxHandle, hub: RestartableHub, tmp_path: Path
) -> None:
    admin = pull_fleet.kubeconfig("hub")
    crd: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.pull.kokpit.io"},
        "spec": {
            "group": "pull.kokpit.io",
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                            },
                        }
                    },
                }
            ],
        },
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "pull-gadget-reader"},
        "rules": [{"apiGroups": ["pull.kokpit.io"], "resources": ["gadgets"], "verbs": ["get", "list"]}],
    }
    policy = {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "ClusterPropagationPolicy",
        "metadata": {"name": "pull-everywhere"},
        "spec": {
            "resourceSelectors": [
                {
                    "apiVersion": "apiextensions.k8s.io/v1",
                    "kind": "CustomResourceDefinition",
                    "name": crd["metadata"]["name"],
                },
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRole",
                    "name": "pull-gadget-reader",
                },
                {"apiVersion": "pull.kokpit.io/v1", "kind": "Gadget"},
                {"apiVersion": "v1", "kind": "Namespace", "name": "pull-gadgets"},
            ],
            "placement": {"clusterAffinity": {"clusterNames": list(MEMBERS)}},
        },
    }
    apply(admin, tmp_path, crd, role, policy, namespace("pull-gadgets"))
    kubectl(admin, "wait", "--for=condition=Established", f"crd/{crd['metadata']['name']}", "--timeout=60s")
    apply(
        admin,
        tmp_path,
        {
            "apiVersion": "pull.kokpit.io/v1",
            "kind": "Gadget",
            "metadata": {"name": "widget", "namespace": "pull-gadgets"},
            "spec": {"size": 3},
        },
    )

    def everywhere() -> bool:
        for member in MEMBERS:
            role_there = pull_fleet.kubectl(member, "get", "clusterrole", "pull-gadget-reader", check=False)
            if role_there.returncode != 0:
                return False
            found = get_on(pull_fleet, member, "gadgets.pull.kokpit.io", "widget", "pull-gadgets")
            if (found or {}).get("spec") != {"size": 3}:
                return False
        return True

    wait_until("the ClusterRole and the Gadget on both members", everywhere, timeout=TIMEOUT)
