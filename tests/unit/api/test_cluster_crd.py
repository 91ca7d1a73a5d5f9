"""The generated Cluster CRD is one the API server accepts and `kubectl get` reads well."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kokpit.api import ALL_RESOURCES, CLUSTER, crd_manifest
from kokpit.api.schema import Schema, iter_schema_nodes

CRD = crd_manifest(CLUSTER)
VERSION: dict[str, Any] = CRD["spec"]["versions"][0]
SCHEMA: Schema = VERSION["schema"]["openAPIV3Schema"]
SPEC: Schema = SCHEMA["properties"]["spec"]
STATUS: Schema = SCHEMA["properties"]["status"]
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


def test_identity() -> None:
    assert CRD["apiVersion"] == "apiextensions.k8s.io/v1"
    assert CRD["kind"] == "CustomResourceDefinition"
    assert CRD["metadata"]["name"] == "clusters.cluster.kokpit.io"
    assert CRD["spec"]["group"] == "cluster.kokpit.io"
    assert CRD["spec"]["scope"] == "Cluster"
    assert CRD["spec"]["names"] == {
        "kind": "Cluster",
        "listKind": "ClusterList",
        "plural": "clusters",
        "singular": "cluster",
        "categories": ["kokpit"],
        "shortNames": ["kcl", "kcluster"],
    }
    assert [(v["name"], v["served"], v["storage"]) for v in CRD["spec"]["versions"]] == [
        ("v1alpha1", True, True)
    ]
    assert VERSION["subresources"] == {"status": {}}


def test_every_resource_is_in_the_kokpit_category() -> None:
    assert CLUSTER in ALL_RESOURCES
    for resource in ALL_RESOURCES:
        assert crd_manifest(resource)["spec"]["names"]["categories"][0] == "kokpit"


def test_schema_is_structural() -> None:
    for path, node in iter_schema_nodes(SCHEMA):
        assert not FORBIDDEN & node.keys(), path
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert not ("properties" in node and "additionalProperties" in node), path
        assert node.get("default", "unset") is not None, path
        assert "nullable" not in node, path
        if node.get("x-kubernetes-list-type") == "map":
            item = node["items"]
            assert set(node["x-kubernetes-list-map-keys"]) <= set(item.get("required", [])), path


def test_top_level_has_kubernetes_fields_and_no_metadata_schema() -> None:
    assert list(SCHEMA["properties"]) == ["apiVersion", "kind", "metadata", "spec", "status"]
    assert SCHEMA["properties"]["metadata"] == {"type": "object"}
    assert SCHEMA["required"] == ["spec"]


@pytest.mark.parametrize(
    ("path", "values"),
    [
        pytest.param(("spec", "syncMode"), ["Push", "Pull"], id="syncMode"),
        pytest.param(
            ("spec", "taints", "[]", "effect"),
            ["NoSchedule", "PreferNoSchedule", "NoExecute"],
            id="taint effect",
        ),
        pytest.param(
            ("status", "conditions", "[]", "status"), ["True", "False", "Unknown"], id="condition status"
        ),
    ],
)
def test_enums(path: tuple[str, ...], values: list[str]) -> None:
    node = SCHEMA
    for step in path:
        node = node["items"] if step == "[]" else node["properties"][step]
    assert node["type"] == "string"
    assert node["enum"] == values


def test_spec_fields_follow_karmada_names() -> None:
    assert list(SPEC["properties"]) == [
        "syncMode",
        "apiEndpoint",
        "secretRef",
        "provider",
        "region",
        "zone",
        "taints",
    ]
    assert SPEC["required"] == ["syncMode"]
    assert SPEC["properties"]["secretRef"]["properties"]["namespace"]["default"] == "kokpit-system"
    for name in ("provider", "region", "zone"):
        assert SPEC["properties"][name]["maxLength"] == 63
    assert SPEC["properties"]["apiEndpoint"]["pattern"].startswith("^https://")


def test_status_fields() -> None:
    assert list(STATUS["properties"]) == [
        "conditions",
        "kubernetesVersion",
        "apiEnablements",
        "nodeSummary",
        "resourceSummary",
        "lastProbeTime",
    ]
    conditions = STATUS["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert conditions["items"]["required"] == ["type", "status", "lastTransitionTime", "reason", "message"]
    allocatable = STATUS["properties"]["resourceSummary"]["properties"]["allocatable"]
    assert allocatable == {
        "type": "object",
        "description": "What the nodes can hold in total.",
        "additionalProperties": {"type": "string"},
    }
    assert STATUS["properties"]["nodeSummary"]["properties"]["readyNum"]["format"] == "int32"
    # Nothing fills "allocating" (pods not yet scheduled), so the status does not declare it.
    assert list(STATUS["properties"]["resourceSummary"]["properties"]) == ["allocatable", "allocated"]


def test_secret_namespace_other_than_the_watched_one_is_refused_through_cel() -> None:
    secret_ref = SPEC["properties"]["secretRef"]
    [rule] = secret_ref["x-kubernetes-validations"]
    assert rule["rule"] == "!has(self.namespace) || self.namespace == 'kokpit-system'"
    assert rule["fieldPath"] == ".namespace"
    assert rule["message"].startswith("secretRef.namespace must be kokpit-system")


def test_push_requires_endpoint_and_secret_through_cel() -> None:
    rules = {rule["fieldPath"]: rule for rule in SPEC["x-kubernetes-validations"]}
    assert set(rules) == {".apiEndpoint", ".secretRef"}
    assert "self.syncMode != 'Push'" in rules[".secretRef"]["rule"]
    assert rules[".secretRef"]["reason"] == "FieldValueRequired"


def test_printer_columns() -> None:
    columns = {c["name"]: c for c in VERSION["additionalPrinterColumns"]}
    assert [c["name"] for c in VERSION["additionalPrinterColumns"] if not c.get("priority")] == [
        "Mode",
        "Ready",
        "Version",
        "Region",
        "Zone",
        "Nodes",
        "Age",
    ]
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Nodes"] == {
        "name": "Nodes",
        "type": "integer",
        "jsonPath": ".status.nodeSummary.readyNum",
        "description": "Number of ready nodes.",
    }
    assert columns["Age"]["type"] == "date"
    assert columns["Age"]["jsonPath"] == ".metadata.creationTimestamp"


def test_manifest_is_plain_yaml() -> None:
    assert yaml.safe_load(yaml.safe_dump(CRD)) == CRD


def test_the_model_refuses_another_secret_namespace_with_the_same_message() -> None:
    from pydantic import ValidationError

    from kokpit.api.cluster import ClusterSpec

    spec = {"syncMode": "Push", "apiEndpoint": "https://a.example", "secretRef": {"name": "a"}}
    with pytest.raises(ValidationError, match=r"secretRef\.namespace must be kokpit-system"):
        ClusterSpec.model_validate({**spec, "secretRef": {"name": "a", "namespace": "default"}})
    assert ClusterSpec.model_validate(spec).secret_ref is not None
