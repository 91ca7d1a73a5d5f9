"""`work_render`: stripping server-set fields, replicas, overrides in Karmada's order, routing, the Work."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kokpit.api.override import AnyOverridePolicy, ClusterOverridePolicy, OverridePolicy
from kokpit.api.policy import ConflictResolution, ReplicaSchedulingType
from kokpit.propagation import ClusterInfo, OverrideError
from kokpit.propagation.names import BindingRef
from kokpit.propagation.work_render import (
    LAST_APPLIED_ANNOTATION,
    binding_ref_of,
    divided_replicas,
    override_rules,
    render_manifest,
    render_work,
    strip_template,
)

EU = ClusterInfo("member1", labels={"env": "prod"}, region="eu-west")
US = ClusterInfo("member2", region="us-east")
REF = BindingRef(namespace="shop", name="web-deployment")


def deployment(**metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web"},
            "uid": "1234",
            "resourceVersion": "77",
            "generation": 3,
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "managedFields": [{"manager": "kubectl"}],
            "finalizers": ["kokpit.io/propagation"],
            "ownerReferences": [{"kind": "X", "name": "x", "uid": "9", "apiVersion": "v1"}],
            "annotations": {LAST_APPLIED_ANNOTATION: "{}", "team": "shop"},
            **metadata,
        },
        "spec": {
            "replicas": 8,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "shop/web:1.0"}]},
            },
        },
        "status": {"replicas": 8},
    }


def override(
    kind: str, name: str, rules: list[dict[str, Any]], *, namespace: str | None = "shop"
) -> AnyOverridePolicy:
    body: dict[str, Any] = {
        "kind": kind,
        "metadata": {"name": name, **({"namespace": namespace} if kind == "OverridePolicy" else {})},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
            "overrideRules": rules,
        },
    }
    if kind == "OverridePolicy":
        return OverridePolicy.model_validate(body)
    return ClusterOverridePolicy.model_validate(body)


def label(key: str, value: str, *, clusters: list[str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"overriders": {"labelsOverrider": [{"operator": "add", "value": {key: value}}]}}
    if clusters is not None:
        rule["targetCluster"] = {"clusterNames": clusters}
    return rule


# --- strip_template --------------------------------------------------------------------------------------


def test_strip_removes_server_set_fields_and_keeps_the_rest() -> None:
    template = deployment()
    before = copy.deepcopy(template)
    out = strip_template(template)
    assert template == before, "the input must not change"
    assert "status" not in out
    assert out["metadata"] == {
        "name": "web",
        "namespace": "shop",
        "labels": {"app": "web"},
        "annotations": {"team": "shop"},
    }
    assert out["spec"] == template["spec"]


def test_strip_drops_an_annotations_map_left_empty() -> None:
    out = strip_template(deployment(annotations={LAST_APPLIED_ANNOTATION: "{}"}))
    assert "annotations" not in out["metadata"]


@pytest.mark.parametrize(
    ("template", "expected_spec"),
    [
        pytest.param(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "spec": {"clusterIP": "10.0.0.5", "clusterIPs": ["10.0.0.5"]},
            },
            {},
            id="service cluster IPs from the hub's range are dropped",
        ),
        pytest.param(
            {"apiVersion": "v1", "kind": "Service", "spec": {"clusterIP": "None", "clusterIPs": ["None"]}},
            {"clusterIP": "None", "clusterIPs": ["None"]},
            id="a headless service stays headless",
        ),
        pytest.param(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "spec": {
                    "selector": {"matchLabels": {"controller-uid": "u"}},
                    "template": {"metadata": {"labels": {"controller-uid": "u", "app": "j"}}},
                },
            },
            {"template": {"metadata": {"labels": {"app": "j"}}}},
            id="a job's generated selector and labels are dropped",
        ),
        pytest.param(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "spec": {"manualSelector": True, "selector": {"matchLabels": {"a": "b"}}},
            },
            {"manualSelector": True, "selector": {"matchLabels": {"a": "b"}}},
            id="a manual job selector is kept",
        ),
    ],
)
def test_strip_per_kind(template: dict[str, Any], expected_spec: dict[str, Any]) -> None:
    template = {**template, "metadata": {"name": "x", "namespace": "shop"}}
    assert strip_template(template)["spec"] == expected_spec


def test_strip_service_account_generated_token_secrets() -> None:
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "bot", "namespace": "shop"},
        "secrets": [{"name": "bot-token-abcde"}, {"name": "registry"}],
    }
    assert strip_template(account)["secrets"] == [{"name": "registry"}]


# --- render_manifest -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheduling", "share", "replicas"),
    [
        pytest.param(ReplicaSchedulingType.DIVIDED, 4, 4, id="divided: the cluster's share"),
        pytest.param(ReplicaSchedulingType.DUPLICATED, 8, 8, id="duplicated: the template's count"),
        pytest.param(None, 8, 8, id="no replica scheduling: the template's count"),
    ],
)
def test_replicas(scheduling: ReplicaSchedulingType | None, share: int, replicas: int) -> None:
    rendered = render_manifest(
        deployment(), cluster=EU, binding=REF, replicas=divided_replicas(scheduling, share)
    )
    assert rendered.manifest["spec"]["replicas"] == replicas


def test_replicas_are_not_added_to_kinds_without_them() -> None:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "shop"},
        "data": {},
    }
    rendered = render_manifest(config, cluster=EU, binding=REF, replicas=3)
    assert "spec" not in rendered.manifest


def test_routing_labels_and_annotations_are_added() -> None:
    metadata = render_manifest(deployment(), cluster=EU, binding=REF).manifest["metadata"]
    assert metadata["labels"] == {
        "app": "web",
        "kokpit.io/managed-by": "kokpit",
        "kokpit.io/binding-name": "web-deployment",
        "kokpit.io/binding-namespace": "shop",
        "kokpit.io/cluster": "member1",
    }
    assert metadata["annotations"]["kokpit.io/binding-kind"] == "ResourceBinding"
    assert metadata["annotations"]["team"] == "shop"


def test_an_override_cannot_remove_the_routing_labels() -> None:
    policy = override(
        "OverridePolicy",
        "strip",
        [
            {
                "overriders": {
                    "labelsOverrider": [{"operator": "remove", "value": {"kokpit.io/managed-by": ""}}]
                }
            }
        ],
    )
    _, rules = override_rules(deployment(), [policy])
    rendered = render_manifest(deployment(), cluster=EU, binding=REF, rules=rules)
    assert rendered.manifest["metadata"]["labels"]["kokpit.io/managed-by"] == "kokpit"


@pytest.mark.parametrize(
    ("policies", "cluster", "tier"),
    [
        pytest.param(
            [
                override("OverridePolicy", "a", [label("tier", "ns")]),
                override("ClusterOverridePolicy", "z", [label("tier", "cluster")]),
            ],
            EU,
            "ns",
            id="namespaced policies apply after cluster-wide ones and win",
        ),
        pytest.param(
            [
                override("OverridePolicy", "b", [label("tier", "b")]),
                override("OverridePolicy", "a", [label("tier", "a")]),
            ],
            EU,
            "b",
            id="within a kind, by name: b applies after a",
        ),
        pytest.param(
            [override("OverridePolicy", "a", [label("tier", "first"), label("tier", "second")])],
            EU,
            "second",
            id="a policy's rules in order",
        ),
        pytest.param(
            [override("OverridePolicy", "a", [label("tier", "eu", clusters=["member1"])])],
            US,
            None,
            id="a rule for another cluster does not apply",
        ),
    ],
)
def test_override_order(policies: list[AnyOverridePolicy], cluster: ClusterInfo, tier: str | None) -> None:
    _, rules = override_rules(deployment(), policies)
    rendered = render_manifest(deployment(), cluster=cluster, binding=REF, rules=rules)
    assert rendered.manifest["metadata"]["labels"].get("tier") == tier
    assert rendered.stripped["metadata"]["labels"] == {"app": "web"}


def test_overrides_see_the_divided_replicas() -> None:
    policy = override(
        "OverridePolicy",
        "pin",
        [{"overriders": {"plaintext": [{"path": "/spec/replicas", "operator": "replace", "value": 1}]}}],
    )
    _, rules = override_rules(deployment(), [policy])
    rendered = render_manifest(deployment(), cluster=EU, binding=REF, replicas=4, rules=rules)
    assert rendered.stripped["spec"]["replicas"] == 8
    assert rendered.overridden["spec"]["replicas"] == 1
    assert rendered.manifest["spec"]["replicas"] == 1
    assert rendered.changes == ["replaced /spec/replicas with 1"]


def test_override_errors_are_raised() -> None:
    policy = override(
        "OverridePolicy",
        "bad",
        [{"overriders": {"plaintext": [{"path": "/spec/missing/field", "operator": "replace", "value": 1}]}}],
    )
    _, rules = override_rules(deployment(), [policy])
    with pytest.raises(OverrideError):
        render_manifest(deployment(), cluster=EU, binding=REF, rules=rules)


def test_unmatched_override_policies_are_left_out() -> None:
    other = OverridePolicy.model_validate(
        {
            "metadata": {"name": "o", "namespace": "elsewhere"},
            "spec": {
                "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
                "overrideRules": [label("tier", "x")],
            },
        }
    )
    selected, rules = override_rules(deployment(), [other])
    assert selected == [] and rules == []


# --- binding_ref_of and render_work ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "ref"),
    [
        pytest.param(deployment(), BindingRef("shop", "web-deployment"), id="namespaced"),
        pytest.param(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "reader"},
            },
            BindingRef(None, "reader-clusterrole"),
            id="cluster-scoped",
        ),
    ],
)
def test_binding_ref_of(template: dict[str, Any], ref: BindingRef) -> None:
    assert binding_ref_of(template) == ref


@pytest.mark.parametrize(
    ("ref", "work_name", "preserve"),
    [
        pytest.param(REF, "shop.web-deployment", None, id="a ResourceBinding's Work"),
        pytest.param(
            BindingRef(None, "reader-clusterrole"),
            "reader-clusterrole",
            True,
            id="a ClusterResourceBinding's Work",
        ),
    ],
)
def test_render_work(ref: BindingRef, work_name: str, preserve: bool | None) -> None:
    manifest = render_manifest(deployment(), cluster=US, binding=ref).manifest
    work = render_work(
        manifest,
        cluster="member2",
        binding=ref,
        conflict_resolution=ConflictResolution.OVERWRITE,
        preserve_resources_on_deletion=preserve,
    )
    assert work["apiVersion"] == "work.kokpit.io/v1alpha1"
    assert work["kind"] == "Work"
    assert work["metadata"]["name"] == work_name
    assert work["metadata"]["namespace"] == "kokpit-es-member2"
    assert work["metadata"]["labels"]["kokpit.io/binding-name"] == ref.name
    assert work["metadata"]["labels"]["kokpit.io/cluster"] == "member2"
    assert work["metadata"]["annotations"]["kokpit.io/binding-kind"] == ref.kind
    assert work["spec"]["workload"]["manifests"] == [manifest]
    assert work["spec"]["conflictResolution"] == "Overwrite"
    assert work["spec"].get("preserveResourcesOnDeletion") == preserve
    # The execution finalizer comes with the Work's first write (no separate patch per Work).
    assert work["metadata"]["finalizers"] == ["work.kokpit.io/execution"]


@pytest.mark.parametrize(
    ("api_version", "kind", "reserved"),
    [
        pytest.param("policy.kokpit.io/v1alpha1", "PropagationPolicy", True, id="a kokpit policy"),
        pytest.param("work.kokpit.io/v1alpha1", "Work", True, id="a Work"),
        pytest.param("e2e.kokpit.io/v1", "Gadget", False, id="a user's CRD in another kokpit.io group"),
        pytest.param("v1", "Event", True, id="an Event"),
        pytest.param("apps/v1", "Deployment", False, id="a Deployment"),
    ],
)
def test_reserved_kinds(api_version: str, kind: str, reserved: bool) -> None:
    from kokpit.propagation.kinds import reserved_kind

    assert (reserved_kind(api_version, kind) is not None) == reserved
