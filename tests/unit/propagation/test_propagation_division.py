"""Replica division: the largest-remainder rule, Aggregated filling, and how `schedule` uses them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kokpit.api.policy import Placement
from kokpit.propagation import (
    ClusterInfo,
    InsufficientCapacityError,
    NoClusterFitError,
    ResourceRequest,
    aggregate,
    divide_by_weights,
    schedule,
)


def cluster(name: str, *, pods: int | None = None, cpu: str | None = None, **kwargs: Any) -> ClusterInfo:
    allocatable: dict[str, Decimal] = {}
    if pods is not None:
        allocatable["pods"] = Decimal(pods)
    if cpu is not None:
        allocatable["cpu"] = Decimal(cpu)
    return ClusterInfo(name=name, allocatable=allocatable, **kwargs)


def divided(weight_preference: dict[str, Any] | None = None, *, preference: str = "Weighted") -> Placement:
    strategy: dict[str, Any] = {"replicaSchedulingType": "Divided", "replicaDivisionPreference": preference}
    if weight_preference is not None:
        strategy["weightPreference"] = weight_preference
    return Placement.model_validate({"replicaScheduling": strategy})


def static(**weights: int) -> Placement:
    return divided(
        {
            "staticWeightList": [
                {"targetCluster": {"clusterNames": [name]}, "weight": weight}
                for name, weight in weights.items()
            ]
        }
    )


DYNAMIC = divided({"dynamicWeight": "AvailableReplicas"})
AGGREGATED = divided(preference="Aggregated")


@pytest.mark.parametrize(
    ("replicas", "weights", "expected"),
    [
        pytest.param(
            8, {"a": 2, "b": 1, "c": 1}, {"a": 4, "b": 2, "c": 2}, id="8 replicas, weights 2:1:1 -> 4/2/2"
        ),
        pytest.param(
            12, {"a": 18, "b": 12, "c": 6}, {"a": 6, "b": 4, "c": 2}, id="12 replicas, weights 18:12:6"
        ),
        pytest.param(
            7,
            {"c": 1, "b": 1, "a": 1},
            {"a": 3, "b": 2, "c": 2},
            id="7 replicas, 1:1:1 remainder to first by name",
        ),
        pytest.param(
            5, {"a": 1, "b": 1, "c": 1}, {"a": 2, "b": 2, "c": 1}, id="5 replicas, 1:1:1 two extra by name"
        ),
        pytest.param(
            3, {"a": 1, "b": 2, "c": 4}, {"a": 0, "b": 1, "c": 2}, id="remainder to largest fraction first"
        ),
        pytest.param(1, {"a": 1, "b": 2}, {"a": 0, "b": 1}, id="equal fractions, tie to the higher weight"),
        pytest.param(0, {"a": 1, "b": 1}, {"a": 0, "b": 0}, id="zero replicas"),
        pytest.param(4, {"a": 0, "b": 1}, {"a": 0, "b": 4}, id="weight 0 gets nothing"),
        pytest.param(1, {"z": 1}, {"z": 1}, id="single cluster"),
    ],
)
def test_divide_by_weights(replicas: int, weights: dict[str, int], expected: dict[str, int]) -> None:
    result = divide_by_weights(replicas, weights)
    assert result == expected
    assert sum(result.values()) == replicas


@pytest.mark.parametrize(
    ("replicas", "weights", "message"),
    [
        pytest.param(-1, {"a": 1}, "replicas must not be negative", id="negative replicas"),
        pytest.param(3, {"a": -1, "b": 2}, "weights must not be negative", id="negative weight"),
        pytest.param(3, {"a": 0}, "at least one weight", id="all weights zero"),
        pytest.param(3, {}, "at least one weight", id="no clusters"),
    ],
)
def test_divide_by_weights_rejects(replicas: int, weights: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        divide_by_weights(replicas, weights)


@pytest.mark.parametrize(
    ("replicas", "available", "expected"),
    [
        pytest.param(5, {"a": 3, "b": 10, "c": 6}, {"a": 0, "b": 5, "c": 0}, id="fits in the biggest"),
        pytest.param(12, {"a": 3, "b": 10, "c": 6}, {"a": 0, "b": 10, "c": 2}, id="biggest first then next"),
        pytest.param(6, {"b": 6, "a": 6}, {"a": 6, "b": 0}, id="equal room, first by name"),
        pytest.param(0, {"a": 1}, {"a": 0}, id="zero replicas"),
    ],
)
def test_aggregate(replicas: int, available: dict[str, int], expected: dict[str, int]) -> None:
    assert aggregate(replicas, available) == expected


def test_aggregate_rejects_too_little_room() -> None:
    with pytest.raises(ValueError, match="only 4 of 5 replicas fit"):
        aggregate(5, {"a": 1, "b": 3})


def targets(
    placement: Placement, clusters: list[ClusterInfo], replicas: int, **kwargs: Any
) -> dict[str, int]:
    return schedule(clusters, placement, replicas=replicas, **kwargs).replicas_by_cluster()


ABC = [cluster("a"), cluster("b"), cluster("c")]


@pytest.mark.parametrize(
    ("placement", "clusters", "replicas", "expected"),
    [
        pytest.param(Placement(), ABC, 3, {"a": 3, "b": 3, "c": 3}, id="default is Duplicated"),
        pytest.param(
            Placement.model_validate({"replicaScheduling": {"replicaSchedulingType": "Duplicated"}}),
            ABC,
            2,
            {"a": 2, "b": 2, "c": 2},
            id="Duplicated",
        ),
        pytest.param(static(a=2, b=1, c=1), ABC, 8, {"a": 4, "b": 2, "c": 2}, id="static 8 replicas 2:1:1"),
        pytest.param(
            static(a=18, b=12, c=6), ABC, 12, {"a": 6, "b": 4, "c": 2}, id="static 12 replicas 18:12:6"
        ),
        pytest.param(divided(), ABC, 7, {"a": 3, "b": 2, "c": 2}, id="Weighted without weights is equal"),
        pytest.param(
            divided(preference="Weighted"), ABC, 2, {"a": 1, "b": 1}, id="cluster with 0 replicas dropped"
        ),
        pytest.param(
            static(a=1, b=3), ABC, 4, {"a": 1, "b": 3}, id="cluster matching no weight entry dropped"
        ),
        pytest.param(
            divided(
                {
                    "staticWeightList": [
                        {"targetCluster": {}, "weight": 1},
                        {"targetCluster": {"clusterNames": ["a"]}, "weight": 3},
                    ]
                }
            ),
            ABC,
            5,
            {"a": 3, "b": 1, "c": 1},
            id="highest matching weight wins",
        ),
        pytest.param(
            DYNAMIC,
            [cluster("a", pods=30), cluster("b", pods=10), cluster("c", pods=0)],
            8,
            {"a": 6, "b": 2},
            id="dynamic by available capacity",
        ),
        pytest.param(
            AGGREGATED,
            [cluster("a", pods=5), cluster("b", pods=20), cluster("c", pods=8)],
            25,
            {"b": 20, "c": 5},
            id="aggregated fills biggest first",
        ),
        pytest.param(
            static(a=1, b=1), ABC, 0, {"a": 0, "b": 0, "c": 0}, id="zero replicas go everywhere undivided"
        ),
    ],
)
def test_schedule_divides(
    placement: Placement, clusters: list[ClusterInfo], replicas: int, expected: dict[str, int]
) -> None:
    assert targets(placement, clusters, replicas) == expected


def test_dynamic_uses_the_workload_request() -> None:
    clusters = [cluster("a", pods=100, cpu="4"), cluster("b", pods=100, cpu="2"), cluster("c", pods=100)]
    result = schedule(clusters, DYNAMIC, replicas=6, workload_request=ResourceRequest.of(cpu="500m"))
    assert result.replicas_by_cluster() == {"a": 4, "b": 2}
    reasons = {d.cluster: d.reason for d in result.decisions}
    assert reasons["c"] == "no room for the workload (0 available replicas)"


def test_dynamic_without_room_for_all_replicas_fails() -> None:
    with pytest.raises(InsufficientCapacityError, match="room for 3 of 5 replicas") as caught:
        schedule([cluster("a", pods=1), cluster("b", pods=2)], DYNAMIC, replicas=5)
    assert caught.value.reason == "InsufficientCapacity"
    assert [d.reason for d in caught.value.decisions] == ["room for 1 replica(s)", "room for 2 replica(s)"]


def test_aggregated_without_room_fails() -> None:
    with pytest.raises(InsufficientCapacityError):
        schedule([cluster("a", pods=1)], AGGREGATED, replicas=2)


def test_static_weights_matching_no_selected_cluster_fails() -> None:
    with pytest.raises(NoClusterFitError, match="staticWeightList") as caught:
        schedule(ABC, static(z=1), replicas=3)
    assert {d.reason for d in caught.value.decisions} == {"weight 0: matches no staticWeightList entry"}


def test_negative_replicas_are_rejected() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        schedule(ABC, Placement(), replicas=-1)


def test_decisions_explain_clusters_left_without_replicas() -> None:
    result = schedule(ABC, static(a=1, b=1, c=1), replicas=1)
    assert [(d.cluster, d.selected, d.replicas, d.reason) for d in result.decisions] == [
        ("a", True, 1, "selected"),
        ("b", False, 0, "divided: 0 of 1 replicas"),
        ("c", False, 0, "divided: 0 of 1 replicas"),
    ]


@pytest.mark.parametrize(
    ("placement", "clusters", "replicas", "previous", "expected"),
    [
        pytest.param(
            DYNAMIC,
            [cluster("a", pods=50), cluster("b", pods=10)],
            6,
            {"a": 3, "b": 3},
            {"a": 3, "b": 3},
            id="dynamic: same clusters and total keeps previous",
        ),
        pytest.param(
            DYNAMIC,
            [cluster("a", pods=50), cluster("b", pods=10)],
            8,
            {"a": 3, "b": 3},
            {"a": 5, "b": 3},
            id="dynamic: a new total adds only the difference, by free room",
        ),
        pytest.param(
            DYNAMIC,
            [cluster("a", pods=50), cluster("b", pods=10), cluster("c", pods=10)],
            6,
            {"a": 3, "b": 3},
            {"a": 3, "b": 3},
            id="dynamic: a new cluster waits for the next scale-up",
        ),
        pytest.param(
            AGGREGATED,
            [cluster("a", pods=1), cluster("b", pods=100)],
            4,
            {"a": 4},
            {"a": 4},
            id="aggregated: previous subset of selected is kept",
        ),
        pytest.param(
            AGGREGATED,
            [cluster("b", pods=100)],
            4,
            {"a": 4},
            {"b": 4},
            id="aggregated: previous cluster gone recomputes",
        ),
        pytest.param(
            static(a=1, b=1),
            [cluster("a"), cluster("b")],
            4,
            {"a": 3, "b": 1},
            {"a": 2, "b": 2},
            id="static weights are always recomputed",
        ),
    ],
)
def test_stability_with_previous(
    placement: Placement,
    clusters: list[ClusterInfo],
    replicas: int,
    previous: dict[str, int],
    expected: dict[str, int],
) -> None:
    assert targets(placement, clusters, replicas, previous=previous) == expected
