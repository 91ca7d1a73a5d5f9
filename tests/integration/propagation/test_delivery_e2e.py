"""Delivery end to end: templates and policies on the hub, objects on the members, status back.

The whole pipeline runs (every hub controller in-process, real members with kwok nodes): what a
user writes on the hub, and what they then see on the members and on the hub's templates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kokpit.propagation import names
from tests.support import (
    HubThread,
    SandboxHandle,
    kokpit_cli,
    kubectl,
    kubectl_apply,
    kubectl_get,
    wait_until,
)

pytestmark = pytest.mark.integration

MEMBERS = ("member1", "member2", "member3")
TIMEOUT = 120.0


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def config_map(name: str, ns: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": data,
    }


def deployment(name: str, ns: str, replicas: int, *, image: str = "nginx:1.27") -> dict[str, Any]:
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
                            "image": image,
                            "envFrom": [{"configMapRef": {"name": f"{name}-config"}}],
                        }
                    ]
                },
            },
        },
    }


def weighted_policy(name: str, ns: str, weights: dict[str, int], **extra: Any) -> dict[str, Any]:
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
            **extra,
        },
    }


def replicas_on(fleet: SandboxHandle, name: str, ns: str) -> dict[str, int | None]:
    found = {}
    for member in MEMBERS:
        obj = kubectl_get(fleet.kubeconfig(member), "deployment", name, ns)
        found[member] = obj["spec"]["replicas"] if obj else None
    return found


def no_policy_events(hub: Path, ns: str) -> set[str]:
    """The templates in `ns` with a `NoPolicy` Event (the binding reconciler found no policy for them)."""
    events = json.loads(
        kubectl(hub, "get", "events", "-n", ns, "--field-selector", "reason=NoPolicy", "-o", "json").stdout
    )
    return {str(e["involvedObject"]["name"]) for e in events.get("items") or ()}


def test_a_weighted_deployment_lands_4_2_2_with_its_config_and_reports_back(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path
) -> None:
    hub, ns = fleet.kubeconfig("hub"), "e2e-weighted"
    kubectl_apply(hub, tmp_path, namespace(ns))
    kubectl_apply(
        hub,
        tmp_path,
        weighted_policy("spread", ns, {"member1": 2, "member2": 1, "member3": 1}),
        config_map("web-config", ns, {"GREETING": "hello"}),
        deployment("web", ns, 8),
    )
    wait_until(
        "4/2/2 on the members",
        lambda: replicas_on(fleet, "web", ns) == {"member1": 4, "member2": 2, "member3": 2},
        timeout=TIMEOUT,
    )
    for member in MEMBERS:
        member_config = kubectl_get(fleet.kubeconfig(member), "configmap", "web-config", ns)
        assert member_config is not None and member_config["data"] == {"GREETING": "hello"}
        managed = json.loads(
            kubectl(
                fleet.kubeconfig(member),
                "get",
                "deployment",
                "web",
                "-n",
                ns,
                "-o",
                "json",
                "--show-managed-fields",
            ).stdout
        )
        assert "kokpit" in {entry["manager"] for entry in managed["metadata"]["managedFields"]}

    def hub_ready() -> bool:
        status = (kubectl_get(hub, "deployment", "web", ns) or {}).get("status") or {}
        return status.get("readyReplicas") == 8 and status.get("replicas") == 8

    wait_until("the hub template's status shows 8 ready", hub_ready, timeout=TIMEOUT)
    template = kubectl_get(hub, "deployment", "web", ns)
    assert template is not None
    assert template["status"]["availableReplicas"] == 8
    assert {c["type"]: c["status"] for c in template["status"]["conditions"]}.get("Available") == "True"

    # An edit of the template reaches every member.
    kubectl_apply(hub, tmp_path, config_map("web-config", ns, {"GREETING": "hello again"}))
    wait_until(
        "the edit on every member",
        lambda: all(
            (kubectl_get(fleet.kubeconfig(m), "configmap", "web-config", ns) or {})
            .get("data", {})
            .get("GREETING")
            == "hello again"
            for m in MEMBERS
        ),
        timeout=TIMEOUT,
    )

    # Deleting the policy removes nothing from the members. Wait until the binding reconciler has
    # handled the deletion for both templates (its NoPolicy Event, recorded once it decided what to do),
    # then check that the Works are neither gone nor being deleted and the members still hold the copies.
    kubectl(hub, "delete", "propagationpolicy.policy.kokpit.io", "spread", "-n", ns)
    wait_until(
        "the binding reconciler handled the policy's deletion",
        lambda: {"web", "web-config"} <= no_policy_events(hub, ns),
        timeout=TIMEOUT,
    )
    for member in MEMBERS:
        for kind, name in (("Deployment", "web"), ("ConfigMap", "web-config")):
            binding_name = names.binding_name(kind=kind, name=name)
            work_name = names.work_name(binding_namespace=ns, binding=binding_name)
            found = kubectl_get(hub, "works.work.kokpit.io", work_name, names.execution_namespace(member))
            assert found is not None, f"{work_name} in {member}"
            assert not found["metadata"].get("deletionTimestamp"), f"{work_name} in {member} is being deleted"
    assert kubectl_get(hub, "resourcebindings.work.kokpit.io", "web-deployment", ns) is not None
    assert replicas_on(fleet, "web", ns) == {"member1": 4, "member2": 2, "member3": 2}
    for member in MEMBERS:
        assert kubectl_get(fleet.kubeconfig(member), "configmap", "web-config", ns) is not None

    # Deleting the template removes it from every member.
    kubectl(hub, "delete", "deployment", "web", "-n", ns, "--wait=true")
    kubectl(hub, "delete", "configmap", "web-config", "-n", ns, "--wait=true")
    wait_until(
        "the copies gone from the members",
        lambda: (
            replicas_on(fleet, "web", ns) == dict.fromkeys(MEMBERS)
            and all(kubectl_get(fleet.kubeconfig(m), "configmap", "web-config", ns) is None for m in MEMBERS)
        ),
        timeout=TIMEOUT,
    )


def test_overrides_are_planned_then_applied_per_region_and_cluster(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path
) -> None:
    hub, ns = fleet.kubeconfig("hub"), "e2e-overrides"
    kubectl_apply(hub, tmp_path, namespace(ns))
    overrides = {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "OverridePolicy",
        "metadata": {"name": "eu-registry", "namespace": ns},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}],
            "overrideRules": [
                {
                    "targetCluster": {
                        "fieldSelector": {
                            "matchExpressions": [{"key": "region", "operator": "In", "values": ["eu-west"]}]
                        }
                    },
                    "overriders": {
                        "imageOverrider": [
                            {
                                "component": "Registry",
                                "operator": "replace",
                                "value": "registry.eu.example.com",
                            }
                        ]
                    },
                },
                {
                    "targetCluster": {"clusterNames": ["member2"]},
                    "overriders": {"labelsOverrider": [{"operator": "add", "value": {"tier": "canary"}}]},
                },
            ],
        },
    }
    policy = weighted_policy("spread", ns, {"member1": 1, "member2": 1, "member3": 1})
    template = deployment("api", ns, 3, image="docker.io/library/nginx:1.27")
    kubectl_apply(hub, tmp_path, overrides, policy, config_map("api-config", ns, {"A": "1"}))

    # `kokpit plan` shows the differences before anything is written.
    plan_file = tmp_path / "api.yaml"
    plan_file.write_text(yaml.safe_dump(template))
    planned = kokpit_cli("plan", "-f", str(plan_file), hub=hub)
    assert planned.returncode == 0, planned.stderr
    assert "registry.eu.example.com/library/nginx:1.27" in planned.stdout
    assert "canary" in planned.stdout
    assert kubectl_get(hub, "deployment", "api", ns) is None

    kubectl_apply(hub, tmp_path, template)

    def images() -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for member in MEMBERS:
            obj = kubectl_get(fleet.kubeconfig(member), "deployment", "api", ns)
            found[member] = obj["spec"]["template"]["spec"]["containers"][0]["image"] if obj else None
        return found

    wait_until("the Deployment on every member", lambda: None not in images().values(), timeout=TIMEOUT)
    assert images() == {
        "member1": "registry.eu.example.com/library/nginx:1.27",
        "member2": "docker.io/library/nginx:1.27",
        "member3": "docker.io/library/nginx:1.27",
    }
    labels = {
        m: (kubectl_get(fleet.kubeconfig(m), "deployment", "api", ns) or {})["metadata"]["labels"]
        for m in MEMBERS
    }
    assert labels["member2"].get("tier") == "canary"
    assert "tier" not in labels["member1"] and "tier" not in labels["member3"]
    kubectl(hub, "delete", "namespace", ns, "--wait=false")


def test_an_existing_object_is_left_alone_under_abort_and_taken_over_under_overwrite(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path
) -> None:
    hub, ns = fleet.kubeconfig("hub"), "e2e-conflict"
    member1 = fleet.kubeconfig("member1")
    kubectl_apply(member1, tmp_path, namespace(ns), config_map("shared", ns, {"owner": "someone else"}))
    kubectl_apply(hub, tmp_path, namespace(ns))
    policy: dict[str, Any] = {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": "to-member1", "namespace": ns},
        "spec": {
            "resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "shared"}],
            "placement": {"clusterAffinity": {"clusterNames": ["member1"]}},
            "conflictResolution": "Abort",
        },
    }
    kubectl_apply(hub, tmp_path, policy, config_map("shared", ns, {"owner": "kokpit"}))

    def work_condition(reason: str) -> bool:
        works = json.loads(
            kubectl(hub, "get", "works.work.kokpit.io", "-n", "kokpit-es-member1", "-o", "json").stdout
        )
        for item in works["items"]:
            if item["metadata"].get("annotations", {}).get("kokpit.io/binding-namespace") != ns:
                continue
            for condition in (item.get("status") or {}).get("conditions") or []:
                if condition["type"] == "Applied" and condition.get("reason") == reason:
                    return True
        return False

    wait_until("a Conflict on the Work", lambda: work_condition("Conflict"), timeout=TIMEOUT)
    untouched = kubectl_get(member1, "configmap", "shared", ns)
    assert untouched is not None and untouched["data"] == {"owner": "someone else"}

    policy["spec"]["conflictResolution"] = "Overwrite"
    kubectl_apply(hub, tmp_path, policy)
    wait_until(
        "the object taken over",
        lambda: (kubectl_get(member1, "configmap", "shared", ns) or {}).get("data") == {"owner": "kokpit"},
        timeout=TIMEOUT,
    )
    kubectl(hub, "delete", "namespace", ns, "--wait=false")


def test_a_crd_its_custom_objects_and_a_cluster_role_propagate(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path
) -> None:
    hub = fleet.kubeconfig("hub")
    crd: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.e2e.kokpit.io"},
        "spec": {
            "group": "e2e.kokpit.io",
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
        "metadata": {"name": "e2e-gadget-reader"},
        "rules": [{"apiGroups": ["e2e.kokpit.io"], "resources": ["gadgets"], "verbs": ["get", "list"]}],
    }
    cluster_policy = {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "ClusterPropagationPolicy",
        "metadata": {"name": "e2e-everywhere"},
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
                    "name": "e2e-gadget-reader",
                },
                {"apiVersion": "e2e.kokpit.io/v1", "kind": "Gadget"},
                {"apiVersion": "v1", "kind": "Namespace", "name": "e2e-gadgets"},
            ],
            "placement": {"clusterAffinity": {"clusterNames": list(MEMBERS)}},
        },
    }
    kubectl_apply(hub, tmp_path, crd, role, cluster_policy, namespace("e2e-gadgets"))
    kubectl(hub, "wait", "--for=condition=Established", f"crd/{crd['metadata']['name']}", "--timeout=60s")
    gadget = {
        "apiVersion": "e2e.kokpit.io/v1",
        "kind": "Gadget",
        "metadata": {"name": "widget", "namespace": "e2e-gadgets"},
        "spec": {"size": 3},
    }
    kubectl_apply(hub, tmp_path, gadget)

    def everywhere() -> bool:
        for member in MEMBERS:
            kubeconfig = fleet.kubeconfig(member)
            if kubectl_get(kubeconfig, "clusterrole", "e2e-gadget-reader") is None:
                return False
            found = kubectl_get(kubeconfig, "gadgets.e2e.kokpit.io", "widget", "e2e-gadgets") or {}
            if found.get("spec") != {"size": 3}:
                return False
        return True

    wait_until("the ClusterRole and the Gadget on every member", everywhere, timeout=TIMEOUT)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            {"replicaScheduling": {"replicaSchedulingType": "Sometimes"}},
            "Unsupported value",
            id="unknown enum",
        ),
        pytest.param(
            {
                "replicaScheduling": {
                    "replicaSchedulingType": "Divided",
                    "replicaDivisionPreference": "Weighted",
                    "weightPreference": {
                        "staticWeightList": [{"targetCluster": {"clusterNames": ["member1"]}, "weight": -2}]
                    },
                }
            },
            "should be greater than or equal to 1",
            id="negative weight",
        ),
    ],
)
def test_an_invalid_policy_is_rejected_and_touches_nothing(
    fleet: SandboxHandle, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    hub = fleet.kubeconfig("hub")
    policy = weighted_policy("bad", "default", {"member1": 1})
    policy["spec"]["placement"].update(change)
    result = kubectl_apply(hub, tmp_path, policy, check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert kubectl_get(hub, "propagationpolicy.policy.kokpit.io", "bad", "default") is None


def test_a_malformed_json_patch_path_is_rejected(fleet: SandboxHandle, tmp_path: Path) -> None:
    hub = fleet.kubeconfig("hub")
    policy = {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "OverridePolicy",
        "metadata": {"name": "bad-path", "namespace": "default"},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
            "overrideRules": [
                {"overriders": {"plaintext": [{"path": "spec/replicas", "operator": "replace", "value": 1}]}}
            ],
        },
    }
    result = kubectl_apply(hub, tmp_path, policy, check=False)
    assert result.returncode != 0
    assert "path" in result.stderr
    assert kubectl_get(hub, "overridepolicy.policy.kokpit.io", "bad-path", "default") is None
