"""Steady division: a scale of a Divided workload keeps its distribution (Karmada's Steady assignment).

The cases are Karmada's own (`pkg/scheduler/core/assignment_test.go`, `Test_dynamicScale` and
`Test_dynamicScaleUp`), with member1/2/3 and a pod count as each cluster's free room. Where kokpit's
rules differ from Karmada's the id says how: kokpit gives a leftover replica to the largest fractional
part (Karmada to the heaviest weight), and kokpit's Aggregated fills one cluster before the next (Karmada
spreads over the fewest clusters that fit).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kokpit.api.policy import Placement
from kokpit.propagation import (
    ClusterInfo,
    InsufficientCapacityError,
    scale_down,
    scale_down_aggregated,
    scale_static,
    scale_up,
    scale_up_aggregated,
    schedule,
)


def member(number: int, pods: int) -> ClusterInfo:
    return ClusterInfo(name=f"member{number}", allocatable={"pods": Decimal(pods)})


def members(*pods: int) -> list[ClusterInfo]:
    return [member(number, count) for number, count in enumerate(pods, start=1)]


def divided(preference: str, weight_preference: dict[str, Any] | None = None) -> Placement:
    strategy: dict[str, Any] = {"replicaSchedulingType": "Divided", "replicaDivisionPreference": preference}
    if weight_preference is not None:
        strategy["weightPreference"] = weight_preference
    return Placement.model_validate({"replicaScheduling": strategy})


DYNAMIC = divided("Weighted", {"dynamicWeight": "AvailableReplicas"})
AGGREGATED = divided("Aggregated")
STATIC_1_2_3 = divided(
    "Weighted",
    {
        "staticWeightList": [
            {"targetCluster": {"clusterNames": [f"member{n}"]}, "weight": n} for n in (1, 2, 3)
        ]
    },
)


def at(*replicas: int) -> dict[str, int]:
    """member1..N with these replicas, leaving out the zeros."""
    return {f"member{n}": count for n, count in enumerate(replicas, start=1) if count}


@pytest.mark.parametrize(
    ("placement", "clusters", "previous", "replicas", "expected"),
    [
        pytest.param(
            DYNAMIC, members(1, 1, 1), at(2, 4, 6), 6, at(1, 2, 3),
            id="dynamic: 12 at 2/4/6 scaled to 6 becomes 1/2/3",
        ),
        pytest.param(
            DYNAMIC, members(10, 10, 10), at(2, 4, 6), 24, at(6, 8, 10),
            id="dynamic: 12 at 2/4/6 scaled to 24 with equal room only adds (6/8/10)",
        ),
        pytest.param(
            DYNAMIC, members(6, 8, 10), {}, 12, at(3, 4, 5),
            id="dynamic: first scheduling of 12 by room 6:8:10 is 3/4/5",
        ),
        pytest.param(
            DYNAMIC, members(8, 8, 10), {}, 12, at(4, 4, 4),
            id="dynamic: 12 by room 8:8:10 is 4/4/4 (leftovers to the largest fractions; Karmada 3/4/5)",
        ),
        pytest.param(
            DYNAMIC, members(3, 3), {"member1": 6, "member3": 6}, 12, at(9, 3),
            id="dynamic: member3 gone, member2 new: member1 keeps 6, member3's 6 go by free room 3:3",
        ),
        pytest.param(
            DYNAMIC, members(10, 10, 10), at(6, 6), 12, at(6, 6),
            id="dynamic: the same total on a new cluster moves nothing",
        ),
        pytest.param(
            DYNAMIC, members(30, 10, 10), at(3, 3), 4, at(2, 2),
            id="dynamic: scale-down follows the current assignment, not the room",
        ),
        pytest.param(
            AGGREGATED, members(1, 1, 1), at(4, 8), 6, at(0, 6),
            id="aggregated: 12 at 4/8 scaled to 6 keeps only the bigger cluster",
        ),
        pytest.param(
            AGGREGATED, members(100, 100), at(4, 8), 8, at(0, 8),
            id="aggregated: 12 at 4/8 scaled to 8 keeps only the bigger cluster",
        ),
        pytest.param(
            AGGREGATED, members(100, 100), at(4, 8), 10, at(3, 7),
            id="aggregated: 12 at 4/8 scaled to 10 needs both, in proportion",
        ),
        pytest.param(
            AGGREGATED, members(6, 6, 20), at(4, 8), 24, at(10, 14),
            id="aggregated: 12 at 4/8 scaled to 24 fills the clusters holding replicas first",
        ),
        pytest.param(
            AGGREGATED, members(4, 6, 8), at(4, 8), 24, at(8, 14, 2),
            id="aggregated: 12 at 4/8 to 24, room 4:6:8, fills member2, member1, member3 (Karmada 6/12/6)",
        ),
        pytest.param(
            AGGREGATED, members(12, 8, 10), {}, 12, at(12),
            id="aggregated: first scheduling of 12 fits in the roomiest member1",
        ),
        pytest.param(
            STATIC_1_2_3, members(1, 1, 1), at(2, 4, 6), 6, at(1, 2, 3),
            id="static 1:2:3: 12 at 2/4/6 scaled to 6 becomes 1/2/3",
        ),
        pytest.param(
            STATIC_1_2_3, members(1, 1, 1), at(2, 4, 6), 24, at(4, 8, 12),
            id="static 1:2:3: 12 at 2/4/6 scaled to 24 only adds",
        ),
    ],
)  # fmt: skip
def test_a_scale_keeps_the_distribution(
    placement: Placement,
    clusters: list[ClusterInfo],
    previous: dict[str, int],
    replicas: int,
    expected: dict[str, int],
) -> None:
    result = schedule(clusters, placement, replicas=replicas, previous=previous)
    assert result.replicas_by_cluster() == expected


@pytest.mark.parametrize(
    ("placement", "clusters", "previous", "replicas", "message"),
    [
        pytest.param(
            DYNAMIC, members(1, 1, 1), at(2, 4, 6), 24, "room for 15 of 24",
            id="dynamic: 12 at 2/4/6 to 24 with room for 3 more is refused",
        ),
        pytest.param(
            AGGREGATED, members(1, 1, 1), at(4, 8), 24, "room for 15 of 24",
            id="aggregated: 12 at 4/8 to 24 with room for 3 more is refused",
        ),
    ],
)  # fmt: skip
def test_a_scale_beyond_the_free_room_fails(
    placement: Placement,
    clusters: list[ClusterInfo],
    previous: dict[str, int],
    replicas: int,
    message: str,
) -> None:
    with pytest.raises(InsufficientCapacityError, match=message):
        schedule(clusters, placement, replicas=replicas, previous=previous)


@pytest.mark.parametrize(
    ("replicas", "current", "expected"),
    [
        pytest.param(6, {"a": 2, "b": 4, "c": 6}, {"a": 1, "b": 2, "c": 3}, id="halved in proportion"),
        pytest.param(
            5, {"a": 2, "b": 4, "c": 6}, {"a": 1, "b": 2, "c": 2}, id="leftovers to the largest fractions"
        ),
        pytest.param(12, {"a": 2, "b": 4, "c": 6}, {"a": 2, "b": 4, "c": 6}, id="same total unchanged"),
        pytest.param(0, {"a": 2, "b": 4}, {"a": 0, "b": 0}, id="to zero"),
    ],
)  # fmt: skip
def test_scale_down(replicas: int, current: dict[str, int], expected: dict[str, int]) -> None:
    assert scale_down(replicas, current) == expected


def test_scale_down_refuses_a_bigger_total() -> None:
    with pytest.raises(ValueError, match="cannot scale 6 replicas down to 7"):
        scale_down(7, {"a": 2, "b": 4})


@pytest.mark.parametrize(
    ("current", "extra", "free", "expected"),
    [
        pytest.param(
            {"a": 2, "b": 4, "c": 6}, 12, {"a": 10, "b": 10, "c": 10}, {"a": 6, "b": 8, "c": 10},
            id="equal room, equal additions",
        ),
        pytest.param(
            {"a": 6}, 6, {"a": 3, "b": 3}, {"a": 9, "b": 3}, id="new clusters take part by room",
        ),
        pytest.param({"a": 1}, 0, {"a": 0}, {"a": 1}, id="nothing to add"),
    ],
)  # fmt: skip
def test_scale_up(
    current: dict[str, int], extra: int, free: dict[str, int], expected: dict[str, int]
) -> None:
    assert scale_up(current, extra, free) == expected


def test_scale_up_refuses_too_little_room() -> None:
    with pytest.raises(ValueError, match="only 3 more of 12 replicas fit"):
        scale_up({"a": 2}, 12, {"a": 1, "b": 2})
    with pytest.raises(ValueError, match="only 3 more of 12 replicas fit"):
        scale_up_aggregated({"a": 2}, 12, {"a": 1, "b": 2})


def test_aggregated_scale_down_and_up() -> None:
    assert scale_down_aggregated(6, {"a": 4, "b": 8}) == {"a": 0, "b": 6}
    assert scale_up_aggregated({"a": 4, "b": 8}, 12, {"a": 4, "b": 6, "c": 8}) == {"a": 8, "b": 14, "c": 2}


@given(
    current=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=4),
    room=st.lists(st.integers(min_value=0, max_value=40), min_size=4, max_size=4),
    replicas=st.integers(min_value=1, max_value=60),
    aggregated=st.booleans(),
)
def test_no_scale_moves_replicas_between_clusters(
    current: list[int], room: list[int], replicas: int, aggregated: bool
) -> None:
    """Whatever the rooms: a scale-up never takes a replica from a cluster, a scale-down never adds one."""
    previous = at(*current)
    if not previous:
        return
    try:
        result = schedule(
            members(*room), AGGREGATED if aggregated else DYNAMIC, replicas=replicas, previous=previous
        ).replicas_by_cluster()
    except InsufficientCapacityError:
        return
    assert sum(result.values()) == replicas
    names = set(result) | set(previous)
    if replicas >= sum(previous.values()):
        assert all(result.get(n, 0) >= previous.get(n, 0) for n in names)
    else:
        assert all(result.get(n, 0) <= previous.get(n, 0) for n in names)


def static(*weights: int) -> Placement:
    """Divided by a staticWeightList giving member1..N these weights."""
    return divided(
        "Weighted",
        {
            "staticWeightList": [
                {"targetCluster": {"clusterNames": [f"member{n}"]}, "weight": weight}
                for n, weight in enumerate(weights, start=1)
            ]
        },
    )


@pytest.mark.parametrize(
    ("placement", "previous", "replicas", "expected"),
    [
        pytest.param(
            static(1, 3, 3), {}, 3, at(1, 1, 1),
            id="static 1:3:3: first scheduling of 3 is 1/1/1 by the remainder rule",
        ),
        pytest.param(
            static(1, 3, 3), at(1, 1, 1), 4, at(1, 2, 1),
            id="static 1:3:3: 3 at 1/1/1 scaled to 4 only adds (1/2/1; from scratch 0/2/2 would move one)",
        ),
        pytest.param(
            static(1, 3, 3), at(1, 2, 1), 4, at(1, 2, 1),
            id="static 1:3:3: 4 at 1/2/1 stays, each cluster holding its share rounded down or up",
        ),
        pytest.param(
            static(1, 3, 3), at(1, 2, 1), 7, at(1, 3, 3),
            id="static 1:3:3: 4 at 1/2/1 scaled to 7 reaches the weights exactly",
        ),
        pytest.param(
            static(1, 3, 3), at(1, 2, 1), 3, at(1, 1, 1),
            id="static 1:3:3: 4 at 1/2/1 scaled to 3 only removes, from the cluster furthest above its share",
        ),
        pytest.param(
            static(1, 3, 3), at(1, 3, 3), 2, at(0, 1, 1),
            id="static 1:3:3: 7 at 1/3/3 scaled to 2 only removes",
        ),
        pytest.param(
            static(3, 1, 1), at(1, 2, 1), 4, at(2, 1, 1),
            id="static weights changed to 3:1:1 at the same total: re-divided at once",
        ),
        pytest.param(
            static(1, 1), at(2, 1), 3, at(2, 1),
            id="static 1:1: 3 at 2/1 stays (Karmada keeps the previous remainder's place)",
        ),
        pytest.param(
            static(1, 1), at(1, 2), 5, at(2, 3),
            id="static 1:1: 3 at 1/2 scaled to 5 keeps member2 the one with more",
        ),
        pytest.param(
            static(1, 1, 1), {"member1": 3, "member4": 3}, 6, at(3, 2, 1),
            id="static 1:1:1: member4 gone, its 3 replicas go to the clusters furthest below their share",
        ),
        pytest.param(
            static(1, 1), at(2, 2, 2), 6, at(3, 3),
            id="static 1:1 naming member1 and member2 only: member3's replicas go to them",
        ),
    ],
)  # fmt: skip
def test_a_scale_of_static_weights_keeps_the_distribution(
    placement: Placement, previous: dict[str, int], replicas: int, expected: dict[str, int]
) -> None:
    result = schedule(members(10, 10, 10), placement, replicas=replicas, previous=previous)
    assert result.replicas_by_cluster() == expected


def test_scale_static_divides_from_scratch_without_a_current_assignment() -> None:
    assert scale_static(5, {"a": 1, "b": 1}, {}) is None
    assert scale_static(5, {"a": 1}, {"a": 2, "b": 2}) is None


@given(
    weights=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=4),
    first=st.integers(min_value=0, max_value=30),
    totals=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=6),
)
def test_static_scales_only_add_or_only_remove_and_then_hold(
    weights: list[int], first: int, totals: list[int]
) -> None:
    """From a first division, through any sequence of scales: a scale-up never takes a replica from a
    cluster, a scale-down never adds one, and scheduling again at the same total changes nothing."""
    placement = static(*weights)
    clusters = members(*([100] * len(weights)))
    previous = schedule(clusters, placement, replicas=first).replicas_by_cluster() if first else {}
    for replicas in totals:
        result = schedule(clusters, placement, replicas=replicas, previous=previous).replicas_by_cluster()
        assert sum(result.values()) == replicas
        names = set(result) | set(previous)
        if previous and replicas >= sum(previous.values()):
            assert all(result.get(n, 0) >= previous.get(n, 0) for n in names), (previous, result)
        elif previous:
            assert all(result.get(n, 0) <= previous.get(n, 0) for n in names), (previous, result)
        again = schedule(clusters, placement, replicas=replicas, previous=result).replicas_by_cluster()
        assert again == result
        previous = result
