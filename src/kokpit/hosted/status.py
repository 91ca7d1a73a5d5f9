"""The status step: what a pass learnt (`Pass`), written through the one status writer, and the
Events of condition transitions.

`fill_status` is pure over the pass and the previous status: the conditions (Ready derived from the
others), the component rows (restart counts carried over), phase, version, endpoint, certificates,
addons and ready nodes (kept from before when this pass did not get that far).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kokpit.hosted import names, plan
from kokpit.hosted.context import Pass, StepContext, lowest
from kokpit.runtime import Condition, StatusPatch, get_condition

CONDITION_TYPES = (plan.READY, *plan.READY_INPUTS, "Joined", "Progressing")
"""Every condition the HostedCluster controller owns."""

QUIET_REASONS = frozenset(
    {
        "NotReady",
        "Provisioning",
        "WaitingForReady",
        "NodesNotReady",
        "EtcdNotAvailable",
        "EtcdMissing",
        "ServiceAccountsPending",
    }
)
"""Reasons of a False condition on the way somewhere: no Warning Event for them."""


def fill_status(
    patch: StatusPatch,
    obj: Any,
    state: Pass,
    restarts: Mapping[str, plan.RestartHistory],
    *,
    invalid: str | None = None,
) -> None:
    """`fill_status` puts the pass `state` into `patch` (see the module docstring); `restarts` are the
    restart histories by component, `invalid` the one-line validation error of a spec refused."""
    previous = patch.current
    if invalid is not None:
        state.set("VersionAccepted", False, "InvalidSpec", invalid)
    values = dict(state.conditions)
    ready = plan.ready_condition(values)
    if (
        "APIServerAvailable" not in values
        and invalid is None
        and "VersionAccepted" in values
        and values["VersionAccepted"].is_true
    ):
        ready = Condition.false(plan.READY, "Provisioning", "the control plane is starting")
    patch.set(ready)
    for value in values.values():
        patch.set(value)
    previous_components = {c.get("name"): c for c in previous.get("components") or []}
    component_rows = []
    for component in names.COMPONENTS:
        info = state.components.get(component)
        if info is None and component not in previous_components:
            continue
        row: dict[str, Any] = {"name": component}
        before = previous_components.get(component) or {}
        history = restarts.get(component)
        row["restarts"] = max(int(before.get("restarts") or 0), history.total if history else 0)
        last_restart = (history.last_wall if history else None) or before.get("lastRestart")
        if last_restart:
            row["lastRestart"] = last_restart
        version = state.running.get(component) if component in names.CONTROL_PLANE else None
        if version or before.get("version"):
            row["version"] = version or before.get("version")
        cond = plan.CONDITION_OF.get(component)
        if cond is not None and cond in values:
            row["ready"] = values[cond].is_true
        elif info is not None:
            row["ready"] = not info.get("message")
        if info and info.get("message"):
            row["message"] = str(info["message"])[:500]
        component_rows.append(row)
    upgrading = state.target is not None and plan.upgrading_component(state.target, state.running) is not None
    ever_ready = previous.get("phase") in ("Ready", "NotReady", "Upgrading")
    fields: dict[str, Any] = {
        "phase": plan.phase(deleting=False, ready=ready.is_true, upgrading=upgrading, ever_ready=ever_ready),
        "observedGeneration": obj.metadata.generation,
    }
    version = lowest(state.running) or previous.get("version")
    if version:
        fields["version"] = version
    endpoint = state.endpoint or previous.get("endpoint")
    if endpoint:
        fields["endpoint"] = endpoint
        fields["adminKubeconfigSecretRef"] = {
            "name": names.admin_kubeconfig_secret_name(str(obj.metadata.name)),
            "key": names.ADMIN_KUBECONFIG_KEY,
        }
    certs = state.certificates or previous.get("certificates")
    if certs:
        fields["certificates"] = {k: v for k, v in certs.items() if v}
    if component_rows:
        fields["components"] = component_rows
    addon_rows = state.addons if state.addons is not None else previous.get("addons")
    if addon_rows:
        fields["addons"] = addon_rows
    nodes = state.ready_nodes if state.ready_nodes is not None else previous.get("readyNodes")
    if nodes is not None:
        fields["readyNodes"] = nodes
    patch.fields.update(fields)


async def transition_events(ctx: StepContext, obj: Any, patch: StatusPatch) -> None:
    """One Event per condition that turned False with a new reason, and when Ready comes back."""
    before = patch.current.get("conditions")
    for condition in patch.conditions:
        old = get_condition(before, condition["type"])
        changed = (
            old is None
            or old.get("status") != condition["status"]
            or old.get("reason") != condition["reason"]
        )
        if not changed:
            continue
        if condition["status"] == "False" and condition["reason"] not in QUIET_REASONS:
            await ctx.event(
                obj, "Warning", condition["reason"], f"{condition['type']}: {condition['message']}"
            )
        elif condition["type"] == plan.READY and condition["status"] == "True":
            await ctx.event(obj, "Normal", "Ready", f"cluster is Ready at {patch.fields.get('version')}")
