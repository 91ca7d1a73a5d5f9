"""Wiring delivery into a manager: `setup` (the hub process), or its two halves for tests.

    setup(manager, settings)       # everything below, with the manager's shared member clients

`setup_propagation` registers the hub-side half: the policy checkers (one per policy kind, which also
start the watches of the kinds propagation policies select), the binding-kinds controller, and, as
kinds appear, one binding controller per template kind (`kokpit.propagation.detector`,
`kokpit.propagation.binding_controller`). `setup_execution` registers the member-side half: the
execution controller (Work -> member objects, Work status) and the binding status controller (Works ->
binding `aggregatedStatus` and the template's `status`).
"""

from __future__ import annotations

from dataclasses import dataclass

from kokpit.api.policy import (
    ClusterOverridePolicy,
    ClusterPropagationPolicy,
    OverridePolicy,
    PropagationPolicy,
)
from kokpit.fleet.members import MemberClients, member_clients
from kokpit.propagation.binding_controller import (
    ClusterOverridePolicyResource,
    ClusterPropagationPolicyResource,
    OverridePolicyResource,
    PropagationContext,
    PropagationPolicyResource,
)
from kokpit.propagation.detector import KindReconciler, KindRegistry, PolicyReconciler
from kokpit.propagation.execution_controller import ExecutionController
from kokpit.propagation.status_controller import BindingStatusController
from kokpit.runtime import Manager
from kokpit.settings import HubSettings


def setup_propagation(manager: Manager, members: MemberClients, *, hub: str = "hub") -> KindRegistry:
    """`setup_propagation` adds delivery's hub-side controllers to `manager` and returns the registry of
    watched template kinds (tests and tools can `await registry.ensure(api_version, kind)`)."""
    context = PropagationContext(manager, members, hub=hub)
    registry = KindRegistry(context)
    checks = (
        ("propagation-policy", context.policies, PropagationPolicyResource, PropagationPolicy, True),
        (
            "cluster-propagation-policy",
            context.cluster_policies,
            ClusterPropagationPolicyResource,
            ClusterPropagationPolicy,
            True,
        ),
        ("override-policy", context.override_policies, OverridePolicyResource, OverridePolicy, False),
        (
            "cluster-override-policy",
            context.cluster_override_policies,
            ClusterOverridePolicyResource,
            ClusterOverridePolicy,
            False,
        ),
    )
    for name, informer, resource, model, watch_kinds in checks:
        reconciler = PolicyReconciler(registry, informer, resource, model, watch_kinds=watch_kinds)
        manager.controller(name, reconciler, workers=1).watch(informer)
    kinds = KindReconciler(registry)
    controller = manager.controller("binding-kinds", kinds, workers=1)
    controller.watch(context.bindings, kinds.keys_of_binding)
    controller.watch(context.cluster_bindings, kinds.keys_of_binding)
    return registry


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


def setup(manager: Manager, settings: HubSettings) -> None:
    """`setup` adds all of delivery's controllers to the hub's `manager`."""
    members = member_clients(manager, hub=settings.hub)
    setup_propagation(manager, members, hub=settings.hub)
    setup_execution(manager, members, hub=settings.hub)
