"""Karmada policy fields kokpit does not implement are in the schema and refused, by the API server (a CEL
rule naming the field) and by the model, with a message saying kokpit does not support them: never
accepted and ignored."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kokpit.api import crd_manifest
from kokpit.api.policy import (
    OVERFLOW_AFFINITIES_UNSUPPORTED,
    PROPAGATION_POLICY,
    SCHEDULER_NAME_UNSUPPORTED,
    UNSUPPORTED_SPEC_FIELDS,
    ClusterPropagationPolicy,
    PropagationPolicy,
)

SELECTORS = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}]


def _spec(**fields: Any) -> dict[str, Any]:
    return {"spec": {"resourceSelectors": SELECTORS, **fields}}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"preemption": "Always"}, UNSUPPORTED_SPEC_FIELDS["preemption"], id="preemption Always"),
        pytest.param({"preemption": "Never"}, UNSUPPORTED_SPEC_FIELDS["preemption"], id="preemption Never"),
        pytest.param(
            {"schedulePriority": {"priorityClassSource": "KubePriorityClass", "priorityClassName": "high"}},
            UNSUPPORTED_SPEC_FIELDS["schedulePriority"],
            id="schedulePriority from a KubePriorityClass",
        ),
        pytest.param(
            {"activationPreference": "Lazy"},
            UNSUPPORTED_SPEC_FIELDS["activationPreference"],
            id="activationPreference Lazy",
        ),
        pytest.param(
            {"dependentOverrides": ["web-eu"]},
            UNSUPPORTED_SPEC_FIELDS["dependentOverrides"],
            id="dependentOverrides naming an override policy",
        ),
        pytest.param(
            {"workloadAffinity": {"affinity": {"groupByLabelKey": "app"}}},
            UNSUPPORTED_SPEC_FIELDS["workloadAffinity"],
            id="workloadAffinity of any shape",
        ),
        pytest.param(
            {"association": True},
            UNSUPPORTED_SPEC_FIELDS["association"],
            id="association, deprecated for propagateDeps",
        ),
        pytest.param(
            {"schedulerName": "volcano"}, SCHEDULER_NAME_UNSUPPORTED, id="schedulerName of another scheduler"
        ),
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
            id="clusterAffinities with overflowAffinities",
        ),
    ],
)
@pytest.mark.parametrize("model", [PropagationPolicy, ClusterPropagationPolicy], ids=lambda m: m.__name__)
def test_the_model_refuses_what_kokpit_does_not_support(
    model: type[PropagationPolicy | ClusterPropagationPolicy], fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(_spec(**fields))
    assert message in str(raised.value)
    assert "not supported" in message or "kokpit has a single scheduler" in message


def test_the_default_scheduler_is_kokpits_own() -> None:
    policy = PropagationPolicy.model_validate(_spec(schedulerName="default-scheduler"))
    assert policy.spec.scheduler_name == "default-scheduler"
    assert policy.to_dict()["spec"]["schedulerName"] == "default-scheduler"


def _spec_schema() -> dict[str, Any]:
    version = crd_manifest(PROPAGATION_POLICY)["spec"]["versions"][0]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


@pytest.mark.parametrize("name", sorted(UNSUPPORTED_SPEC_FIELDS))
def test_the_schema_keeps_each_refused_field_so_the_api_server_names_it(name: str) -> None:
    schema = _spec_schema()
    assert name in schema["properties"], "a field missing from the schema would be pruned silently"
    rules = {rule["rule"]: rule for rule in schema["x-kubernetes-validations"]}
    rule = rules[f"!has(self.{name})"]
    assert rule["message"] == UNSUPPORTED_SPEC_FIELDS[name]
    assert rule["fieldPath"] == f".{name}"


def test_the_schema_refuses_another_scheduler_and_overflow_affinities() -> None:
    schema = _spec_schema()
    messages = {rule["message"] for rule in schema["x-kubernetes-validations"]}
    assert SCHEDULER_NAME_UNSUPPORTED in messages
    term = schema["properties"]["placement"]["properties"]["clusterAffinities"]["items"]
    assert "overflowAffinities" in term["properties"]
    assert [r["message"] for r in term["x-kubernetes-validations"]] == [OVERFLOW_AFFINITIES_UNSUPPORTED]
