"""The scheduler: which member clusters a resource goes to, how many replicas each runs, and why.

`schedule` is pure: a controller gathers the clusters (`ClusterInfo`) and the binding's placement from
its cache, calls it, and writes the result into the binding (`spec.clusters`, `spec.decisions`). It
explains itself: there is one `Decision` for every known cluster, selected or not, with a reason a
human can act on. Ties are always broken by cluster name.

Steps:

1. **Filter.** A cluster is feasible when it matches the affinity (clusterNames, exclude, labelSelector,
   fieldSelector; see `kokpit.propagation.clusters.affinity_mismatch`), tolerates its NoSchedule and
   NoExecute taints, and is ready. Clusters the resource is already on (`previous`) are only held to
   NoExecute taints, and stay while not ready, so a flapping cluster does not lose its workloads.
   With `clusterAffinities` the groups are tried in order and the first with a feasible cluster wins.
2. **Spread.** Clusters are ranked: those already holding the resource first, then by room for more
   replicas (most first), then by name. A region/zone/provider/label constraint picks the best
   `maxGroups` groups (groups ranked the same way by their summed room), a cluster constraint then picks
   the best `maxGroups` clusters, one per chosen group first. Fewer feasible groups than `minGroups`
   fails with `SpreadConstraintError`.
3. **Divide.** Duplicated: every selected cluster runs all `replicas`. Divided, Weighted: replicas in
   proportion to weights, by `divide_by_weights`; the weights are static (`staticWeightList`, the highest
   matching entry; clusters matching none get nothing), dynamic (`AvailableReplicas`: each cluster's room
   for more replicas of the workload) or, without weightPreference, equal. Divided, Aggregated: as few
   clusters as possible, the roomiest first (`aggregate`). A resource without replicas (`replicas=0`)
   goes whole to every selected cluster, with replicas 0. In Divided modes, clusters left with no
   replicas are not selected.

**The remainder rule** (`divide_by_weights`, the largest-remainder method): each cluster first gets
floor(replicas * weight / total weight); the replicas left over go one each to the clusters with the
largest fractional part, ties broken by the higher weight, then by name. So 8 replicas at 2:1:1 give
4/2/2; 12 at 18:12:6 give 6/4/2; 7 at 1:1:1 give 3/2/2, the extra one to the alphabetically first.

**Stability (Karmada's steady division).** Capacity-driven divisions (dynamic weights, Aggregated) start
from the current assignment (`previous`: cluster -> replicas) while every cluster in it is still selected
(for dynamic weights: still has room). Then a scale never moves replicas between clusters:

- the same total keeps the assignment unchanged, also when a cluster joins (it gets replicas at the next
  scale-up or re-placement);
- scale-up places only the difference: dynamic weights divide it by each cluster's free room (not counting
  what it already runs), Aggregated fills the clusters already holding replicas first (most room first),
  then the others (`scale_up`, `scale_up_aggregated`);
- scale-down divides the new total in proportion to the current assignment; Aggregated first keeps as few
  of the current clusters as hold the new total, the biggest first (`scale_down`, `scale_down_aggregated`).

A cluster of the assignment that is no longer selected (the placement changed, a taint, failover) or a
total that does not fit the rooms re-divides from scratch; so does the first scheduling. A cluster's room
counts the replicas it already runs for this resource.

Static weights (`staticWeightList`) are steady too (`scale_static`), since the remainder rule alone is not:
7 replicas at 1:3:3 are 1/3/3 and 3 are 1/1/1, but 4 are 0/2/2, so a scale from 3 to 4 would move one.
Each cluster's exact share is replicas * weight / total weight; from the current assignment a scale-up adds
one replica at a time to the cluster furthest below its share, a scale-down removes one at a time from
the cluster furthest above it (ties: a replica is added to the higher weight, then to the cluster holding
more, as Karmada orders by weight and last replicas; removed from the lower weight, then from the cluster
holding fewer; then by name), so 3 at 1/1/1 scaled to 4 become 1/2/1. The same total keeps the current
assignment while every cluster holds its share rounded down or up (Karmada keeps the previous place of
the remainder the same way); otherwise, and so after a changed weight, it re-divides by the weights at
once. Equal weights (no weightPreference) re-divide from scratch, as in Karmada.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import ceil, floor

from kokpit.api.policy import (
    ClusterAffinity,
    Placement,
    ReplicaDivisionPreference,
    ReplicaSchedulingType,
    SpreadByField,
    SpreadConstraint,
    Toleration,
    TolerationOperator,
)
from kokpit.errors import KokpitError
from kokpit.propagation.clusters import (
    ClusterInfo,
    ClusterTaint,
    ResourceRequest,
    affinity_mismatch,
    available_replicas,
    matches_affinity,
    sorted_clusters,
)

SELECTED = "selected"
NOT_READY = "not ready"


@dataclass(frozen=True)
class TargetCluster:
    """A cluster the resource goes to, and the replicas it runs there (0: not divided)."""

    name: str
    replicas: int


@dataclass(frozen=True)
class Decision:
    """Why one cluster was or was not chosen."""

    cluster: str
    selected: bool
    replicas: int
    reason: str


@dataclass(frozen=True)
class ScheduleResult:
    """The outcome of `schedule`: targets by name, and one decision per known cluster by name."""

    clusters: list[TargetCluster]
    decisions: list[Decision]
    affinity_name: str | None = None
    """The clusterAffinities group used, when the placement has groups."""

    def replicas_by_cluster(self) -> dict[str, int]:
        """`replicas_by_cluster` is the targets as a mapping, the form `previous` takes next time."""
        return {target.name: target.replicas for target in self.clusters}


class SchedulingError(KokpitError):
    """The placement cannot be satisfied. `reason` is the condition reason for the binding's Scheduled
    condition, the message its message; `decisions` still explains every cluster."""

    reason = "SchedulingFailed"

    def __init__(self, message: str, *, decisions: Sequence[Decision] = ()) -> None:
        super().__init__(message)
        self.decisions: list[Decision] = list(decisions)


class NoClusterFitError(SchedulingError):
    """No cluster passes the filters."""

    reason = "NoClusterFit"


class SpreadConstraintError(SchedulingError):
    """Fewer groups than a spread constraint's minGroups are feasible."""

    reason = "SpreadConstraintNotMet"


class InsufficientCapacityError(SchedulingError):
    """The selected clusters have no room for all the replicas."""

    reason = "InsufficientCapacity"


# --- filters ---------------------------------------------------------------------------------------------


def tolerates(toleration: Toleration, taint: ClusterTaint) -> bool:
    """`tolerates` applies core/v1 semantics: the effect must match unless the toleration's is empty; the
    key must match unless the toleration's is empty; Exists matches any value, Equal only the same one."""
    if toleration.effect is not None and toleration.effect.value != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    if toleration.operator is TolerationOperator.EXISTS:
        return True
    return (toleration.value or "") == taint.value


def untolerated_taint(
    cluster: ClusterInfo, tolerations: Sequence[Toleration], *, scheduled: bool = False
) -> ClusterTaint | None:
    """`untolerated_taint` is the first (by key, effect) NoSchedule or NoExecute taint of `cluster` that
    no toleration tolerates, or None. For a cluster the resource is already on (`scheduled`) only NoExecute
    taints count. PreferNoSchedule taints never exclude."""
    effects = ("NoExecute",) if scheduled else ("NoSchedule", "NoExecute")
    for taint in sorted(cluster.taints, key=lambda t: (t.key, t.effect, t.value)):
        if taint.effect in effects and not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def filter_reason(
    cluster: ClusterInfo,
    affinity: ClusterAffinity | None,
    tolerations: Sequence[Toleration],
    *,
    scheduled: bool = False,
) -> str | None:
    """`filter_reason` is why `cluster` is not feasible, or None when it is: the affinity mismatch, then
    "taint <key>:<effect> not tolerated", then "not ready" (not for clusters already `scheduled`)."""
    mismatch = affinity_mismatch(affinity, cluster)
    if mismatch is not None:
        return mismatch
    taint = untolerated_taint(cluster, tolerations, scheduled=scheduled)
    if taint is not None:
        return f"taint {taint} not tolerated"
    if not cluster.ready and not scheduled:
        return NOT_READY
    return None


# --- division --------------------------------------------------------------------------------------------


def divide_by_weights(replicas: int, weights: Mapping[str, int]) -> dict[str, int]:
    """`divide_by_weights` splits `replicas` in proportion to `weights` by the largest-remainder method:
    floor shares first, then one extra replica each to the largest fractional parts, ties to the higher
    weight, then to the name first in alphabetical order. Every name of `weights` is in the result
    (weight 0 gets 0). Raises ValueError for negative numbers or when all weights are 0."""
    if replicas < 0:
        raise ValueError(f"replicas must not be negative, got {replicas}")
    if any(weight < 0 for weight in weights.values()):
        raise ValueError("weights must not be negative")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("at least one weight must be positive")
    shares = {name: replicas * weight // total for name, weight in weights.items()}
    left = replicas - sum(shares.values())
    by_remainder = sorted(
        (name for name, weight in weights.items() if weight > 0),
        key=lambda name: (-(replicas * weights[name] % total), -weights[name], name),
    )
    for name in by_remainder[:left]:
        shares[name] += 1
    return dict(sorted(shares.items()))


def aggregate(replicas: int, available: Mapping[str, int]) -> dict[str, int]:
    """`aggregate` puts `replicas` on as few clusters as possible: the cluster with the most room first
    (ties by name), each filled up to its room. Raises ValueError when the total room is too small."""
    if replicas < 0:
        raise ValueError(f"replicas must not be negative, got {replicas}")
    room = sum(max(0, value) for value in available.values())
    if room < replicas:
        raise ValueError(f"only {room} of {replicas} replicas fit")
    shares = dict.fromkeys(available, 0)
    left = replicas
    for name in sorted(available, key=lambda n: (-available[n], n)):
        if left == 0:
            break
        shares[name] = min(max(0, available[name]), left)
        left -= shares[name]
    return dict(sorted(shares.items()))


def scale_down(replicas: int, current: Mapping[str, int]) -> dict[str, int]:
    """`scale_down` divides `replicas` (at most the current total) in proportion to the `current` assignment
    by the remainder rule of `divide_by_weights`, so no cluster gains one: 12 at 2/4/6 become 6 at
    1/2/3. Raises ValueError when `replicas` exceeds the current total."""
    held = {name: count for name, count in current.items() if count > 0}
    if not 0 <= replicas <= sum(held.values()):
        raise ValueError(f"cannot scale {sum(held.values())} replicas down to {replicas}")
    return divide_by_weights(replicas, held) if held else {}


def scale_down_aggregated(replicas: int, current: Mapping[str, int]) -> dict[str, int]:
    """`scale_down_aggregated` keeps as few of the `current` clusters as hold `replicas`, the biggest first
    (ties by name), and scales them down in proportion (`scale_down`); the others get 0."""
    order = sorted((name for name, count in current.items() if count > 0), key=lambda n: (-current[n], n))
    kept: dict[str, int] = {}
    for name in order:
        if sum(kept.values()) >= replicas:
            break
        kept[name] = current[name]
    shares = dict.fromkeys(current, 0)
    shares.update(scale_down(replicas, kept))
    return dict(sorted(shares.items()))


def scale_up(current: Mapping[str, int], extra: int, free: Mapping[str, int]) -> dict[str, int]:
    """`scale_up` adds `extra` replicas to the `current` assignment, divided by each cluster's `free` room
    (what it can still run, not counting what it runs already) with `divide_by_weights`; nothing already
    placed moves. Raises ValueError when the free room is smaller than `extra`."""
    room = {name: max(0, value) for name, value in free.items()}
    if extra < 0 or sum(room.values()) < extra:
        raise ValueError(f"only {sum(room.values())} more of {extra} replicas fit")
    added = divide_by_weights(extra, room) if extra else {}
    names = set(current) | set(added)
    return {name: current.get(name, 0) + added.get(name, 0) for name in sorted(names)}


def scale_up_aggregated(current: Mapping[str, int], extra: int, free: Mapping[str, int]) -> dict[str, int]:
    """`scale_up_aggregated` adds `extra` replicas to the `current` assignment on as few clusters as
    possible: those already holding replicas first, then the others, each group most free room first (ties
    by name), each filled up to its `free` room. Raises ValueError when the free room is too small."""
    room = {name: max(0, value) for name, value in free.items()}
    if extra < 0 or sum(room.values()) < extra:
        raise ValueError(f"only {sum(room.values())} more of {extra} replicas fit")
    order = sorted(room, key=lambda n: (0 if current.get(n, 0) > 0 else 1, -room[n], n))
    shares = {name: current.get(name, 0) for name in set(current) | set(room)}
    left = extra
    for name in order:
        step = min(room[name], left)
        shares[name] += step
        left -= step
    return dict(sorted(shares.items()))


def scale_static(
    replicas: int, weights: Mapping[str, int], current: Mapping[str, int]
) -> dict[str, int] | None:
    """`scale_static` is the steady division of `replicas` by static `weights` from the `current`
    assignment (see the module docstring): a scale-up only adds, a scale-down only removes, one replica at
    a time where the distance to the exact share is largest (ties as the module docstring says); the same
    total keeps `current` while every weighted cluster holds its share rounded down or up. None to divide
    from scratch: no current assignment, a current cluster without weight, or the same total out of those
    bounds."""
    held = {name: count for name, count in current.items() if count > 0}
    if not held or any(weights.get(name, 0) <= 0 for name in held):
        return None
    total = sum(weights.values())
    shares = {name: Fraction(replicas * weight, total) for name, weight in weights.items()}
    result = {name: held.get(name, 0) for name in weights}
    count = sum(result.values())
    if count == replicas:
        bounded = all(floor(shares[n]) <= result[n] <= ceil(shares[n]) for n in weights)
        return dict(sorted(result.items())) if bounded else None
    while count < replicas:
        name = min(weights, key=lambda n: (result[n] - shares[n], -weights[n], -held.get(n, 0), n))
        result[name] += 1
        count += 1
    while count > replicas:
        name = min(
            (n for n in weights if result[n] > 0),
            key=lambda n: (shares[n] - result[n], weights[n], held.get(n, 0), n),
        )
        result[name] -= 1
        count -= 1
    return dict(sorted(result.items()))


# --- spreading -------------------------------------------------------------------------------------------


def _group_key(constraint: SpreadConstraint) -> tuple[str, Callable[[ClusterInfo], str | None]]:
    if constraint.spread_by_label:
        label = constraint.spread_by_label
        return f"label {label}", lambda cluster: cluster.labels.get(label)
    key = str(constraint.spread_by_field)
    return key, lambda cluster: cluster.field_value(key)


def _spread(
    feasible: list[ClusterInfo],
    constraints: Sequence[SpreadConstraint],
    rank: Callable[[ClusterInfo], tuple[int, int, str]],
    room: Mapping[str, int],
    previous: Mapping[str, int],
) -> tuple[list[ClusterInfo], dict[str, str]]:
    """Applies the spread constraints to the feasible clusters: (selected, reason per dropped cluster)."""
    by_cluster = next((c for c in constraints if c.spread_by_field is SpreadByField.CLUSTER), None)
    by_group = next((c for c in constraints if c.spread_by_field is not SpreadByField.CLUSTER), None)
    dropped: dict[str, str] = {}
    candidates = sorted(feasible, key=rank)
    group_order: list[list[ClusterInfo]] = []

    if by_group is not None:
        what, key_of = _group_key(by_group)
        groups: dict[str, list[ClusterInfo]] = {}
        for cluster in candidates:
            key = key_of(cluster)
            if key is None:
                dropped[cluster.name] = f"spread: no {what}"
            else:
                groups.setdefault(key, []).append(cluster)
        ranked = sorted(
            groups.items(),
            key=lambda item: (
                0 if any(c.name in previous for c in item[1]) else 1,
                -sum(room[c.name] for c in item[1]),
                item[0],
            ),
        )
        if len(ranked) < (by_group.min_groups or 0):
            raise SpreadConstraintError(
                f"spread: {len(ranked)} {what} group(s) among the feasible clusters, "
                f"minGroups is {by_group.min_groups}"
            )
        limit = by_group.max_groups or len(ranked)
        for key, members in ranked[limit:]:
            for cluster in members:
                dropped[cluster.name] = f"spread: group limit ({what} {key} not among the {limit} chosen)"
        group_order = [members for _, members in ranked[:limit]]
        candidates = sorted((c for members in group_order for c in members), key=rank)

    if by_cluster is not None:
        if len(candidates) < (by_cluster.min_groups or 0):
            raise SpreadConstraintError(
                f"spread: {len(candidates)} feasible cluster(s), minGroups is {by_cluster.min_groups}"
            )
        limit = by_cluster.max_groups or len(candidates)
        if len(candidates) > limit:
            if by_group is not None and by_group.min_groups and limit < by_group.min_groups:
                raise SpreadConstraintError(
                    f"spread: at most {limit} cluster(s) cannot cover minGroups {by_group.min_groups}"
                )
            chosen = [members[0] for members in group_order][:limit]
            chosen += [c for c in candidates if c not in chosen][: limit - len(chosen)]
            for cluster in candidates:
                if cluster not in chosen:
                    dropped[cluster.name] = f"spread: group limit (at most {limit} clusters)"
            candidates = chosen
    return sorted(candidates, key=lambda c: c.name), dropped


# --- schedule --------------------------------------------------------------------------------------------


def schedule(
    clusters: Sequence[ClusterInfo],
    placement: Placement,
    *,
    replicas: int,
    workload_request: ResourceRequest | None = None,
    previous: Mapping[str, int] | None = None,
    excluded: Mapping[str, str] | None = None,
) -> ScheduleResult:
    """`schedule` places a resource with `replicas` replicas (0 for resources without replicas) on
    `clusters` according to `placement`; see the module docstring for the steps, the remainder rule and
    stability.

    `workload_request` is what one replica requests (`kokpit.propagation.replicas.resource_request`);
    without it a cluster's room is its free pod count. `previous` is the current decision (cluster ->
    replicas, `ScheduleResult.replicas_by_cluster`). Raises `NoClusterFitError`, `SpreadConstraintError`
    or `InsufficientCapacityError` (each a `SchedulingError` carrying a condition reason and every
    cluster's decision), and ValueError for negative replicas or duplicate cluster names.

    `excluded` names clusters that are not feasible whatever the placement says, with the reason
    (failover: clusters the resource is being evicted from, `kokpit.propagation.failover`); they are
    dropped from `previous` too.
    """
    if replicas < 0:
        raise ValueError(f"replicas must not be negative, got {replicas}")
    ordered = sorted_clusters(clusters)
    barred = dict(excluded or {})
    before = {name: count for name, count in (previous or {}).items() if count >= 0 and name not in barred}
    tolerations = placement.cluster_tolerations or []

    terms: list[tuple[str | None, ClusterAffinity | None]]
    if placement.cluster_affinities:
        terms = [(term.affinity_name, term) for term in placement.cluster_affinities]
    else:
        terms = [(None, placement.cluster_affinity)]
    tried: list[dict[str, str | None]] = []
    for _, affinity in terms:
        reasons = {
            c.name: barred.get(c.name) or filter_reason(c, affinity, tolerations, scheduled=c.name in before)
            for c in ordered
        }
        tried.append(reasons)
        if any(reason is None for reason in reasons.values()):
            break
    else:
        decisions = [Decision(c.name, False, 0, _joined_reasons(c.name, terms, tried)) for c in ordered]
        raise NoClusterFitError(
            f"no cluster fits the placement (0 of {len(ordered)} feasible)", decisions=decisions
        )

    affinity_name = terms[len(tried) - 1][0]
    prefix = f"group {affinity_name}: " if affinity_name else ""
    reasons_used = tried[-1]
    rejected = {name: f"{prefix}{reason}" for name, reason in reasons_used.items() if reason is not None}
    feasible = [c for c in ordered if reasons_used[c.name] is None]
    room = {c.name: available_replicas(c, workload_request) + before.get(c.name, 0) for c in feasible}

    def rank(cluster: ClusterInfo) -> tuple[int, int, str]:
        return (0 if cluster.name in before else 1, -room[cluster.name], cluster.name)

    def fail(
        error: type[SchedulingError], message: str, extra: Mapping[str, str] | None = None
    ) -> SchedulingError:
        reasons = {**rejected, **(extra or {})}
        decisions = [
            Decision(c.name, False, 0, reasons.get(c.name, f"{prefix}not scheduled: {message}"))
            for c in ordered
        ]
        return error(message, decisions=decisions)

    try:
        selected, dropped = _spread(feasible, placement.spread_constraints or [], rank, room, before)
    except SpreadConstraintError as error:
        raise fail(SpreadConstraintError, str(error)) from None
    rejected.update(dropped)
    if not selected:
        raise fail(NoClusterFitError, "no cluster is left after the spread constraints")

    assignment, unassigned = _divide(selected, placement, replicas, room, before, fail)
    rejected.update(unassigned)

    selected_reason = SELECTED if affinity_name is None else f"{SELECTED} (affinity group {affinity_name})"
    decisions = [
        Decision(c.name, True, assignment[c.name], selected_reason)
        if c.name in assignment
        else Decision(c.name, False, 0, rejected[c.name])
        for c in ordered
    ]
    targets = [TargetCluster(name, count) for name, count in sorted(assignment.items())]
    return ScheduleResult(clusters=targets, decisions=decisions, affinity_name=affinity_name)


def _joined_reasons(
    name: str,
    terms: Sequence[tuple[str | None, ClusterAffinity | None]],
    tried: Sequence[Mapping[str, str | None]],
) -> str:
    if len(terms) == 1 and terms[0][0] is None:
        return tried[0][name] or ""
    return "; ".join(f"group {term[0]}: {reasons[name]}" for term, reasons in zip(terms, tried, strict=True))


def _divide(
    selected: list[ClusterInfo],
    placement: Placement,
    replicas: int,
    room: Mapping[str, int],
    before: Mapping[str, int],
    fail: Callable[..., SchedulingError],
) -> tuple[dict[str, int], dict[str, str]]:
    """The replicas per selected cluster (only clusters that get the resource), and why the others do not."""
    names = [c.name for c in selected]
    strategy = placement.replica_scheduling
    if (
        replicas == 0
        or strategy is None
        or strategy.replica_scheduling_type is ReplicaSchedulingType.DUPLICATED
    ):
        return {name: replicas for name in names}, {}

    unassigned: dict[str, str] = {}
    preference = strategy.replica_division_preference or ReplicaDivisionPreference.WEIGHTED
    if preference is ReplicaDivisionPreference.AGGREGATED:
        space = {name: room[name] for name in names}
        current = _current(before, names)
        total = sum(space.values())
        if total < replicas:
            raise fail(
                InsufficientCapacityError,
                f"the selected clusters have room for {total} of {replicas} replicas",
                {name: f"room for {space[name]} replica(s)" for name in names},
            )
        shares = _steady(
            current,
            replicas,
            free={name: space[name] - current.get(name, 0) for name in names},
            up=scale_up_aggregated,
            down=scale_down_aggregated,
        ) or aggregate(replicas, space)
    else:
        preferences = strategy.weight_preference
        if preferences is not None and preferences.dynamic_weight is not None:
            weights = {name: room[name] for name in names}
            for name in names:
                if weights[name] <= 0:
                    unassigned[name] = "no room for the workload (0 available replicas)"
            total = sum(weights.values())
            if total < replicas:
                raise fail(
                    InsufficientCapacityError,
                    f"the selected clusters have room for {total} of {replicas} replicas",
                    {name: f"room for {weights[name]} replica(s)" for name in names},
                )
            current = _current(before, [n for n in names if weights[n] > 0])
            shares = _steady(
                current,
                replicas,
                free={name: weights[name] - current.get(name, 0) for name in names if weights[name] > 0},
                up=scale_up,
                down=scale_down,
            ) or divide_by_weights(replicas, weights)
        elif preferences is not None and preferences.static_weight_list:
            weights = {
                cluster.name: max(
                    (
                        entry.weight
                        for entry in preferences.static_weight_list
                        if matches_affinity(entry.target_cluster, cluster)
                    ),
                    default=0,
                )
                for cluster in selected
            }
            for name in names:
                if weights[name] == 0:
                    unassigned[name] = "weight 0: matches no staticWeightList entry"
            if not any(weights.values()):
                raise fail(
                    NoClusterFitError, "no selected cluster matches an entry of staticWeightList", unassigned
                )
            positive = {name: weight for name, weight in weights.items() if weight > 0}
            shares = scale_static(replicas, positive, _current(before, list(positive))) or divide_by_weights(
                replicas, weights
            )
        else:
            shares = divide_by_weights(replicas, dict.fromkeys(names, 1))

    assignment = {name: count for name, count in shares.items() if count > 0}
    for name in names:
        if name not in assignment and name not in unassigned:
            unassigned[name] = f"divided: 0 of {replicas} replicas"
    return assignment, unassigned


def _current(before: Mapping[str, int], names: Sequence[str]) -> dict[str, int]:
    """The current assignment a steady division starts from: the previous replicas on clusters still
    selected (Karmada drops the others, and their replicas are placed again like a scale-up)."""
    return {name: before[name] for name in names if before.get(name, 0) > 0}


def _steady(
    current: Mapping[str, int],
    replicas: int,
    *,
    free: Mapping[str, int],
    up: Callable[[Mapping[str, int], int, Mapping[str, int]], dict[str, int]],
    down: Callable[[int, Mapping[str, int]], dict[str, int]],
) -> dict[str, int] | None:
    """The steady division from `current` (see the module docstring), or None to divide from scratch."""
    if not current:
        return None
    held = sum(current.values())
    if held == replicas:
        return dict(current)
    if held > replicas:
        return down(replicas, current)
    return up(current, replicas - held, free)
