"""A MachineHealthCheck's decisions: which Machines are unhealthy, and the next remediation of each.

`plan_health` is pure: Cluster API's MachineHealthCheck model, with remediation that escalates.

**Unhealthy** (each reason names what was seen):
- a Node condition listed in `unhealthyConditions` has had the listed status (`False`, `Unknown`)
  for longer than its `timeout` (`NodeConditionTimeout`); a condition still inside its timeout only
  schedules the next look;
- the Machine has a `nodeRef` but the Node is gone (`NodeNotFound`);
- with `nodeStartupTimeout`, the Machine has had no Node for that long since it was created
  (`NodeStartupTimeout`);
- with `checkComponents`, a component the Machine's status reports `healthy: false`, once its
  `ComponentsReady` condition has been False for longer than the component timeout
  (`ComponentUnhealthy`). Machines still being provisioned (phase Pending, Provisioning, Joining)
  are not judged on components: a failing first install is the Machine's own condition.

**maxUnhealthy** (int or "N%" of the checked Machines, rounded down; default 100%): when more
Machines are unhealthy than that, nothing is remediated and `RemediationAllowed` is False with
reason `TooManyUnhealthy` naming the counts, so a fleet-wide fault (the API server down, a bad
rollout) does not tear every node down at once.

**Remediation**, per Machine, in order: `repair` (the unhealthy components' `repair` steps), then
`reinstall` (install and configure again from scratch), then `replace` (delete the Machine; its
MachineSet claims another free Host). Only Machines owned by a MachineSet are replaced; others stop
at reinstall and say so.

The contract with the Machine controller, on the Machine's `metadata.annotations`:

    machines.kokpit.io/remediation: repair | reinstall       written by the health check
    machines.kokpit.io/remediation-requested: <RFC 3339>     written by the health check, with it
    machines.kokpit.io/remediation-done: <RFC 3339>          written by the Machine controller

- The Machine controller acts when `remediation` is set and `remediation-done` is absent or older
  than `remediation-requested`: `repair` runs the `repair` step of every component whose `check`
  fails (all components when none fails but the Node is unhealthy), `reinstall` runs `install` and
  `configure` of those components again whatever their recorded digest (all components when none
  fails). Then it writes `remediation-done` (now), success or not: the health check judges the
  outcome by the Machine's and Node's health, not by the step's exit code (a failed step shows in
  the Machine's conditions as usual).
- The health check escalates when the Machine is still unhealthy `escalate_after` seconds after
  `remediation-done` (the node had time to come back), or `step_timeout` seconds after
  `remediation-requested` without a `remediation-done` (the step hangs, or no one acts on it).
- When the Machine is healthy again (and `reset_after` seconds have passed since the last step),
  the health check removes the three annotations: the next fault starts again at `repair`.
- `replace` is a delete of the Machine by the health check; no annotation is involved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from kokpit.machines.machineset_plan import resolve_count
from kokpit.runtime.conditions import Condition, format_time, parse_time

REMEDIATION_ANNOTATION = "machines.kokpit.io/remediation"
REQUESTED_ANNOTATION = "machines.kokpit.io/remediation-requested"
DONE_ANNOTATION = "machines.kokpit.io/remediation-done"
ANNOTATIONS = (REMEDIATION_ANNOTATION, REQUESTED_ANNOTATION, DONE_ANNOTATION)

REMEDIATION_ALLOWED = "RemediationAllowed"
MACHINES_HEALTHY = "MachinesHealthy"
CONDITIONS = ("Ready", REMEDIATION_ALLOWED, MACHINES_HEALTHY)

PROVISIONING_PHASES = frozenset({"Pending", "Provisioning", "Joining"})


class Step(StrEnum):
    """A remediation step, in escalation order."""

    REPAIR = "repair"
    REINSTALL = "reinstall"
    REPLACE = "replace"


ORDER = (Step.REPAIR, Step.REINSTALL, Step.REPLACE)


def next_step(step: Step) -> Step:
    """`next_step` is the step after `step` (`replace` is the last)."""
    return ORDER[min(ORDER.index(step) + 1, len(ORDER) - 1)]


@dataclass(frozen=True)
class UnhealthyCondition:
    """A Node condition `type` with `status` for longer than `timeout` seconds is unhealthy."""

    type: str
    status: str
    timeout: float


@dataclass(frozen=True)
class CheckView:
    """The MachineHealthCheck as the plan needs it (timeouts already in seconds)."""

    name: str
    unhealthy_conditions: tuple[UnhealthyCondition, ...] = ()
    check_components: bool = False
    max_unhealthy: int | str | None = None
    node_startup_timeout: float | None = None


@dataclass(frozen=True)
class Policy:
    """Timings of escalation (the health check controller's settings)."""

    escalate_after: float = 30.0
    """Seconds a Machine may stay unhealthy after a step was done before the next step."""
    step_timeout: float = 300.0
    """Seconds a requested step may go without `remediation-done` before the next step."""
    reset_after: float = 0.0
    """Seconds of health after the last step before the remediation record is removed."""
    component_timeout: float = 0.0
    """Seconds `ComponentsReady` may be False (with a component unhealthy) before it counts."""


@dataclass(frozen=True)
class NodeConditionView:
    type: str
    status: str
    since: datetime | None
    """Its lastTransitionTime."""


@dataclass(frozen=True)
class MachineView:
    """One Machine the health check selects, with its Node."""

    name: str
    phase: str | None = None
    created: datetime | None = None
    deleting: bool = False
    owned_by_set: bool = False
    node_name: str | None = None
    """`status.nodeRef.name`."""
    node_found: bool = False
    node_conditions: tuple[NodeConditionView, ...] = ()
    unhealthy_components: tuple[tuple[str, str], ...] = ()
    """(name, message) of components the Machine's status reports `healthy: false`."""
    components_unhealthy_since: datetime | None = None
    """lastTransitionTime of the Machine's `ComponentsReady` condition when it is False."""
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """A Machine's health: `healthy`, or not with `reason`/`message`; `judged` False while it is not
    evaluated (being provisioned or deleted)."""

    machine: str
    healthy: bool
    reason: str = ""
    message: str = ""
    judged: bool = True
    recheck_in: float | None = None
    """Seconds until a condition now inside its timeout would make it unhealthy."""


@dataclass(frozen=True)
class Request:
    """Ask the Machine controller for `step` (annotations `remediation` and `remediation-requested`)."""

    machine: str
    step: Step
    reason: str
    message: str


@dataclass(frozen=True)
class HealthPlan:
    verdicts: tuple[Verdict, ...] = ()
    requests: tuple[Request, ...] = ()
    replaces: tuple[Request, ...] = ()
    """Machines to delete (step `replace`)."""
    clears: tuple[str, ...] = ()
    """Machines whose remediation annotations are removed (healthy again)."""
    held: tuple[str, ...] = ()
    """Unhealthy Machines left alone (not owned by a set at the last step, or waiting)."""
    expected: int = 0
    healthy: int = 0
    max_unhealthy: int = 0
    remediation_allowed: bool = True
    conditions: tuple[Condition, ...] = ()
    recheck_in: float | None = None
    """Seconds until the next look is due (a timeout running out, an escalation falling due)."""


def judge(check: CheckView, machine: MachineView, now: datetime) -> Verdict:
    """`judge` is the health of one Machine at `now`; see the module docstring."""
    if machine.deleting or machine.phase == "Deleting":
        return Verdict(machine.name, True, judged=False)
    recheck: float | None = None
    if machine.node_name and not machine.node_found:
        return Verdict(machine.name, False, "NodeNotFound", f"node {machine.node_name} does not exist")
    if not machine.node_name:
        if check.node_startup_timeout is not None and machine.created is not None:
            waited = (now - machine.created).total_seconds()
            if waited > check.node_startup_timeout:
                return Verdict(
                    machine.name,
                    False,
                    "NodeStartupTimeout",
                    f"no node after {waited:.0f}s (nodeStartupTimeout {check.node_startup_timeout:g}s)",
                )
            recheck = check.node_startup_timeout - waited
        if machine.phase in PROVISIONING_PHASES or machine.phase is None:
            return Verdict(machine.name, True, judged=False, recheck_in=recheck)
    by_type = {c.type: c for c in machine.node_conditions}
    for rule in check.unhealthy_conditions:
        found = by_type.get(rule.type)
        if found is None or found.status != rule.status:
            continue
        held = (now - found.since).total_seconds() if found.since is not None else rule.timeout + 1
        if held > rule.timeout:
            return Verdict(
                machine.name,
                False,
                "NodeConditionTimeout",
                f"node {machine.node_name} {rule.type}={rule.status} for {held:.0f}s "
                f"(timeout {rule.timeout:g}s)",
            )
        recheck = _sooner(recheck, rule.timeout - held)
    if check.check_components and machine.unhealthy_components and machine.phase not in PROVISIONING_PHASES:
        names = "; ".join(f"{n}: {m}" if m else n for n, m in machine.unhealthy_components)
        return Verdict(machine.name, False, "ComponentUnhealthy", names, recheck_in=recheck)
    return Verdict(machine.name, True, recheck_in=recheck)


def plan_health(
    check: CheckView, machines: Sequence[MachineView], now: datetime, policy: Policy | None = None
) -> HealthPlan:
    """`plan_health` judges every Machine `check` selects and decides the remediations of this pass;
    see the module docstring. Raises ValueError for a malformed maxUnhealthy."""
    policy = policy or Policy()
    machines = sorted(machines, key=lambda m: m.name)
    verdicts = [judge(check, m, now) for m in machines]
    # Component health counts only past its own timeout.
    verdicts = [_component_timeout(v, m, now, policy) for v, m in zip(verdicts, machines, strict=True)]
    judged = [v for v in verdicts if v.judged]
    counted = [m for m in machines if not m.deleting and m.phase != "Deleting"]
    unhealthy = [v for v in verdicts if not v.healthy]
    limit = resolve_count(check.max_unhealthy, len(counted), default=len(counted), round_up=False)
    allowed = len(unhealthy) <= limit
    recheck: float | None = None
    for verdict in verdicts:
        recheck = _sooner(recheck, verdict.recheck_in)

    requests: list[Request] = []
    replaces: list[Request] = []
    clears: list[str] = []
    held: list[str] = []
    by_name = {m.name: m for m in machines}
    for verdict in verdicts:
        machine = by_name[verdict.machine]
        record = _record(machine)
        if verdict.healthy:
            if record is not None and verdict.judged:
                last = record.done or record.requested
                since = (now - last).total_seconds() if last is not None else policy.reset_after
                if since >= policy.reset_after:
                    clears.append(machine.name)
                else:
                    recheck = _sooner(recheck, policy.reset_after - since)
            continue
        if not allowed:
            continue
        step, due_in = _due(record, now, policy)
        if step is None:
            held.append(machine.name)
            recheck = _sooner(recheck, due_in)
            continue
        if step is Step.REPLACE:
            if not machine.owned_by_set:
                held.append(machine.name)
                continue
            replaces.append(Request(machine.name, step, verdict.reason, verdict.message))
        else:
            requests.append(Request(machine.name, step, verdict.reason, verdict.message))
        recheck = _sooner(recheck, policy.escalate_after)

    healthy = len(counted) - len(unhealthy)
    if allowed:
        allowed_condition = Condition.true(
            REMEDIATION_ALLOWED,
            "RemediationAllowed",
            f"{len(unhealthy)} of {len(counted)} machines unhealthy (maxUnhealthy {limit})",
        )
    else:
        allowed_condition = Condition.false(
            REMEDIATION_ALLOWED,
            "TooManyUnhealthy",
            f"{len(unhealthy)} of {len(counted)} machines unhealthy, more than maxUnhealthy "
            f"{check.max_unhealthy if check.max_unhealthy is not None else '100%'} ({limit}): "
            "remediating none",
        )
    if unhealthy:
        listed = "; ".join(f"{v.machine}: {v.reason} ({v.message})" for v in unhealthy)
        healthy_condition = Condition.false(MACHINES_HEALTHY, "MachinesUnhealthy", listed)
    else:
        pending = [v.machine for v in verdicts if not v.judged]
        note = f"; not judged yet: {', '.join(pending)}" if pending else ""
        healthy_condition = Condition.true(
            MACHINES_HEALTHY, "MachinesHealthy", f"{len(judged)} of {len(counted)} judged healthy{note}"
        )
    return HealthPlan(
        verdicts=tuple(verdicts),
        requests=tuple(requests),
        replaces=tuple(replaces),
        clears=tuple(clears),
        held=tuple(held),
        expected=len(counted),
        healthy=healthy,
        max_unhealthy=limit,
        remediation_allowed=allowed,
        conditions=(allowed_condition, healthy_condition),
        recheck_in=None if recheck is None else max(0.0, recheck),
    )


def request_annotations(step: Step, now: datetime) -> dict[str, str | None]:
    """`request_annotations` is the metadata.annotations merge patch that asks for `step` (and forgets
    an earlier `remediation-done`)."""
    return {REMEDIATION_ANNOTATION: step.value, REQUESTED_ANNOTATION: format_time(now), DONE_ANNOTATION: None}


def clear_annotations() -> dict[str, str | None]:
    """`clear_annotations` is the merge patch that removes the remediation record."""
    return dict.fromkeys(ANNOTATIONS)


@dataclass(frozen=True)
class _Record:
    step: Step
    requested: datetime | None
    done: datetime | None


def _record(machine: MachineView) -> _Record | None:
    value = machine.annotations.get(REMEDIATION_ANNOTATION)
    if not value:
        return None
    try:
        step = Step(value)
    except ValueError:
        step = Step.REPAIR  # an unknown step written by hand: treat as the first
    requested = parse_time(machine.annotations.get(REQUESTED_ANNOTATION))
    done = parse_time(machine.annotations.get(DONE_ANNOTATION))
    if done is not None and requested is not None and done < requested:
        done = None  # an acknowledgement of an earlier request
    return _Record(step, requested, done)


def _due(record: _Record | None, now: datetime, policy: Policy) -> tuple[Step | None, float | None]:
    """The step to ask for now, or (None, seconds until one is due)."""
    if record is None:
        return Step.REPAIR, None
    if record.done is not None:
        waited = (now - record.done).total_seconds()
        if waited >= policy.escalate_after:
            return next_step(record.step), None
        return None, policy.escalate_after - waited
    if record.requested is None:
        return next_step(record.step), None
    waited = (now - record.requested).total_seconds()
    if waited >= policy.step_timeout:
        return next_step(record.step), None
    return None, policy.step_timeout - waited


def _component_timeout(verdict: Verdict, machine: MachineView, now: datetime, policy: Policy) -> Verdict:
    if verdict.healthy or verdict.reason != "ComponentUnhealthy" or policy.component_timeout <= 0:
        return verdict
    since = machine.components_unhealthy_since
    if since is None:
        return verdict
    held = (now - since).total_seconds()
    if held > policy.component_timeout:
        return verdict
    return Verdict(
        machine.name, True, recheck_in=_sooner(verdict.recheck_in, policy.component_timeout - held)
    )


def _sooner(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
