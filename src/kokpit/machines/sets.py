"""Wiring of the MachineSet and MachineHealthCheck controllers into a manager.

setup_sets(manager, hub_settings)          # beside the Machine controller in `machines.setup`
add_set_controllers(manager, SetSettings(busy_seconds=1), HealthSettings(poll_seconds=2))  # tests
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kokpit.machines.healthcheck_controller import (
    HealthSettings,
    MachineHealthCheckReconciler,
    add_healthcheck_controller,
)
from kokpit.machines.machineset_controller import MachineSetReconciler, SetSettings, add_machineset_controller
from kokpit.runtime import Manager
from kokpit.settings import HubSettings


@dataclass(frozen=True)
class SetControllers:
    """What `add_set_controllers` registered."""

    sets: MachineSetReconciler
    health_checks: MachineHealthCheckReconciler


def add_set_controllers(
    manager: Manager,
    sets: SetSettings | None = None,
    health: HealthSettings | None = None,
    *,
    hub: str = "hub",
) -> SetControllers:
    """`add_set_controllers` adds the MachineSet and MachineHealthCheck controllers to `manager`
    (which must have the `hub` cluster)."""
    return SetControllers(
        sets=add_machineset_controller(manager, cluster=hub, settings=sets),
        health_checks=add_healthcheck_controller(manager, cluster=hub, settings=health),
    )


def setup_sets(manager: Manager, settings: HubSettings) -> SetControllers:
    """`setup_sets` adds the MachineSet and MachineHealthCheck controllers to the hub's `manager`."""
    return add_set_controllers(
        manager,
        replace(SetSettings(), allow_exec_credentials=settings.allow_exec_credentials),
        replace(HealthSettings(), allow_exec_credentials=settings.allow_exec_credentials),
        hub=settings.hub,
    )
