"""The MachineHealthCheck controller: judge the selected Machines by their Nodes, remediate, report.

Each pass reads the check and its Machines from the hub's caches, lists the Nodes of every target
cluster those Machines join (one list per cluster: Node conditions live there, not in the hub), asks
`kokpit.machines.health_plan.plan_health` what is unhealthy and what to do, and does it:

- `repair` / `reinstall`: a merge patch of the Machine's remediation annotations (the contract with
  the Machine controller is in `health_plan`'s docstring), and a Warning Event on the Machine;
- `replace`: the Machine is deleted (its deletion removes the Node, runs `remove`, frees the Host;
  its MachineSet claims another free Host). No drain first: the node is unhealthy, and its pods are
  rescheduled once the Node is gone;
- healthy again: the annotations are removed.

A target cluster that cannot be reached leaves its Machines unjudged (`MachinesHealthy` Unknown
naming the cluster) rather than unhealthy: an API server outage is not a reason to reinstall nodes.
Node conditions are not watched; the check looks again when the plan says a timeout runs out, and at
least every `poll_seconds`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.types import PatchType
from pydantic import ValidationError

from kokpit.api.machine import MACHINE, MACHINE_HEALTH_CHECK, MACHINE_SET, MachineHealthCheckSpec
from kokpit.machines.health_plan import (
    CONDITIONS,
    MACHINES_HEALTHY,
    REMEDIATION_ALLOWED,
    CheckView,
    HealthPlan,
    MachineView,
    NodeConditionView,
    Policy,
    UnhealthyCondition,
    clear_annotations,
    plan_health,
    request_annotations,
)
from kokpit.machines.selectors import SelectorError, matches
from kokpit.machines.target_lookup import HubTargets, TargetClient, cluster_of
from kokpit.machines.targets import TargetUnavailable
from kokpit.runtime import (
    Condition,
    EventRecorder,
    Informer,
    Key,
    Manager,
    Result,
    delete_if_present,
    parse_time,
    status_writer,
)
from kokpit.runtime.resources import PlainNode, resource_class

log = logging.getLogger("kokpit.machines.healthcheck_controller")

MachineHealthCheckResource = resource_class(MACHINE_HEALTH_CHECK)
MachineResource = resource_class(MACHINE)

DURATION = re.compile(r"([0-9]+)(h|m|s)")
UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str) -> float:
    """`parse_duration` reads `30s`, `5m`, `1h30m` (the API's TIMEOUT_PATTERN) into seconds."""
    if not text or DURATION.sub("", text):
        raise ValueError(f"{text!r} is not a duration such as 30s, 5m or 1h30m")
    return sum(int(n) * UNITS[unit] for n, unit in DURATION.findall(text))


@dataclass(frozen=True)
class HealthSettings:
    """How the health check controller runs: the escalation timings and how often it looks."""

    policy: Policy = field(default_factory=Policy)
    poll_seconds: float = 5.0
    """How often Nodes are looked at again while the check selects any Machine."""
    allow_exec_credentials: bool = False
    target_client: TargetClient | None = None
    """How a Machine's cluster is reached to read its Nodes; None: through its kubeconfig on the hub."""


class MachineHealthCheckReconciler:
    """`MachineHealthCheckReconciler` reconciles MachineHealthChecks of the hub."""

    def __init__(
        self,
        client: AsyncClient,
        checks: Informer,
        machines: Informer,
        *,
        settings: HealthSettings | None = None,
        recorder: EventRecorder | None = None,
    ) -> None:
        self.client = client
        self.checks = checks
        self.machines = machines
        self.settings = settings or HealthSettings()
        self.recorder = recorder
        self._hub_targets = HubTargets(client, allow_exec_credentials=self.settings.allow_exec_credentials)
        self.target_client: TargetClient = self.settings.target_client or self._hub_targets

    async def aclose(self) -> None:
        await self._hub_targets.aclose()

    async def reconcile(self, key: Key) -> Result:
        obj = self.checks.get(key.name, key.namespace)
        if obj is None or obj.metadata.deletionTimestamp is not None:
            return Result()
        now = datetime.now(UTC)
        async with status_writer(
            self.client, MachineHealthCheckResource, obj, owned=CONDITIONS, now=now
        ) as status:
            status.fields = status.current_fields("expectedMachines", "currentHealthy", "remediationsAllowed")
            status.fields["observedGeneration"] = obj.metadata.generation
            try:
                spec = MachineHealthCheckSpec.model_validate(obj.get("spec") or {})
                check = CheckView(
                    name=str(obj.metadata.name),
                    unhealthy_conditions=tuple(
                        UnhealthyCondition(c.type, str(c.status), parse_duration(c.timeout))
                        for c in spec.unhealthy_conditions or []
                    ),
                    check_components=spec.check_components,
                    max_unhealthy=spec.max_unhealthy,
                )
                selector = (obj.get("spec") or {}).get("selector") or {}
                selected = [
                    m
                    for m in self.machines.list(obj.metadata.namespace)
                    if matches(selector, m.metadata.labels or {})
                ]
            except (ValidationError, ValueError, SelectorError) as error:
                status.set(Condition.false("Ready", "InvalidSpec", _message(error)))
                return Result()
            views, unreachable = await self._views(selected)
            plan = plan_health(check, views, now, self.settings.policy)
            status.fields.update(
                {
                    "expectedMachines": plan.expected,
                    "currentHealthy": plan.healthy,
                    "remediationsAllowed": (
                        max(0, plan.max_unhealthy - (plan.expected - plan.healthy))
                        if plan.remediation_allowed
                        else 0
                    ),
                }
            )
            for condition in plan.conditions:
                status.set(condition)
            healthy = status.get(MACHINES_HEALTHY)
            if unreachable and (healthy is None or healthy.is_true):
                # Not judged is not healthy: say which cluster did not answer.
                status.set(Condition.unknown(MACHINES_HEALTHY, "TargetUnavailable", "; ".join(unreachable)))
            status.summarize_ready((REMEDIATION_ALLOWED,), reason="Checking", message=_summary(plan))
            await self._remediate(obj, plan, now)
        delay = self.settings.poll_seconds
        if plan.recheck_in is not None:
            delay = min(delay, max(0.5, plan.recheck_in))
        return Result(requeue_after=delay if selected else None)

    async def _views(self, machines: Sequence[Any]) -> tuple[list[MachineView], list[str]]:
        """One `MachineView` per Machine whose cluster answered; the second value says which clusters
        did not (their Machines are left out: not judged)."""
        nodes: dict[tuple[str, str, str], dict[str, Any] | None] = {}
        problems: dict[tuple[str, str, str], str] = {}
        views: list[MachineView] = []
        for machine in machines:
            cluster = cluster_of(machine)
            if cluster not in nodes:
                nodes[cluster] = await self._nodes(*cluster, problems)
            listed = nodes[cluster]
            if listed is not None:
                views.append(_machine_view(machine, listed))
        return views, sorted(problems.values())

    async def _nodes(
        self, kind: str, namespace: str, name: str, problems: dict[tuple[str, str, str], str]
    ) -> dict[str, Any] | None:
        """The Nodes of one target cluster by name; None (and the cause in `problems`) when it cannot
        be read."""
        key = (kind, namespace, name)
        try:
            client = await self.target_client(kind, namespace, name)
            if client is None:
                problems[key] = f"{kind} {name} does not exist"
                return None
            return {str(n["metadata"]["name"]): n async for n in client.list(PlainNode)}
        except TargetUnavailable as error:
            problems[key] = f"{kind} {name}: {error.reason}: {error}"
        except (ApiError, OSError) as error:
            problems[key] = f"{kind} {name}: cannot list nodes: {error}"
        except Exception as error:  # httpx transport errors and the like: the cluster is not answering
            problems[key] = f"{kind} {name}: {type(error).__name__}: {error}"
        return None

    async def _remediate(self, obj: Any, plan: HealthPlan, now: datetime) -> None:
        namespace = str(obj.metadata.namespace)
        for request in plan.requests:
            await self._annotate(namespace, request.machine, request_annotations(request.step, now))
            await self._event_on_machine(
                namespace,
                request.machine,
                "RemediationRequested",
                f"{request.step.value} ({request.reason}: {request.message}) by {obj.metadata.name}",
            )
            await self._event(
                obj,
                "Warning",
                "RemediationRequested",
                f"{request.machine}: {request.step.value} ({request.reason})",
            )
        for request in plan.replaces:
            if await delete_if_present(self.client, MachineResource, request.machine, namespace=namespace):
                await self._event(
                    obj,
                    "Warning",
                    "MachineReplaced",
                    f"{request.machine}: deleted after repair and reinstall did not help "
                    f"({request.reason}: {request.message})",
                )
        for name in plan.clears:
            await self._annotate(namespace, name, clear_annotations())
            await self._event(obj, "Normal", "Remediated", f"{name} is healthy again")

    async def _annotate(self, namespace: str, name: str, annotations: Mapping[str, str | None]) -> None:
        try:
            await self.client.patch(
                MachineResource,
                name,
                {"metadata": {"annotations": dict(annotations)}},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        except ApiError as error:
            if error.status.code != 404:
                raise

    async def _event_on_machine(self, namespace: str, name: str, reason: str, message: str) -> None:
        machine = self.machines.get(name, namespace)
        if machine is not None:
            await self._event(machine, "Warning", reason, message)

    async def _event(self, obj: Any, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            await self.recorder.event(obj, type_, reason, message)


def _machine_view(machine: Any, nodes: Mapping[str, Any]) -> MachineView:
    meta = machine.metadata
    status = machine.get("status") or {}
    node_name = (status.get("nodeRef") or {}).get("name")
    node = nodes.get(str(node_name)) if node_name else None
    node_conditions = tuple(
        NodeConditionView(str(c.get("type")), str(c.get("status")), parse_time(c.get("lastTransitionTime")))
        for c in ((node or {}).get("status") or {}).get("conditions") or []
    )
    components = tuple(
        (str(c.get("name")), str(c.get("message") or ""))
        for c in status.get("components") or []
        if not c.get("healthy")
    )
    components_ready = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "ComponentsReady"), None
    )
    since = None
    if components_ready is not None and components_ready.get("status") == "False":
        since = parse_time(components_ready.get("lastTransitionTime"))
    created = meta.creationTimestamp
    if isinstance(created, str):
        created = parse_time(created)
    return MachineView(
        name=str(meta.name),
        phase=status.get("phase"),
        created=created,
        deleting=meta.deletionTimestamp is not None,
        owned_by_set=any(o.controller and o.kind == MACHINE_SET.kind for o in meta.ownerReferences or []),
        node_name=str(node_name) if node_name else None,
        node_found=node is not None,
        node_conditions=node_conditions,
        unhealthy_components=components,
        components_unhealthy_since=since,
        annotations=dict(meta.annotations or {}),
    )


def _summary(plan: HealthPlan) -> str:
    return f"{plan.healthy} of {plan.expected} machines healthy"


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"spec.{where}: {first.get('msg', 'invalid')}"
    return str(error)


def add_healthcheck_controller(
    manager: Manager, *, cluster: str = "hub", settings: HealthSettings | None = None
) -> MachineHealthCheckReconciler:
    """`add_healthcheck_controller` adds the MachineHealthCheck controller to `manager`, watching
    `cluster`: its checks, and the Machines they select (a Machine's change wakes every check of its
    namespace that selects it)."""
    client = manager.clients.get(cluster)
    checks = manager.informer(cluster, MachineHealthCheckResource)
    machines = manager.informer(cluster, MachineResource)
    reconciler = MachineHealthCheckReconciler(
        client,
        checks,
        machines,
        settings=settings,
        recorder=EventRecorder(client, "kokpit-machinehealthchecks"),
    )
    controller = manager.controller("machinehealthchecks", reconciler, workers=1)
    controller.watch(checks)

    def checks_of_machine(machine: Any) -> list[Key]:
        keys = []
        for check in checks.list(machine.metadata.namespace):
            try:
                if matches((check.get("spec") or {}).get("selector"), machine.metadata.labels or {}):
                    keys.append(Key.of(cluster, check))
            except SelectorError:
                continue
        return keys

    controller.watch(machines, checks_of_machine)
    return reconciler
