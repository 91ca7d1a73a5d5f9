"""Karmada's policy API on the real hub: the fields kokpit refuses are refused by the API server with a
message naming them (never pruned silently), and a fieldOverrider changes a file inside a ConfigMap's data
on the clusters it targets only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kokpit.api.override import FIELD_OVERRIDER_ONE_FORMAT
from kokpit.api.policy import (
    OVERFLOW_AFFINITIES_UNSUPPORTED,
    SCHEDULER_NAME_UNSUPPORTED,
    UNSUPPORTED_SPEC_FIELDS,
)
from tests.support import HubThread, SandboxHandle, kubectl, kubectl_apply, wait_until

pytestmark = pytest.mark.integration

NAMESPACE = "policy-api"
TIMEOUT = 120.0
SELECTORS = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}]


def get(kubeconfig: Path, resource: str, name: str, namespace: str) -> dict[str, Any] | None:
    args = [
        "get",
        resource,
        name,
        "-n",
        namespace,
        "-o",
        "json",
        "--ignore-not-found",
        "--request-timeout=5s",
    ]
    out = kubectl(kubeconfig, *args).stdout.strip()
    return json.loads(out) if out else None


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def propagation_policy(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"resourceSelectors": SELECTORS, **spec},
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({"preemption": "Always"}, UNSUPPORTED_SPEC_FIELDS["preemption"], id="preemption"),
        pytest.param(
            {"schedulePriority": {"priorityClassSource": "KubePriorityClass", "priorityClassName": "high"}},
            UNSUPPORTED_SPEC_FIELDS["schedulePriority"],
            id="schedulePriority",
        ),
        pytest.param(
            {"activationPreference": "Lazy"},
            UNSUPPORTED_SPEC_FIELDS["activationPreference"],
            id="activationPreference",
        ),
        pytest.param(
            {"dependentOverrides": ["web-eu"]},
            UNSUPPORTED_SPEC_FIELDS["dependentOverrides"],
            id="dependentOverrides",
        ),
        pytest.param(
            {"workloadAffinity": {"affinity": {"groupByLabelKey": "app"}}},
            UNSUPPORTED_SPEC_FIELDS["workloadAffinity"],
            id="workloadAffinity",
        ),
        pytest.param({"association": True}, UNSUPPORTED_SPEC_FIELDS["association"], id="association"),
        pytest.param({"schedulerName": "volcano"}, SCHEDULER_NAME_UNSUPPORTED, id="schedulerName of another"),
        pytest.param(
            {
                "placement": {
                    "clusterAffinities": [
                        {
                            "affinityName": "idc",
                            "clusterNames": ["member1"],
                            "overflowAffinities": [{"affinityName": "cloud", "clusterNames": ["member2"]}],
                        }
                    ]
                }
            },
            OVERFLOW_AFFINITIES_UNSUPPORTED,
            id="overflowAffinities",
        ),
    ],
)
def test_the_hub_refuses_what_kokpit_does_not_support(
    fleet: SandboxHandle, tmp_path: Path, spec: dict[str, Any], message: str
) -> None:
    hub = fleet.kubeconfig("hub")
    kubectl_apply(hub, tmp_path, namespace(NAMESPACE))
    result = kubectl_apply(hub, tmp_path, propagation_policy("refused", **spec), check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert get(hub, "propagationpolicies.policy.kokpit.io", "refused", NAMESPACE) is None


def test_the_hub_accepts_the_default_scheduler(fleet: SandboxHandle, tmp_path: Path) -> None:
    hub = fleet.kubeconfig("hub")
    kubectl_apply(hub, tmp_path, namespace(NAMESPACE))
    kubectl_apply(hub, tmp_path, propagation_policy("default-scheduler", schedulerName="default-scheduler"))
    stored = get(hub, "propagationpolicies.policy.kokpit.io", "default-scheduler", NAMESPACE)
    assert stored is not None and stored["spec"]["schedulerName"] == "default-scheduler"
    kubectl(hub, "delete", "propagationpolicies.policy.kokpit.io", "default-scheduler", "-n", NAMESPACE)


def test_the_hub_refuses_a_field_overrider_with_both_json_and_yaml(
    fleet: SandboxHandle, tmp_path: Path
) -> None:
    hub = fleet.kubeconfig("hub")
    kubectl_apply(hub, tmp_path, namespace(NAMESPACE))
    operation = {"subPath": "/a", "operator": "remove"}
    policy = {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "OverridePolicy",
        "metadata": {"name": "both", "namespace": NAMESPACE},
        "spec": {
            "resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap"}],
            "overrideRules": [
                {
                    "overriders": {
                        "fieldOverrider": [{"fieldPath": "/data/a", "json": [operation], "yaml": [operation]}]
                    }
                }
            ],
        },
    }
    result = kubectl_apply(hub, tmp_path, policy, check=False)
    assert result.returncode != 0
    assert FIELD_OVERRIDER_ONE_FORMAT in result.stderr


def test_a_field_overrider_changes_a_file_of_a_configmap_on_its_target_cluster_only(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path
) -> None:
    hub, ns, name = fleet.kubeconfig("hub"), "field-overrider", "app-config"
    config = {"db": {"host": "db.local", "port": 5432}}
    docs: list[dict[str, Any]] = [
        namespace(ns),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns},
            "data": {"config.json": json.dumps(config), "config.yaml": yaml.safe_dump(config)},
        },
        {
            "apiVersion": "policy.kokpit.io/v1alpha1",
            "kind": "PropagationPolicy",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap", "name": name}],
                "placement": {"clusterAffinity": {"clusterNames": ["member1", "member2"]}},
            },
        },
        {
            "apiVersion": "policy.kokpit.io/v1alpha1",
            "kind": "OverridePolicy",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap", "name": name}],
                "overrideRules": [
                    {
                        "targetCluster": {"clusterNames": ["member1"]},
                        "overriders": {
                            "fieldOverrider": [
                                {
                                    "fieldPath": "/data/config.json",
                                    "json": [
                                        {"subPath": "/db/host", "operator": "replace", "value": "db.member1"}
                                    ],
                                },
                                {
                                    "fieldPath": "/data/config.yaml",
                                    "yaml": [{"subPath": "/db/port", "operator": "replace", "value": 6432}],
                                },
                            ]
                        },
                    }
                ],
            },
        },
    ]
    kubectl_apply(hub, tmp_path, *docs)
    try:
        copies: dict[str, dict[str, Any]] = {}

        def overridden() -> bool:
            for member in ("member1", "member2"):
                found = get(fleet.kubeconfig(member), "configmap", name, ns)
                if found is None:
                    return False
                copies[member] = found
            return bool(json.loads(copies["member1"]["data"]["config.json"])["db"]["host"] == "db.member1")

        wait_until("the overridden ConfigMap on member1 and its copy on member2", overridden, timeout=TIMEOUT)
        one, two = copies["member1"]["data"], copies["member2"]["data"]
        assert json.loads(one["config.json"]) == {"db": {"host": "db.member1", "port": 5432}}
        assert yaml.safe_load(one["config.yaml"]) == {"db": {"host": "db.local", "port": 6432}}
        assert json.loads(two["config.json"]) == config
        assert yaml.safe_load(two["config.yaml"]) == config
    finally:
        kubectl(hub, "delete", "namespace", ns, "--wait=false")
