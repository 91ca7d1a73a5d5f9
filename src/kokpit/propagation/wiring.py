"""Wiring delivery into a manager: `setup` (the hub process), or its two halves for tests.

    setup(manager, settings)       # everything below, with the manager's shared member clients
    setup_agent_execution(manager, member, cluster="edge1")   # a kokpit agent's driver

`setup_propagation` registers the hub-side half: the policy checkers (one per policy kind, which also
start the watches of the kinds propagation policies select, `kokpit.propagation.policy_checker`), the
binding-kinds reconciler, the dependencies reconciler (attached bindings for `propagateDeps`,
`kokpit.propagation.dependencies_controller`), and, as kinds appear, one binding reconciler per template kind
(`kokpit.propagation.kind_watches`, `kokpit.propagation.binding_controller`). `setup_execution`
registers the member-side half: the execution reconciler (Work -> member objects, Work status) and the
binding status reconciler (Works -> binding `aggregatedStatus` and the template's `status`); there
the execution reconciler serves the Works of Push members only. `setup_agent_execution` is the other
driver of the same reconciler: in a kokpit agent, it serves the Works of the agent's own Pull member
and reaches that member through the agent's local `MemberAccess`.
"""

from __future__ import annotations

from dataclasses import dataclass

from kokpit.api.override import ClusterOverridePolicy, OverridePolicy
from kokpit.api.policy import ClusterPropagationPolicy, PropagationPolicy
from kokpit.fleet.members import MemberAccess, MemberClients, member_clients
from kokpit.propagation.context import (
    ClusterOverridePolicyResource,
    ClusterPropagationPolicyResource,
    OverridePolicyResource,
    PropagationContext,
    PropagationPolicyResource,
)
from kokpit.propagation.dependencies_controller import DependenciesReconciler
from kokpit.propagation.execution_controller import ExecutionReconciler
from kokpit.propagation.execution_scope import HUB_SCOPE, agent_scope
from kokpit.propagation.interpreter_controller import InterpreterReconciler, interpreter_source
from kokpit.propagation.kind_watches import KindReconciler, KindRegistry
from kokpit.propagation.policy_checker import PolicyReconciler
from kokpit.propagation.status_controller import BindingStatusReconciler
from kokpit.runtime import EVERY_SHARD, Key, Manager, ShardKey
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
    DependenciesReconciler(registry).setup()
    InterpreterReconciler(manager, context.interpreters, hub=hub).setup()
    kinds = KindReconciler(registry)
    controller = manager.controller("binding-kinds", kinds, workers=1, shard_key=on_every_shard)
    controller.watch(context.bindings, kinds.keys_of_binding)
    controller.watch(context.cluster_bindings, kinds.keys_of_binding)
    controller.watch(context.policies, kinds.keys_of_policy)
    controller.watch(context.cluster_policies, kinds.keys_of_policy)
    return registry


def on_every_shard(_key: Key) -> ShardKey:
    return EVERY_SHARD


@dataclass(frozen=True)
class Execution:
    """The reconcilers `setup_execution` added."""

    execution: ExecutionReconciler
    status: BindingStatusReconciler


def setup_execution(manager: Manager, members: MemberClients, *, hub: str = "hub") -> Execution:
    """`setup_execution` registers the execution and binding status controllers with `manager`, reaching
    members through `members` (the `MemberClients` that `setup_fleet` returns)."""
    interpreters = interpreter_source(manager, hub=hub)
    execution = ExecutionReconciler(manager, members, scope=HUB_SCOPE, hub=hub, interpreters=interpreters)
    execution.setup()
    manager.shard_members = lambda: [str(c["metadata"]["name"]) for c in members.clusters.list()]
    status = BindingStatusReconciler(manager, execution.works, hub=hub, interpreters=interpreters)
    status.setup()
    return Execution(execution=execution, status=status)


def setup_agent_execution(
    manager: Manager,
    member: MemberAccess,
    *,
    cluster: str,
    hub: str = "hub",
    component: str = "kokpit-agent",
) -> ExecutionReconciler:
    """`setup_agent_execution` registers the execution reconciler of a kokpit agent with `manager`: the
    Works of Pull member `cluster` only (watched in its execution namespace), applied through
    `member`. The binding status stays with the hub, which reads the Works the agent reports on; the
    health it reports of custom kinds comes from the hub's ResourceInterpreters, as for Push members."""
    execution = ExecutionReconciler(
        manager,
        member,
        scope=agent_scope(cluster),
        hub=hub,
        component=component,
        interpreters=interpreter_source(manager, hub=hub),
    )
    execution.setup()
    return execution


def setup(manager: Manager, settings: HubSettings) -> None:
    """`setup` adds all of delivery's controllers to the hub's `manager`."""
    members = member_clients(manager, hub=settings.hub)
    setup_propagation(manager, members, hub=settings.hub)
    setup_execution(manager, members, hub=settings.hub)
