"""Dependencies follow their workload (`propagateDeps: true`), on the real sandbox.

A Deployment's policy selects only the Deployment; the ConfigMap, Secret and ServiceAccount its pod
template references go to the same members through attached bindings, move with it, and leave a member
once nothing there references them. A policy asking for dependencies of kinds that have none is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kokpit.api.policy import PROPAGATE_DEPS_WITHOUT_POD_TEMPLATE
from tests.support import HubThread, SandboxHandle, kubectl, kubectl_apply, kubectl_get, wait_until

pytestmark = pytest.mark.integration

MEMBERS = ("member1", "member2", "member3")
TIMEOUT = 120.0
NS = "e2e-deps"
DEPENDENCIES = (("configmap", "web-config"), ("secret", "web-secret"), ("serviceaccount", "web-sa"))
WITH_DEPLOYMENT = (("deployment", "web"), *DEPENDENCIES)


def policy(clusters: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "propagateDeps": True,
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}],
            "placement": {"clusterAffinity": {"clusterNames": clusters}},
        },
    }


def deployment(*, with_config: bool = True) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "web", "image": "nginx:1.27"}
    if with_config:
        container["envFrom"] = [{"configMapRef": {"name": "web-config"}}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "serviceAccountName": "web-sa",
                    "containers": [container],
                    "volumes": [{"name": "certs", "secret": {"secretName": "web-secret"}}],
                },
            },
        },
    }


def templates() -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "web-config", "namespace": NS},
            "data": {"A": "1"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "other-config", "namespace": NS},
            "data": {"B": "2"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "web-secret", "namespace": NS},
            "stringData": {"tls.key": "not really"},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web-sa", "namespace": NS}},
    ]


def where(fleet: SandboxHandle, resource: str, name: str) -> set[str]:
    """The members holding `resource` `name` in the test namespace."""
    return {m for m in MEMBERS if kubectl_get(fleet.kubeconfig(m), resource, name, NS) is not None}


def placed(fleet: SandboxHandle, objects: tuple[tuple[str, str], ...], members: set[str]) -> bool:
    return all(where(fleet, resource, name) == members for resource, name in objects)


def test_dependencies_follow_the_deployment_and_leave_when_unreferenced(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path
) -> None:
    hub = fleet.kubeconfig("hub")
    kubectl_apply(hub, tmp_path, *templates())
    kubectl_apply(hub, tmp_path, policy(["member1", "member2"]), deployment())

    wait_until(
        "the Deployment and its ConfigMap, Secret and ServiceAccount on member1 and member2",
        lambda: placed(fleet, WITH_DEPLOYMENT, {"member1", "member2"}),
        timeout=TIMEOUT,
    )
    attached = kubectl_get(hub, "resourcebindings.work.kokpit.io", "web-config-configmap", NS)
    assert attached is not None
    assert attached["spec"]["requiredBy"] == [
        {
            "namespace": NS,
            "name": "web-deployment",
            "clusters": [{"name": "member1", "replicas": 1}, {"name": "member2", "replicas": 1}],
        }
    ]
    assert "policyRef" not in attached["spec"]
    owners = attached["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"]) for o in owners] == [("ConfigMap", "web-config")]
    workload = kubectl_get(hub, "resourcebindings.work.kokpit.io", "web-deployment", NS)
    assert workload is not None and workload["spec"]["propagateDeps"] is True
    assert where(fleet, "configmap", "other-config") == set()  # nothing references it

    # Moving the Deployment moves its dependencies.
    kubectl_apply(hub, tmp_path, policy(["member2", "member3"]))
    wait_until(
        "all four moved to member2 and member3",
        lambda: placed(fleet, WITH_DEPLOYMENT, {"member2", "member3"}),
        timeout=TIMEOUT,
    )

    # A ConfigMap the Deployment stops referencing leaves the members; the others stay.
    kubectl_apply(hub, tmp_path, deployment(with_config=False))
    wait_until(
        "web-config removed from the members",
        lambda: where(fleet, "configmap", "web-config") == set(),
        timeout=TIMEOUT,
    )
    wait_until(
        "web-config's attached binding gone from the hub",
        lambda: kubectl_get(hub, "resourcebindings.work.kokpit.io", "web-config-configmap", NS) is None,
        timeout=TIMEOUT,
    )
    assert placed(fleet, (("deployment", "web"), *DEPENDENCIES[1:]), {"member2", "member3"})
    assert kubectl_get(hub, "configmap", "web-config", NS) is not None  # the template itself stays on the hub

    # Bad input: dependencies of kinds without a pod template are refused, and nothing on the members moves.
    before = {m: kubectl_get(fleet.kubeconfig(m), "secret", "web-secret", NS) for m in ("member2", "member3")}
    refused = kubectl_apply(
        hub,
        tmp_path,
        {
            "apiVersion": "policy.kokpit.io/v1alpha1",
            "kind": "PropagationPolicy",
            "metadata": {"name": "configs", "namespace": NS},
            "spec": {
                "propagateDeps": True,
                "resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap"}],
            },
        },
        check=False,
    )
    assert refused.returncode != 0
    assert PROPAGATE_DEPS_WITHOUT_POD_TEMPLATE in refused.stderr
    assert kubectl_get(hub, "propagationpolicies.policy.kokpit.io", "configs", NS) is None
    assert where(fleet, "configmap", "other-config") == set()
    after = {m: kubectl_get(fleet.kubeconfig(m), "secret", "web-secret", NS) for m in ("member2", "member3")}
    assert {m: (o or {}).get("metadata", {}).get("resourceVersion") for m, o in after.items()} == {
        m: (o or {}).get("metadata", {}).get("resourceVersion") for m, o in before.items()
    }

    # Deleting the Deployment: nothing references the Secret and the ServiceAccount any more.
    kubectl(hub, "delete", "deployment", "web", "-n", NS, "--wait=true")
    wait_until(
        "the Deployment and its dependencies gone from every member",
        lambda: placed(fleet, WITH_DEPLOYMENT, set()),
        timeout=TIMEOUT,
    )
    kubectl(hub, "delete", "propagationpolicy.policy.kokpit.io", "web", "-n", NS)


def test_a_dependency_with_a_policy_of_its_own_goes_to_the_union_and_keeps_its_own_placement(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path
) -> None:
    hub, ns = fleet.kubeconfig("hub"), "e2e-deps-union"
    shared = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared", "namespace": ns}}
    own_policy = {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": "shared", "namespace": ns},
        "spec": {
            "resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "shared"}],
            "placement": {"clusterAffinity": {"clusterNames": ["member3"]}},
        },
    }
    workload_policy = {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": "api", "namespace": ns},
        "spec": {
            "propagateDeps": True,
            "resourceSelectors": [{"apiVersion": "batch/v1", "kind": "CronJob"}],
            "placement": {"clusterAffinity": {"clusterNames": ["member1"]}},
        },
    }
    cron_job = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "report", "namespace": ns},
        "spec": {
            "schedule": "0 0 1 1 *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "imagePullSecrets": [{"name": "absent"}],
                            "containers": [
                                {
                                    "name": "report",
                                    "image": "busybox:1.36",
                                    "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}],
                                }
                            ],
                            "volumes": [{"name": "cfg", "configMap": {"name": "shared"}}],
                        }
                    }
                }
            },
        },
    }
    kubectl_apply(hub, tmp_path, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    kubectl_apply(hub, tmp_path, shared, own_policy, workload_policy, cron_job)

    def on(resource: str, name: str) -> set[str]:
        return {m for m in MEMBERS if kubectl_get(fleet.kubeconfig(m), resource, name, ns) is not None}

    wait_until(
        "the ConfigMap on its own member3 and the CronJob's member1",
        lambda: (
            on("configmap", "shared") == {"member1", "member3"} and on("cronjob", "report") == {"member1"}
        ),
        timeout=TIMEOUT,
    )
    binding = kubectl_get(hub, "resourcebindings.work.kokpit.io", "shared-configmap", ns)
    assert binding is not None
    assert [c["name"] for c in binding["spec"]["clusters"]] == ["member3"]

    def missing_reported() -> bool:
        events = kubectl(
            hub, "get", "events", "-n", ns, "--field-selector", "reason=DependencyMissing", "-o", "json"
        ).stdout
        notes = [str(e.get("note") or e.get("message")) for e in json.loads(events).get("items") or ()]
        return any("Secret e2e-deps-union/absent" in note for note in notes)

    wait_until("a DependencyMissing Event for the Secret the hub lacks", missing_reported, timeout=TIMEOUT)
    assert on("secret", "absent") == set()  # its own placement, unchanged
    assert [s["name"] for s in binding["spec"]["requiredBy"]] == ["report-cronjob"]

    kubectl(hub, "delete", "cronjob", "report", "-n", ns, "--wait=true")
    wait_until(
        "the ConfigMap left member1 and stayed on member3",
        lambda: on("configmap", "shared") == {"member3"} and on("cronjob", "report") == set(),
        timeout=TIMEOUT,
    )
    binding = kubectl_get(hub, "resourcebindings.work.kokpit.io", "shared-configmap", ns)
    assert binding is not None and "requiredBy" not in binding["spec"]
