"""The etcd operator's decisions: from what is wanted and what is observed, the one next action.

`plan` is pure and total: given the same inputs it returns the same `Action`, and it never returns
more than one disruptive step, so quorum is kept at every step:

- no cluster yet: bootstrap every initial member at once (the only time several start together);
- a cluster that does not answer: restart members that are down, never touch membership;
- a learner (a member being added): start it, promote it once it answers, remove it if it is stuck;
- a voting member that is down with its data: restart it; down without data (lost disk), or unhealthy
  for longer than `Policy.replace_after`: remove it (a later pass adds a fresh one in its place), only
  if the members left still have a healthy quorum;
- everything healthy: scale up by one learner, scale down by one non-leader, or restart one member
  on the new version (followers by name, the leader last), in that order.

Members are named `<cluster>-<index>`; a new member takes the lowest free index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """What the executor is asked to do."""

    NONE = "None"
    """Nothing: steady, or paused."""
    WAIT = "Wait"
    """Nothing now; look again soon (a member is catching up, an election is running, ...)."""
    BLOCKED = "Blocked"
    """Nothing until the spec changes (an unavailable version, a downgrade)."""
    BOOTSTRAP = "Bootstrap"
    """Start `members` as a new cluster."""
    START = "Start"
    """Start `member` (not running) with its existing data or as an already added member."""
    ADD = "Add"
    """Add `member` as a learner through the etcd API, then start it."""
    PROMOTE = "Promote"
    """Promote learner `member` to a voting member."""
    REMOVE = "Remove"
    """Remove `member` from the etcd member list (when `member_id` is set), stop it, wipe its data."""
    UPGRADE = "Upgrade"
    """Restart `member` on the wanted version (and revision)."""


DISRUPTIVE = frozenset({Kind.ADD, Kind.PROMOTE, Kind.REMOVE, Kind.UPGRADE})


@dataclass(frozen=True)
class Action:
    """One step; `reason` is CamelCase (it becomes a condition reason), `message` says why."""

    kind: Kind
    reason: str
    message: str = ""
    member: str | None = None
    member_id: int | None = None
    members: tuple[str, ...] = ()

    @property
    def disruptive(self) -> bool:
        return self.kind in DISRUPTIVE


@dataclass(frozen=True)
class MemberView:
    """One member as the executor observed it, merged from the runtime and the etcd member list."""

    name: str
    id: int | None = None
    """etcd member ID; None when the member list does not have it."""
    learner: bool = False
    started: bool = True
    """The member list knows its name, i.e. it has run at least once (False right after an add)."""
    exists: bool = True
    """The runtime holds anything of it (process record, data, Pod, volume)."""
    running: bool = False
    data_present: bool = False
    healthy: bool = False
    """It answered a status request and knows a leader."""
    leader: bool = False
    version: str | None = None
    """The version it reports, e.g. 3.6.16."""
    revision_current: bool = True
    """It runs with the revision (binary, certificates) wanted now."""
    unhealthy_for: float = 0.0
    """Seconds it has been unhealthy (or down) in a row; 0 when healthy."""


@dataclass(frozen=True)
class Desired:
    """What the spec asks for."""

    cluster: str
    size: int
    version: str
    version_available: bool = True
    paused: bool = False


@dataclass(frozen=True)
class Observed:
    """What the executor saw: every member, whether any member answered, and whether the cluster was
    ever formed (a member ever had an ID)."""

    members: tuple[MemberView, ...] = ()
    reachable: bool = False
    formed: bool = False
    strays: tuple[int, ...] = field(default=())
    """IDs in the member list matching no component of ours."""


@dataclass(frozen=True)
class Policy:
    """Timings of repair."""

    replace_after: float = 60.0
    """Seconds a member may stay unhealthy before it is replaced."""


MEMBER_NAME = re.compile(r"^(?P<cluster>.+)-(?P<index>[0-9]+)$")
VERSION = re.compile(r"^v?(?P<major>[0-9]+)\.(?P<minor>[0-9]+)\.(?P<patch>[0-9]+)")


def member_name(cluster: str, index: int) -> str:
    """`member_name` is `<cluster>-<index>`."""
    return f"{cluster}-{index}"


def member_index(cluster: str, name: str) -> int | None:
    """`member_index` parses `member_name`'s output back; None for a name of another cluster."""
    match = MEMBER_NAME.match(name)
    if match is None or match["cluster"] != cluster:
        return None
    return int(match["index"])


def normalize_version(version: str) -> str:
    """`normalize_version` returns `3.6.16` for `v3.6.16` or `3.6.16`."""
    return version[1:] if version.startswith("v") else version


def version_key(version: str) -> tuple[int, int, int]:
    match = VERSION.match(version)
    if match is None:
        return (0, 0, 0)
    return (int(match["major"]), int(match["minor"]), int(match["patch"]))


def next_free_name(cluster: str, taken: Iterable[str]) -> str:
    """`next_free_name` is the member name with the lowest index not in `taken`."""
    used = {member_index(cluster, name) for name in taken}
    index = 0
    while index in used:
        index += 1
    return member_name(cluster, index)


def quorum(voters: int) -> int:
    """`quorum` is the number of voters that must agree: a majority."""
    return voters // 2 + 1


def safe_to_remove(voting: list[MemberView], member: MemberView) -> bool:
    """`safe_to_remove` says whether removing `member` leaves a healthy quorum among the others."""
    remaining = [m for m in voting if m.name != member.name]
    if not remaining:
        return False
    healthy = sum(1 for m in remaining if m.healthy)
    return healthy >= quorum(len(remaining))


def plan(desired: Desired, observed: Observed, policy: Policy | None = None) -> Action:
    """`plan` returns the single next action that moves `observed` toward `desired` keeping quorum."""
    policy = policy or Policy()
    if desired.paused:
        return Action(Kind.NONE, "Paused", "spec.paused is set: members are left as they are")
    if not observed.reachable:
        return _plan_unreachable(desired, observed)
    return _plan_reachable(desired, observed, policy)


def _plan_unreachable(desired: Desired, observed: Observed) -> Action:
    components = sorted((m for m in observed.members if m.exists), key=lambda m: _order(desired, m))
    if not observed.formed:
        if not desired.version_available:
            return Action(
                Kind.BLOCKED,
                "VersionUnavailable",
                f"etcd {desired.version} is not available to start members",
            )
        names = tuple(member_name(desired.cluster, i) for i in range(desired.size))
        if all(m.running for m in components) and {m.name for m in components} >= set(names):
            return Action(Kind.WAIT, "Bootstrapping", "waiting for the initial members to elect a leader")
        return Action(
            Kind.BOOTSTRAP, "Bootstrapping", f"starting {len(names)} initial members", members=names
        )
    down = [m for m in components if not m.running]
    if down:
        return Action(
            Kind.START, "MemberDown", f"{down[0].name} is not running; no member answers", member=down[0].name
        )
    return Action(Kind.WAIT, "NoQuorum", "every member runs but none answers; waiting for a leader")


def _plan_reachable(desired: Desired, observed: Observed, policy: Policy) -> Action:
    members = sorted(observed.members, key=lambda m: _order(desired, m))
    voting = [m for m in members if m.id is not None and not m.learner]
    learners = [m for m in members if m.id is not None and m.learner]
    orphans = [m for m in members if m.id is None and m.exists]

    if observed.strays and len(voting) > 1:
        stray = observed.strays[0]
        return Action(Kind.REMOVE, "StrayMember", f"member {stray:x} matches no component", member_id=stray)

    for learner in learners:
        stuck = learner.unhealthy_for >= policy.replace_after
        if stuck:
            return Action(
                Kind.REMOVE,
                "LearnerStuck",
                f"learner {learner.name} did not catch up within {policy.replace_after:g}s",
                member=learner.name,
                member_id=learner.id,
            )
        if not learner.running:
            return Action(
                Kind.START, "StartingLearner", f"starting learner {learner.name}", member=learner.name
            )
        if learner.healthy:
            return Action(
                Kind.PROMOTE,
                "PromotingLearner",
                f"promoting {learner.name}",
                member=learner.name,
                member_id=learner.id,
            )
        return Action(
            Kind.WAIT, "LearnerCatchingUp", f"learner {learner.name} is catching up", member=learner.name
        )

    if orphans:
        return Action(
            Kind.REMOVE,
            "OrphanComponent",
            f"{orphans[0].name} is not in the member list; cleaning it up",
            member=orphans[0].name,
        )

    for member in voting:
        if member.running and member.started:
            continue
        if member.started and member.data_present and member.unhealthy_for < policy.replace_after:
            return Action(
                Kind.START, "MemberDown", f"restarting {member.name} on its data", member=member.name
            )
        if not member.started and member.exists and member.unhealthy_for < policy.replace_after:
            return Action(
                Kind.START, "StartingMember", f"starting added member {member.name}", member=member.name
            )
        why = "lost its data" if member.started and not member.data_present else "stays down"
        if safe_to_remove(voting, member):
            return Action(
                Kind.REMOVE,
                "ReplacingMember",
                f"{member.name} {why}; removing it to add a fresh member",
                member=member.name,
                member_id=member.id,
            )
        return Action(Kind.WAIT, "QuorumAtRisk", f"{member.name} {why}, but removing it would lose quorum")

    for member in voting:
        if member.healthy:
            continue
        if member.unhealthy_for >= policy.replace_after:
            if safe_to_remove(voting, member):
                return Action(
                    Kind.REMOVE,
                    "ReplacingMember",
                    f"{member.name} unhealthy for {member.unhealthy_for:.0f}s; replacing it",
                    member=member.name,
                    member_id=member.id,
                )
            return Action(
                Kind.WAIT, "QuorumAtRisk", f"{member.name} is unhealthy, but removing it would lose quorum"
            )
        return Action(
            Kind.WAIT, "MemberUnhealthy", f"waiting for {member.name} to become healthy", member=member.name
        )

    # Every voting member runs and is healthy, and there is no learner.
    if len(voting) < desired.size:
        name = next_free_name(desired.cluster, [m.name for m in members])
        return Action(
            Kind.ADD, "ScalingUp", f"adding {name} ({len(voting)} of {desired.size} members)", member=name
        )
    if len(voting) > desired.size:
        candidates = sorted(
            (m for m in voting if not m.leader),
            key=lambda m: (-(member_index(desired.cluster, m.name) or 0), m.name),
        )
        if candidates:
            victim = candidates[0]
            return Action(
                Kind.REMOVE,
                "ScalingDown",
                f"removing {victim.name} ({len(voting)} of {desired.size} members)",
                member=victim.name,
                member_id=victim.id,
            )
    return _plan_upgrade(desired, voting)


def _plan_upgrade(desired: Desired, voting: list[MemberView]) -> Action:
    wanted = normalize_version(desired.version)
    stale = [m for m in voting if (m.version is not None and m.version != wanted) or not m.revision_current]
    if not stale:
        return Action(Kind.NONE, "Steady", f"{len(voting)} healthy members on etcd {wanted}")
    if not desired.version_available:
        return Action(
            Kind.BLOCKED, "VersionUnavailable", f"etcd {desired.version} is not available; not upgrading"
        )
    running = [version_key(m.version) for m in voting if m.version is not None]
    if running:
        lowest, highest = min(running), max(running)
        target = version_key(wanted)
        if target[:2] < highest[:2]:
            return Action(
                Kind.BLOCKED,
                "DowngradeUnsupported",
                f"members run {'.'.join(map(str, highest))}; downgrading to {wanted} is not supported",
            )
        if target[0] != lowest[0] or target[1] > lowest[1] + 1:
            return Action(
                Kind.BLOCKED,
                "UpgradeSkipsMinor",
                f"members run {'.'.join(map(str, lowest))}; upgrade one minor version at a time",
            )
    followers = [m for m in stale if not m.leader]
    member = (followers or stale)[0]
    kind = "Upgrading" if member.version != wanted else "RollingRestart"
    return Action(
        Kind.UPGRADE,
        kind,
        f"restarting {member.name} on etcd {wanted} ({len(stale)} to go, the leader last)",
        member=member.name,
        member_id=member.id,
    )


def _order(desired: Desired, member: MemberView) -> tuple[int, str]:
    index = member_index(desired.cluster, member.name)
    return (index if index is not None else 1_000_000, member.name)
