"""Wiring the member-side half of delivery into a manager: Works applied to members, status brought back.

`setup_execution(manager, members)` adds the execution controller (Work -> member objects, Work status)
and the binding status controller (Works -> binding `aggregatedStatus` and the template's `status`).
"""

from __future__ import annotations

from dataclasses import dataclass

from kokpit.fleet.members import MemberClients
from kokpit.propagation.execution_controller import ExecutionController
from kokpit.propagation.status_controller import BindingStatusController
from kokpit.runtime import Manager


@dataclass(frozen=True)
class Execution:
    """The controllers `setup_execution` added."""

    execution: ExecutionController
    status: BindingStatusController


def setup_execution(manager: Manager, members: MemberClients, *, hub: str = "hub") -> Execution:
    """`setup_execution` registers the execution and binding status controllers with `manager`, reaching
    members through `members` (the `MemberClients` that `setup_fleet` returns)."""
    execution = ExecutionController(manager, members, hub=hub)
    execution.setup()
    status = BindingStatusController(manager, execution.works, hub=hub)
    status.setup()
    return Execution(execution=execution, status=status)


__all__ = ["Execution", "setup_execution"]
