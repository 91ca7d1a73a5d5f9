"""`plan_template` and `format_plan`: the what-if of `kokpit plan`, over hand-made snapshots."""

from __future__ import annotations

from typing import Any

import pytest

from kokpit.api.override import AnyOverridePolicy, OverridePolicy
from kokpit.api.policy import AnyPropagationPolicy, ClusterPropagationPolicy, PropagationPolicy
from kokpit.propagation import ClusterInfo, ClusterTaint
from kokpit.propagation.names import PolicyRef
from kokpit.propagation.plan import format_plan, plan_template

CLUSTERS = [
    ClusterInfo("member1", region="eu-west"),
    ClusterInfo("member2", region="us-east"),
    ClusterInfo("member3", region="ap-south", taints=(ClusterTaint("maintenance", "NoSchedule"),)),
]


def deployment(replicas: int = 8, namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "web", "image": "shop/web:1.0"}]}},
        },
    }


def policy(
    placement: dict[str, Any], *, name: str = "spread", cluster_wide: bool = False
) -> AnyPropagationPolicy:
    body = {
        "metadata": {"name": name, **({} if cluster_wide else {"namespace": "shop"})},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
            "placement": placement,
        },
    }
    if cluster_wide:
        return ClusterPropagationPolicy.model_validate(body)
    return PropagationPolicy.model_validate(body)


WEIGHTED = {
    "replicaScheduling": {
        "replicaSchedulingType": "Divided",
        "replicaDivisionPreference": "Weighted",
        "weightPreference": {
            "staticWeightList": [
                {"targetCluster": {"clusterNames": ["member1"]}, "weight": 2},
                {"targetCluster": {"clusterNames": ["member2", "member3"]}, "weight": 1},
            ]
        },
    },
    "clusterTolerations": [{"key": "maintenance", "operator": "Exists"}],
}

EU_REGISTRY = OverridePolicy.model_validate(
    {
        "metadata": {"name": "eu-registry", "namespace": "shop"},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
            "overrideRules": [
                {
                    "targetCluster": {"clusterNames": ["member1"]},
                    "overriders": {
                        "imageOverrider": [
                            {"component": "Registry", "operator": "replace", "value": "eu.example.com"}
                        ]
                    },
                }
            ],
        },
    }
)
BROKEN = OverridePolicy.model_validate(
    {
        "metadata": {"name": "broken", "namespace": "shop"},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
            "overrideRules": [
                {
                    "targetCluster": {"clusterNames": ["member2"]},
                    "overriders": {
                        "plaintext": [{"path": "/spec/nope/x", "operator": "replace", "value": 1}]
                    },
                }
            ],
        },
    }
)


@pytest.mark.parametrize(
    ("template", "policies", "overrides", "expected"),
    [
        pytest.param(
            deployment(),
            [policy(WEIGHTED)],
            [],
            {"member1": (True, 4), "member2": (True, 2), "member3": (True, 2)},
            id="8 replicas, weights 2:1:1, taint tolerated",
        ),
        pytest.param(
            deployment(),
            [policy({})],
            [],
            {"member1": (True, 8), "member2": (True, 8), "member3": (False, 0)},
            id="duplicated, the tainted member left out",
        ),
        pytest.param(
            deployment(),
            [policy({"clusterAffinity": {"clusterNames": ["member2"]}})],
            [EU_REGISTRY],
            {"member1": (False, 0), "member2": (True, 8), "member3": (False, 0)},
            id="affinity to one member",
        ),
        pytest.param(
            deployment(namespace="other"),
            [policy(WEIGHTED)],
            [],
            {"member1": (False, 0), "member2": (False, 0), "member3": (False, 0)},
            id="a namespaced policy does not select in another namespace",
        ),
    ],
)
def test_plan_decisions(
    template: dict[str, Any],
    policies: list[AnyPropagationPolicy],
    overrides: list[AnyOverridePolicy],
    expected: dict[str, tuple[bool, int]],
) -> None:
    plan = plan_template(template, clusters=CLUSTERS, policies=policies, override_policies=overrides)
    assert {c.cluster: (c.selected, c.replicas) for c in plan.clusters} == expected
    for entry in plan.clusters:
        if entry.selected:
            assert entry.rendered is not None
            assert entry.rendered.manifest["spec"]["replicas"] == entry.replicas
        else:
            assert entry.rendered is None
            assert entry.reason


def test_plan_without_policy_says_so() -> None:
    plan = plan_template(deployment(), clusters=CLUSTERS, policies=[])
    assert plan.policy is None
    assert all(c.reason == "no propagation policy selects the template" for c in plan.clusters)
    assert "policy:   none" in format_plan(plan)


def test_plan_names_the_winning_policy() -> None:
    plan = plan_template(
        deployment(), clusters=CLUSTERS, policies=[policy({}, name="wide", cluster_wide=True), policy({})]
    )
    assert plan.policy == PolicyRef("PropagationPolicy", "shop", "spread")


def test_plan_explains_why_a_taint_excludes() -> None:
    plan = plan_template(deployment(), clusters=CLUSTERS, policies=[policy({})])
    member3 = next(c for c in plan.clusters if c.cluster == "member3")
    assert member3.reason == "taint maintenance:NoSchedule not tolerated"


def test_plan_reports_a_scheduling_failure() -> None:
    plan = plan_template(
        deployment(), clusters=CLUSTERS, policies=[policy({"clusterAffinity": {"clusterNames": ["nowhere"]}})]
    )
    assert plan.scheduling_error is not None and plan.scheduling_error.startswith("NoClusterFit: ")
    assert not any(c.selected for c in plan.clusters)
    assert "scheduling fails: NoClusterFit" in format_plan(plan)


def test_plan_shows_overrides_per_cluster() -> None:
    plan = plan_template(
        deployment(), clusters=CLUSTERS, policies=[policy(WEIGHTED)], override_policies=[EU_REGISTRY]
    )
    by_name = {c.cluster: c for c in plan.clusters}
    eu, us = by_name["member1"].rendered, by_name["member2"].rendered
    assert eu is not None and us is not None
    assert eu.manifest["spec"]["template"]["spec"]["containers"][0]["image"] == "eu.example.com/shop/web:1.0"
    assert eu.changes == ["image registry replaced with eu.example.com on container web"]
    assert us.changes == []
    assert plan.overrides == ["OverridePolicy shop/eu-registry"]

    text = format_plan(plan)
    assert "member1: selected, replicas 4 (selected)" in text
    assert "override: image registry replaced with eu.example.com on container web" in text
    assert "    -        image: shop/web:1.0\n    +        image: eu.example.com/shop/web:1.0\n" in text
    assert "    -  replicas: 8\n    +  replicas: 4\n" in text
    assert "kokpit.io/binding-name" not in text
    assert "--- template" in text and "+++ member1" in text


def test_plan_reports_a_failing_override_for_its_cluster_only() -> None:
    plan = plan_template(
        deployment(), clusters=CLUSTERS, policies=[policy(WEIGHTED)], override_policies=[BROKEN]
    )
    by_name = {c.cluster: c for c in plan.clusters}
    assert by_name["member2"].error is not None and "/spec/nope/x" in by_name["member2"].error
    assert by_name["member2"].rendered is None
    assert by_name["member1"].rendered is not None
    assert "override failed:" in format_plan(plan)


@pytest.mark.parametrize(
    ("output", "present", "absent"),
    [
        pytest.param("yaml", ["    apiVersion: apps/v1", "      replicas: 4"], ["--- template"], id="yaml"),
        pytest.param(
            "diff", ["--- template", "+++ member1"], ["    apiVersion: apps/v1\n    kind"], id="diff"
        ),
        pytest.param(
            "summary", ["member1: selected, replicas 4"], ["apiVersion", "--- template"], id="summary"
        ),
    ],
)
def test_format_outputs(output: str, present: list[str], absent: list[str]) -> None:
    plan = plan_template(deployment(), clusters=CLUSTERS, policies=[policy(WEIGHTED)])
    text = format_plan(plan, output=output)  # type: ignore[arg-type]
    for snippet in present:
        assert snippet in text
    for snippet in absent:
        assert snippet not in text
