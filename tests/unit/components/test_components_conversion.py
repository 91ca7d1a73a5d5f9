"""Component conversion: v1alpha1 and v1beta1 round trips are exact, the mapping reads as documented."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kokpit.api.component import Component, ComponentV1Alpha1
from kokpit.components.conversion import (
    CONVERSION_ANNOTATION,
    ConversionError,
    convert,
    to_v1alpha1,
    to_v1beta1,
)

ALPHA = "apps.kokpit.io/v1alpha1"
BETA = "apps.kokpit.io/v1beta1"

tokens = st.sampled_from(["python", "java", "go", "node", "server", "worker", "cron"])
ports = st.integers(min_value=1, max_value=65535)
hosts = st.sampled_from(["shop.example.com", "a.b", "*.example.org"])
env = st.lists(
    st.fixed_dictionaries({"name": st.sampled_from(["MODE", "LEVEL"]), "value": st.text(max_size=5)}),
    max_size=2,
    unique_by=lambda e: e["name"],
)
placement = st.fixed_dictionaries(
    {},
    optional={
        "clusters": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["member1", "member2", "member3"])},
                optional={"replicas": st.integers(0, 5), "image": st.just("demo:v2"), "env": env},
            ),
            max_size=3,
            unique_by=lambda c: str(c["name"]),  # type: ignore[index]
        ),
        "clusterSelector": st.just({"matchLabels": {"tier": "edge"}}),
    },
)
config = st.dictionaries(
    st.sampled_from(["port", "env", "nested"]),
    st.one_of(st.integers(), st.text(max_size=4), st.dictionaries(st.just("k"), st.booleans())),
    max_size=3,
)
shared: dict[str, Any] = {
    "replicas": st.integers(0, 10),
    "autoscaling": st.fixed_dictionaries(
        {"maxReplicas": st.integers(1, 9)}, optional={"minReplicas": st.just(1)}
    ),
    "config": config,
    "placement": placement,
}
required = {
    "workloadType": st.sampled_from(["Deployment", "StatefulSet"]),
    "runType": tokens,
    "image": st.sampled_from(["python-demo:latest", "registry.example.com/a/b@sha256:00"]),
}

alpha_specs = st.fixed_dictionaries(
    {**required, "developLanguage": tokens},
    optional={
        **shared,
        "port": ports,
        "svc": st.fixed_dictionaries(
            {}, optional={"type": st.sampled_from(["ClusterIP", "NodePort", "external-lb"]), "port": ports}
        ),
        "host": hosts,
    },
)
beta_specs = st.fixed_dictionaries(
    {**required, "language": tokens},
    optional={
        **shared,
        "exposure": st.fixed_dictionaries(
            {},
            optional={
                "port": ports,
                "service": st.fixed_dictionaries(
                    {},
                    optional={
                        "type": st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]),
                        "port": ports,
                        "loadBalancerClass": st.sampled_from(
                            ["kokpit.io/l4", "kokpit.io/l7", "example.com/x"]
                        ),
                    },
                ).filter(lambda s: "loadBalancerClass" not in s or s.get("type") == "LoadBalancer"),
                "ingress": st.fixed_dictionaries(
                    {"host": hosts}, optional={"path": st.just("/api"), "className": st.just("public")}
                ),
            },
        ),
    },
)
metadata = st.fixed_dictionaries(
    {"name": st.just("nginx"), "namespace": st.just("shop")},
    optional={
        "labels": st.just({"team": "a"}),
        "annotations": st.dictionaries(st.sampled_from(["note", "owner"]), st.text(max_size=3), min_size=1),
        "resourceVersion": st.just("42"),
    },
)
status = st.fixed_dictionaries(
    {}, optional={"readyReplicas": st.integers(0, 9), "replicas": st.integers(0, 9)}
)


def obj(api_version: str, spec: dict[str, Any], meta: dict[str, Any], stat: dict[str, Any]) -> dict[str, Any]:
    out = {"apiVersion": api_version, "kind": "Component", "metadata": meta, "spec": spec}
    if stat:
        out["status"] = stat
    return out


@settings(max_examples=300, deadline=None)
@given(spec=alpha_specs, meta=metadata, stat=status)
def test_a_v1alpha1_object_round_trips_through_v1beta1_exactly(
    spec: dict[str, Any], meta: dict[str, Any], stat: dict[str, Any]
) -> None:
    original = obj(ALPHA, spec, meta, stat)
    ComponentV1Alpha1.model_validate(original)
    beta = to_v1beta1(original)
    Component.model_validate(beta)
    assert CONVERSION_ANNOTATION not in (beta["metadata"].get("annotations") or {})
    assert to_v1alpha1(beta) == original


@settings(max_examples=300, deadline=None)
@given(spec=beta_specs, meta=metadata, stat=status)
def test_a_v1beta1_object_round_trips_through_v1alpha1_exactly(
    spec: dict[str, Any], meta: dict[str, Any], stat: dict[str, Any]
) -> None:
    original = obj(BETA, spec, meta, stat)
    Component.model_validate(original)
    alpha = to_v1alpha1(original)
    ComponentV1Alpha1.model_validate(alpha)
    assert {k: v for k, v in alpha["metadata"].items() if k != "annotations"} == {
        k: v for k, v in original["metadata"].items() if k != "annotations"
    }
    assert to_v1beta1(alpha) == original


@settings(max_examples=200, deadline=None)
@given(spec=beta_specs, meta=metadata, image=st.sampled_from(["demo:v3", "other:1"]))
def test_an_edit_in_v1alpha1_wins_and_keeps_what_only_v1beta1_says(
    spec: dict[str, Any], meta: dict[str, Any], image: str
) -> None:
    alpha = to_v1alpha1(obj(BETA, spec, meta, {}))
    alpha["spec"]["image"] = image
    beta = to_v1beta1(alpha)
    assert beta["spec"] == {**spec, "image": image}


def beta_of(spec: dict[str, Any]) -> dict[str, Any]:
    return obj(
        BETA,
        {"workloadType": "Deployment", "language": "python", "runType": "server", "image": "i"} | spec,
        {"name": "n"},
        {},
    )


def alpha_of(spec: dict[str, Any]) -> dict[str, Any]:
    base = {"workloadType": "Deployment", "developLanguage": "python", "runType": "server", "image": "i"}
    return obj(ALPHA, base | spec, {"name": "n"}, {})


@pytest.mark.parametrize(
    ("alpha", "exposure"),
    [
        pytest.param(
            {"svc": {"type": "external-lb"}},
            {"service": {"type": "LoadBalancer", "loadBalancerClass": "kokpit.io/l4"}},
            id="the old external-lb is a LoadBalancer of class kokpit.io/l4",
        ),
        pytest.param(
            {"svc": {"type": "NodePort", "port": 80}},
            {"service": {"type": "NodePort", "port": 80}},
            id="NodePort and the Service port move under exposure.service",
        ),
        pytest.param(
            {"port": 8080, "host": "a.example.com"},
            {"port": 8080, "ingress": {"host": "a.example.com"}},
            id="port and host become exposure.port and an Ingress",
        ),
        pytest.param({}, None, id="nothing exposed, no exposure"),
    ],
)
def test_v1alpha1_fields_map_to_v1beta1(alpha: dict[str, Any], exposure: dict[str, Any] | None) -> None:
    spec = to_v1beta1(alpha_of(alpha))["spec"]
    assert spec.get("exposure") == exposure
    assert spec["language"] == "python"
    assert "developLanguage" not in spec


@pytest.mark.parametrize(
    ("exposure", "annotated"),
    [
        pytest.param(
            {"service": {"type": "LoadBalancer", "loadBalancerClass": "kokpit.io/l4"}},
            False,
            id="class kokpit.io/l4 is plain external-lb",
        ),
        pytest.param(
            {"service": {"type": "LoadBalancer", "loadBalancerClass": "kokpit.io/l7"}},
            True,
            id="another class is kept in the annotation",
        ),
        pytest.param(
            {"service": {"type": "LoadBalancer"}},
            True,
            id="a LoadBalancer without a class is kept in the annotation",
        ),
        pytest.param(
            {"ingress": {"host": "a.b", "path": "/api"}}, True, id="an Ingress path is kept in the annotation"
        ),
        pytest.param({}, True, id="an empty exposure is kept in the annotation"),
        pytest.param({"port": 80}, False, id="a port alone needs no annotation"),
    ],
)
def test_v1beta1_only_fields_go_to_the_annotation(exposure: dict[str, Any], annotated: bool) -> None:
    original = beta_of({"exposure": exposure})
    alpha = to_v1alpha1(original)
    annotations = alpha["metadata"].get("annotations") or {}
    assert (CONVERSION_ANNOTATION in annotations) is annotated
    if annotated:
        assert json.loads(annotations[CONVERSION_ANNOTATION]) == original["spec"]
    assert to_v1beta1(alpha) == original


def test_a_changed_service_type_in_v1alpha1_drops_the_stored_class() -> None:
    alpha = to_v1alpha1(
        beta_of({"exposure": {"service": {"type": "LoadBalancer", "loadBalancerClass": "kokpit.io/l7"}}})
    )
    alpha["spec"]["svc"]["type"] = "NodePort"
    assert to_v1beta1(alpha)["spec"]["exposure"] == {"service": {"type": "NodePort"}}


def test_converting_to_the_same_version_changes_nothing() -> None:
    original = beta_of({"exposure": {}})
    assert convert(original, BETA) == original
    assert convert(alpha_of({}), ALPHA) == alpha_of({})


@pytest.mark.parametrize(
    ("api_version", "desired"),
    [
        pytest.param("apps.kokpit.io/v2", BETA, id="an unknown source version"),
        pytest.param(ALPHA, "apps.kokpit.io/v9", id="an unknown desired version"),
    ],
)
def test_unknown_versions_are_refused(api_version: str, desired: str) -> None:
    with pytest.raises(ConversionError, match="not a version of Component"):
        convert({**alpha_of({}), "apiVersion": api_version}, desired)


def test_a_corrupt_annotation_is_refused() -> None:
    alpha = alpha_of({})
    alpha["metadata"]["annotations"] = {CONVERSION_ANNOTATION: "{not json"}
    with pytest.raises(ConversionError, match="not JSON"):
        to_v1beta1(alpha)
