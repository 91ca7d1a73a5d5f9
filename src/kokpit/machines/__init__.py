"""Machines: real worker nodes, prepared over SSH, joined to a cluster and kept consistent.

    setup(manager, hub_settings)                                  # the hub process
    setup_machines(manager, MachineSettings(resync_seconds=5))    # tests, tools

A `Machine` names a `Host` (an address, a pinned host key, a key in a Secret), a target cluster and
the `NodeComponent`s it runs; the Machine controller (`machine_controller`) drives the host there
over SSH (`ssh`), joins its Node by TLS bootstrap (`joining`, `join`, `targets`) and re-checks every
file and every component's health on each pass, restoring drift. The decisions are pure and live
beside it: `facts` (the host's platform), `host_state` (what to do to each component), `steps` (how
a plan runs, and its rollback), `machine_status` (phase and conditions).
"""

from __future__ import annotations

from typing import Any

from kokpit.api.machine import HOST, MACHINE, NODE_COMPONENT
from kokpit.machines.host_claims import HostResource
from kokpit.machines.machine_controller import (
    FINALIZER,
    MachineReconciler,
    MachineResource,
    MachineSettings,
    NodeComponentResource,
)
from kokpit.machines.sets import setup_sets
from kokpit.machines.ssh import AuthenticationFailed, HostKeyMismatch, HostUnreachable, SSHError, SSHTarget
from kokpit.runtime import Controller, EventRecorder, Key, Manager
from kokpit.settings import HubSettings


def setup_machines(
    manager: Manager, settings: MachineSettings | None = None, *, hub: str = "hub"
) -> tuple[Controller, MachineReconciler]:
    """`setup_machines` adds the Machine controller to `manager` (which must have the `hub` cluster).
    It also wakes a Machine when its Host or one of its NodeComponents changes."""
    client = manager.clients.get(hub)
    machines = manager.informer(hub, MachineResource)
    hosts = manager.informer(hub, HostResource)
    components = manager.informer(hub, NodeComponentResource)
    reconciler = MachineReconciler(
        client,
        machines,
        hosts,
        components,
        settings or MachineSettings(),
        recorder=EventRecorder(client, "kokpit-machines"),
    )
    controller = manager.controller("machines", reconciler, workers=4)
    controller.watch(machines)

    def users_of_host(host: Any) -> list[Key]:
        namespace, name = host.metadata.namespace, host.metadata.name
        return [
            Key(hub, namespace, str(m.metadata.name))
            for m in machines.list(namespace)
            if ((m.get("spec") or {}).get("hostRef") or {}).get("name") == name
        ]

    def users_of_component(component: Any) -> list[Key]:
        name = component.metadata.name
        return [
            Key(hub, m.metadata.namespace, str(m.metadata.name))
            for m in machines.list()
            if any(c.get("name") == name for c in (m.get("spec") or {}).get("components") or [])
        ]

    controller.watch(hosts, users_of_host)
    controller.watch(components, users_of_component)
    return controller, reconciler


def setup(manager: Manager, settings: HubSettings) -> None:
    """`setup` adds the machines controllers to the hub's `manager`: Machines, MachineSets and
    MachineHealthChecks."""
    setup_machines(
        manager, MachineSettings(allow_exec_credentials=settings.allow_exec_credentials), hub=settings.hub
    )
    setup_sets(manager, settings)


__all__ = [
    "FINALIZER",
    "HOST",
    "MACHINE",
    "NODE_COMPONENT",
    "AuthenticationFailed",
    "HostKeyMismatch",
    "HostResource",
    "HostUnreachable",
    "MachineReconciler",
    "MachineResource",
    "MachineSettings",
    "NodeComponentResource",
    "SSHError",
    "SSHTarget",
    "setup",
    "setup_machines",
]
