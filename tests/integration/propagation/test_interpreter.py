"""A custom kind with a ResourceInterpreter: its replicas divided, its health judged and its status
aggregated on the hub as for Deployments, the dependencies it declares following it; an interpreter
with a bad expression is not Accepted."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import HubThread, SandboxHandle, kubectl, kubectl_apply, kubectl_get, wait_until

pytestmark = pytest.mark.integration

MEMBERS = ("member1", "member2", "member3")
GROUP = "interp.example.com"
TIMEOUT = 90.0


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item["type"] == type_:
            return dict(item)
    return None


def member_spec(fleet: SandboxHandle, member: str, namespace: str) -> dict[str, Any]:
    args = ["get", f"gadgets.{GROUP}", "gear", "-n", namespace, "-o", "json", "--ignore-not-found"]
    out = fleet.kubectl(member, *args).stdout.strip()
    return dict(json.loads(out).get("spec") or {}) if out else {}


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"gadgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}

INTERPRETER_NAME = f"gadgets.{GROUP}"
INTERPRETER: dict[str, Any] = {
    "apiVersion": "config.kokpit.io/v1alpha1",
    "kind": "ResourceInterpreter",
    "metadata": {"name": f"gadgets.{GROUP}"},
    "spec": {
        "target": {"apiVersion": f"{GROUP}/v1", "kind": "Gadget"},
        "customizations": {
            "replicaResource": {"expression": "has(object.spec.size) ? object.spec.size : 1"},
            "replicaRevision": {"path": "spec.size"},
            "healthInterpretation": {
                "expression": "has(object.status.ready) && object.status.ready >= object.spec.size"
            },
            "statusAggregation": {
                "fields": [
                    {
                        "path": "status.ready",
                        "expression": "sum(items.map(i, has(i.status.ready) ? i.status.ready : 0))",
                    }
                ]
            },
        },
    },
}


@pytest.fixture(scope="module")
def hub(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The hub with every member Ready and the Gadget CRD on the hub and every member."""
    path = fleet.kubeconfig("hub")
    wait_until(
        "every member Ready",
        lambda: all(
            (condition(kubectl_get(path, "clusters.cluster.kokpit.io", m), "Ready") or {}).get("status")
            == "True"
            for m in MEMBERS
        ),
        timeout=120,
    )
    crd = tmp_path_factory.mktemp("interpreter") / "crd.yaml"
    crd.write_text(yaml.safe_dump(CRD))
    for cluster in ("hub", *MEMBERS):
        fleet.kubectl(cluster, "apply", "-f", str(crd))
        fleet.kubectl(cluster, "wait", "--for=condition=Established", f"crd/gadgets.{GROUP}", "--timeout=60s")
    try:
        yield path
    finally:
        for cluster in ("hub", *MEMBERS):
            fleet.kubectl(cluster, "delete", "crd", f"gadgets.{GROUP}", "--wait=false", check=False)


def test_a_custom_kind_is_divided_judged_and_aggregated_through_its_interpreter(
    hub: Path, fleet: SandboxHandle, tmp_path: Path
) -> None:
    namespace = f"interp-{uuid.uuid4().hex[:8]}"
    kubectl(hub, "create", "namespace", namespace)
    try:
        kubectl_apply(hub, tmp_path, INTERPRETER)
        wait_until(
            "the interpreter Accepted",
            lambda: (
                (
                    condition(
                        kubectl_get(hub, "resourceinterpreters.config.kokpit.io", INTERPRETER_NAME),
                        "Accepted",
                    )
                    or {}
                ).get("status")
                == "True"
            ),
            timeout=TIMEOUT,
        )
        kubectl_apply(
            hub,
            tmp_path,
            {
                "apiVersion": "policy.kokpit.io/v1alpha1",
                "kind": "PropagationPolicy",
                "metadata": {"name": "gadgets", "namespace": namespace},
                "spec": {
                    "resourceSelectors": [{"apiVersion": f"{GROUP}/v1", "kind": "Gadget"}],
                    "placement": {
                        "clusterAffinity": {"clusterNames": list(MEMBERS)},
                        "replicaScheduling": {
                            "replicaSchedulingType": "Divided",
                            "replicaDivisionPreference": "Weighted",
                            "weightPreference": {
                                "staticWeightList": [
                                    {"targetCluster": {"clusterNames": ["member1"]}, "weight": 2},
                                    {"targetCluster": {"clusterNames": ["member2"]}, "weight": 1},
                                    {"targetCluster": {"clusterNames": ["member3"]}, "weight": 1},
                                ]
                            },
                        },
                    },
                },
            },
            {
                "apiVersion": f"{GROUP}/v1",
                "kind": "Gadget",
                "metadata": {"name": "gear", "namespace": namespace},
                "spec": {"size": 8, "colour": "red"},
            },
        )
        expected = {"member1": 4, "member2": 2, "member3": 2}

        def member_sizes() -> dict[str, int | None]:
            return {m: member_spec(fleet, m, namespace).get("size") for m in MEMBERS}

        wait_until(
            "the Gadget divided 4/2/2 on the members", lambda: member_sizes() == expected, timeout=TIMEOUT
        )
        binding = kubectl_get(hub, "resourcebindings.work.kokpit.io", "gear-gadget", namespace) or {}
        assert binding["spec"]["replicas"] == 8

        for member, ready in expected.items():
            patch = json.dumps({"status": {"ready": ready}})
            fleet.kubectl(
                member,
                "patch",
                f"gadgets.{GROUP}",
                "gear",
                "-n",
                namespace,
                "--subresource=status",
                "--type=merge",
                "-p",
                patch,
            )

        def template() -> dict[str, Any]:
            return kubectl_get(hub, f"gadgets.{GROUP}", "gear", namespace) or {}

        wait_until(
            "the template's status aggregated and Available",
            lambda: (
                (template().get("status") or {}).get("ready") == 8
                and (condition(template(), "Available") or {}).get("status") == "True"
            ),
            timeout=TIMEOUT,
        )
    finally:
        kubectl(hub, "delete", "namespace", namespace, "--wait=false", check=False)
        kubectl(
            hub,
            "delete",
            "resourceinterpreters.config.kokpit.io",
            INTERPRETER_NAME,
            "--ignore-not-found",
            check=False,
        )


def test_an_interpreter_with_a_bad_expression_is_not_accepted_and_one_for_a_kokpit_kind_is_refused(
    hub: Path, tmp_path: Path
) -> None:
    name = f"bad-{uuid.uuid4().hex[:6]}"
    bad = {
        **INTERPRETER,
        "metadata": {"name": name},
        "spec": {
            "target": {"apiVersion": f"{GROUP}/v2", "kind": "Gadget"},
            "customizations": {"healthInterpretation": {"expression": "object.status.ready >="}},
        },
    }
    try:
        kubectl_apply(hub, tmp_path, bad)
        wait_until(
            "the bad interpreter not Accepted, naming the expression",
            lambda: (
                "healthInterpretation"
                in (
                    (
                        condition(kubectl_get(hub, "resourceinterpreters.config.kokpit.io", name), "Accepted")
                        or {}
                    ).get("message")
                    or ""
                )
            ),
            timeout=TIMEOUT,
        )
        kokpit_kind = {
            **INTERPRETER,
            "metadata": {"name": f"{name}-kokpit"},
            "spec": {
                "target": {"apiVersion": "policy.kokpit.io/v1alpha1", "kind": "PropagationPolicy"},
                "customizations": {},
            },
        }
        path = tmp_path / "kokpit-kind.yaml"
        path.write_text(yaml.safe_dump(kokpit_kind))
        refused = kubectl(hub, "apply", "-f", str(path), check=False)
        assert refused.returncode != 0
        assert "kokpit's own kinds" in refused.stderr
    finally:
        kubectl(
            hub, "delete", "resourceinterpreters.config.kokpit.io", name, "--ignore-not-found", check=False
        )


def test_a_custom_kind_s_declared_dependencies_follow_it_and_leave_when_no_longer_named(
    hub: Path, fleet: SandboxHandle, tmp_path: Path
) -> None:
    namespace = f"interp-deps-{uuid.uuid4().hex[:8]}"
    kubectl(hub, "create", "namespace", namespace)
    interpreter = {
        **INTERPRETER,
        "spec": {
            "target": {"apiVersion": f"{GROUP}/v1", "kind": "Gadget"},
            "customizations": {
                "dependencyInterpretation": {
                    "expression": "[{'apiVersion': 'v1', 'kind': 'ConfigMap', 'name': object.spec.config}]"
                }
            },
        },
    }

    def where(name: str) -> set[str]:
        found = set()
        for member in MEMBERS:
            args = ["get", "configmap", name, "-n", namespace, "--ignore-not-found", "-o", "name"]
            if fleet.kubectl(member, *args).stdout.strip():
                found.add(member)
        return found

    try:
        kubectl_apply(hub, tmp_path, interpreter)
        wait_until(
            "the interpreter Accepted",
            lambda: (
                (
                    condition(
                        kubectl_get(hub, "resourceinterpreters.config.kokpit.io", INTERPRETER_NAME),
                        "Accepted",
                    )
                    or {}
                ).get("status")
                == "True"
            ),
            timeout=TIMEOUT,
        )
        configs = [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": namespace}}
            for n in ("settings-a", "settings-b")
        ]
        policy = {
            "apiVersion": "policy.kokpit.io/v1alpha1",
            "kind": "PropagationPolicy",
            "metadata": {"name": "gadgets", "namespace": namespace},
            "spec": {
                "propagateDeps": True,
                "resourceSelectors": [{"apiVersion": f"{GROUP}/v1", "kind": "Gadget"}],
                "placement": {"clusterAffinity": {"clusterNames": ["member2"]}},
            },
        }

        def gadget(config: str) -> dict[str, Any]:
            return {
                "apiVersion": f"{GROUP}/v1",
                "kind": "Gadget",
                "metadata": {"name": "gear", "namespace": namespace},
                "spec": {"config": config},
            }

        kubectl_apply(hub, tmp_path, *configs, policy, gadget("settings-a"))
        wait_until("settings-a on member2 only", lambda: where("settings-a") == {"member2"}, timeout=TIMEOUT)
        assert where("settings-b") == set(), "a ConfigMap nothing names stays on the hub"

        kubectl_apply(hub, tmp_path, gadget("settings-b"))
        wait_until(
            "settings-b follows and settings-a leaves",
            lambda: where("settings-b") == {"member2"} and where("settings-a") == set(),
            timeout=TIMEOUT,
        )
    finally:
        kubectl(hub, "delete", "namespace", namespace, "--wait=false", check=False)
        kubectl(
            hub,
            "delete",
            "resourceinterpreters.config.kokpit.io",
            INTERPRETER_NAME,
            "--ignore-not-found",
            check=False,
        )
