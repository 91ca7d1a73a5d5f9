"""The ConversionReview answer: every object converted, or Failed with the reason; the uid always echoed."""

from __future__ import annotations

from typing import Any

import pytest

from kokpit.components.review import answer_conversion_review


def component(api_version: str, **spec: Any) -> dict[str, Any]:
    base = {"workloadType": "Deployment", "runType": "server", "image": "demo:latest"}
    language = {"developLanguage": "python"} if api_version.endswith("v1alpha1") else {"language": "python"}
    return {
        "apiVersion": api_version,
        "kind": "Component",
        "metadata": {"name": "nginx"},
        "spec": base | language | spec,
    }


def review(desired: str, *objects: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {"uid": "u-1", "desiredAPIVersion": desired, "objects": list(objects)},
    } | overrides


def test_every_object_is_converted_to_the_desired_version() -> None:
    answer = answer_conversion_review(
        review(
            "apps.kokpit.io/v1beta1",
            component("apps.kokpit.io/v1alpha1", svc={"type": "external-lb"}),
            component("apps.kokpit.io/v1beta1"),
        )
    )
    assert answer["apiVersion"] == "apiextensions.k8s.io/v1"
    assert answer["kind"] == "ConversionReview"
    response = answer["response"]
    assert response["uid"] == "u-1"
    assert response["result"] == {"status": "Success"}
    assert [o["apiVersion"] for o in response["convertedObjects"]] == ["apps.kokpit.io/v1beta1"] * 2
    assert response["convertedObjects"][0]["spec"]["exposure"] == {
        "service": {"type": "LoadBalancer", "loadBalancerClass": "kokpit.io/l4"}
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            review("apps.kokpit.io/v2", component("apps.kokpit.io/v1alpha1")),
            "nginx: cannot convert to 'apps.kokpit.io/v2'",
            id="an unknown desired version fails naming the object",
        ),
        pytest.param(
            review("apps.kokpit.io/v1beta1", {"apiVersion": "v1", "kind": "ConfigMap"}),
            "objects[0] is not a Component",
            id="another kind fails",
        ),
        pytest.param(
            review("apps.kokpit.io/v1beta1", apiVersion="apiextensions.k8s.io/v1beta1"),
            "expected a apiextensions.k8s.io/v1 ConversionReview",
            id="the old review version fails",
        ),
        pytest.param(
            review("apps.kokpit.io/v1beta1") | {"request": {"uid": "u-1", "objects": []}},
            "needs desiredAPIVersion",
            id="a request without desiredAPIVersion fails",
        ),
    ],
)
def test_what_cannot_be_converted_is_answered_failed_with_the_reason(
    body: dict[str, Any], message: str
) -> None:
    response = answer_conversion_review(body)["response"]
    assert response["uid"] == "u-1"
    assert response["result"]["status"] == "Failed"
    assert message in response["result"]["message"]
    assert response["convertedObjects"] == []


def test_a_review_without_request_fails_without_uid() -> None:
    response = answer_conversion_review(
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview"}
    )["response"]
    assert response == {
        "uid": "",
        "convertedObjects": [],
        "result": {"status": "Failed", "message": "the ConversionReview has no request"},
    }
