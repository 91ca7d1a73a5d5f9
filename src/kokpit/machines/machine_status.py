"""A Machine's status from what one pass learnt (pure): conditions, component rows, phase.

The controller records into a `MachinePass` as it goes (`set` a condition, `report` a component) and
`fill_status` turns it into the status patch at the end, also when a step raised. `Ready` is derived
from the others in order (`HostReachable`, `ComponentsReady`, `NodeJoined`, `NodeHealthy`), so it is
True only when the Node itself is Ready; `phase` is the one-word summary of the same facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kokpit.api.machine import MachinePhase
from kokpit.runtime import Condition, StatusPatch

READY = "Ready"
HOST_REACHABLE = "HostReachable"
COMPONENTS_READY = "ComponentsReady"
NODE_JOINED = "NodeJoined"
NODE_HEALTHY = "NodeHealthy"
READY_INPUTS = (HOST_REACHABLE, COMPONENTS_READY, NODE_JOINED, NODE_HEALTHY)
CONDITION_TYPES = (READY, *READY_INPUTS)
"""Every condition the Machine controller owns."""

WAITING_FOR_HOST = frozenset({"HostNotFound", "HostClaimed", "HostUnreachable", "CredentialsMissing"})
"""HostReachable reasons that clear up by themselves or by another object changing: phase Pending."""
PROGRESSING = frozenset({"Installing", "Pending", "NotReached", "WaitingForCluster"})
"""ComponentsReady reasons on the way to Ready: phase Provisioning."""

MESSAGE_LIMIT = 4000


@dataclass(frozen=True)
class ComponentReport:
    """One component as this pass left it: the row of `status.components`."""

    name: str
    version: str | None
    digest: str | None
    healthy: bool
    message: str = ""

    def row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"name": self.name, "healthy": self.healthy}
        if self.version:
            row["version"] = self.version
        if self.digest:
            row["digest"] = self.digest
        if self.message:
            row["message"] = self.message[:MESSAGE_LIMIT]
        return row


@dataclass
class MachinePass:
    """What one reconcile learnt about a Machine."""

    conditions: dict[str, Condition] = field(default_factory=dict)
    components: dict[str, ComponentReport] = field(default_factory=dict)
    node_name: str | None = None
    """The Node, once it registered."""
    host_name: str | None = None
    order: list[str] | None = None
    """The Machine's components in install order, once resolved: rows of others are dropped."""
    deleting: bool = False
    remediating: bool = False
    """A health check's remediation is under way: phase Repairing until the machine is Ready."""
    busy: bool = False
    """Something is under way (a node joining): look again soon."""

    def set(self, type_: str, status: bool | None, reason: str, message: str = "") -> None:
        if status is None:
            self.conditions[type_] = Condition.unknown(type_, reason, message)
        elif status:
            self.conditions[type_] = Condition.true(type_, reason, message)
        else:
            self.conditions[type_] = Condition.false(type_, reason, message)

    def report(self, component: ComponentReport) -> None:
        self.components[component.name] = component


def ready_condition(conditions: Mapping[str, Condition]) -> Condition:
    """`ready_condition` is Ready from the inputs, in order: False (or Unknown) with the reason and
    message of the first that is not True, True when all are."""
    for type_ in READY_INPUTS:
        condition = conditions.get(type_)
        if condition is None:
            return Condition.unknown(READY, f"{type_}NotObserved", f"{type_} not observed yet")
        if not condition.is_true:
            return Condition(READY, condition.status, condition.reason, condition.message)
    return Condition.true(READY, "NodeReady", "the node is Ready with every component healthy")


def machine_phase(conditions: Mapping[str, Condition], *, deleting: bool, was_ready: bool) -> MachinePhase:
    """`machine_phase` summarises the conditions: Deleting; Pending while waiting for a host; Failed
    when the input is wrong or a step failed; Provisioning while components go in; Joining until the
    node is Ready (Failed when a node that was Ready is not any more); Ready."""
    if deleting:
        return MachinePhase.DELETING
    host = conditions.get(HOST_REACHABLE)
    if host is None or not host.is_true:
        return (
            MachinePhase.PENDING if host is None or host.reason in WAITING_FOR_HOST else MachinePhase.FAILED
        )
    components = conditions.get(COMPONENTS_READY)
    if components is None or not components.is_true:
        if components is None or components.reason in PROGRESSING:
            return MachinePhase.PROVISIONING
        return MachinePhase.FAILED
    joined = conditions.get(NODE_JOINED)
    healthy = conditions.get(NODE_HEALTHY)
    if joined is None or not joined.is_true or healthy is None or not healthy.is_true:
        return MachinePhase.FAILED if was_ready else MachinePhase.JOINING
    return MachinePhase.READY


def fill_status(patch: StatusPatch, obj: Any, state: MachinePass) -> None:
    """`fill_status` writes `state` into `patch`: every owned condition (inputs this pass did not reach
    keep their last value, or Unknown), Ready derived from them, the component rows (those this pass
    did not reach keep their last row), phase, nodeRef, hostRef, observedGeneration."""
    previous = patch.current
    conditions: dict[str, Condition] = {}
    for type_ in READY_INPUTS:
        if type_ in state.conditions:
            conditions[type_] = state.conditions[type_]
        else:
            kept = patch.get(type_)
            if kept is not None and not state.deleting:
                conditions[type_] = kept
            else:
                conditions[type_] = Condition.unknown(type_, "NotReached", "not reached in this pass")
    ready = ready_condition(conditions)
    if state.deleting:
        ready = Condition.false(READY, "Deleting", "the machine is being deleted")
    patch.set(ready)
    for condition in conditions.values():
        patch.set(condition)
    rows = {str(r.get("name")): dict(r) for r in previous.get("components") or [] if r.get("name")}
    for name, report in state.components.items():
        rows[name] = report.row()
    was_ready = previous.get("phase") in (
        MachinePhase.READY,
        MachinePhase.FAILED,
        MachinePhase.REPAIRING,
    ) and bool(previous.get("nodeRef"))
    phase = machine_phase(conditions, deleting=state.deleting, was_ready=was_ready)
    if state.remediating and phase not in (MachinePhase.READY, MachinePhase.DELETING, MachinePhase.PENDING):
        phase = MachinePhase.REPAIRING
    fields: dict[str, Any] = {
        "phase": phase.value,
        "observedGeneration": obj.metadata.generation,
    }
    names = _ordered(rows, state)
    if names:
        fields["components"] = [rows[name] for name in names]
    node = state.node_name or (previous.get("nodeRef") or {}).get("name")
    if node:
        fields["nodeRef"] = {"name": node}
    host = state.host_name or (previous.get("hostRef") or {}).get("name")
    if host:
        fields["hostRef"] = {"name": host}
    patch.fields.update(fields)


def _ordered(rows: Mapping[str, Any], state: MachinePass) -> list[str]:
    """The rows to show: the Machine's components in install order when this pass resolved them,
    else this pass's reports then the rows kept from before."""
    if state.order is not None:
        return [name for name in state.order if name in rows]
    seen = list(state.components)
    return seen + sorted(name for name in rows if name not in state.components)
