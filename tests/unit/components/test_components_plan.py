"""A Component planned into hub objects and policies: per-cluster renderings become one template per
object, PropagationPolicies grouped by the clusters each object goes to, and OverridePolicies whose
plaintext operations turn the hub object into each cluster's rendering, as delivery applies them."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kokpit.api.component import Component
from kokpit.api.override import OverridePolicy
from kokpit.api.policy import PropagationPolicy
from kokpit.components.builtin import builtin_templates
from kokpit.components.plan import json_patch, object_key, plan_component
from kokpit.components.selection import Candidate
from kokpit.propagation.clusters import ClusterInfo
from kokpit.propagation.overrides import apply_overrides
from kokpit.propagation.work_render import override_rules

BUILTINS = [Candidate(t, builtin=True) for t in builtin_templates()]
CLUSTERS = {"member1": {"region": "eu"}, "member2": {"region": "us"}, "member3": {"region": "eu"}}


def component(placement: dict[str, Any], **spec: Any) -> Component:
    base = {"workloadType": "Deployment", "language": "python", "runType": "server", "image": "demo:1"}
    return Component.model_validate(
        {
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
            "spec": base | {"placement": placement} | spec,
        }
    )


ISSUE_PLACEMENT = {
    "clusters": [
        {"name": "member1", "replicas": 3},
        {"name": "member2", "replicas": 1, "image": "demo:2", "env": [{"name": "MODE", "value": "canary"}]},
    ]
}


def member_copy(plan: Any, key: tuple[str, str, str], cluster: str) -> dict[str, Any]:
    """What delivery would send `cluster` for the hub object `key`: its overrides applied."""
    hub_object = next(o for o in plan.objects if object_key(o) == key)
    policies = [OverridePolicy.model_validate(p) for p in plan.override_policies]
    _, rules = override_rules(hub_object, policies)
    manifest, _ = apply_overrides(hub_object, rules, ClusterInfo(name=cluster))
    return manifest


def container(manifest: dict[str, Any]) -> dict[str, Any]:
    return dict(manifest["spec"]["template"]["spec"]["containers"][0])


def test_each_cluster_gets_its_replicas_image_and_env_through_one_template_and_an_override() -> None:
    plan = plan_component(component(ISSUE_PLACEMENT), BUILTINS, CLUSTERS)
    assert [(c.cluster, c.template, c.replicas, c.image, c.error) for c in plan.clusters] == [
        ("member1", "kokpit-deployment-python", 3, "demo:1", None),
        ("member2", "kokpit-deployment-python", 1, "demo:2", None),
    ]
    deployment = ("apps/v1", "Deployment", "web")
    member1, member2 = member_copy(plan, deployment, "member1"), member_copy(plan, deployment, "member2")
    assert member1["spec"]["replicas"] == 3 and container(member1)["image"] == "demo:1"
    assert member2["spec"]["replicas"] == 1 and container(member2)["image"] == "demo:2"
    assert {"name": "MODE", "value": "canary"} in container(member2)["env"]
    assert "MODE" not in {e["name"] for e in container(member1)["env"]}
    # Only what differs is overridden, item by item inside the containers.
    (override,) = plan.override_policies
    assert override["metadata"]["name"] == "web.deployment"
    (rule,) = override["spec"]["overrideRules"]
    assert rule["targetCluster"] == {"clusterNames": ["member2"]}
    assert [op["path"] for op in rule["overriders"]["plaintext"]] == [
        "/spec/replicas",
        "/spec/template/spec/containers/0/env",
        "/spec/template/spec/containers/0/image",
    ]


def test_objects_only_some_clusters_render_get_a_policy_of_their_own() -> None:
    plan = plan_component(component(ISSUE_PLACEMENT), BUILTINS, CLUSTERS)
    # A PodDisruptionBudget only where more than one replica runs.
    assert sorted(object_key(o)[1] for o in plan.objects) == ["Deployment", "PodDisruptionBudget", "Service"]
    placed = {
        p["metadata"]["name"]: (
            p["spec"]["placement"]["clusterAffinity"]["clusterNames"],
            [s["kind"] for s in p["spec"]["resourceSelectors"]],
        )
        for p in plan.propagation_policies
    }
    main = placed.pop("web")
    assert main == (["member1", "member2"], ["Deployment", "Service"])
    ((other_name, other),) = placed.items()
    assert other_name.startswith("web-") and other == (["member1"], ["PodDisruptionBudget"])
    for policy in plan.propagation_policies:
        parsed = PropagationPolicy.model_validate(policy)
        assert parsed.metadata.namespace == "shop"
        assert parsed.metadata.labels == {"apps.kokpit.io/component": "web"}
        assert all(s.name and s.namespace == "shop" for s in parsed.spec.resource_selectors)


def test_the_same_rendering_everywhere_needs_no_override() -> None:
    plan = plan_component(
        component({"clusters": [{"name": "member1"}, {"name": "member2"}]}), BUILTINS, CLUSTERS
    )
    assert plan.override_policies == []
    assert [p["metadata"]["name"] for p in plan.propagation_policies] == ["web"]


def test_a_selector_adds_matching_clusters_after_the_named_ones() -> None:
    placement = {"clusters": [{"name": "member2"}], "clusterSelector": {"matchLabels": {"region": "eu"}}}
    plan = plan_component(component(placement), BUILTINS, CLUSTERS)
    assert [c.cluster for c in plan.clusters] == ["member2", "member1", "member3"]


def test_a_cluster_that_cannot_be_rendered_is_reported_and_the_others_still_go() -> None:
    placement = {"clusters": [{"name": "member1"}, {"name": "gone"}]}
    plan = plan_component(component(placement), BUILTINS, CLUSTERS)
    assert [(c.cluster, c.error.reason if c.error else None) for c in plan.errors] == [
        ("gone", "ClusterNotFound")
    ]
    assert plan.propagation_policies[0]["spec"]["placement"]["clusterAffinity"]["clusterNames"] == ["member1"]


def test_no_template_for_the_language_is_an_error_on_every_cluster_and_nothing_is_planned() -> None:
    plan = plan_component(
        component({"clusters": [{"name": "member1"}]}, language="cobol"), BUILTINS, CLUSTERS
    )
    assert [c.error.reason if c.error else None for c in plan.clusters] == ["NoTemplate"]
    assert plan.objects == [] and plan.propagation_policies == [] and plan.override_policies == []


def test_bad_config_is_reported_with_the_render_reason() -> None:
    plan = plan_component(
        component({"clusters": [{"name": "member1"}]}, config={"port": 70000}), BUILTINS, CLUSTERS
    )
    (failed,) = plan.errors
    assert failed.error is not None and failed.error.reason == "ConfigInvalid"
    assert "config.port" in failed.error.message


def test_no_placement_places_nothing() -> None:
    plan = plan_component(
        Component.model_validate(
            {
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"workloadType": "Deployment", "language": "go", "runType": "server", "image": "x"},
            }
        ),
        BUILTINS,
        CLUSTERS,
    )
    assert plan.clusters == [] and plan.objects == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c/d", "e~f", "name"]), children, max_size=3)
    ),
    max_leaves=12,
)


@given(
    st.dictionaries(st.sampled_from(["spec", "data", "x"]), JSON),
    st.dictionaries(st.sampled_from(["spec", "data", "x"]), JSON),
)
def test_the_patch_turns_the_source_into_the_target_as_delivery_applies_it(
    source: dict[str, Any], target: dict[str, Any]
) -> None:
    policy = OverridePolicy.model_validate(
        {
            "metadata": {"name": "p", "namespace": "n"},
            "spec": {
                "resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap"}],
                "overrideRules": [{"overriders": {"plaintext": json_patch(source, target)}}],
            },
        }
    )
    if not policy.spec.override_rules[0].overriders.plaintext:
        assert source == target
        return
    patched, _ = apply_overrides(source, policy.spec.override_rules, ClusterInfo(name="m"))
    assert patched == target
