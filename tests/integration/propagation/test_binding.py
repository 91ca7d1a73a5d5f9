"""Delivery's hub side end to end: templates + policies -> ResourceBindings -> Works in `kokpit-es-<member>`.

Runs the hub controllers in-process against the session sandbox and asserts on hub objects only (applying
Works to the members is the execution controller's job, tested on its own). Every test uses its own
namespace and names, and removes what it created.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from kokpit.cli.plan import plan
from tests.support import HubThread, SandboxHandle, kubectl, wait_until

pytestmark = pytest.mark.integration

MEMBERS = ("member1", "member2", "member3")
TIMEOUT = 90.0


# --- helpers ---------------------------------------------------------------------------------------------


def apply_yaml(hub: Path, tmp_path: Path, *docs: dict[str, Any]) -> None:
    path = tmp_path / f"{uuid.uuid4().hex}.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    kubectl(hub, "apply", "-f", str(path))


def get(hub: Path, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
    args = ["get", resource, name, "-o", "json", "--ignore-not-found"]
    if namespace:
        args += ["-n", namespace]
    out = kubectl(hub, *args).stdout.strip()
    return json.loads(out) if out else None


def binding(hub: Path, name: str, namespace: str | None) -> dict[str, Any] | None:
    kind = "resourcebindings.work.kokpit.io" if namespace else "clusterresourcebindings.work.kokpit.io"
    return get(hub, kind, name, namespace)


def work(hub: Path, member: str, name: str) -> dict[str, Any] | None:
    return get(hub, "works.work.kokpit.io", name, f"kokpit-es-{member}")


def manifest(hub: Path, member: str, name: str) -> dict[str, Any] | None:
    found = work(hub, member, name)
    if found is None:
        return None
    manifests = found["spec"]["workload"]["manifests"]
    return dict(manifests[0])


def placed(hub: Path, name: str, namespace: str | None) -> dict[str, int] | None:
    found = binding(hub, name, namespace)
    if found is None:
        return None
    return {c["name"]: c.get("replicas", 0) for c in found["spec"].get("clusters") or []}


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item["type"] == type_:
            return dict(item)
    return None


def deployment(name: str, namespace: str, replicas: int, image: str = "nginx:1.27") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }


def weighted_policy(
    name: str, namespace: str, selectors: list[dict[str, Any]], **placement: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "resourceSelectors": selectors,
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
                **placement,
            },
        },
    }


def set_taints(hub: Path, cluster: str, taints: list[dict[str, Any]]) -> None:
    patch = json.dumps({"spec": {"taints": taints or None}})
    kubectl(hub, "patch", "clusters.cluster.kokpit.io", cluster, "--type=merge", "-p", patch)


def cluster_taints(hub: Path, cluster: str) -> list[dict[str, Any]]:
    found = get(hub, "clusters.cluster.kokpit.io", cluster) or {}
    return list((found.get("spec") or {}).get("taints") or [])


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hub(fleet: SandboxHandle, hub_controllers: HubThread) -> Path:
    """The hub with every member Ready (the scheduler places nothing on a member not Ready yet)."""
    path = fleet.kubeconfig("hub")

    def all_ready() -> bool:
        return all(
            (condition(get(path, "clusters.cluster.kokpit.io", m), "Ready") or {}).get("status") == "True"
            for m in MEMBERS
        )

    wait_until("every member Ready", all_ready, timeout=120)
    return path


@pytest.fixture
def namespace(hub: Path) -> Iterator[str]:
    """A fresh hub namespace, deleted (templates, policies and all) after the test."""
    name = f"prop-{uuid.uuid4().hex[:8]}"
    kubectl(hub, "create", "namespace", name)
    try:
        yield name
    finally:
        kubectl(hub, "delete", "namespace", name, "--wait=false", check=False)


# --- tests -----------------------------------------------------------------------------------------------


def test_weighted_division_binding_and_works(hub: Path, namespace: str, tmp_path: Path) -> None:
    selectors = [{"apiVersion": "apps/v1", "kind": "Deployment"}, {"apiVersion": "v1", "kind": "ConfigMap"}]
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": namespace},
        "data": {"color": "blue"},
    }
    apply_yaml(
        hub,
        tmp_path,
        weighted_policy("spread", namespace, selectors),
        deployment("web", namespace, 8),
        config,
    )

    wait_until(
        "web placed 4/2/2",
        lambda: placed(hub, "web-deployment", namespace) == {"member1": 4, "member2": 2, "member3": 2},
        timeout=TIMEOUT,
    )
    rb = binding(hub, "web-deployment", namespace)
    assert rb is not None
    spec = rb["spec"]
    assert spec["resource"]["kind"] == "Deployment"
    assert spec["resource"]["name"] == "web"
    assert spec["replicas"] == 8
    assert spec["policyRef"] == {"kind": "PropagationPolicy", "namespace": namespace, "name": "spread"}
    assert {d["cluster"] for d in spec["decisions"]} >= set(MEMBERS)
    assert rb["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    wait_until(
        "Scheduled=True",
        lambda: (
            (condition(binding(hub, "web-deployment", namespace), "Scheduled") or {}).get("status") == "True"
        ),
        timeout=TIMEOUT,
    )
    # The binding holds the finalizer; the template carries none of kokpit's (Karmada's way).
    assert rb["metadata"]["finalizers"] == ["kokpit.io/binding"]
    template = get(hub, "deployment", "web", namespace)
    assert template is not None
    assert "kokpit.io/propagation" not in (template["metadata"].get("finalizers") or [])

    work_name = f"{namespace}.web-deployment"
    expected = {"member1": 4, "member2": 2, "member3": 2}
    wait_until(
        "a Work per member with its replicas",
        lambda: all(
            (manifest(hub, m, work_name) or {}).get("spec", {}).get("replicas") == r
            for m, r in expected.items()
        ),
        timeout=TIMEOUT,
    )
    for member in MEMBERS:
        found = work(hub, member, work_name)
        assert found is not None
        labels = found["metadata"]["labels"]
        assert labels["kokpit.io/binding-name"] == "web-deployment"
        assert labels["kokpit.io/binding-namespace"] == namespace
        assert labels["kokpit.io/cluster"] == member
        sent = found["spec"]["workload"]["manifests"][0]
        assert "status" not in sent
        for field in ("uid", "resourceVersion", "managedFields", "creationTimestamp", "finalizers"):
            assert field not in sent["metadata"], field
        assert sent["metadata"]["labels"]["kokpit.io/managed-by"] == "kokpit"
        assert found["spec"]["conflictResolution"] == "Abort"

    config_work = f"{namespace}.settings-configmap"
    wait_until(
        "the ConfigMap's Work on every member",
        lambda: all((manifest(hub, m, config_work) or {}).get("data") == {"color": "blue"} for m in MEMBERS),
        timeout=TIMEOUT,
    )
    assert placed(hub, "settings-configmap", namespace) == dict.fromkeys(MEMBERS, 0)

    # Editing the template updates every Work.
    kubectl(
        hub,
        "patch",
        "deployment",
        "web",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps(
            {
                "spec": {
                    "replicas": 4,
                    "template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.28"}]}},
                }
            }
        ),
    )
    expected = {"member1": 2, "member2": 1, "member3": 1}

    def updated() -> bool:
        for member, replicas in expected.items():
            sent = manifest(hub, member, work_name) or {}
            spec = sent.get("spec") or {}
            image = spec.get("template", {}).get("spec", {}).get("containers", [{}])[0].get("image")
            if spec.get("replicas") != replicas or image != "nginx:1.28":
                return False
        return True

    wait_until("the Works follow the edited template", updated, timeout=TIMEOUT)

    # Deleting the policy removes nothing.
    kubectl(hub, "delete", "propagationpolicies.policy.kokpit.io", "spread", "-n", namespace)
    wait_until(
        "the policy is gone",
        lambda: get(hub, "propagationpolicies.policy.kokpit.io", "spread", namespace) is None,
    )
    kubectl(
        hub,
        "patch",
        "configmap",
        "settings",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"data":{"color":"red"}}',
    )
    time.sleep(3)
    assert binding(hub, "settings-configmap", namespace) is not None
    for member in MEMBERS:
        assert (manifest(hub, member, config_work) or {}).get("data") == {"color": "blue"}
        assert work(hub, member, work_name) is not None

    # Deleting a template deletes its Works and its binding, and releases the template.
    kubectl(hub, "delete", "deployment", "web", "-n", namespace, "--wait=false")
    wait_until(
        "web's Works and binding deleted",
        lambda: (
            all(work(hub, m, work_name) is None for m in MEMBERS)
            and binding(hub, "web-deployment", namespace) is None
        ),
        timeout=TIMEOUT,
    )
    wait_until(
        "the template is gone", lambda: get(hub, "deployment", "web", namespace) is None, timeout=TIMEOUT
    )


def test_taints_keep_new_placements_away_unless_tolerated(hub: Path, namespace: str, tmp_path: Path) -> None:
    key = f"test.kokpit.io/{namespace}"
    original = cluster_taints(hub, "member3")
    set_taints(hub, "member3", [*original, {"key": key, "value": "x", "effect": "NoSchedule"}])
    try:
        by_name = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "plain"}]
        tolerant = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "tolerant"}]
        apply_yaml(
            hub,
            tmp_path,
            weighted_policy("plain", namespace, by_name),
            weighted_policy(
                "tolerant",
                namespace,
                tolerant,
                clusterTolerations=[{"key": key, "operator": "Exists", "effect": "NoSchedule"}],
            ),
            deployment("plain", namespace, 4),
            deployment("tolerant", namespace, 4),
        )
        wait_until(
            "plain placed away from the tainted member",
            lambda: placed(hub, "plain-deployment", namespace) == {"member1": 3, "member2": 1},
            timeout=TIMEOUT,
        )
        rb = binding(hub, "plain-deployment", namespace)
        assert rb is not None
        reasons = {d["cluster"]: d["reason"] for d in rb["spec"]["decisions"]}
        assert "taint" in reasons["member3"] and key in reasons["member3"]
        wait_until(
            "tolerant placed on every member",
            lambda: (
                placed(hub, "tolerant-deployment", namespace) == {"member1": 2, "member2": 1, "member3": 1}
            ),
            timeout=TIMEOUT,
        )
        assert work(hub, "member3", f"{namespace}.plain-deployment") is None
        wait_until(
            "tolerant's Work on the tainted member",
            lambda: work(hub, "member3", f"{namespace}.tolerant-deployment") is not None,
            timeout=TIMEOUT,
        )
    finally:
        set_taints(hub, "member3", [t for t in cluster_taints(hub, "member3") if t.get("key") != key])


CRD_GROUP = "e2e.example.com"


@pytest.fixture
def widget_crd(hub: Path, tmp_path: Path) -> Iterator[str]:
    """A small namespaced CRD on the hub: Widget.e2e.example.com/v1."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{CRD_GROUP}"},
        "spec": {
            "group": CRD_GROUP,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
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
    apply_yaml(hub, tmp_path, crd)
    kubectl(hub, "wait", "--for=condition=Established", f"crd/widgets.{CRD_GROUP}", "--timeout=60s")
    try:
        yield f"widgets.{CRD_GROUP}"
    finally:
        kubectl(hub, "delete", "crd", f"widgets.{CRD_GROUP}", "--wait=false", check=False)


def test_custom_kind_and_cluster_scoped_kind(
    hub: Path, namespace: str, widget_crd: str, tmp_path: Path
) -> None:
    role = f"{namespace}-reader"
    apply_yaml(
        hub,
        tmp_path,
        {
            "apiVersion": "policy.kokpit.io/v1alpha1",
            "kind": "PropagationPolicy",
            "metadata": {"name": "widgets", "namespace": namespace},
            "spec": {
                "resourceSelectors": [{"apiVersion": f"{CRD_GROUP}/v1", "kind": "Widget"}],
                "placement": {"clusterAffinity": {"clusterNames": ["member1", "member2"]}},
            },
        },
        {
            "apiVersion": "policy.kokpit.io/v1alpha1",
            "kind": "ClusterPropagationPolicy",
            "metadata": {"name": role},
            "spec": {
                "resourceSelectors": [
                    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "name": role}
                ],
                "placement": {"clusterAffinity": {"clusterNames": ["member2", "member3"]}},
            },
        },
        {
            "apiVersion": f"{CRD_GROUP}/v1",
            "kind": "Widget",
            "metadata": {"name": "gear", "namespace": namespace},
            "spec": {"teeth": 12},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
        },
    )
    try:
        wait_until(
            "the Widget bound to member1 and member2",
            lambda: placed(hub, "gear-widget", namespace) == {"member1": 0, "member2": 0},
            timeout=TIMEOUT,
        )
        for member in ("member1", "member2"):
            wait_until(
                f"the Widget's Work on {member}",
                lambda m=member: (
                    (manifest(hub, m, f"{namespace}.gear-widget") or {}).get("spec") == {"teeth": 12}
                ),  # type: ignore[misc]
                timeout=TIMEOUT,
            )
        crb_name = f"{role}-clusterrole"
        wait_until(
            "the ClusterRole bound to member2 and member3",
            lambda: placed(hub, crb_name, None) == {"member2": 0, "member3": 0},
            timeout=TIMEOUT,
        )
        crb = binding(hub, crb_name, None)
        assert crb is not None
        assert crb["spec"]["policyRef"] == {"kind": "ClusterPropagationPolicy", "name": role}
        for member in ("member2", "member3"):
            wait_until(
                f"the ClusterRole's Work on {member}",
                lambda m=member: (manifest(hub, m, crb_name) or {}).get("rules") is not None,  # type: ignore[misc]
                timeout=TIMEOUT,
            )
        assert work(hub, "member1", crb_name) is None
        policy = get(hub, "clusterpropagationpolicies.policy.kokpit.io", role)
        assert (condition(policy, "Ready") or {}).get("status") == "True"

        kubectl(hub, "delete", "clusterrole", role, "--wait=false")
        wait_until(
            "the ClusterRole's Works and binding deleted",
            lambda: (
                binding(hub, crb_name, None) is None and all(work(hub, m, crb_name) is None for m in MEMBERS)
            ),
            timeout=TIMEOUT,
        )
    finally:
        kubectl(hub, "delete", "clusterrole", role, "--ignore-not-found", "--wait=false", check=False)
        kubectl(
            hub,
            "delete",
            "clusterpropagationpolicies.policy.kokpit.io",
            role,
            "--ignore-not-found",
            check=False,
        )
        kubectl(hub, "delete", "widgets." + CRD_GROUP, "--all", "-n", namespace, "--wait=false", check=False)


def test_unknown_kind_and_no_cluster_fit_are_reported(hub: Path, namespace: str, tmp_path: Path) -> None:
    apply_yaml(
        hub,
        tmp_path,
        {
            "apiVersion": "policy.kokpit.io/v1alpha1",
            "kind": "PropagationPolicy",
            "metadata": {"name": "nowhere", "namespace": namespace},
            "spec": {
                "resourceSelectors": [
                    {"apiVersion": "v1", "kind": "Secret"},
                    {"apiVersion": "nothing.example.com/v1", "kind": "Ghost"},
                ],
                "placement": {"clusterAffinity": {"clusterNames": ["no-such-member"]}},
            },
        },
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token", "namespace": namespace}},
    )
    wait_until(
        "the policy says the kind is unknown",
        lambda: (
            (
                condition(get(hub, "propagationpolicies.policy.kokpit.io", "nowhere", namespace), "Ready")
                or {}
            ).get("reason")
            == "UnknownKind"
        ),
        timeout=TIMEOUT,
    )
    wait_until(
        "the Secret's binding says NoClusterFit",
        lambda: (
            (condition(binding(hub, "token-secret", namespace), "Scheduled") or {}).get("reason")
            == "NoClusterFit"
        ),
        timeout=TIMEOUT,
    )
    rb = binding(hub, "token-secret", namespace)
    assert rb is not None
    assert not rb["spec"].get("clusters")
    assert all(not d["selected"] for d in rb["spec"]["decisions"])


def test_plan_reads_the_hub_and_writes_nothing(hub: Path, namespace: str, tmp_path: Path) -> None:
    selectors = [{"apiVersion": "apps/v1", "kind": "Deployment"}, {"apiVersion": "v1", "kind": "ConfigMap"}]
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": namespace}}
    apply_yaml(hub, tmp_path, weighted_policy("spread", namespace, selectors), config)
    template = tmp_path / "web.yaml"
    template.write_text(yaml.safe_dump(deployment("web", namespace, 8)))
    app = typer.Typer()
    app.command()(plan)
    runner = CliRunner()

    result = runner.invoke(app, ["-f", str(template), "--hub-kubeconfig", str(hub)])
    assert result.exit_code == 0, result.output
    assert f"policy:   PropagationPolicy {namespace}/spread" in result.output
    for member, replicas in (("member1", 4), ("member2", 2), ("member3", 2)):
        assert f"{member}: selected, replicas {replicas} (selected)" in result.output
    assert "-  replicas: 8" in result.output
    assert get(hub, "deployment", "web", namespace) is None
    assert binding(hub, "web-deployment", namespace) is None

    result = runner.invoke(
        app, ["configmap/cfg", "-n", namespace, "-o", "yaml", "--hub-kubeconfig", str(hub)]
    )
    assert result.exit_code == 0, result.output
    assert f"template: ConfigMap {namespace}/cfg" in result.output
    assert "kokpit.io/cluster: member2" in result.output

    result = runner.invoke(app, ["configmap/absent", "-n", namespace, "--hub-kubeconfig", str(hub)])
    assert result.exit_code != 0


def test_a_reconcile_that_raises_after_scheduling_still_writes_its_conditions(
    hub: Path, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Applying the Works fails (injected into kokpit's binding reconciler, after `Scheduled` is decided):
    the binding still gets `Scheduled=True` for its generation and `schedulerObservedGeneration`, written
    by the status writer on the way out; the step after it left no Work and no `OverridesApplied`."""
    from kokpit.propagation.binding_controller import BindingReconciler

    async def failing_apply(self: BindingReconciler, cluster: str, work: dict[str, Any]) -> None:
        raise RuntimeError(f"injected: applying the Work for {cluster} fails")

    monkeypatch.setattr(BindingReconciler, "_apply_work", failing_apply)
    apply_yaml(
        hub,
        tmp_path,
        weighted_policy("doomed", namespace, [{"apiVersion": "v1", "kind": "ConfigMap", "name": "doomed"}]),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "doomed", "namespace": namespace}},
    )

    def scheduled() -> bool:
        return (condition(binding(hub, "doomed-configmap", namespace), "Scheduled") or {}).get(
            "status"
        ) == "True"

    wait_until("the binding is Scheduled despite the failure", scheduled, timeout=TIMEOUT)
    found = binding(hub, "doomed-configmap", namespace)
    assert found is not None
    generation = found["metadata"]["generation"]
    assert (condition(found, "Scheduled") or {}).get("observedGeneration") == generation
    assert found["status"]["schedulerObservedGeneration"] == generation
    assert condition(found, "OverridesApplied") is None, "the failing step never got that far"
    assert all(work(hub, m, f"{namespace}.doomed-configmap") is None for m in MEMBERS)


def test_negative_toleration_seconds_is_refused(hub: Path, namespace: str, tmp_path: Path) -> None:
    """A toleration lasts zero seconds or more; a negative one is refused, not read as zero."""
    policy = weighted_policy(
        "grace",
        namespace,
        [{"apiVersion": "v1", "kind": "ConfigMap"}],
        clusterTolerations=[
            {"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": -1}
        ],
    )
    path = tmp_path / "grace.yaml"
    path.write_text(yaml.safe_dump(policy))
    result = kubectl(hub, "apply", "-f", str(path), check=False)
    assert result.returncode != 0
    assert "tolerationSeconds" in result.stderr and "greater than or equal to 0" in result.stderr
    assert get(hub, "propagationpolicies.policy.kokpit.io", "grace", namespace) is None
