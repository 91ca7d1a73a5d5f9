"""The MachineSet controller: gather the set, its Machines and the free Hosts, plan, act, write status.

Each pass reads the informers' caches (level-triggered: never the event that woke it), asks
`kokpit.machines.machineset_plan.plan_set` for everything to do, does it and writes the status once
through `status_writer`, also when a step raised.

- New Machines are written with server-side apply (field manager `kokpit`), named `<set>-<host>`,
  with the labels `machines.kokpit.io/machine-set` and `machines.kokpit.io/revision`, the template's
  labels, and a controller owner reference to the set (`blockOwnerDeletion`), so deleting the set
  deletes its Machines through the hub's garbage collector, and each Machine's own deletion drains
  its node and frees its Host. Names are deterministic, so a pass that runs before the cache saw the
  previous pass's creations picks the same hosts and names and changes nothing.
- An update is an apply of the template's spec (plus the Machine's `hostRef`) and the new revision
  label over the same Machine: the Machine controller reinstalls what changed. A template whose
  `clusterRef` changed cannot be applied in place (the API refuses changing it), so such a Machine
  is deleted instead, within the same `maxUnavailable` budget, and recreated by a later pass.
- Machines that carry the set's label but another owner (a set deleted and recreated under the same
  name, a hand-made Machine) are not touched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.types import PatchType
from pydantic import ValidationError

from kokpit.api.machine import HOST, MACHINE, MACHINE_SET, MachineSetSpec
from kokpit.machines.drain import (
    DRAIN_STARTED_ANNOTATION,
    DrainResult,
    cordon,
    drain_condition,
    drain_once,
    drained_since,
    listing,
)
from kokpit.machines.machineset_plan import (
    CONDITIONS,
    PAUSED,
    PROMOTED_ANNOTATION,
    READY_FROM,
    REVISION_LABEL,
    SCALED,
    SET_LABEL,
    UP_TO_DATE,
    HostView,
    MachineView,
    SetPlan,
    SetView,
    plan_set,
    revision_of,
)
from kokpit.machines.selectors import SelectorError
from kokpit.machines.target_lookup import HubTargets, TargetClient, cluster_of
from kokpit.machines.targets import TargetUnavailable
from kokpit.runtime import (
    FIELD_MANAGER,
    Condition,
    EventRecorder,
    Informer,
    Key,
    Manager,
    Result,
    StatusPatch,
    apply,
    delete_if_present,
    format_time,
    parse_time,
    status_writer,
)
from kokpit.runtime.resources import resource_class

log = logging.getLogger("kokpit.machines.machineset_controller")

MachineSetResource = resource_class(MACHINE_SET)
MachineResource = resource_class(MACHINE)
HostResource = resource_class(HOST)

CLAIMED = "Claimed"


@dataclass(frozen=True)
class SetSettings:
    """How often the MachineSet controller looks again."""

    busy_seconds: float = 2.0
    """While something moves (machines provisioning, a rollout going on)."""
    resync_seconds: float = 60.0
    """A steady set (the watches on Machines and Hosts bring changes sooner)."""
    drain_timeout: float = 300.0
    """Seconds a scale-in drain may take before the set says `DrainTimeout` (it keeps trying: a
    PodDisruptionBudget is never overridden)."""
    grace_period: int | None = None
    """Grace period of evicted pods (None: each pod's own)."""
    allow_exec_credentials: bool = False
    """Whether target kubeconfigs may run credential plugins (`HubSettings.allow_exec_credentials`)."""
    target_client: TargetClient | None = None
    """How a Machine's cluster is reached for drains; None: through its kubeconfig on the hub."""


class MachineSetReconciler:
    """`MachineSetReconciler` reconciles MachineSets of the hub from the caches `sets`, `machines`
    and `hosts`."""

    def __init__(
        self,
        client: AsyncClient,
        sets: Informer,
        machines: Informer,
        hosts: Informer,
        *,
        settings: SetSettings | None = None,
        recorder: EventRecorder | None = None,
    ) -> None:
        self.client = client
        self.sets = sets
        self.machines = machines
        self.hosts = hosts
        self.settings = settings or SetSettings()
        self.recorder = recorder
        self._hub_targets = HubTargets(client, allow_exec_credentials=self.settings.allow_exec_credentials)
        self.target_client: TargetClient = self.settings.target_client or self._hub_targets

    async def aclose(self) -> None:
        await self._hub_targets.aclose()

    async def reconcile(self, key: Key) -> Result:
        obj = self.sets.get(key.name, key.namespace)
        if obj is None or obj.metadata.deletionTimestamp is not None:
            return Result()  # the garbage collector deletes the Machines (owner references)
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        async with status_writer(
            self.client, MachineSetResource, obj, owned=CONDITIONS, now=datetime.now(UTC)
        ) as status:
            status.fields = status.current_fields(
                "replicas", "readyReplicas", "updatedReplicas", "revision", "paused"
            )
            status.fields["observedGeneration"] = obj.metadata.generation
            try:
                spec = MachineSetSpec.model_validate(obj.get("spec") or {})
            except ValidationError as error:
                status.set(Condition.false("Ready", "InvalidSpec", _first_error(error)))
                return Result()
            template_spec = dict((obj.get("spec") or {}).get("template", {}).get("spec") or {})
            view = SetView(
                name=name,
                replicas=spec.replicas,
                revision=revision_of(template_spec),
                host_selector=_selector(obj),
                max_unavailable=spec.strategy.max_unavailable if spec.strategy else 1,
                canary=spec.strategy.canary if spec.strategy else 0,
                promoted_revision=(obj.metadata.annotations or {}).get(PROMOTED_ANNOTATION),
                template_labels=dict((spec.template.metadata.labels or {}) if spec.template.metadata else {}),
            )
            all_machines = self.machines.list(namespace)
            own = [m for m in all_machines if _owned_by(m, obj)]
            try:
                plan = plan_set(
                    view,
                    [_machine_view(m) for m in own],
                    _host_views(self.hosts.list(namespace), all_machines),
                )
            except (ValueError, SelectorError) as error:
                status.set(Condition.false("Ready", "InvalidSpec", str(error)))
                return Result()
            self._write_status(status, view, plan)  # the plan's view; drains may refine it below
            problems = await self._execute(obj, view, template_spec, own, plan)
            for problem in problems:
                status.set(problem)
            status.summarize_ready(
                READY_FROM, reason="Ready", message=f"{plan.ready_replicas} machines ready"
            )
            return Result(
                requeue_after=self.settings.busy_seconds if plan.busy else self.settings.resync_seconds
            )

    def _write_status(self, status: StatusPatch, view: SetView, plan: SetPlan) -> None:
        status.fields.update(
            {
                "replicas": plan.replicas,
                "readyReplicas": plan.ready_replicas,
                "updatedReplicas": plan.updated_replicas,
                "revision": view.revision,
                "paused": plan.paused,
            }
        )
        for condition in plan.conditions:
            status.set(condition)
        status.summarize_ready(READY_FROM, reason="Ready", message=f"{plan.ready_replicas} machines ready")

    # -- doing ----------------------------------------------------------------------------------

    async def _execute(
        self,
        obj: Any,
        view: SetView,
        template_spec: Mapping[str, Any],
        own: Sequence[Any],
        plan: SetPlan,
    ) -> list[Condition]:
        """Runs every step of `plan` together and returns the conditions they leave: an unfinished
        drain, or a step that failed (the API refused a Machine, the target cluster is unreachable),
        named under the condition the step serves (`Scaled` or `UpToDate`)."""
        by_name = {str(m.metadata.name): m for m in own}
        namespace = str(obj.metadata.namespace)
        steps: list[tuple[str, str, Coroutine[Any, Any, DrainResult | None]]] = []
        for create in plan.creates:
            steps.append(
                (SCALED, create.name, self._create(obj, view, template_spec, create.name, create.host))
            )
        for name in plan.deletes:
            steps.append((SCALED, name, self._scale_in(obj, by_name[name])))
        for name, machine in by_name.items():
            if name not in plan.deletes and DRAIN_STARTED_ANNOTATION in (machine.metadata.annotations or {}):
                steps.append((SCALED, name, self._undrain(obj, machine)))
        for name in plan.updates:
            machine = by_name[name]
            current_ref = (machine.get("spec") or {}).get("clusterRef")
            if current_ref != template_spec.get("clusterRef"):
                step = self._delete(obj, namespace, name, "Replacing", "clusterRef changed")
            else:
                host = str(((machine.get("spec") or {}).get("hostRef") or {}).get("name", ""))
                step = self._update(obj, view, template_spec, name, host)
            steps.append((UP_TO_DATE, name, step))
        for name in plan.relabels:
            machine = by_name[name]
            host = str(((machine.get("spec") or {}).get("hostRef") or {}).get("name", ""))
            revision = str((machine.metadata.labels or {}).get(REVISION_LABEL) or "")
            steps.append((UP_TO_DATE, name, self._relabel(obj, view, name, host, revision)))
        # Independent steps run together: scale-out provisions hosts in parallel.
        outcomes = await asyncio.gather(*(step for _, _, step in steps), return_exceptions=True)
        if plan.paused and not _was_paused(obj):
            await self._event(obj, "Normal", "AwaitingPromotion", _message(plan, PAUSED))
        conditions: dict[str, Condition] = {}
        for (type_, name, _), outcome in zip(steps, outcomes, strict=True):
            if isinstance(outcome, DrainResult) and not outcome.done:
                conditions.setdefault(type_, drain_condition(outcome, type_=type_))
            elif isinstance(outcome, TargetUnavailable):
                conditions[type_] = Condition.false(type_, outcome.reason, f"{name}: {outcome}")
            elif isinstance(outcome, ApiError):
                reason = "MachineRefused" if outcome.status.code in (400, 403, 409, 422) else "ApiError"
                message = f"{name}: {outcome.status.message or outcome.status.code}"
                conditions[type_] = Condition.false(type_, reason, message)
                await self._event(obj, "Warning", reason, message)
            elif isinstance(outcome, MachineNameTaken):
                conditions[type_] = Condition.false(type_, "MachineNameTaken", str(outcome))
            elif isinstance(outcome, BaseException):
                raise outcome
        return list(conditions.values())

    def _machine_body(
        self,
        obj: Any,
        view: SetView,
        spec: Mapping[str, Any],
        name: str,
        host: str,
        revision: str,
    ) -> dict[str, Any]:
        labels = {**view.template_labels, SET_LABEL: view.name, REVISION_LABEL: revision}
        return {
            "apiVersion": MACHINE.api_version,
            "kind": MACHINE.kind,
            "metadata": {
                "name": name,
                "namespace": str(obj.metadata.namespace),
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": MACHINE_SET.api_version,
                        "kind": MACHINE_SET.kind,
                        "name": view.name,
                        "uid": str(obj.metadata.uid),
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {**spec, "hostRef": {"name": host}},
        }

    async def _create(self, obj: Any, view: SetView, spec: Mapping[str, Any], name: str, host: str) -> None:
        existing = self.machines.get(name, str(obj.metadata.namespace))
        if existing is not None and not _owned_by(existing, obj):
            raise MachineNameTaken(f"machine {name} exists and is not owned by machineset {view.name}")
        body = self._machine_body(obj, view, spec, name, host, view.revision)
        await apply(self.client, MachineResource.from_dict(body), field_manager=FIELD_MANAGER, force=True)
        await self._event(obj, "Normal", "MachineCreated", f"created {name} on host {host}")
        return None

    async def _update(self, obj: Any, view: SetView, spec: Mapping[str, Any], name: str, host: str) -> None:
        body = self._machine_body(obj, view, spec, name, host, view.revision)
        await apply(self.client, MachineResource.from_dict(body), field_manager=FIELD_MANAGER, force=True)
        await self._event(obj, "Normal", "MachineUpdated", f"{name} to revision {view.revision}")
        return None

    async def _relabel(
        self, obj: Any, view: SetView, name: str, host: str, revision: str
    ) -> DrainResult | None:
        machine = self.machines.get(name, str(obj.metadata.namespace))
        if machine is None:
            return None
        spec = dict(machine.get("spec") or {})
        spec.pop("hostRef", None)
        body = self._machine_body(obj, view, spec, name, host, revision)
        await apply(self.client, MachineResource.from_dict(body), field_manager=FIELD_MANAGER, force=True)
        return None

    async def _delete(self, obj: Any, namespace: str, name: str, reason: str, why: str) -> DrainResult | None:
        if await delete_if_present(self.client, MachineResource, name, namespace=namespace):
            await self._event(obj, "Normal", reason, f"deleting {name} ({why})")
        return None

    async def _target(self, machine: Any) -> AsyncClient | None:
        """The target cluster's client for `machine`, None when the cluster is gone (nothing to
        drain). Raises `TargetUnavailable` when it exists but cannot be reached now."""
        return await self.target_client(*cluster_of(machine))

    async def _scale_in(self, obj: Any, machine: Any) -> DrainResult | None:
        """Drains the Machine's node one pass; deletes the Machine once nothing is left to wait for."""
        namespace, name = str(machine.metadata.namespace), str(machine.metadata.name)
        node = ((machine.get("status") or {}).get("nodeRef") or {}).get("name")
        result: DrainResult | None = None
        if node:
            client = await self._target(machine)
            if client is not None:
                now = datetime.now(UTC)
                started = parse_time((machine.metadata.annotations or {}).get(DRAIN_STARTED_ANNOTATION))
                if started is None:
                    started = now
                    await self._annotate(namespace, name, {DRAIN_STARTED_ANNOTATION: format_time(now)})
                    await self._event(obj, "Normal", "Draining", f"draining node {node} of {name} (scale-in)")
                result = await drain_once(client, str(node), grace_period=self.settings.grace_period)
                result = drained_since(
                    result, started.timestamp(), now.timestamp(), self.settings.drain_timeout
                )
                if result.unmanaged:
                    await self._event(
                        obj, "Warning", "UnmanagedPodsEvicted", f"{name}: {listing(result.unmanaged)}"
                    )
                if not result.done:
                    if result.timed_out:
                        await self._event(obj, "Warning", "DrainTimeout", drain_condition(result).message)
                    return result
        await self._delete(obj, namespace, name, "ScaledDown", "scale-in")
        return result

    async def _undrain(self, obj: Any, machine: Any) -> DrainResult | None:
        """A Machine chosen for scale-in that stays after all (the set grew again): uncordon it."""
        namespace, name = str(machine.metadata.namespace), str(machine.metadata.name)
        node = ((machine.get("status") or {}).get("nodeRef") or {}).get("name")
        if node:
            client = await self._target(machine)
            if client is not None:
                await cordon(client, str(node), unschedulable=False)
        await self._annotate(namespace, name, {DRAIN_STARTED_ANNOTATION: None})
        await self._event(obj, "Normal", "DrainCancelled", f"{name} stays; node {node} uncordoned")
        return None

    async def _annotate(self, namespace: str, name: str, annotations: Mapping[str, str | None]) -> None:
        await self.client.patch(
            MachineResource,
            name,
            {"metadata": {"annotations": dict(annotations)}},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )

    async def _event(self, obj: Any, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            await self.recorder.event(obj, type_, reason, message)


class MachineNameTaken(Exception):
    """A Machine the set would create exists under another owner."""


def _selector(obj: Any) -> Mapping[str, Any] | None:
    selector = (obj.get("spec") or {}).get("hostSelector")
    return dict(selector) if selector else None


def _owned_by(machine: Any, machine_set: Any) -> bool:
    labels = machine.metadata.labels or {}
    if labels.get(SET_LABEL) != machine_set.metadata.name:
        return False
    return any(
        o.controller and o.kind == MACHINE_SET.kind and o.uid == machine_set.metadata.uid
        for o in machine.metadata.ownerReferences or []
    )


def _machine_view(machine: Any) -> MachineView:
    meta = machine.metadata
    status = machine.get("status") or {}
    ready_condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    reconciled = status.get("observedGeneration") == meta.generation
    ready = bool(ready_condition and ready_condition.get("status") == "True" and reconciled)
    created = meta.creationTimestamp
    if isinstance(created, str):
        created = parse_time(created)
    return MachineView(
        name=str(meta.name),
        host=str(((machine.get("spec") or {}).get("hostRef") or {}).get("name", "")),
        revision=(meta.labels or {}).get(REVISION_LABEL),
        ready=ready,
        deleting=meta.deletionTimestamp is not None,
        draining=DRAIN_STARTED_ANNOTATION in (meta.annotations or {}),
        created=created,
        labels=dict(meta.labels or {}),
    )


def _host_views(hosts: Iterable[Any], machines: Iterable[Any]) -> list[HostView]:
    held = {str(((m.get("spec") or {}).get("hostRef") or {}).get("name", "")) for m in machines}
    views = []
    for host in hosts:
        name = str(host.metadata.name)
        phase = (host.get("status") or {}).get("phase")
        free = phase != CLAIMED and name not in held and host.metadata.deletionTimestamp is None
        views.append(HostView(name=name, labels=dict(host.metadata.labels or {}), free=free))
    return views


def _was_paused(obj: Any) -> bool:
    return bool((obj.get("status") or {}).get("paused"))


def _message(plan: SetPlan, type_: str) -> str:
    return next((c.message for c in plan.conditions if c.type == type_), "")


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"spec.{where}: {first.get('msg', 'invalid')}"


def set_key_of_machine(cluster: str) -> Any:
    """A mapper from a Machine to its MachineSet's key (by the set label)."""

    def mapper(machine: Any) -> list[Key]:
        owner = (machine.metadata.labels or {}).get(SET_LABEL)
        if not owner:
            return []
        return [Key(cluster, machine.metadata.namespace, owner)]

    return mapper


def add_machineset_controller(
    manager: Manager, *, cluster: str = "hub", settings: SetSettings | None = None
) -> MachineSetReconciler:
    """`add_machineset_controller` adds the MachineSet controller to `manager`, watching `cluster`:
    its own sets, their Machines (by label) and the Hosts of their namespaces (a freed Host may let a
    set waiting for hosts go on)."""
    client = manager.clients.get(cluster)
    sets = manager.informer(cluster, MachineSetResource)
    machines = manager.informer(cluster, MachineResource)
    hosts = manager.informer(cluster, HostResource)
    reconciler = MachineSetReconciler(
        client, sets, machines, hosts, settings=settings, recorder=EventRecorder(client, "kokpit-machinesets")
    )
    controller = manager.controller("machinesets", reconciler, workers=2)
    controller.watch(sets)
    controller.watch(machines, set_key_of_machine(cluster))

    def sets_of_namespace(host: Any) -> list[Key]:
        return [Key.of(cluster, s) for s in sets.list(host.metadata.namespace)]

    controller.watch(hosts, sets_of_namespace)
    return reconciler
