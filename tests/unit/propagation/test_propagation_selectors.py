"""Resource selectors, label selectors, and which policy claims a template."""

from __future__ import annotations

from typing import Any

import pytest

from kokpit.api.override import ClusterOverridePolicy, OverridePolicy
from kokpit.api.policy import ClusterPropagationPolicy, LabelSelector, PropagationPolicy, ResourceSelector
from kokpit.propagation import label_selector_matches, matches, select_overrides, select_policy
from kokpit.propagation.selectors import Specificity, specificity

WEB: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web", "tier": "front"}},
}
CLUSTER_ROLE: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "viewer"},
}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        pytest.param({}, {"a": "1"}, True, id="empty selector matches everything"),
        pytest.param({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True, id="matchLabels subset"),
        pytest.param({"matchLabels": {"a": "1"}}, {"a": "2"}, False, id="matchLabels other value"),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]},
            {"a": "2"},
            True,
            id="In",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]},
            {},
            False,
            id="In, key absent",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
            {},
            True,
            id="NotIn, key absent",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
            {"a": "1"},
            False,
            id="NotIn, listed",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True, id="Exists"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Exists"}]}, None, False, id="Exists, no labels"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]},
            {"b": "1"},
            True,
            id="DoesNotExist",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]},
            {"a": "1"},
            False,
            id="DoesNotExist, present",
        ),
        pytest.param(
            {"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]},
            {"a": "1"},
            False,
            id="all parts must hold",
        ),
    ],
)
def test_label_selector(selector: dict[str, Any], labels: dict[str, str] | None, expected: bool) -> None:
    assert label_selector_matches(LabelSelector.model_validate(selector), labels) is expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param({"apiVersion": "apps/v1", "kind": "Deployment"}, Specificity.KIND, id="kind only"),
        pytest.param({"apiVersion": "apps/v1", "kind": "StatefulSet"}, Specificity.NONE, id="other kind"),
        pytest.param(
            {"apiVersion": "apps/v1beta1", "kind": "Deployment"}, Specificity.NONE, id="other apiVersion"
        ),
        pytest.param(
            {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop"},
            Specificity.KIND,
            id="same namespace",
        ),
        pytest.param(
            {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "bank"},
            Specificity.NONE,
            id="other namespace",
        ),
        pytest.param(
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, Specificity.NAME, id="name"
        ),
        pytest.param(
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}, Specificity.NONE, id="other name"
        ),
        pytest.param(
            {"apiVersion": "apps/v1", "kind": "Deployment", "labelSelector": {"matchLabels": {"app": "web"}}},
            Specificity.LABEL_SELECTOR,
            id="label selector",
        ),
        pytest.param(
            {"apiVersion": "apps/v1", "kind": "Deployment", "labelSelector": {"matchLabels": {"app": "api"}}},
            Specificity.NONE,
            id="label selector not matching",
        ),
        pytest.param(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
                "labelSelector": {"matchLabels": {"x": "y"}},
            },
            Specificity.NAME,
            id="name set: label selector ignored",
        ),
    ],
)
def test_resource_selector(selector: dict[str, Any], expected: Specificity) -> None:
    parsed = ResourceSelector.model_validate(selector)
    assert specificity(parsed, WEB) is expected
    assert matches(parsed, WEB) is (expected is not Specificity.NONE)


def pp(
    name: str, *selectors: dict[str, Any], priority: int = 0, namespace: str = "shop"
) -> PropagationPolicy:
    return PropagationPolicy.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"resourceSelectors": list(selectors), "priority": priority},
        }
    )


def cpp(name: str, *selectors: dict[str, Any], priority: int = 0) -> ClusterPropagationPolicy:
    return ClusterPropagationPolicy.model_validate(
        {"metadata": {"name": name}, "spec": {"resourceSelectors": list(selectors), "priority": priority}}
    )


KIND = {"apiVersion": "apps/v1", "kind": "Deployment"}
BY_NAME = {**KIND, "name": "web"}
BY_LABEL = {**KIND, "labelSelector": {"matchLabels": {"app": "web"}}}
OTHER = {"apiVersion": "v1", "kind": "ConfigMap"}


@pytest.mark.parametrize(
    ("policies", "winner"),
    [
        pytest.param(
            [pp("a", KIND), cpp("b", KIND, priority=1)], "b", id="higher priority first, even cluster-wide"
        ),
        pytest.param(
            [cpp("a", BY_NAME), pp("z", KIND)], "z", id="namespaced before cluster-wide at equal priority"
        ),
        pytest.param(
            [pp("a", KIND), pp("b", BY_LABEL), pp("c", BY_NAME)],
            "c",
            id="name beats labelSelector beats kind",
        ),
        pytest.param([pp("a", KIND), pp("b", BY_LABEL)], "b", id="labelSelector beats kind"),
        pytest.param([pp("b", KIND), pp("a", KIND)], "a", id="then alphabetical"),
        pytest.param([pp("a", OTHER, BY_NAME)], "a", id="any selector of a policy may match"),
        pytest.param(
            [pp("a", KIND, namespace="bank"), cpp("c", KIND)],
            "c",
            id="namespaced policy only in its namespace",
        ),
        pytest.param([pp("a", {**KIND, "namespace": "bank"}), pp("b", OTHER)], None, id="nothing matches"),
        pytest.param([], None, id="no policies"),
    ],
)
def test_select_policy(
    policies: list[PropagationPolicy | ClusterPropagationPolicy], winner: str | None
) -> None:
    chosen = select_policy(WEB, policies)
    assert (chosen.metadata.name if chosen else None) == winner


def test_namespaced_policies_never_claim_cluster_scoped_templates() -> None:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole"}
    chosen = select_policy(CLUSTER_ROLE, [pp("a", role, priority=9), cpp("b", role)])
    assert chosen is not None and chosen.metadata.name == "b"


def test_select_overrides_orders_cluster_wide_then_namespaced_then_specificity_then_name() -> None:
    def op(
        kind: type[OverridePolicy] | type[ClusterOverridePolicy], name: str, selector: dict[str, Any]
    ) -> Any:
        metadata = {"name": name, "namespace": "shop"} if kind is OverridePolicy else {"name": name}
        return kind.model_validate(
            {
                "metadata": metadata,
                "spec": {
                    "resourceSelectors": [selector],
                    "overrideRules": [
                        {"overriders": {"labelsOverrider": [{"operator": "add", "value": {"a": "b"}}]}}
                    ],
                },
            }
        )

    policies = [
        op(OverridePolicy, "ns-name", BY_NAME),
        op(OverridePolicy, "ns-kind", KIND),
        op(ClusterOverridePolicy, "c-label", BY_LABEL),
        op(ClusterOverridePolicy, "c-kind-b", KIND),
        op(ClusterOverridePolicy, "c-kind-a", KIND),
        op(ClusterOverridePolicy, "c-other", OTHER),
    ]
    assert [p.metadata.name for p in select_overrides(WEB, policies)] == [
        "c-kind-a",
        "c-kind-b",
        "c-label",
        "ns-kind",
        "ns-name",
    ]
