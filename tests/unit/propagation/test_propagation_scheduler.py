"""`schedule` filters: every reason a cluster is left out, tolerations, affinity groups, spreading."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kokpit.api.policy import Placement, Toleration
from kokpit.propagation import (
    ClusterInfo,
    ClusterTaint,
    NoClusterFitError,
    SpreadConstraintError,
    schedule,
)
from kokpit.propagation.scheduler import tolerates


def placement(**fields: Any) -> Placement:
    return Placement.model_validate(fields)


def reasons(clusters: list[ClusterInfo], p: Placement, **kwargs: Any) -> dict[str, str]:
    result = schedule(clusters, p, replicas=kwargs.pop("replicas", 1), **kwargs)
    return {d.cluster: d.reason for d in result.decisions}


NOT_READY_TAINT = ClusterTaint("cluster.kokpit.io/not-ready", "NoSchedule")
FLEET = [
    ClusterInfo("eu-1", labels={"env": "prod"}, provider="aws", region="eu-west", zone="eu-west-1a"),
    ClusterInfo("eu-2", labels={"env": "dev"}, provider="gcp", region="eu-west", zone="eu-west-1b"),
    ClusterInfo("us-1", labels={"env": "prod"}, provider="aws", region="us-east", zone="us-east-1a"),
    ClusterInfo("down", region="eu-west", ready=False),
    ClusterInfo("tainted", region="eu-west", taints=(NOT_READY_TAINT,)),
]


@pytest.mark.parametrize(
    ("affinity", "cluster", "reason"),
    [
        pytest.param({"clusterNames": ["eu-1"]}, "us-1", "not in clusterNames", id="not in clusterNames"),
        pytest.param({"exclude": ["us-1"]}, "us-1", "excluded", id="excluded"),
        pytest.param(
            {"labelSelector": {"matchLabels": {"env": "prod"}}},
            "eu-2",
            "label selector does not match",
            id="label selector",
        ),
        pytest.param(
            {"labelSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}},
            "eu-2",
            "label selector does not match",
            id="label selector NotIn",
        ),
        pytest.param(
            {
                "fieldSelector": {
                    "matchExpressions": [{"key": "region", "operator": "In", "values": ["eu-west"]}]
                }
            },
            "us-1",
            "region us-east not in [eu-west]",
            id="field selector In",
        ),
        pytest.param(
            {
                "fieldSelector": {
                    "matchExpressions": [{"key": "provider", "operator": "NotIn", "values": ["aws"]}]
                }
            },
            "eu-1",
            "provider aws in NotIn [aws]",
            id="field selector NotIn",
        ),
        pytest.param(
            {
                "fieldSelector": {
                    "matchExpressions": [{"key": "zone", "operator": "In", "values": ["eu-west-1a", "b"]}]
                }
            },
            "down",
            "zone <unset> not in [eu-west-1a, b]",
            id="field selector on an unset field",
        ),
        pytest.param({}, "down", "not ready", id="not ready"),
        pytest.param(
            {},
            "tainted",
            "taint cluster.kokpit.io/not-ready:NoSchedule not tolerated",
            id="taint not tolerated",
        ),
    ],
)
def test_filter_reasons(affinity: dict[str, Any], cluster: str, reason: str) -> None:
    assert reasons(FLEET, placement(clusterAffinity=affinity))[cluster] == reason


def test_every_known_cluster_gets_a_decision_in_name_order() -> None:
    result = schedule(FLEET, placement(clusterAffinity={"clusterNames": ["eu-1", "us-1"]}), replicas=2)
    assert [(d.cluster, d.selected, d.replicas) for d in result.decisions] == [
        ("down", False, 0),
        ("eu-1", True, 2),
        ("eu-2", False, 0),
        ("tainted", False, 0),
        ("us-1", True, 2),
    ]
    assert [t.name for t in result.clusters] == ["eu-1", "us-1"]
    assert result.affinity_name is None


def test_checks_run_in_order_affinity_then_taints_then_readiness() -> None:
    both = ClusterInfo("x", ready=False, taints=(NOT_READY_TAINT,))
    assert reasons([both, ClusterInfo("y")], placement())["x"].startswith("taint ")
    assert reasons([both, ClusterInfo("y")], placement(clusterAffinity={"exclude": ["x"]}))["x"] == "excluded"


def test_no_feasible_cluster_raises_with_decisions() -> None:
    with pytest.raises(NoClusterFitError, match="0 of 5 feasible") as caught:
        schedule(FLEET, placement(clusterAffinity={"clusterNames": ["nope"]}), replicas=1)
    assert caught.value.reason == "NoClusterFit"
    assert {d.reason for d in caught.value.decisions} == {"not in clusterNames"}


def test_no_clusters_at_all() -> None:
    with pytest.raises(NoClusterFitError):
        schedule([], Placement(), replicas=1)


def test_duplicate_cluster_names_are_refused() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        schedule([ClusterInfo("a"), ClusterInfo("a")], Placement(), replicas=1)


@pytest.mark.parametrize(
    ("toleration", "taint", "tolerated"),
    [
        pytest.param(
            {"key": "k", "operator": "Exists"},
            ClusterTaint("k", "NoSchedule", "v"),
            True,
            id="Exists any value",
        ),
        pytest.param(
            {"key": "k", "operator": "Equal", "value": "v"},
            ClusterTaint("k", "NoSchedule", "v"),
            True,
            id="Equal same value",
        ),
        pytest.param(
            {"key": "k", "operator": "Equal", "value": "w"},
            ClusterTaint("k", "NoSchedule", "v"),
            False,
            id="Equal other value",
        ),
        pytest.param(
            {"key": "k"}, ClusterTaint("k", "NoSchedule"), True, id="Equal by default, empty values"
        ),
        pytest.param(
            {"key": "other", "operator": "Exists"}, ClusterTaint("k", "NoSchedule"), False, id="other key"
        ),
        pytest.param(
            {"operator": "Exists"},
            ClusterTaint("k", "NoExecute", "v"),
            True,
            id="empty key and Exists tolerates all",
        ),
        pytest.param(
            {"key": "k", "operator": "Exists", "effect": "NoExecute"},
            ClusterTaint("k", "NoSchedule"),
            False,
            id="other effect",
        ),
        pytest.param(
            {"key": "k", "operator": "Exists", "effect": "NoSchedule"},
            ClusterTaint("k", "NoSchedule"),
            True,
            id="same effect",
        ),
        pytest.param(
            {"key": "k", "operator": "Exists"},
            ClusterTaint("k", "NoExecute"),
            True,
            id="empty effect matches all",
        ),
    ],
)
def test_tolerates(toleration: dict[str, Any], taint: ClusterTaint, tolerated: bool) -> None:
    assert tolerates(Toleration.model_validate(toleration), taint) is tolerated


def test_tolerated_taint_lets_the_cluster_in() -> None:
    p = placement(clusterTolerations=[{"key": "cluster.kokpit.io/not-ready", "operator": "Exists"}])
    assert reasons(FLEET, p)["tainted"] == "selected"


def test_prefer_no_schedule_never_excludes() -> None:
    soft = ClusterInfo("soft", taints=(ClusterTaint("k", "PreferNoSchedule"),))
    assert reasons([soft], Placement()) == {"soft": "selected"}


def test_taint_with_value_is_shown_with_it() -> None:
    tainted = ClusterInfo("t", taints=(ClusterTaint("maintenance", "NoExecute", "true"),))
    with pytest.raises(NoClusterFitError) as caught:
        schedule([tainted], Placement(), replicas=1)
    assert caught.value.decisions[0].reason == "taint maintenance=true:NoExecute not tolerated"


@pytest.mark.parametrize(
    ("cluster", "kept"),
    [
        pytest.param(
            ClusterInfo("a", taints=(ClusterTaint("k", "NoSchedule"),)), True, id="NoSchedule keeps"
        ),
        pytest.param(ClusterInfo("a", ready=False), True, id="not ready keeps"),
        pytest.param(
            ClusterInfo("a", taints=(ClusterTaint("k", "NoExecute"),)), False, id="NoExecute evicts"
        ),
    ],
)
def test_clusters_already_holding_the_resource(cluster: ClusterInfo, kept: bool) -> None:
    others = [cluster, ClusterInfo("b")]
    result = schedule(others, Placement(), replicas=1, previous={"a": 1, "b": 1})
    assert ("a" in result.replicas_by_cluster()) is kept


AFFINITY_GROUPS = placement(
    clusterAffinities=[
        {"affinityName": "primary", "clusterNames": ["down", "tainted"]},
        {
            "affinityName": "backup",
            "fieldSelector": {
                "matchExpressions": [{"key": "region", "operator": "In", "values": ["us-east"]}]
            },
        },
        {"affinityName": "last", "clusterNames": ["eu-1"]},
    ]
)


def test_cluster_affinities_fall_back_to_the_first_feasible_group() -> None:
    result = schedule(FLEET, AFFINITY_GROUPS, replicas=1)
    assert result.affinity_name == "backup"
    assert result.replicas_by_cluster() == {"us-1": 1}
    explained = {d.cluster: d.reason for d in result.decisions}
    assert explained["us-1"] == "selected (affinity group backup)"
    assert explained["eu-1"] == "group backup: region eu-west not in [us-east]"


def test_cluster_affinities_first_group_wins_when_feasible() -> None:
    p = placement(clusterAffinities=[{"affinityName": "a", "clusterNames": ["eu-1"]}, {"affinityName": "b"}])
    assert schedule(FLEET, p, replicas=1).replicas_by_cluster() == {"eu-1": 1}


def test_cluster_affinities_all_infeasible_reports_every_group() -> None:
    p = placement(
        clusterAffinities=[
            {"affinityName": "one", "clusterNames": ["down"]},
            {"affinityName": "two", "exclude": ["down", "eu-1", "eu-2", "us-1", "tainted"]},
        ]
    )
    with pytest.raises(NoClusterFitError) as caught:
        schedule(FLEET, p, replicas=1)
    explained = {d.cluster: d.reason for d in caught.value.decisions}
    assert explained["down"] == "group one: not ready; group two: excluded"
    assert explained["eu-1"] == "group one: not in clusterNames; group two: excluded"


def roomy(name: str, region: str | None, pods: int) -> ClusterInfo:
    return ClusterInfo(name, region=region, allocatable={"pods": Decimal(pods)})


REGIONS = [
    roomy("eu-a", "eu", 10),
    roomy("eu-b", "eu", 30),
    roomy("us-a", "us", 50),
    roomy("ap-a", "ap", 5),
    roomy("nowhere", None, 100),
]


@pytest.mark.parametrize(
    ("constraints", "expected"),
    [
        pytest.param(
            [{"spreadByField": "cluster", "maxGroups": 2}],
            ["nowhere", "us-a"],
            id="cluster max picks the roomiest",
        ),
        pytest.param(
            [{"spreadByField": "region", "maxGroups": 1}],
            ["us-a"],
            id="region max 1 picks the roomiest region",
        ),
        pytest.param(
            [{"spreadByField": "region", "maxGroups": 2}], ["eu-a", "eu-b", "us-a"], id="region max 2"
        ),
        pytest.param(
            [{"spreadByField": "region", "maxGroups": 2}, {"spreadByField": "cluster", "maxGroups": 2}],
            ["eu-b", "us-a"],
            id="region max 2 and cluster max 2 takes one per region",
        ),
        pytest.param(
            [{"spreadByField": "region", "minGroups": 3}, {"spreadByField": "cluster", "maxGroups": 4}],
            ["ap-a", "eu-a", "eu-b", "us-a"],
            id="region min 3 and cluster max 4",
        ),
        pytest.param(
            [{"spreadByField": "region", "minGroups": 2, "maxGroups": 0}],
            ["ap-a", "eu-a", "eu-b", "us-a"],
            id="maxGroups 0 means no limit",
        ),
        pytest.param([{"spreadByLabel": "tier"}], [], id="by label: clusters without the label are left out"),
    ],
)
def test_spread(constraints: list[dict[str, Any]], expected: list[str]) -> None:
    p = placement(spreadConstraints=constraints)
    if not expected:
        with pytest.raises(NoClusterFitError):
            schedule(REGIONS, p, replicas=1)
        return
    assert sorted(schedule(REGIONS, p, replicas=1).replicas_by_cluster()) == expected


def test_spread_reasons() -> None:
    p = placement(spreadConstraints=[{"spreadByField": "region", "maxGroups": 1}])
    explained = reasons(REGIONS, p)
    assert explained["nowhere"] == "spread: no region"
    assert explained["eu-a"] == "spread: group limit (region eu not among the 1 chosen)"
    p = placement(spreadConstraints=[{"spreadByField": "cluster", "maxGroups": 1}])
    assert reasons(REGIONS, p)["eu-a"] == "spread: group limit (at most 1 clusters)"


@pytest.mark.parametrize(
    ("constraints", "message"),
    [
        pytest.param(
            [{"spreadByField": "region", "minGroups": 4}],
            "3 region group\\(s\\).*minGroups is 4",
            id="region min",
        ),
        pytest.param(
            [{"spreadByField": "cluster", "minGroups": 6}],
            "5 feasible cluster\\(s\\), minGroups is 6",
            id="cluster min",
        ),
        pytest.param(
            [{"spreadByField": "region", "minGroups": 3}, {"spreadByField": "cluster", "maxGroups": 2}],
            "at most 2 cluster\\(s\\) cannot cover minGroups 3",
            id="cluster max below region min",
        ),
    ],
)
def test_spread_fails_below_min_groups(constraints: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(SpreadConstraintError, match=message) as caught:
        schedule(REGIONS, placement(spreadConstraints=constraints), replicas=1)
    assert caught.value.reason == "SpreadConstraintNotMet"
    assert len(caught.value.decisions) == len(REGIONS)


def test_spread_by_label() -> None:
    clusters = [
        ClusterInfo("a", labels={"tier": "gold"}, allocatable={"pods": Decimal(1)}),
        ClusterInfo("b", labels={"tier": "silver"}, allocatable={"pods": Decimal(9)}),
        ClusterInfo("c", labels={"tier": "gold"}, allocatable={"pods": Decimal(9)}),
    ]
    p = placement(spreadConstraints=[{"spreadByLabel": "tier", "maxGroups": 1}])
    assert schedule(clusters, p, replicas=1).replicas_by_cluster() == {"a": 1, "c": 1}


def test_spread_prefers_clusters_already_holding_the_resource() -> None:
    p = placement(spreadConstraints=[{"spreadByField": "cluster", "maxGroups": 1}])
    assert schedule(REGIONS, p, replicas=1, previous={"ap-a": 1}).replicas_by_cluster() == {"ap-a": 1}
