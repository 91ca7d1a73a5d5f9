"""Resource interpreters: compiling CEL customizations, and replicas, health and status they compute."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kokpit.api.crd import crd_manifest
from kokpit.api.interpreter import RESOURCE_INTERPRETER, ResourceInterpreter
from kokpit.api.registry import ALL_RESOURCES
from kokpit.api.work import Health
from kokpit.propagation.clusters import ClusterInfo
from kokpit.propagation.interpreter import Interpreter, InterpreterError, Interpreters, compile_interpreter
from kokpit.propagation.interpreter_controller import compile_raw
from kokpit.propagation.names import BindingRef
from kokpit.propagation.replicas import with_replicas, workload_replicas
from kokpit.propagation.retain import retain
from kokpit.propagation.status import ClusterReport, has_template_status, judge_health, template_status
from kokpit.propagation.work_render import render_manifest


def interpreter(customizations: dict[str, Any], *, api_version: str = "example.io/v1") -> ResourceInterpreter:
    return ResourceInterpreter.model_validate(
        {
            "metadata": {"name": "widgets"},
            "spec": {
                "target": {"apiVersion": api_version, "kind": "Widget"},
                "customizations": customizations,
            },
        }
    )


WIDGET = {
    "apiVersion": "example.io/v1",
    "kind": "Widget",
    "metadata": {"name": "w"},
    "spec": {"size": 6},
}
REPLICAS = {
    "replicaResource": {"expression": "has(object.spec.size) ? object.spec.size : 1"},
    "replicaRevision": {"path": "spec.size"},
}
HEALTH = {
    "healthInterpretation": {
        "expression": "has(object.status.ready) && object.status.ready == object.spec.size"
    }
}
AGGREGATION = {
    "statusAggregation": {
        "fields": [
            {
                "path": "status.ready",
                "expression": "sum(items.map(i, has(i.status.ready) ? i.status.ready : 0))",
            },
            {"path": "status.clusters", "expression": "items.map(i, i.clusterName)"},
        ]
    }
}


def compiled(customizations: dict[str, Any]) -> Interpreter:
    return compile_interpreter(interpreter(customizations))


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        pytest.param(WIDGET, 6, id="size 6 reads 6"),
        pytest.param({**WIDGET, "spec": {}}, 1, id="size unset reads the default 1"),
    ],
)
def test_replicas_are_read_by_the_expression(manifest: dict[str, Any], expected: int) -> None:
    assert compiled(REPLICAS).replicas(manifest) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        pytest.param("object.spec.name", "not a non-negative integer", id="a string is refused"),
        pytest.param("-1", "not a non-negative integer", id="a negative count is refused"),
        pytest.param("object.spec.missing", "replicaResource", id="a missing field names the customization"),
    ],
)
def test_bad_replica_values_raise(expression: str, message: str) -> None:
    custom = {**REPLICAS, "replicaResource": {"expression": expression}}
    with pytest.raises(InterpreterError, match=message):
        compiled(custom).replicas({**WIDGET, "spec": {"name": "x"}})


def test_divided_replicas_are_written_at_the_revision_path_without_touching_the_input() -> None:
    out = compiled(REPLICAS).with_replicas(WIDGET, 2)
    assert out["spec"] == {"size": 2}
    assert WIDGET["spec"] == {"size": 6}


def test_the_revision_path_is_created_when_absent() -> None:
    custom = {**REPLICAS, "replicaRevision": {"path": "spec.scale.count"}}
    assert compiled(custom).with_replicas({"kind": "Widget"}, 3) == {
        "kind": "Widget",
        "spec": {"scale": {"count": 3}},
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param({"ready": 6}, True, id="all ready is healthy"),
        pytest.param({"ready": 2}, False, id="some ready is not healthy"),
        pytest.param({}, False, id="no status is not healthy"),
    ],
)
def test_health_is_judged_by_the_expression(status: dict[str, Any], expected: bool) -> None:
    assert compiled(HEALTH).healthy({**WIDGET, "status": status}) is expected


def test_a_health_expression_that_is_not_boolean_raises() -> None:
    with pytest.raises(InterpreterError, match="not a boolean"):
        compiled({"healthInterpretation": {"expression": "object.spec.size"}}).healthy(WIDGET)


def test_without_customizations_the_interpreter_says_nothing() -> None:
    empty = compiled({})
    assert empty.replicas(WIDGET) is None
    assert empty.healthy(WIDGET) is None
    assert empty.aggregate_status({"m1": WIDGET}) == {}
    assert not empty.has_replicas


def test_status_is_aggregated_over_observed_members_by_cluster_name() -> None:
    members = {
        "member2": {**WIDGET, "status": {"ready": 2}},
        "member1": {**WIDGET, "status": {"ready": 3}},
        "member3": None,
        "member4": WIDGET,
    }
    assert compiled(AGGREGATION).aggregate_status(members) == {
        "ready": 5,
        "clusters": ["member1", "member2", "member4"],
    }


def test_retained_paths_are_left_out_of_the_copy() -> None:
    custom = {"retention": {"paths": ["spec.paused", "spec.absent.field"]}}
    out = compiled(custom).without_retained({**WIDGET, "spec": {"size": 1, "paused": True}})
    assert out["spec"] == {"size": 1}


@pytest.mark.parametrize(
    ("customizations", "where"),
    [
        pytest.param(
            {**REPLICAS, "replicaResource": {"expression": "object.spec. +"}},
            "replicaResource",
            id="replicas",
        ),
        pytest.param(
            {"healthInterpretation": {"expression": "object.status.ready =="}},
            "healthInterpretation",
            id="health",
        ),
        pytest.param(
            {"statusAggregation": {"fields": [{"path": "status.a", "expression": "items.map(i,"}]}},
            "statusAggregation status.a",
            id="status aggregation",
        ),
        pytest.param(
            {"dependencyInterpretation": {"expression": "[{'kind': }]"}},
            "dependencyInterpretation",
            id="dependencies",
        ),
    ],
)
def test_an_invalid_expression_is_refused_at_compile_naming_its_customization(
    customizations: dict[str, Any], where: str
) -> None:
    with pytest.raises(InterpreterError, match=where):
        compiled(customizations)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            {
                "target": {"apiVersion": "policy.kokpit.io/v1alpha1", "kind": "PropagationPolicy"},
                "customizations": {},
            },
            "kokpit's own group",
            id="a kokpit kind is refused",
        ),
        pytest.param(
            {"target": {"apiVersion": "kokpit.io/v1", "kind": "Thing"}, "customizations": {}},
            "kokpit's own group",
            id="the kokpit.io group itself is refused",
        ),
        pytest.param(
            {
                "target": {"apiVersion": "example.io/v1", "kind": "Widget"},
                "customizations": {"replicaRevision": {"path": "spec.size"}},
            },
            "go together",
            id="a revision without a replica resource is refused",
        ),
        pytest.param(
            {
                "target": {"apiVersion": "example.io/v1", "kind": "Widget"},
                "customizations": {
                    "replicaResource": {"expression": "1"},
                    "replicaRevision": {"path": "size"},
                },
            },
            "pattern",
            id="a path without a dot is refused",
        ),
    ],
)
def test_bad_interpreters_are_refused_by_the_model(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ResourceInterpreter.model_validate({"spec": body})


def test_interpreters_are_found_by_api_version_and_kind() -> None:
    found = Interpreters.of([compiled(REPLICAS)])
    assert found.get(WIDGET) is not None
    assert found.get({**WIDGET, "apiVersion": "example.io/v2"}) is None
    assert found.get({"apiVersion": "apps/v1", "kind": "Deployment"}) is None


def test_the_crd_is_installed_cluster_scoped_with_the_kokpit_kind_rule() -> None:
    assert RESOURCE_INTERPRETER in ALL_RESOURCES
    crd = crd_manifest(RESOURCE_INTERPRETER)
    assert crd["spec"]["scope"] == "Cluster"
    target = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "target"
    ]
    assert any("kokpit" in rule["message"] for rule in target["x-kubernetes-validations"])


# --- delivery with an interpreter ------------------------------------------------------------------------

FULL = {**REPLICAS, **HEALTH, **AGGREGATION}


def test_delivery_reads_and_writes_a_custom_kinds_replicas_through_its_interpreter() -> None:
    widgets = compiled(FULL)
    assert workload_replicas(WIDGET) is None
    assert workload_replicas(WIDGET, interpreter=widgets) == 6
    assert with_replicas(WIDGET, 2, interpreter=widgets)["spec"] == {"size": 2}
    rendered = render_manifest(
        WIDGET,
        cluster=ClusterInfo("member1"),
        binding=BindingRef(namespace="shop", name="w-widget"),
        replicas=2,
        interpreter=widgets,
    )
    assert rendered.manifest["spec"] == {"size": 2}


def test_built_in_kinds_keep_their_rules_with_interpreters_around() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 4}}
    assert workload_replicas(deployment, interpreter=None) == 4
    assert (
        judge_health(
            {"apiVersion": "v1", "kind": "ConfigMap"}, interpreters=Interpreters.of([compiled(FULL)])
        ).health
        == Health.HEALTHY
    )


@pytest.mark.parametrize(
    ("status", "health"),
    [
        pytest.param({"ready": 6}, Health.HEALTHY, id="ready equals size is healthy"),
        pytest.param({"ready": 1}, Health.UNHEALTHY, id="short of size is unhealthy"),
    ],
)
def test_health_of_a_member_copy_is_judged_by_the_interpreter(status: dict[str, Any], health: Health) -> None:
    interpreters = Interpreters.of([compiled(FULL)])
    assert judge_health({**WIDGET, "status": status}, interpreters=interpreters).health == health
    assert judge_health({**WIDGET, "status": status}).health == Health.HEALTHY  # without: exists is healthy


def test_a_failing_health_expression_makes_the_copy_unhealthy_with_the_error() -> None:
    broken = compiled({"healthInterpretation": {"expression": "object.status.nothing"}})
    verdict = judge_health(WIDGET, interpreters=Interpreters.of([broken]))
    assert verdict.health == Health.UNHEALTHY
    assert "healthInterpretation" in verdict.message


def test_the_template_status_of_a_custom_kind_is_aggregated_by_the_interpreter() -> None:
    widgets = compiled(FULL)
    reports = [
        ClusterReport("member2", True, health=Health.HEALTHY, status={"ready": 2}),
        ClusterReport("member1", True, health=Health.HEALTHY, status={"ready": 4}),
    ]
    assert not has_template_status("example.io", "Widget")
    assert has_template_status("example.io", "Widget", interpreter=widgets)
    assert template_status("example.io", "Widget", reports, generation=3) is None
    status = template_status("example.io", "Widget", reports, generation=3, interpreter=widgets)
    assert status is not None
    assert status.fields == {"ready": 6, "clusters": ["member1", "member2"], "observedGeneration": 3}
    assert status.available.status == "True"


def test_a_failing_aggregation_leaves_available_false_with_the_error() -> None:
    broken = compiled(
        {"statusAggregation": {"fields": [{"path": "status.a", "expression": "items[0].status.x"}]}}
    )
    reports = [ClusterReport("member1", True, health=Health.HEALTHY, status={})]
    status = template_status("example.io", "Widget", reports, generation=None, interpreter=broken)
    assert status is not None
    assert status.available.reason == "StatusAggregationFailed"


@pytest.mark.parametrize(
    ("owner", "kept"),
    [
        pytest.param("member-controller", {"size": 6}, id="a retained field the member owns is left out"),
        pytest.param(
            "kokpit", {"size": 6, "paused": False}, id="a retained field kokpit owns is still applied"
        ),
    ],
)
def test_retention_paths_of_a_custom_kind_stay_the_members(owner: str, kept: dict[str, Any]) -> None:
    widgets = compiled({"retention": {"paths": ["spec.paused"]}})
    desired = {**WIDGET, "spec": {"size": 6, "paused": False}}
    observed = {
        **WIDGET,
        "metadata": {
            "name": "w",
            "managedFields": [
                {"manager": owner, "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:paused": {}}}}
            ],
        },
        "spec": {"size": 6, "paused": True},
    }
    assert retain(desired, observed, retained_paths=widgets.retained).body["spec"] == kept


@pytest.mark.parametrize(
    ("customizations", "message"),
    [
        pytest.param(
            {"healthInterpretation": {"expression": "object.status.ready =="}},
            "healthInterpretation",
            id="a CEL error is the Accepted=False message",
        ),
        pytest.param(
            {"replicaRevision": {"path": "spec.size"}},
            "go together",
            id="a schema error is the Accepted=False message",
        ),
    ],
)
def test_compile_raw_says_why_an_interpreter_is_not_accepted(
    customizations: dict[str, Any], message: str
) -> None:
    raw: dict[str, Any] = {
        "apiVersion": "config.kokpit.io/v1alpha1",
        "kind": "ResourceInterpreter",
        "metadata": {"name": "widgets"},
        "spec": {
            "target": {"apiVersion": "example.io/v1", "kind": "Widget"},
            "customizations": customizations,
        },
    }
    result = compile_raw(raw)
    assert isinstance(result, str)
    assert message in result
    assert isinstance(compile_raw({**raw, "spec": {**raw["spec"], "customizations": FULL}}), Interpreter)
