"""The delivery CRDs (policies, bindings, Work) are structural, carry their enums and CEL rules, and the
models reject the same bad input the API server does."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from kokpit.api import ALL_RESOURCES, crd_manifest
from kokpit.api.crd import ResourceType
from kokpit.api.override import CLUSTER_OVERRIDE_POLICY, OVERRIDE_POLICY, OverridePolicy
from kokpit.api.policy import (
    CLUSTER_PROPAGATION_POLICY,
    PROPAGATION_POLICY,
    ClusterPropagationPolicy,
    PropagationPolicy,
)
from kokpit.api.schema import Schema, iter_schema_nodes
from kokpit.api.work import CLUSTER_RESOURCE_BINDING, RESOURCE_BINDING, WORK, ResourceBinding, Work

DELIVERY = [
    PROPAGATION_POLICY,
    CLUSTER_PROPAGATION_POLICY,
    OVERRIDE_POLICY,
    CLUSTER_OVERRIDE_POLICY,
    RESOURCE_BINDING,
    CLUSTER_RESOURCE_BINDING,
    WORK,
]
FORBIDDEN = {
    "$ref",
    "$defs",
    "definitions",
    "anyOf",
    "allOf",
    "oneOf",
    "not",
    "title",
    "const",
    "uniqueItems",
}


def schema_of(resource: ResourceType) -> Schema:
    schema: Schema = crd_manifest(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def node(resource: ResourceType, path: str) -> Schema:
    """The schema node at a dotted path; `[]` steps into list items."""
    current = schema_of(resource)
    for step in path.split("."):
        current = current["items"] if step == "[]" else current["properties"][step]
    return current


@pytest.mark.parametrize(
    ("resource", "name", "scope", "short"),
    [
        pytest.param(
            PROPAGATION_POLICY,
            "propagationpolicies.policy.kokpit.io",
            "Namespaced",
            "pp",
            id="PropagationPolicy",
        ),
        pytest.param(
            CLUSTER_PROPAGATION_POLICY,
            "clusterpropagationpolicies.policy.kokpit.io",
            "Cluster",
            "cpp",
            id="ClusterPropagationPolicy",
        ),
        pytest.param(
            OVERRIDE_POLICY, "overridepolicies.policy.kokpit.io", "Namespaced", "op", id="OverridePolicy"
        ),
        pytest.param(
            CLUSTER_OVERRIDE_POLICY,
            "clusteroverridepolicies.policy.kokpit.io",
            "Cluster",
            "cop",
            id="ClusterOverridePolicy",
        ),
        pytest.param(
            RESOURCE_BINDING, "resourcebindings.work.kokpit.io", "Namespaced", "rb", id="ResourceBinding"
        ),
        pytest.param(
            CLUSTER_RESOURCE_BINDING,
            "clusterresourcebindings.work.kokpit.io",
            "Cluster",
            "crb",
            id="ClusterResourceBinding",
        ),
        pytest.param(WORK, "works.work.kokpit.io", "Namespaced", "kw", id="Work"),
    ],
)
def test_identity(resource: ResourceType, name: str, scope: str, short: str) -> None:
    crd = crd_manifest(resource)
    assert crd["metadata"]["name"] == name
    assert crd["spec"]["scope"] == scope
    assert crd["spec"]["names"]["shortNames"] == [short]
    assert crd["spec"]["names"]["categories"] == ["kokpit"]
    assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}
    assert resource in ALL_RESOURCES


@pytest.mark.parametrize("resource", DELIVERY, ids=lambda r: r.kind)
def test_schema_is_structural(resource: ResourceType) -> None:
    schema = schema_of(resource)
    for path, item in iter_schema_nodes(schema):
        assert not FORBIDDEN & item.keys(), path
        assert "type" in item or item.get("x-kubernetes-preserve-unknown-fields"), path
        assert not ("properties" in item and "additionalProperties" in item), path
        assert item.get("default", "unset") is not None, path
        if item.get("x-kubernetes-list-type") == "map":
            assert set(item["x-kubernetes-list-map-keys"]) <= set(item["items"].get("required", [])), path
    assert yaml.safe_load(yaml.safe_dump(crd_manifest(resource))) == crd_manifest(resource)


def test_cluster_and_namespaced_variants_share_their_spec() -> None:
    assert node(PROPAGATION_POLICY, "spec") == node(CLUSTER_PROPAGATION_POLICY, "spec")
    assert node(OVERRIDE_POLICY, "spec") == node(CLUSTER_OVERRIDE_POLICY, "spec")
    assert node(RESOURCE_BINDING, "spec") == node(CLUSTER_RESOURCE_BINDING, "spec")


@pytest.mark.parametrize(
    ("resource", "path", "values"),
    [
        pytest.param(
            PROPAGATION_POLICY, "spec.conflictResolution", ["Abort", "Overwrite"], id="conflictResolution"
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.replicaScheduling.replicaSchedulingType",
            ["Duplicated", "Divided"],
            id="replicaSchedulingType",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.replicaScheduling.replicaDivisionPreference",
            ["Aggregated", "Weighted"],
            id="replicaDivisionPreference",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.replicaScheduling.weightPreference.dynamicWeight",
            ["AvailableReplicas"],
            id="dynamicWeight",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.clusterTolerations.[].operator",
            ["Exists", "Equal"],
            id="toleration operator",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.clusterTolerations.[].effect",
            ["NoSchedule", "PreferNoSchedule", "NoExecute"],
            id="toleration effect",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.spreadConstraints.[].spreadByField",
            ["cluster", "region", "zone", "provider"],
            id="spreadByField",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.clusterAffinity.fieldSelector.matchExpressions.[].key",
            ["provider", "region", "zone"],
            id="field selector key",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.clusterAffinity.fieldSelector.matchExpressions.[].operator",
            ["In", "NotIn"],
            id="field selector operator",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.resourceSelectors.[].labelSelector.matchExpressions.[].operator",
            ["In", "NotIn", "Exists", "DoesNotExist"],
            id="label selector operator",
        ),
        pytest.param(
            OVERRIDE_POLICY,
            "spec.overrideRules.[].overriders.imageOverrider.[].component",
            ["Registry", "Repository", "Tag"],
            id="image component",
        ),
        pytest.param(
            OVERRIDE_POLICY,
            "spec.overrideRules.[].overriders.imageOverrider.[].operator",
            ["add", "remove", "replace"],
            id="image operator",
        ),
        pytest.param(
            OVERRIDE_POLICY,
            "spec.overrideRules.[].overriders.commandOverrider.[].operator",
            ["add", "remove"],
            id="command operator",
        ),
        pytest.param(
            OVERRIDE_POLICY,
            "spec.overrideRules.[].overriders.plaintext.[].operator",
            ["add", "remove", "replace"],
            id="plaintext operator",
        ),
        pytest.param(
            RESOURCE_BINDING,
            "status.aggregatedStatus.[].health",
            ["Healthy", "Unhealthy", "Unknown"],
            id="binding health",
        ),
        pytest.param(
            RESOURCE_BINDING,
            "spec.policyRef.kind",
            ["PropagationPolicy", "ClusterPropagationPolicy"],
            id="policyRef kind",
        ),
        pytest.param(
            WORK,
            "status.manifestStatuses.[].health",
            ["Healthy", "Unhealthy", "Unknown"],
            id="manifest health",
        ),
    ],
)
def test_enums(resource: ResourceType, path: str, values: list[str]) -> None:
    item = node(resource, path)
    assert item["type"] == "string"
    assert item["enum"] == values


@pytest.mark.parametrize(
    ("resource", "path", "expected"),
    [
        pytest.param(
            PROPAGATION_POLICY,
            "spec.priority",
            {"type": "integer", "default": 0},
            id="priority defaults to 0",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.conflictResolution",
            {"default": "Abort"},
            id="conflictResolution defaults to Abort",
        ),
        pytest.param(
            PROPAGATION_POLICY, "spec.resourceSelectors", {"minItems": 1}, id="at least one selector"
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.resourceSelectors.[]",
            {"required": ["apiVersion", "kind"]},
            id="apiVersion and kind required",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.replicaScheduling.weightPreference.staticWeightList.[].weight",
            {"minimum": 1},
            id="weight at least 1",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.clusterAffinities",
            {"x-kubernetes-list-map-keys": ["affinityName"]},
            id="affinities keyed by name",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.preserveResourcesOnDeletion",
            {"type": "boolean"},
            id="preserveResourcesOnDeletion",
        ),
        pytest.param(
            OVERRIDE_POLICY,
            "spec.overrideRules.[].overriders.plaintext.[].path",
            {"pattern": "^(/([^~/]|~[01])*)+$"},
            id="plaintext path is a JSON pointer",
        ),
        pytest.param(
            OVERRIDE_POLICY,
            "spec.overrideRules.[].overriders.imageOverrider.[].predicate.path",
            {"pattern": "^(/([^~/]|~[01])*)+$"},
            id="predicate path is a JSON pointer",
        ),
        pytest.param(
            OVERRIDE_POLICY,
            "spec.overrideRules.[].overriders.plaintext.[].value",
            {"x-kubernetes-preserve-unknown-fields": True},
            id="plaintext value is any JSON",
        ),
        pytest.param(
            RESOURCE_BINDING,
            "status.aggregatedStatus.[].status",
            {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            id="aggregated status is free-form",
        ),
        pytest.param(
            RESOURCE_BINDING,
            "spec.clusters",
            {"x-kubernetes-list-map-keys": ["name"]},
            id="clusters keyed by name",
        ),
        pytest.param(
            RESOURCE_BINDING,
            "spec.decisions",
            {"x-kubernetes-list-map-keys": ["cluster"]},
            id="decisions keyed by cluster",
        ),
        pytest.param(RESOURCE_BINDING, "spec.placement", {"type": "object"}, id="placement copied"),
        pytest.param(
            RESOURCE_BINDING,
            "status.schedulerObservedGeneration",
            {"type": "integer"},
            id="schedulerObservedGeneration",
        ),
        pytest.param(
            WORK,
            "spec.workload.manifests.[]",
            {"x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True},
            id="manifests are whole objects",
        ),
        pytest.param(
            WORK,
            "status.manifestStatuses.[].identifier",
            {"required": ["ordinal", "version", "kind", "name"]},
            id="identifier",
        ),
    ],
)
def test_fields(resource: ResourceType, path: str, expected: dict[str, Any]) -> None:
    item = node(resource, path)
    assert {key: item.get(key) for key in expected} == expected


def rules(resource: ResourceType, path: str) -> dict[str, str]:
    return {rule["message"]: rule["rule"] for rule in node(resource, path)["x-kubernetes-validations"]}


@pytest.mark.parametrize(
    ("resource", "path", "message"),
    [
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement",
            "clusterAffinity and clusterAffinities are mutually exclusive",
            id="affinity xor affinities",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement",
            "at most one spread constraint may spread by cluster",
            id="one cluster spread",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.spreadConstraints.[]",
            "exactly one of spreadByField and spreadByLabel must be set",
            id="field xor label",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.spreadConstraints.[]",
            "minGroups must not be greater than maxGroups",
            id="min <= max",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.clusterTolerations.[]",
            "value must be empty when operator is Exists",
            id="Exists without value",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.clusterTolerations.[]",
            "an empty key tolerates every taint and needs operator Exists",
            id="empty key needs Exists",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.replicaScheduling",
            "replicaDivisionPreference applies only to replicaSchedulingType Divided",
            id="preference only when Divided",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.placement.replicaScheduling.weightPreference",
            "staticWeightList and dynamicWeight are mutually exclusive",
            id="static xor dynamic",
        ),
        pytest.param(
            PROPAGATION_POLICY,
            "spec.resourceSelectors.[].labelSelector.matchExpressions.[]",
            "values must be non-empty for In and NotIn, and absent for Exists and DoesNotExist",
            id="label requirement values",
        ),
        pytest.param(
            OVERRIDE_POLICY,
            "spec.overrideRules.[].overriders.imageOverrider.[]",
            "value is required when operator is add or replace",
            id="image value",
        ),
    ],
)
def test_cel_rules(resource: ResourceType, path: str, message: str) -> None:
    assert message in rules(resource, path)


def test_printer_columns() -> None:
    def columns(resource: ResourceType) -> list[str]:
        version = crd_manifest(resource)["spec"]["versions"][0]
        return [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]

    assert columns(RESOURCE_BINDING) == ["Scheduled", "FullyApplied", "Age"]
    assert columns(WORK) == ["Kind", "Applied", "Available", "Age"]
    assert columns(PROPAGATION_POLICY) == ["Priority", "Ready", "Age"]


KARMADA_STYLE_POLICY: dict[str, Any] = {
    "apiVersion": "policy.kokpit.io/v1alpha1",
    "kind": "PropagationPolicy",
    "metadata": {"name": "nginx", "namespace": "default"},
    "spec": {
        "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"}],
        "placement": {
            "clusterAffinity": {"clusterNames": ["member1", "member2"]},
            "clusterTolerations": [
                {
                    "key": "cluster.kokpit.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                }
            ],
            "replicaScheduling": {
                "replicaSchedulingType": "Divided",
                "replicaDivisionPreference": "Weighted",
                "weightPreference": {
                    "staticWeightList": [
                        {"targetCluster": {"clusterNames": ["member1"]}, "weight": 1},
                        {"targetCluster": {"clusterNames": ["member2"]}, "weight": 2},
                    ]
                },
            },
        },
    },
}


def test_a_karmada_style_policy_reads_and_writes_back_unchanged() -> None:
    policy = PropagationPolicy.model_validate(KARMADA_STYLE_POLICY)
    assert policy.spec.priority == 0
    dumped = policy.to_dict()
    assert dumped["spec"]["placement"] == KARMADA_STYLE_POLICY["spec"]["placement"]
    assert dumped["spec"]["conflictResolution"] == "Abort"


def with_placement(placement: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "p"},
        "spec": {"resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap"}], "placement": placement},
    }


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        pytest.param(
            {"clusterAffinity": {}, "clusterAffinities": [{"affinityName": "a"}]},
            "mutually exclusive",
            id="affinity and affinities",
        ),
        pytest.param(
            {"clusterTolerations": [{"operator": "Equal", "value": "x"}]},
            "empty key",
            id="empty key with Equal",
        ),
        pytest.param(
            {
                "clusterTolerations": [
                    {"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": -1}
                ]
            },
            "greater than or equal to 0",
            id="negative tolerationSeconds",
        ),
        pytest.param(
            {"clusterTolerations": [{"key": "k", "operator": "Exists", "value": "x"}]},
            "value must be empty",
            id="Exists with value",
        ),
        pytest.param(
            {"spreadConstraints": [{"spreadByField": "region", "spreadByLabel": "x"}]},
            "exactly one",
            id="field and label",
        ),
        pytest.param(
            {"spreadConstraints": [{"spreadByField": "zone", "minGroups": 3, "maxGroups": 2}]},
            "minGroups",
            id="min above max",
        ),
        pytest.param(
            {"spreadConstraints": [{"spreadByField": "zone"}, {"spreadByField": "region"}]},
            "at most one spread",
            id="two group spreads",
        ),
        pytest.param(
            {
                "replicaScheduling": {
                    "replicaSchedulingType": "Duplicated",
                    "replicaDivisionPreference": "Weighted",
                }
            },
            "only to replicaSchedulingType Divided",
            id="preference with Duplicated",
        ),
        pytest.param(
            {
                "replicaScheduling": {
                    "replicaSchedulingType": "Divided",
                    "replicaDivisionPreference": "Weighted",
                    "weightPreference": {"staticWeightList": [{"targetCluster": {}, "weight": 0}]},
                }
            },
            "greater than or equal to 1",
            id="weight 0",
        ),
        pytest.param(
            {
                "replicaScheduling": {
                    "replicaSchedulingType": "Divided",
                    "replicaDivisionPreference": "Weighted",
                    "weightPreference": {
                        "dynamicWeight": "AvailableReplicas",
                        "staticWeightList": [{"targetCluster": {}, "weight": 1}],
                    },
                }
            },
            "mutually exclusive",
            id="static and dynamic",
        ),
        pytest.param(
            {
                "clusterAffinity": {
                    "fieldSelector": {
                        "matchExpressions": [{"key": "rack", "operator": "In", "values": ["1"]}]
                    }
                }
            },
            "provider",
            id="unknown field key",
        ),
    ],
)
def test_models_reject_what_the_schema_rejects(placement: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ClusterPropagationPolicy.model_validate(with_placement(placement))


@pytest.mark.parametrize(
    ("overriders", "message"),
    [
        pytest.param(
            {"imageOverrider": [{"component": "Tag", "operator": "replace"}]},
            "value is required",
            id="image without value",
        ),
        pytest.param(
            {"plaintext": [{"path": "/spec/x", "operator": "add"}]},
            "value is required",
            id="plaintext without value",
        ),
        pytest.param(
            {"plaintext": [{"path": "spec/x", "operator": "remove"}]},
            "pattern",
            id="plaintext path not a pointer",
        ),
        pytest.param(
            {"commandOverrider": [{"containerName": "c", "operator": "replace"}]},
            "'add' or 'remove'",
            id="command replace",
        ),
    ],
)
def test_override_models_reject_bad_overriders(overriders: dict[str, Any], message: str) -> None:
    body = {
        "metadata": {"name": "o", "namespace": "default"},
        "spec": {
            "resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap"}],
            "overrideRules": [{"overriders": overriders}],
        },
    }
    with pytest.raises(ValidationError, match=message):
        OverridePolicy.model_validate(body)


def test_plaintext_null_value_is_a_value() -> None:
    body = {
        "metadata": {"name": "o", "namespace": "default"},
        "spec": {
            "resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap"}],
            "overrideRules": [
                {"overriders": {"plaintext": [{"path": "/data/x", "operator": "add", "value": None}]}}
            ],
        },
    }
    policy = OverridePolicy.model_validate(body)
    assert policy.spec.override_rules[0].overriders.plaintext is not None


def test_binding_and_work_round_trip() -> None:
    binding = {
        "apiVersion": "work.kokpit.io/v1alpha1",
        "kind": "ResourceBinding",
        "metadata": {"name": "web-deployment", "namespace": "shop"},
        "spec": {
            "resource": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "namespace": "shop",
                "name": "web",
                "uid": "u",
            },
            "replicas": 3,
            "policyRef": {"kind": "PropagationPolicy", "namespace": "shop", "name": "web"},
            "conflictResolution": "Abort",
            "clusters": [{"name": "a", "replicas": 2}, {"name": "b", "replicas": 1}],
            "decisions": [
                {"cluster": "a", "selected": True, "replicas": 2, "reason": "selected"},
                {"cluster": "c", "selected": False, "replicas": 0, "reason": "excluded"},
            ],
        },
        "status": {
            "aggregatedStatus": [
                {"clusterName": "a", "applied": True, "health": "Healthy", "status": {"readyReplicas": 2}}
            ],
            "schedulerObservedGeneration": 4,
        },
    }
    assert ResourceBinding.model_validate(binding).to_dict() == binding
    work = {
        "apiVersion": "work.kokpit.io/v1alpha1",
        "kind": "Work",
        "metadata": {"name": "shop.web-deployment", "namespace": "kokpit-es-a"},
        "spec": {
            "workload": {"manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}]}
        },
        "status": {
            "manifestStatuses": [
                {
                    "identifier": {
                        "ordinal": 0,
                        "group": "",
                        "version": "v1",
                        "kind": "ConfigMap",
                        "name": "x",
                    },
                    "health": "Healthy",
                }
            ]
        },
    }
    assert Work.model_validate(work).to_dict() == work
