"""Wiring delivery's hub-side controllers into a manager: `setup_propagation`.

    members = setup_fleet(manager, hub="hub")
    setup_propagation(manager, members, hub="hub")

Registers the policy checkers (one per policy kind, which also start the watches of the kinds
propagation policies select), the binding-kinds controller, and, as kinds appear, one binding
controller per template kind (see `kokpit.propagation.detector` and
`kokpit.propagation.binding_controller`).
"""

from __future__ import annotations

from kokpit.api.policy import (
    ClusterOverridePolicy,
    ClusterPropagationPolicy,
    OverridePolicy,
    PropagationPolicy,
)
from kokpit.fleet.members import MemberClients
from kokpit.propagation.binding_controller import (
    ClusterOverridePolicyResource,
    ClusterPropagationPolicyResource,
    OverridePolicyResource,
    PropagationContext,
    PropagationPolicyResource,
)
from kokpit.propagation.detector import KindReconciler, KindRegistry, PolicyReconciler
from kokpit.runtime import Manager


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
