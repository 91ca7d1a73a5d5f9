"""Shard decisions: rendezvous ownership, who is live, what a shard does about a member."""

from __future__ import annotations

import pytest

from kokpit.runtime.leader import LeaseRecord, Observation
from kokpit.runtime.shards import MemberAction, lease_suffix, live_shards, owner, plan_member

MEMBERS = [f"member{i}" for i in range(1, 301)]


def test_owner_is_the_same_whatever_the_order_of_the_shards() -> None:
    for member in MEMBERS:
        assert owner(member, ["a", "b", "c"]) == owner(member, ["c", "a", "b"])


def test_owner_of_no_shard_is_none() -> None:
    assert owner("member1", []) is None


def test_keys_spread_over_the_shards() -> None:
    shares = {shard: 0 for shard in ("a", "b", "c")}
    for member in MEMBERS:
        shares[str(owner(member, shares))] += 1
    assert all(60 < count < 140 for count in shares.values()), shares


def test_a_shard_leaving_moves_only_its_keys() -> None:
    before = {m: owner(m, ["a", "b", "c"]) for m in MEMBERS}
    after = {m: owner(m, ["a", "b"]) for m in MEMBERS}
    moved = [m for m in MEMBERS if before[m] != after[m]]
    assert moved and all(before[m] == "c" for m in moved)


def test_a_shard_joining_takes_keys_only_for_itself() -> None:
    before = {m: owner(m, ["a", "b"]) for m in MEMBERS}
    after = {m: owner(m, ["a", "b", "c"]) for m in MEMBERS}
    moved = [m for m in MEMBERS if before[m] != after[m]]
    assert moved and all(after[m] == "c" for m in moved)


def seen(holder: str | None, at: float, duration: float = 15.0) -> Observation:
    return Observation(LeaseRecord(holder=holder, lease_duration=duration), at)


def test_live_shards_are_me_and_the_holders_of_fresh_presence() -> None:
    presence = [seen("b", 0.0), seen("c", 10.0), seen(None, 10.0)]
    assert live_shards(presence, "a", 14.0) == {"a", "b", "c"}
    assert live_shards(presence, "a", 15.0) == {"a", "c"}, "b unchanged for a full lease duration"
    assert live_shards(presence, "a", 25.0) == {"a"}


def test_live_shards_always_hold_this_one() -> None:
    assert live_shards([], "a", 0.0) == {"a"}


def mine_and_theirs(live: frozenset[str]) -> tuple[str, str]:
    """A member `a` owns among `live`, and one it does not."""
    mine = next(m for m in MEMBERS if owner(m, live) == "a")
    theirs = next(m for m in MEMBERS if owner(m, live) != "a")
    return mine, theirs


LIVE = frozenset({"a", "b"})
MINE, THEIRS = mine_and_theirs(LIVE)


@pytest.mark.parametrize(
    ("member", "holder", "expected"),
    [
        pytest.param(MINE, None, MemberAction.TAKE, id="mine and free: take it"),
        pytest.param(MINE, "a", MemberAction.KEEP, id="mine and held: keep it"),
        pytest.param(MINE, "b", MemberAction.WAIT, id="mine, a live shard still holds it: wait"),
        pytest.param(MINE, "dead", MemberAction.TAKE, id="mine, its holder is not live: take it"),
        pytest.param(THEIRS, "a", MemberAction.RELEASE, id="held but now another's: release"),
        pytest.param(THEIRS, None, MemberAction.NONE, id="another's and free: leave it"),
        pytest.param(THEIRS, "b", MemberAction.NONE, id="another's and held by it: leave it"),
    ],
)
def test_plan_member(member: str, holder: str | None, expected: MemberAction) -> None:
    assert plan_member(member, holder, "a", LIVE) is expected


def test_alone_a_shard_takes_every_member() -> None:
    alone = frozenset({"a"})
    assert {plan_member(m, None, "a", alone) for m in MEMBERS} == {MemberAction.TAKE}


def test_lease_names_of_any_identity_are_dns_labels() -> None:
    suffix = lease_suffix("host_1234_abcd")
    assert suffix.isalnum() and suffix.islower() and len(suffix) == 12
    assert lease_suffix("host_1234_abcd") == suffix != lease_suffix("host_1234_abce")
