"""The Machine controller: drive a Host to the components a Machine names, join it, keep it there.

One level-triggered pass, from the hub's state and the host's, over one SSH session:

1. the Host: it must exist and be free or ours; the claim is written to its status (`host_claims`);
2. SSH with the pinned host key and the key of its Secret (`ssh`); the host's facts into its status
   (`facts`); any failure is `HostReachable` False with the cause as reason;
3. the target cluster (`targets`): its URL and CA, which the kubelet's templates need;
4. the components, resolved from the NodeComponent catalogue in install order and rendered for this
   host (`prepare`); an unknown component or version, a parameter the schema refuses, no variant for
   the host's platform: `ComponentsReady` False naming it;
5. for each component, in order: its record and the sha256 of its paths on the host, the one action
   `host_state.plan_component` picks, carried out by `steps.converge` (a failing step rolls the
   component back and stops the pass: nothing after it, and no join, happens while it is unhealthy);
   the bootstrap kubeconfig goes on the host just before the component that uses it (`joining`);
6. the Node (name `spec.nodeName`, default the Host's name): registered, Ready; its labels.

The status is written once (`machine_status.fill_status` through the runtime's status writer), also
when a step raised. Passes repeat every `resync_seconds`: that re-check of every file's hash and every
component's `check` is what keeps nodes consistent (drift is restored with an Event `DriftRestored`).

Deletion (finalizer `machines.kokpit.io/machine`): the Node is deleted in the target cluster (draining
it first is the MachineSet's job), every component's `remove` runs in reverse install order, the
Host is freed, the finalizer goes.
"""

from __future__ import annotations

import copy
import functools
import logging
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
from lightkube import ApiError, AsyncClient
from lightkube.types import PatchType
from pydantic import ValidationError

from kokpit.api.machine import MACHINE, NODE_COMPONENT, MachinePhase, MachineSpec
from kokpit.binaries import cache_root
from kokpit.errors import KokpitError, validation_message
from kokpit.machines import host_claims, joining, prepare, remediation
from kokpit.machines.artifacts import ArtifactCache
from kokpit.machines.catalogue import builtin_components
from kokpit.machines.facts import FACTS_SCRIPT, HostFacts, parse_facts
from kokpit.machines.hash_cache import HashCache, observe_hashes
from kokpit.machines.host_state import (
    STATE_DIR,
    Action,
    ComponentPlan,
    parse_recorded,
    plan_component,
    state_path,
    under_prefix,
)
from kokpit.machines.machine_status import (
    COMPONENTS_READY,
    CONDITION_TYPES,
    HOST_REACHABLE,
    NODE_HEALTHY,
    NODE_JOINED,
    ComponentReport,
    MachinePass,
    fill_status,
)
from kokpit.machines.ssh import CONNECT_TIMEOUT, Session, SSHError, connect
from kokpit.machines.steps import Outcome, Prepared, converge, remove_component, run_step
from kokpit.machines.targets import TargetAccess, TargetClients, TargetUnavailable, target_cluster_access
from kokpit.runtime import (
    Condition,
    EventRecorder,
    Informer,
    Key,
    Result,
    StatusPatch,
    ensure_finalizer,
    get_condition,
    remove_finalizer,
    status_writer,
)
from kokpit.runtime.resources import resource_class

log = logging.getLogger("kokpit.machines")

MachineResource = resource_class(MACHINE)
NodeComponentResource = resource_class(NODE_COMPONENT)

FINALIZER = "machines.kokpit.io/machine"
BOOTSTRAP_KUBECONFIG = "var/lib/kokpit/bootstrap-kubelet.kubeconfig"
"""Where the bootstrap kubeconfig goes below the Host's prefix (the context's
`cluster.bootstrapKubeconfig`, prefix included)."""

STATUS_FIELDS = ("components", "nodeRef", "hostRef", "observedGeneration")
"""The status fields other than phase and conditions (kept as they are by `_announce`)."""

QUIET_REASONS = frozenset(
    {"WaitingForNode", "NotReached", "Installing", "KubeconfigPending", "NodeStatusUnknown"}
)
"""Reasons of a condition on its way somewhere: no Warning Event for them."""


class Stop(Exception):
    """Ends a pass early; the conditions already say why."""


@dataclass
class MachineSettings:
    """How the Machine controller runs."""

    resync_seconds: float = 20.0
    """How often a steady machine is looked at again: the drift and health re-check."""
    busy_seconds: float = 2.0
    """How soon a machine on its way (a node joining, a cluster not ready) is looked at again."""
    failed_seconds: float = 15.0
    """How soon a failed machine (a step failed, the host unreachable) is tried again."""
    connect_timeout: float = CONNECT_TIMEOUT
    binaries: Callable[[], Path] = cache_root
    """kokpit's binary cache on this machine: `binaries` in the template context (`file://` sources)."""
    allow_exec_credentials: bool = False
    targets: TargetClients = field(default_factory=TargetClients)
    artifacts: ArtifactCache = field(default_factory=lambda: ArtifactCache(cache_root().parent / "artifacts"))
    """Where `https://` artifacts are downloaded to, and the hashes of local artifacts."""
    hashes: HashCache = field(default_factory=HashCache)
    """The hashes of files on hosts, kept while the files are unchanged."""


class MachineReconciler:
    """`MachineReconciler` reconciles Machines of the hub (read from `machines`)."""

    def __init__(
        self,
        client: AsyncClient,
        machines: Informer,
        hosts: Informer,
        components: Informer,
        settings: MachineSettings,
        *,
        recorder: EventRecorder | None = None,
    ) -> None:
        self.client = client
        self.machines = machines
        self.hosts = hosts
        self.components = components
        self.settings = settings
        self.recorder = recorder

    async def aclose(self) -> None:
        await self.settings.targets.aclose()

    async def event(self, obj: Any, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            await self.recorder.event(obj, type_, reason, message)

    # -- reconcile ------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> Result:
        obj = self.machines.get(key.name, key.namespace)
        if obj is None:
            return Result()
        if obj.metadata.deletionTimestamp is not None:
            return await self._delete(obj)
        state = MachinePass()
        try:
            spec = MachineSpec.model_validate(obj.get("spec") or {})
        except ValidationError as error:
            message = f"invalid spec: {validation_message(error)}"
            state.set(COMPONENTS_READY, False, "InvalidSpec", message)
            async with self._status(obj) as patch:
                fill_status(patch, obj, state)
            return Result()
        obj = await ensure_finalizer(self.client, obj, FINALIZER)
        state.host_name = spec.host_ref.name
        async with self._status(obj) as patch:
            try:
                await self._reconcile(obj, spec, state)
            except Stop:
                pass
            except httpx2.HTTPError as error:
                # The target cluster's API server did not answer (the hub's would fail the status
                # write as well, and the reconcile is retried).
                message = f"the target cluster's API server did not answer: {error}"
                state.set(NODE_JOINED, False, "ClusterUnreachable", message)
                state.busy = True
                log.warning("%s/%s: %s", key.namespace, key.name, message)
            except (ApiError, OSError, KokpitError) as error:
                # An SSH session lost mid-pass, an API error: the conditions reached so far stand.
                reason = error.reason if isinstance(error, SSHError) else "StepFailed"
                message = f"{type(error).__name__}: {error}"
                if isinstance(error, SSHError):
                    state.set(HOST_REACHABLE, False, reason, message)
                else:
                    state.set(COMPONENTS_READY, False, reason, message)
                log.warning("%s/%s: %s", key.namespace, key.name, message)
            finally:
                fill_status(patch, obj, state)
            await self._transition_events(obj, patch)
        return Result(requeue_after=self._requeue(state))

    def _requeue(self, state: MachinePass) -> float:
        if state.busy:
            return self.settings.busy_seconds
        conditions = state.conditions
        if any(not c.is_true for t, c in conditions.items() if t in (HOST_REACHABLE, COMPONENTS_READY)):
            return self.settings.failed_seconds
        return self.settings.resync_seconds

    def _status(self, obj: Any) -> Any:
        return status_writer(self.client, MachineResource, obj, owned=CONDITION_TYPES)

    def _machine_exists(self, namespace: str) -> Callable[[str], bool]:
        return lambda name: self.machines.get(name, namespace) is not None

    async def _reconcile(self, obj: Any, spec: MachineSpec, state: MachinePass) -> None:
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)

        # 1. The Host, claimed.
        host = self.hosts.get(spec.host_ref.name, namespace)
        if host is None:
            state.set(
                HOST_REACHABLE, False, "HostNotFound", f"Host {namespace}/{spec.host_ref.name} does not exist"
            )
            raise Stop
        problem = host_claims.claim_problem(host, name, self._machine_exists(namespace))
        if problem is not None:
            state.set(HOST_REACHABLE, False, "HostClaimed", problem)
            raise Stop
        host = await host_claims.claim(self.client, host, name)
        try:
            target = await host_claims.ssh_target(self.client, host)
        except host_claims.HostProblem as error:
            state.set(HOST_REACHABLE, False, error.reason, str(error))
            await host_claims.record_host(
                self.client, host, name, reachable=Condition.false("Reachable", error.reason, str(error))
            )
            raise Stop from None
        host_spec = host.get("spec") or {}
        prefix = str(host_spec.get("prefix") or "/")
        node_name = spec.node_name or str(host.metadata.name)

        # 2. SSH, and the host's facts.
        try:
            async with connect(target, timeout=self.settings.connect_timeout) as session:
                facts_run = await session.run(FACTS_SCRIPT)
                try:
                    facts = parse_facts(facts_run.output) if facts_run.ok else None
                except ValueError:
                    facts = None
                if facts is None:
                    message = f"{target.where}: the facts script failed: {facts_run.tail(5)}"
                    state.set(HOST_REACHABLE, False, "FactsUnavailable", message)
                    raise Stop
                state.set(
                    HOST_REACHABLE,
                    True,
                    "Reachable",
                    f"{target.where}: {facts.distribution or facts.os}/{facts.architecture}",
                )
                await host_claims.record_host(
                    self.client,
                    host,
                    name,
                    reachable=Condition.true("Reachable", "Reachable", target.where),
                    facts=facts,
                )
                await self._on_host(obj, spec, state, session, host, prefix, node_name, facts)
        except SSHError as error:
            state.set(HOST_REACHABLE, False, error.reason, str(error))
            await host_claims.record_host(
                self.client, host, name, reachable=Condition.false("Reachable", error.reason, str(error))
            )
            raise Stop from None

    async def _on_host(
        self,
        obj: Any,
        spec: MachineSpec,
        state: MachinePass,
        session: Session,
        host: Any,
        prefix: str,
        node_name: str,
        facts: HostFacts,
    ) -> None:
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)

        # 3. The target cluster.
        ref = spec.cluster_ref
        try:
            access = await target_cluster_access(
                self.client,
                kind=ref.kind.value,
                name=ref.name,
                namespace=ref.namespace or namespace,
                allow_exec_credentials=self.settings.allow_exec_credentials,
            )
        except TargetUnavailable as error:
            state.set(COMPONENTS_READY, False, "WaitingForCluster", str(error))
            state.set(NODE_JOINED, False, error.reason, str(error))
            state.busy = error.reason in ("KubeconfigPending", "ClusterNotFound")
            raise Stop from None
        bootstrap_path = under_prefix(prefix, BOOTSTRAP_KUBECONFIG)

        # 4. The components, in install order, rendered for this host.
        resolved_inputs = self._inputs(obj, spec, host, facts, node_name, access, bootstrap_path)
        resolved = await prepare.resolve(
            spec,
            catalogue_objects=await self._catalogue(obj, spec),
            inputs=resolved_inputs,
            artifacts=self.settings.artifacts,
        )
        state.order = (
            [c.name for c in spec.components or []] if resolved.order is None else list(resolved.order)
        )
        if resolved.problem is not None:
            state.set(COMPONENTS_READY, False, resolved.problem.reason, resolved.problem.message)
            raise Stop

        # 5. Each component: observe, plan, converge.
        client = await self.settings.targets.get(access)
        prepared_all = resolved.prepared
        records = {
            p.name: parse_recorded(await session.read_text(state_path(prefix, p.name))) for p in prepared_all
        }
        paths = [f.path for p in prepared_all for f in p.files] + [
            a.path for p in prepared_all for a in p.artifacts
        ]
        observed = await observe_hashes(session, paths, self.settings.hashes)
        annotations = dict(obj.metadata.annotations or {})
        state.remediating = remediation.remediating(annotations)
        asked = remediation.pending_remediation(annotations)
        acted: list[str] = []

        announced: list[bool] = []

        async def step(prepared: Prepared, plan: ComponentPlan) -> Outcome:
            if plan.action is Action.INSTALL and not announced:
                announced.append(True)
                await self._announce(
                    obj, f"{plan.action.value.lower()} {prepared.name} {prepared.version}: {plan.message}"
                )
            if plan.action is not Action.CHECK and joining.uses_bootstrap(
                prepared_texts(prepared), bootstrap_path
            ):
                await joining.write_bootstrap_kubeconfig(
                    session,
                    client,
                    access,
                    path=bootstrap_path,
                    machine=f"{namespace}/{name}",
                    uid=str(obj.metadata.uid),
                )
            if plan.action is not Action.CHECK:
                log.info("%s/%s: %s %s (%s)", namespace, name, plan.action.value, prepared.name, plan.message)
            return await converge(session, prepared, plan, prefix=prefix)

        async def remediate(prepared: Prepared) -> Outcome:
            acted.append(prepared.name)
            if asked == remediation.REINSTALL:
                return await step(prepared, remediation.reinstall_plan(prepared))
            repaired = await run_step(session, prepared, "repair", prefix)
            if not repaired.ok:
                return Outcome(
                    prepared.name,
                    Action.CHECK,
                    healthy=False,
                    failed_step="repair",
                    exit_status=repaired.exit_status,
                    tail=repaired.tail(),
                )
            return await step(prepared, ComponentPlan(Action.CHECK, "Repaired", "repaired"))

        healthy_all = True
        for prepared in prepared_all:
            plan = plan_component(records[prepared.name], prepared.wanted(), observed)
            outcome = await step(prepared, plan)
            if not outcome.healthy and asked and plan.action is Action.CHECK:
                outcome = await remediate(prepared)
            await self._report(obj, state, prepared, outcome, records[prepared.name] is not None)
            if not outcome.healthy:
                # Nothing after it runs: what depends on it (the kubelet, at the end) never starts
                # on a host with an unhealthy component, so no half-made node joins.
                state.set(COMPONENTS_READY, False, outcome.reason, outcome.message)
                healthy_all = False
                break
        if healthy_all and asked and not acted:
            # Every component passes its check, yet the health check finds the node unhealthy.
            for prepared in prepared_all:
                outcome = await remediate(prepared)
                await self._report(obj, state, prepared, outcome, True)
                if not outcome.healthy:
                    state.set(COMPONENTS_READY, False, outcome.reason, outcome.message)
                    healthy_all = False
                    break
        if asked:
            await self.client.patch(
                MachineResource,
                name,
                remediation.done_patch(datetime.now(UTC)),
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
            await self.event(obj, "Normal", "Remediated", f"{asked}: {', '.join(acted)}")
        if healthy_all:
            await self._remove_dropped(obj, session, prefix, [p.name for p in prepared_all], resolved_inputs)
            count = len(prepared_all)
            state.set(COMPONENTS_READY, True, "ComponentsReady", f"{count}/{count} components healthy")

        # 6. The Node (observed also after a failure, so its conditions never go stale).
        view = await joining.read_node(client, node_name)
        joined, healthy = joining.node_conditions(node_name, view)
        state.set(NODE_JOINED, joined.is_true, joined.reason, joined.message)
        state.conditions[NODE_HEALTHY] = healthy
        if view.registered:
            state.node_name = node_name
            await joining.revoke_tokens(client, str(obj.metadata.uid))
            missing = joining.label_patch(view, spec.labels or {})
            if missing:
                await joining.label_node(client, node_name, missing)
        if not healthy.is_true and state.conditions[COMPONENTS_READY].is_true:
            state.busy = True

    async def _remove_dropped(
        self, obj: Any, session: Session, prefix: str, wanted: list[str], inputs: prepare.ContextInputs
    ) -> None:
        """Removes components recorded on the host that the Machine no longer lists (their `remove`
        at the recorded version, then their files), so the host runs exactly what the Machine says."""
        listing = await session.run(
            f"ls -1 -- {shlex.quote(under_prefix(prefix, STATE_DIR))} 2>/dev/null || true"
        )
        recorded_names = sorted(
            line[: -len(".json")] for line in listing.output.split() if line.endswith(".json")
        )
        for component in reversed([n for n in recorded_names if n not in wanted]):
            recorded = parse_recorded(await session.read_text(state_path(prefix, component)))
            prepared = None
            if recorded is not None:
                prepared = await prepare.prepare_alone(
                    component,
                    recorded.version,
                    catalogue_objects=self.components.list(),
                    inputs=inputs,
                    artifacts=self.settings.artifacts,
                )
            tail = await remove_component(session, prepared, prefix=prefix, name=component, recorded=recorded)
            note = f"{component}: no longer listed, removed" + (f" (remove failed: {tail})" if tail else "")
            await self.event(obj, "Warning" if tail else "Normal", "ComponentRemoved", note[:1000])

    async def _announce(self, obj: Any, message: str) -> None:
        """Shows that an install is under way (phase Provisioning, ComponentsReady False Installing)
        before its steps run: an install with a join can take a minute, and the status written at
        the end of the pass would say nothing meanwhile. (A configure is quick: not announced.)"""
        async with self._status(obj) as patch:
            patch.fields.update(patch.current_fields(*STATUS_FIELDS))
            patch.fields["phase"] = MachinePhase.PROVISIONING.value
            patch.set(Condition.false(COMPONENTS_READY, "Installing", message))
            patch.set(Condition.false("Ready", "Installing", message))

    async def _resolve(
        self,
        obj: Any,
        spec: MachineSpec,
        host: Any,
        facts: HostFacts,
        node_name: str,
        access: TargetAccess,
        bootstrap_path: str,
    ) -> prepare.Resolved:
        return await prepare.resolve(
            spec,
            catalogue_objects=await self._catalogue(obj, spec),
            inputs=self._inputs(obj, spec, host, facts, node_name, access, bootstrap_path),
            artifacts=self.settings.artifacts,
        )

    def _inputs(
        self,
        obj: Any,
        spec: MachineSpec,
        host: Any,
        facts: HostFacts,
        node_name: str,
        access: TargetAccess,
        bootstrap_path: str,
    ) -> prepare.ContextInputs:
        return prepare.ContextInputs(
            machine=str(obj.metadata.name),
            spec=spec,
            host=host,
            facts=facts,
            node_name=node_name,
            server=access.server,
            ca_data=access.ca_data,
            bootstrap_kubeconfig=bootstrap_path,
            binaries=str(self.settings.binaries()),
        )

    async def _catalogue(self, obj: Any, spec: MachineSpec) -> list[Any]:
        """The hub's NodeComponents; a built-in one (`kokpit.machines.catalogue`) that a Machine names
        and the hub lacks is created first, so a fresh hub needs no manual step. An existing
        NodeComponent is never overwritten: the hub's copy is the one an admin may have changed."""
        objects = list(self.components.list())
        have = {str(o.metadata.name) for o in objects}
        builtin = _builtin_catalogue()
        for component in spec.components or []:
            manifest = builtin.get(component.name)
            if component.name in have or manifest is None:
                continue
            created = NodeComponentResource.from_dict(copy.deepcopy(manifest))
            try:
                await self.client.create(created)
            except ApiError as error:
                if error.status.code != 409:
                    raise
                # It exists (the cache had not seen it yet): the hub's copy is the one to use.
                objects.append(await self.client.get(NodeComponentResource, component.name))
                have.add(component.name)
                continue
            objects.append(created)
            have.add(component.name)
            await self.event(
                obj, "Normal", "NodeComponentCreated", f"built-in NodeComponent {component.name}"
            )
        return objects

    async def _report(
        self, obj: Any, state: MachinePass, prepared: Prepared, outcome: Outcome, was_recorded: bool
    ) -> None:
        message = outcome.message
        state.report(
            ComponentReport(
                prepared.name,
                prepared.version if outcome.healthy or not outcome.rolled_back else None,
                prepared.digest if outcome.healthy or not outcome.rolled_back else None,
                outcome.healthy,
                message.splitlines()[0] if message else "",
            )
        )
        if outcome.drifted and outcome.healthy:
            await self.event(
                obj, "Warning", "DriftRestored", f"{prepared.name}: restored {', '.join(outcome.drifted)}"
            )
        elif outcome.healthy and outcome.action is Action.INSTALL:
            verb = "upgraded to" if was_recorded else "installed"
            await self.event(
                obj, "Normal", "ComponentInstalled", f"{prepared.name} {verb} {prepared.version}"
            )
        elif outcome.rolled_back:
            await self.event(obj, "Warning", "RolledBack", message[:1000])

    async def _transition_events(self, obj: Any, patch: StatusPatch) -> None:
        before = patch.current.get("conditions")
        for condition in patch.conditions:
            old = get_condition(before, condition["type"])
            changed = old is None or (old.get("status"), old.get("reason")) != (
                condition["status"],
                condition["reason"],
            )
            if not changed or condition["type"] == "Ready":
                if changed and condition["type"] == "Ready" and condition["status"] == "True":
                    await self.event(obj, "Normal", "Ready", str(condition["message"]))
                continue
            if condition["status"] == "False" and condition["reason"] not in QUIET_REASONS:
                await self.event(
                    obj, "Warning", condition["reason"], f"{condition['type']}: {condition['message']}"[:1000]
                )

    # -- deletion -------------------------------------------------------------------------------

    async def _delete(self, obj: Any) -> Result:
        if FINALIZER not in (obj.metadata.finalizers or []):
            return Result()
        state = MachinePass(deleting=True)
        try:
            spec: MachineSpec | None = MachineSpec.model_validate(obj.get("spec") or {})
        except ValidationError:
            spec = None
        done = False
        async with self._status(obj) as patch:
            try:
                done = await self._teardown(obj, spec, state)
            except Stop:
                pass
            except (ApiError, OSError, KokpitError) as error:
                reason = error.reason if isinstance(error, SSHError) else "StepFailed"
                state.set(
                    HOST_REACHABLE if isinstance(error, SSHError) else COMPONENTS_READY,
                    False,
                    reason,
                    str(error),
                )
            finally:
                fill_status(patch, obj, state)
        if not done:
            return Result(requeue_after=self.settings.failed_seconds)
        await self.event(obj, "Normal", "Deleted", "node deleted, components removed, host freed")
        await remove_finalizer(self.client, obj, FINALIZER)
        return Result()

    async def _teardown(self, obj: Any, spec: MachineSpec | None, state: MachinePass) -> bool:
        """Deletes the Node, removes the components, frees the Host; True when all is done."""
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        if spec is None:
            return True
        host = self.hosts.get(spec.host_ref.name, namespace)
        ours = host is not None and host_claims.claimed_by(host) in (None, name)
        node_name = spec.node_name or spec.host_ref.name
        access: TargetAccess | None = None
        try:
            access = await target_cluster_access(
                self.client,
                kind=spec.cluster_ref.kind.value,
                name=spec.cluster_ref.name,
                namespace=spec.cluster_ref.namespace or namespace,
                allow_exec_credentials=self.settings.allow_exec_credentials,
            )
        except TargetUnavailable as error:
            # A cluster that is gone has no Node to delete; one not reachable yet never had it.
            log.info("%s/%s: no target cluster to clean up: %s", namespace, name, error)
        if access is not None:
            client = await self.settings.targets.get(access)
            await joining.delete_node(client, node_name)
            await joining.revoke_tokens(client, str(obj.metadata.uid))
        if host is None or not ours:
            return True
        installed = [r for r in (obj.get("status") or {}).get("components") or [] if r.get("version")]
        if not installed:
            # Nothing was ever installed (the host may never have let kokpit in): no SSH needed.
            await host_claims.free(self.client, host, name)
            return True
        try:
            target = await host_claims.ssh_target(self.client, host)
        except host_claims.HostProblem:
            await host_claims.free(self.client, host, name)
            return True
        prefix = str((host.get("spec") or {}).get("prefix") or "/")
        async with connect(target, timeout=self.settings.connect_timeout) as session:
            facts_run = await session.run(FACTS_SCRIPT)
            facts = parse_facts(facts_run.output) if facts_run.ok else None
            resolved = None
            if facts is not None and access is not None:
                resolved = await self._resolve(
                    obj, spec, host, facts, node_name, access, under_prefix(prefix, BOOTSTRAP_KUBECONFIG)
                )
            prepared = {p.name: p for p in (resolved.prepared if resolved is not None else [])}
            order = (
                list(resolved.order)
                if resolved is not None and resolved.order
                else [c.name for c in spec.components or []]
            )
            failures = []
            for component in reversed(order):
                recorded = parse_recorded(await session.read_text(state_path(prefix, component)))
                if recorded is None:
                    continue  # never installed, or rolled back already
                tail = await remove_component(
                    session, prepared.get(component), prefix=prefix, name=component, recorded=recorded
                )
                if tail:
                    failures.append(f"{component}: remove failed {tail}")
            await session.run(f"rm -f -- {under_prefix(prefix, BOOTSTRAP_KUBECONFIG)}")
            if failures:
                # Reported, not retried for ever: the Host is freed with what remove left.
                await self.event(obj, "Warning", "RemoveFailed", "\n".join(failures)[:1000])
        await host_claims.free(self.client, host, name)
        return True


@functools.cache
def _builtin_catalogue() -> dict[str, dict[str, Any]]:
    return {str(m["metadata"]["name"]): m for m in builtin_components()}


def prepared_texts(prepared: Prepared) -> list[str]:
    """Every rendered text of a component: its scripts and file contents."""
    return [*prepared.scripts.values(), *(f.content for f in prepared.files)]
