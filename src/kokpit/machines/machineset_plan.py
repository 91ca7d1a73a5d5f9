"""A MachineSet's decisions: from the set, its Machines and the free Hosts, what to do this pass.

`plan_set` is pure and total. It returns every action of one pass at once, because each is
independent of the others and slow on the host side (an install takes minutes): scale-out claims
several free hosts in one pass, so new machines provision in parallel.

- **Scale out**: one new Machine per missing replica, each claiming a free Host that matches
  `hostSelector`, hosts taken by name. Too few hosts: as many as there are, and `Scaled` False with
  reason `InsufficientHosts` naming the counts.
- **Scale in**: the Machines to go, preferring one whose drain already began, then not-ready ones,
  then ones on an old revision, then the newest (Cluster API's "Newest" delete policy), ties by name
  (last first). The controller drains each one's node before deleting the Machine; `remove`,
  deleting the Node and freeing the Host happen on the Machine's deletion.
- **Rolling update in place**: the revision is a stable hash of the template's `spec`. A Machine on
  another revision is updated *in place*: its spec (components and their versions and parameters,
  node labels, taints) is set to the template's, keeping its host; the Machine controller then
  reinstalls what changed, which is what a node-software upgrade is. No host is given up and
  re-claimed, so an update needs no spare host (there is no surge). `maxUnavailable` bounds how many
  Machines may be not available (not Ready, or not yet reconciled to their current spec) at once;
  not-ready old Machines are updated first (updating them costs no availability).
- **Canary**: with `strategy.canary: N` and a revision not yet promoted, only N Machines are brought
  to the new revision; then the set pauses (`paused`, condition `Paused` True with reason
  `AwaitingPromotion`) until the annotation `machines.kokpit.io/promoted-revision` equals the
  revision (`kokpit machines promote` sets it); then the rest roll with `maxUnavailable`. A set whose
  Machines are all on the current revision (a fresh set, or a finished rollout) never pauses; new
  Machines (scale-out) always start on the current revision.

Machines are named `<set>-<host>` (shortened with a hash past 63 characters), so `kubectl get
machines` says which host each one holds.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kokpit.api.machine import PROMOTED_REVISION_ANNOTATION
from kokpit.machines.selectors import describe, matches
from kokpit.runtime.conditions import Condition

SET_LABEL = "machines.kokpit.io/machine-set"
"""On every Machine of a set: the set's name (Machines also carry a controller owner reference)."""
REVISION_LABEL = "machines.kokpit.io/revision"
"""On every Machine of a set: the revision (template spec hash) its spec was last set to."""
PROMOTED_ANNOTATION = PROMOTED_REVISION_ANNOTATION
"""On a MachineSet: the revision promoted past its canary (written by `kokpit machines promote`)."""

MAX_NAME = 63
REVISION_LENGTH = 10

# Conditions of a MachineSet.
SCALED = "Scaled"
MACHINES_READY = "MachinesReady"
UP_TO_DATE = "UpToDate"
PAUSED = "Paused"
CONDITIONS = ("Ready", SCALED, MACHINES_READY, UP_TO_DATE, PAUSED)
READY_FROM = (SCALED, MACHINES_READY)
"""`Ready` sums these up: the set has its replicas and they are Ready (a rollout may be going on)."""


def revision_of(template_spec: Mapping[str, Any] | None) -> str:
    """`revision_of` is a stable hash of a template's spec: the same for the same content whatever
    the key order, different when anything in it changes."""
    canonical = json.dumps(template_spec or {}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:REVISION_LENGTH]


def machine_name(set_name: str, host: str) -> str:
    """`machine_name` is `<set>-<host>`, cut and suffixed with a short hash when past 63 characters
    (so it can also be a label value)."""
    name = f"{set_name}-{host}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9].rstrip('-.')}-{digest}"


def resolve_count(value: int | str | None, total: int, *, default: int, round_up: bool) -> int:
    """`resolve_count` reads an int-or-percent (`2`, `"40%"`) against `total`, as Kubernetes does for
    maxUnavailable (`round_up` False) and maxSurge-like fields (`round_up` True). Raises ValueError
    for anything else."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise ValueError(f"expected an integer or a percentage, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"expected a non-negative count, got {value}")
        return value
    match = re.fullmatch(r"\s*([0-9]+)\s*%\s*", str(value))
    if match is None:
        if str(value).strip().isdigit():
            return int(str(value).strip())
        raise ValueError(f"expected an integer or a percentage such as 40%, got {value!r}")
    share = int(match.group(1)) * total / 100
    return math.ceil(share) if round_up else math.floor(share)


@dataclass(frozen=True)
class SetView:
    """The MachineSet as the plan needs it."""

    name: str
    replicas: int
    revision: str
    """`revision_of(spec.template.spec)`."""
    host_selector: Mapping[str, Any] | None = None
    max_unavailable: int | str | None = 1
    canary: int = 0
    promoted_revision: str | None = None
    """The `machines.kokpit.io/promoted-revision` annotation."""
    template_labels: Mapping[str, str] = field(default_factory=dict)
    """`spec.template.metadata.labels`, kept on every Machine of the set."""


@dataclass(frozen=True)
class MachineView:
    """One Machine of the set."""

    name: str
    host: str
    revision: str | None
    """Its `machines.kokpit.io/revision` label."""
    ready: bool = False
    """Ready True *and* reconciled to its current spec (status.observedGeneration = generation)."""
    deleting: bool = False
    draining: bool = False
    """Chosen for scale-in by an earlier pass, its node being drained: it stays the first to go."""
    created: datetime | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HostView:
    """A Host of the set's namespace."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    free: bool = True
    """Available and referenced by no Machine at all (of this set or any other)."""


@dataclass(frozen=True)
class Create:
    """A new Machine `name` claiming Host `host`."""

    name: str
    host: str


@dataclass(frozen=True)
class SetPlan:
    """Everything one pass does, and the status it reports."""

    creates: tuple[Create, ...] = ()
    deletes: tuple[str, ...] = ()
    """Machines to delete (scale-in)."""
    updates: tuple[str, ...] = ()
    """Machines whose spec is set to the template's now (in place)."""
    relabels: tuple[str, ...] = ()
    """Machines whose labels lag the template's metadata labels (no revision change)."""
    paused: bool = False
    replicas: int = 0
    """Machines of the set not being deleted (after this pass: creates added, deletes taken away)."""
    ready_replicas: int = 0
    updated_replicas: int = 0
    """Machines (not being deleted) on the current revision, counting this pass's updates."""
    available_replicas: int = 0
    conditions: tuple[Condition, ...] = ()

    @property
    def busy(self) -> bool:
        """`busy` is true while something is still moving (look again soon)."""
        return bool(self.creates or self.deletes or self.updates or self.relabels) or not all(
            c.is_true for c in self.conditions if c.type in (SCALED, MACHINES_READY, UP_TO_DATE)
        )


def plan_set(machine_set: SetView, machines: Sequence[MachineView], hosts: Sequence[HostView]) -> SetPlan:
    """`plan_set` decides one pass of `machine_set` given its `machines` and the namespace's `hosts`;
    see the module docstring. Raises ValueError for a malformed maxUnavailable or selector."""
    revision = machine_set.revision
    alive = sorted((m for m in machines if not m.deleting), key=lambda m: m.name)
    deleting = sorted(m.name for m in machines if m.deleting)
    wanted = max(0, machine_set.replicas)

    # -- scale --------------------------------------------------------------------------------
    creates: list[Create] = []
    deletes: list[MachineView] = []
    scaled: Condition
    if len(alive) < wanted:
        held = {m.host for m in machines}
        free = sorted(
            (
                h
                for h in hosts
                if h.free and h.name not in held and matches(machine_set.host_selector, h.labels)
            ),
            key=lambda h: h.name,
        )
        missing = wanted - len(alive)
        creates = [Create(machine_name(machine_set.name, h.name), h.name) for h in free[:missing]]
        if len(creates) < missing:
            scaled = Condition.false(
                SCALED,
                "InsufficientHosts",
                f"{len(alive) + len(creates)} of {wanted} machines: {len(free)} free host(s) match "
                f"hostSelector {describe(machine_set.host_selector)}, {missing} needed",
            )
        else:
            scaled = Condition.false(
                SCALED,
                "ScalingUp",
                f"creating {', '.join(c.name for c in creates)} ({len(alive)} of {wanted} machines)",
            )
    elif len(alive) > wanted:
        by_name = sorted(alive, key=lambda m: m.name, reverse=True)  # ties: the last name first
        order = sorted(by_name, key=lambda m: _deletion_order(m, revision))
        deletes = order[: len(alive) - wanted]
        scaled = Condition.false(
            SCALED,
            "ScalingDown",
            f"deleting {', '.join(m.name for m in deletes)} ({len(alive)} of {wanted} machines)",
        )
    elif deleting:
        scaled = Condition.false(SCALED, "ScalingDown", f"waiting for {', '.join(deleting)} to be deleted")
    else:
        scaled = Condition.true(SCALED, "Scaled", f"{wanted} machines")

    gone = {m.name for m in deletes}
    kept = [m for m in alive if m.name not in gone]

    # -- roll ---------------------------------------------------------------------------------
    limit = max(1, resolve_count(machine_set.max_unavailable, wanted, default=1, round_up=False))
    old = [m for m in kept if m.revision != revision]
    updated = [m for m in kept if m.revision == revision]
    promoted = machine_set.promoted_revision == revision
    canary_gate = machine_set.canary > 0 and bool(old) and not promoted
    available = sum(1 for m in kept if m.ready)
    # Unavailable now, counting replicas still to be created as unavailable (Kubernetes' rule:
    # at least replicas - maxUnavailable machines must be available).
    budget = available - (wanted - limit)
    candidates = sorted(old, key=lambda m: (m.ready, m.name))  # not-ready first: no cost
    updates: list[MachineView] = []
    allowance = len(candidates)
    if canary_gate:
        allowance = max(0, machine_set.canary - len(updated))
    for machine in candidates:
        if len(updates) >= allowance:
            break
        if machine.ready:
            if budget <= 0:
                break
            budget -= 1
        updates.append(machine)
    paused = canary_gate and len(updated) + len(updates) >= machine_set.canary
    updated_count = len(updated) + len(updates) + len(creates)
    still_old = len(old) - len(updates)

    if not old:
        up_to_date = Condition.true(UP_TO_DATE, "UpToDate", f"all machines on revision {revision}")
    elif paused:
        up_to_date = Condition.false(
            UP_TO_DATE,
            "AwaitingPromotion",
            f"{updated_count} machine(s) on revision {revision}, {still_old} waiting for promotion",
        )
    else:
        up_to_date = Condition.false(
            UP_TO_DATE,
            "RollingOut",
            f"{updated_count} of {len(kept) + len(creates)} machines on revision {revision}"
            + (f"; updating {', '.join(m.name for m in updates)}" if updates else "")
            + (f" (maxUnavailable {limit})" if still_old else ""),
        )
    if paused:
        canaries = [m.name for m in updated] + [m.name for m in updates]
        pause = Condition.true(
            PAUSED,
            "AwaitingPromotion",
            f"canary {', '.join(canaries)} on revision {revision}; "
            f"run kokpit machines promote {machine_set.name} to update the rest",
        )
    else:
        pause = Condition.false(PAUSED, "Promoted" if promoted and old else "NotPaused", "")

    not_ready = [m.name for m in kept if not m.ready or m.name in {u.name for u in updates}]
    ready_count = sum(1 for m in kept if m.ready and m.name not in {u.name for u in updates})
    if not kept and not creates and wanted == 0:
        machines_ready = Condition.true(MACHINES_READY, "NoMachines", "0 machines wanted")
    elif not_ready or creates:
        pending = not_ready + [c.name for c in creates]
        machines_ready = Condition.false(
            MACHINES_READY,
            "MachinesNotReady",
            f"{ready_count} of {len(kept) + len(creates)} ready; not ready: {', '.join(sorted(pending))}",
        )
    else:
        machines_ready = Condition.true(MACHINES_READY, "MachinesReady", f"{ready_count} ready")

    relabels = [
        m.name
        for m in kept
        if m.name not in {u.name for u in updates}
        and any(m.labels.get(k) != v for k, v in machine_set.template_labels.items())
    ]
    return SetPlan(
        creates=tuple(creates),
        deletes=tuple(m.name for m in deletes),
        updates=tuple(m.name for m in updates),
        relabels=tuple(relabels),
        paused=paused,
        replicas=len(kept) + len(creates),
        ready_replicas=ready_count,
        updated_replicas=updated_count,
        available_replicas=ready_count,
        conditions=(scaled, machines_ready, up_to_date, pause),
    )


def _deletion_order(machine: MachineView, revision: str) -> tuple[bool, bool, bool, float]:
    """Being drained first, then not ready, then old revisions, then the newest (unknown creation
    time: oldest)."""
    created = -machine.created.timestamp() if machine.created is not None else 0.0
    return (not machine.draining, machine.ready, machine.revision == revision, created)
