"""The etcd planner: one step at a time, quorum kept at every step."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kokpit.etcd.planner import (
    Action,
    Desired,
    Kind,
    MemberView,
    Observed,
    Policy,
    member_index,
    next_free_name,
    plan,
    quorum,
    safe_to_remove,
)

C = "db"
POLICY = Policy(replace_after=30.0)


def up(index: int, *, leader: bool = False, version: str = "3.6.16", **changes: object) -> MemberView:
    """A healthy running voting member db-<index> with ID 100+index."""
    view = MemberView(
        name=f"{C}-{index}",
        id=100 + index,
        running=True,
        data_present=True,
        healthy=True,
        leader=leader,
        version=version,
    )
    return replace(view, **changes)  # type: ignore[arg-type]


def healthy(n: int, *, leader: int = 0, version: str = "3.6.16") -> tuple[MemberView, ...]:
    return tuple(up(i, leader=i == leader, version=version) for i in range(n))


def want(size: int = 3, version: str = "v3.6.16", **changes: object) -> Desired:
    return replace(Desired(cluster=C, size=size, version=version), **changes)  # type: ignore[arg-type]


def seen(
    *members: MemberView, reachable: bool = True, formed: bool = True, strays: tuple[int, ...] = ()
) -> Observed:
    return Observed(members=members, reachable=reachable, formed=formed, strays=strays)


CASES: list[tuple[str, Desired, Observed, Kind, str | None, str]] = [
    # id, desired, observed, expected kind, expected member, expected reason
    (
        "nothing yet: bootstrap 3",
        want(3),
        seen(reachable=False, formed=False),
        Kind.BOOTSTRAP,
        None,
        "Bootstrapping",
    ),
    (
        "bootstrap started, all running, no leader yet: wait",
        want(3),
        seen(*(replace(up(i), id=None, healthy=False) for i in range(3)), reachable=False, formed=False),
        Kind.WAIT,
        None,
        "Bootstrapping",
    ),
    (
        "bootstrap interrupted after one member: bootstrap again (idempotent)",
        want(3),
        seen(replace(up(0), id=None, healthy=False), reachable=False, formed=False),
        Kind.BOOTSTRAP,
        None,
        "Bootstrapping",
    ),
    (
        "unknown version before creation: blocked, nothing started",
        want(3, version_available=False),
        seen(reachable=False, formed=False),
        Kind.BLOCKED,
        None,
        "VersionUnavailable",
    ),
    (
        "paused: nothing, whatever is broken",
        want(3, paused=True),
        seen(reachable=False),
        Kind.NONE,
        None,
        "Paused",
    ),
    ("3 healthy of 3: steady", want(3), seen(*healthy(3)), Kind.NONE, None, "Steady"),
    (
        "formed cluster that does not answer, one process down: start it",
        want(3),
        seen(
            replace(up(0), running=False, healthy=False),
            replace(up(1), healthy=False),
            replace(up(2), running=False, healthy=False),
            reachable=False,
        ),
        Kind.START,
        "db-0",
        "MemberDown",
    ),
    (
        "formed cluster that does not answer, all running: wait, never touch membership",
        want(3),
        seen(*(replace(up(i), healthy=False) for i in range(3)), reachable=False),
        Kind.WAIT,
        None,
        "NoQuorum",
    ),
    (
        "member down with its data: restart it",
        want(3),
        seen(up(0, leader=True), replace(up(1), running=False, healthy=False, unhealthy_for=3), up(2)),
        Kind.START,
        "db-1",
        "MemberDown",
    ),
    (
        "member down and its data gone: remove it (quorum kept by the other two)",
        want(3),
        seen(up(0, leader=True), replace(up(1), running=False, healthy=False, data_present=False), up(2)),
        Kind.REMOVE,
        "db-1",
        "ReplacingMember",
    ),
    (
        "member gone from the runtime entirely: remove it",
        want(3),
        seen(
            up(0, leader=True),
            replace(up(1), exists=False, running=False, healthy=False, data_present=False),
            up(2),
        ),
        Kind.REMOVE,
        "db-1",
        "ReplacingMember",
    ),
    (
        "two of three lost their data: removing one would lose quorum, wait",
        want(3),
        seen(
            up(0, leader=True),
            replace(up(1), running=False, healthy=False, data_present=False),
            replace(up(2), running=False, healthy=False, data_present=False),
        ),
        Kind.WAIT,
        None,
        "QuorumAtRisk",
    ),
    (
        "running but unhealthy, within the timeout: wait",
        want(3),
        seen(up(0, leader=True), replace(up(1), healthy=False, unhealthy_for=10), up(2)),
        Kind.WAIT,
        "db-1",
        "MemberUnhealthy",
    ),
    (
        "running but unhealthy beyond the timeout: replace it",
        want(3),
        seen(up(0, leader=True), replace(up(1), healthy=False, unhealthy_for=31), up(2)),
        Kind.REMOVE,
        "db-1",
        "ReplacingMember",
    ),
    (
        "crash-looping member with data beyond the timeout: replace it",
        want(3),
        seen(up(0, leader=True), replace(up(1), running=False, healthy=False, unhealthy_for=45), up(2)),
        Kind.REMOVE,
        "db-1",
        "ReplacingMember",
    ),
    (
        "after a removal: 2 healthy of size 3, add the free slot back",
        want(3),
        seen(up(0, leader=True), up(2)),
        Kind.ADD,
        "db-1",
        "ScalingUp",
    ),
    ("scale 3 -> 5: add db-3 first", want(5), seen(*healthy(3)), Kind.ADD, "db-3", "ScalingUp"),
    (
        "added learner not running yet: start it",
        want(5),
        seen(*healthy(3), MemberView(name="db-3", id=7, learner=True, started=False, exists=False)),
        Kind.START,
        "db-3",
        "StartingLearner",
    ),
    (
        "learner running, not answering yet: wait",
        want(5),
        seen(*healthy(3), replace(up(3), learner=True, healthy=False, unhealthy_for=2)),
        Kind.WAIT,
        "db-3",
        "LearnerCatchingUp",
    ),
    (
        "learner answering: promote it",
        want(5),
        seen(*healthy(3), replace(up(3), learner=True)),
        Kind.PROMOTE,
        "db-3",
        "PromotingLearner",
    ),
    (
        "learner stuck beyond the timeout: remove it",
        want(5),
        seen(*healthy(3), replace(up(3), learner=True, healthy=False, unhealthy_for=60)),
        Kind.REMOVE,
        "db-3",
        "LearnerStuck",
    ),
    (
        "no add while a member is unhealthy",
        want(5),
        seen(up(0, leader=True), replace(up(1), healthy=False, unhealthy_for=1), up(2)),
        Kind.WAIT,
        "db-1",
        "MemberUnhealthy",
    ),
    (
        "scale 5 -> 3: remove the highest non-leader",
        want(3),
        seen(*healthy(5)),
        Kind.REMOVE,
        "db-4",
        "ScalingDown",
    ),
    (
        "scale 5 -> 3 with the highest as leader: remove the next one",
        want(3),
        seen(*healthy(5, leader=4)),
        Kind.REMOVE,
        "db-3",
        "ScalingDown",
    ),
    (
        "component left behind by a removal: clean it up",
        want(3),
        seen(*healthy(3), replace(up(3), id=None, healthy=False)),
        Kind.REMOVE,
        "db-3",
        "OrphanComponent",
    ),
    (
        "stray member in the list: remove it",
        want(3),
        seen(*healthy(3), strays=(999,)),
        Kind.REMOVE,
        None,
        "StrayMember",
    ),
    (
        "upgrade 3.5 -> 3.6: a follower first",
        want(3),
        seen(*healthy(3, leader=0, version="3.5.35")),
        Kind.UPGRADE,
        "db-1",
        "Upgrading",
    ),
    (
        "upgrade: the leader last",
        want(3),
        seen(up(0, leader=True, version="3.5.35"), up(1), up(2)),
        Kind.UPGRADE,
        "db-0",
        "Upgrading",
    ),
    (
        "upgrade waits for the restarted member to be healthy",
        want(3),
        seen(
            up(0, leader=True, version="3.5.35"),
            replace(up(1), healthy=False, version=None),
            up(2, version="3.5.35"),
        ),
        Kind.WAIT,
        "db-1",
        "MemberUnhealthy",
    ),
    (
        "upgrade to an unavailable version: blocked, members untouched",
        want(3, version="v3.7.0", version_available=False),
        seen(*healthy(3)),
        Kind.BLOCKED,
        None,
        "VersionUnavailable",
    ),
    (
        "downgrade 3.6 -> 3.5: blocked",
        want(3, version="v3.5.35"),
        seen(*healthy(3)),
        Kind.BLOCKED,
        None,
        "DowngradeUnsupported",
    ),
    (
        "skipping a minor 3.5 -> 3.7: blocked",
        want(3, version="v3.7.1"),
        seen(*healthy(3, version="3.5.35")),
        Kind.BLOCKED,
        None,
        "UpgradeSkipsMinor",
    ),
    (
        "same version, new certificates: rolling restart",
        want(3),
        seen(up(0, leader=True), replace(up(1), revision_current=False), up(2)),
        Kind.UPGRADE,
        "db-1",
        "RollingRestart",
    ),
    (
        "scale down before upgrading",
        want(3),
        seen(*healthy(4, version="3.5.35")),
        Kind.REMOVE,
        "db-3",
        "ScalingDown",
    ),
    ("size 1: steady with one member", want(1), seen(*healthy(1)), Kind.NONE, None, "Steady"),
    (
        "size 1 whose only member lost its data: no removal of the last member",
        want(1),
        seen(replace(up(0, leader=True), running=False, healthy=False, data_present=False)),
        Kind.WAIT,
        None,
        "QuorumAtRisk",
    ),
]


@pytest.mark.parametrize(
    ("desired", "observed", "kind", "member", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plan(desired: Desired, observed: Observed, kind: Kind, member: str | None, reason: str) -> None:
    action = plan(desired, observed, POLICY)
    assert (action.kind, action.reason) == (kind, reason), action.message
    if member is not None:
        assert action.member == member
    assert action.message


def test_bootstrap_names_every_initial_member() -> None:
    action = plan(want(5), seen(reachable=False, formed=False), POLICY)
    assert action.members == ("db-0", "db-1", "db-2", "db-3", "db-4")


def test_stray_removal_carries_the_id() -> None:
    action = plan(want(3), seen(*healthy(3), strays=(0xABC,)), POLICY)
    assert action.member_id == 0xABC and action.member is None


def test_a_removal_always_carries_the_member_id() -> None:
    action = plan(want(3), seen(*healthy(5)), POLICY)
    assert action.member_id == 104


@pytest.mark.parametrize(
    ("voters", "needed"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 4)], ids=lambda v: str(v)
)
def test_quorum(voters: int, needed: int) -> None:
    assert quorum(voters) == needed


@pytest.mark.parametrize(
    ("members", "victim", "safe"),
    [
        (healthy(3), 2, True),
        ((up(0), replace(up(1), healthy=False), up(2)), 1, True),
        ((up(0), replace(up(1), healthy=False), replace(up(2), healthy=False)), 2, False),
        ((up(0), up(1)), 1, True),
        (healthy(1), 0, False),
        ((*healthy(4), replace(up(4), healthy=False)), 0, True),
    ],
    ids=[
        "3 healthy, remove one",
        "remove the unhealthy one of 3",
        "remove one of 2 unhealthy",
        "2 -> 1",
        "never the last member",
        "5 with one unhealthy, remove a healthy one",
    ],
)
def test_safe_to_remove(members: tuple[MemberView, ...], victim: int, safe: bool) -> None:
    assert safe_to_remove(list(members), members[victim]) is safe


def test_names() -> None:
    assert next_free_name(C, ["db-0", "db-2"]) == "db-1"
    assert next_free_name(C, []) == "db-0"
    assert member_index(C, "db-12") == 12
    assert member_index(C, "other-1") is None


def test_every_plan_is_at_most_one_disruptive_step() -> None:
    # Disruptive kinds act on exactly one member (or one stray ID).
    for _, desired, observed, _, _, _ in CASES:
        action: Action = plan(desired, observed, POLICY)
        if action.disruptive:
            assert (action.member is not None) or (action.member_id is not None)
            assert action.members == ()
