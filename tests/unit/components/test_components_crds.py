"""The Component and ComponentTemplate CRDs: v1beta1 stored, v1alpha1 served only with kokpit's
conversion webhook (conversion None without it); the schemas refuse what the models refuse."""

from __future__ import annotations

from typing import Any

import pytest

from kokpit.api.component import COMPONENT, COMPONENT_TEMPLATE
from kokpit.api.crd import ConversionWebhook, crd_manifest
from kokpit.api.registry import ALL_RESOURCES


def versions() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in crd_manifest(COMPONENT)["spec"]["versions"]}


def test_v1beta1_is_stored_and_v1alpha1_waits_for_the_conversion_webhook() -> None:
    served = versions()
    assert [(name, v["served"], v["storage"]) for name, v in served.items()] == [
        ("v1beta1", True, True),
        ("v1alpha1", False, False),
    ]
    assert crd_manifest(COMPONENT)["spec"]["conversion"] == {"strategy": "None"}


def test_with_the_conversion_webhook_both_versions_are_served_and_converted_through_it() -> None:
    webhook = ConversionWebhook(url="https://127.0.0.1:9443/convert/components", ca_bundle="Q0E=")
    manifest = crd_manifest(COMPONENT, webhook)
    assert [(v["name"], v["served"], v["storage"]) for v in manifest["spec"]["versions"]] == [
        ("v1beta1", True, True),
        ("v1alpha1", True, False),
    ]
    assert manifest["spec"]["conversion"] == {
        "strategy": "Webhook",
        "webhook": {
            "conversionReviewVersions": ["v1"],
            "clientConfig": {"url": "https://127.0.0.1:9443/convert/components", "caBundle": "Q0E="},
        },
    }


@pytest.mark.parametrize(
    ("version", "present", "absent"),
    [
        pytest.param(
            "v1alpha1",
            {"developLanguage", "port", "svc", "host"},
            {"language", "exposure"},
            id="v1alpha1 is flat",
        ),
        pytest.param(
            "v1beta1",
            {"language", "exposure"},
            {"developLanguage", "port", "svc", "host"},
            id="v1beta1 groups exposure",
        ),
    ],
)
def test_each_version_has_its_own_schema(version: str, present: set[str], absent: set[str]) -> None:
    spec = versions()[version]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    fields = set(spec["properties"])
    assert present <= fields
    assert not (absent & fields)
    assert {"workloadType", "runType", "image", "placement", "config"} <= fields


def test_the_schemas_refuse_bad_ports_and_workload_types() -> None:
    alpha = versions()["v1alpha1"]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert (alpha["port"]["minimum"], alpha["port"]["maximum"]) == (1, 65535)
    assert alpha["workloadType"]["enum"] == ["Deployment", "StatefulSet"]
    assert alpha["svc"]["properties"]["type"]["enum"] == ["ClusterIP", "NodePort", "external-lb"]
    assert alpha["config"].get("x-kubernetes-preserve-unknown-fields") is True
    service = versions()["v1beta1"]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "exposure"
    ]["properties"]["service"]
    assert service["properties"]["type"]["enum"] == ["ClusterIP", "NodePort", "LoadBalancer"]
    assert [r["message"] for r in service["x-kubernetes-validations"]] == [
        "loadBalancerClass is for Services of type LoadBalancer"
    ]


def test_columns_name_the_language_of_each_version() -> None:
    paths = {name: [c["jsonPath"] for c in v["additionalPrinterColumns"]] for name, v in versions().items()}
    assert ".spec.language" in paths["v1beta1"]
    assert ".spec.developLanguage" in paths["v1alpha1"]


def test_templates_are_cluster_scoped_single_version_and_registered() -> None:
    manifest = crd_manifest(COMPONENT_TEMPLATE)
    assert manifest["spec"]["scope"] == "Cluster"
    assert [v["name"] for v in manifest["spec"]["versions"]] == ["v1alpha1"]
    assert "conversion" not in manifest["spec"]
    assert COMPONENT in ALL_RESOURCES
    assert COMPONENT_TEMPLATE in ALL_RESOURCES
