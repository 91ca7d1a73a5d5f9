"""The execution controller: applies every Work of the hub to its member cluster and reports back.

A Work lives in its member's execution namespace `kokpit-es-<cluster>`. For each manifest the controller
picks an API version the member serves (`apply_plan.choose_version`), looks at the member's current copy,
decides whether it may touch it (`apply_plan.decide_conflict`) and server-side applies it as `kokpit`,
creating a missing namespace on the way. Objects it applied carry `kokpit.io/managed-by=kokpit`, the
binding routing labels and the Work's own namespace and name as annotations, which is how a change of a
member object finds its Work again: the controller watches, per member and kind, every kind it applied
(informers started on demand), and recomputes the Work's status, `Applied`, `Available` and one
`manifestStatuses` entry per manifest with the member's status and health (`status.work_status`).

Failures stay visible: a member's rejection (422, 403 quota or RBAC), a conflict with an object kokpit
does not own, a kind the member does not serve, all become `Applied=False` with the message, a Warning
Event on the Work, and a slow retry; transient errors retry with backoff. Objects dropped from a Work are
deleted from the member. A finalizer on the Work deletes its objects from the member when the Work goes
(or only strips kokpit's labels from them with `preserveResourcesOnDeletion`), and lets go without
cleanup once the member's Cluster is gone.

What a member owns stays the member's (`retain`): the applied body leaves out the fields the member's
own controllers own in its copy (replicas under an HPA there, a Service's allocated IPs and node
ports, ...), so kokpit's server-side apply never fights them. A change of a member copy wakes its Work
through the member watch; when the Work is the one last applied, the copy is compared with what the
member answered to that apply (`drift`): nothing kokpit owns changed, nothing is written (an HPA
scaling the copy causes no write); something did, the copy is applied again with force and an Event
`DriftCorrected` on the template names the cluster and the fields. A Work marked
`suspendDispatching` (`suspension`) is not applied at all until the mark goes.

The same reconciler runs in two drivers (`kokpit.propagation.wiring`): in the hub, reaching Push
members through `MemberClients`, and in a kokpit agent, reaching its own member; a `MemberAccess`
says how members are reached and an `ExecutionScope` which Clusters' Works are served
(`execution_scope`), so a Work is applied by exactly one of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.core import resource as lkr
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

from kokpit.api.work import APPLIED, AVAILABLE, WORK
from kokpit.fleet.members import MemberAccess, MemberUnavailable
from kokpit.propagation import names, shard_keys
from kokpit.propagation.apply_plan import (
    WORK_NAME_ANNOTATION,
    WORK_NAMESPACE_ANNOTATION,
    Action,
    FailureKind,
    Unserved,
    UnservedReason,
    WorkRef,
    belongs_to,
    choose_version,
    classify_api_error,
    decide_conflict,
    describe,
    desired_object,
    manifest_identifier,
    missing_namespace,
    served_kinds,
    split_api_version,
    work_ref_from_metadata,
)
from kokpit.propagation.drift import already_carried, describe_drift, drifted_fields
from kokpit.propagation.execution_scope import HUB_SCOPE, ExecutionScope
from kokpit.propagation.interpreter_controller import InterpreterSource
from kokpit.propagation.retain import hpa_targets, retain, targeted, wants_retained_replicas
from kokpit.propagation.status import ManifestOutcome, WorkProblem, work_report
from kokpit.runtime import (
    Controller,
    EventRecorder,
    Handler,
    Informer,
    Key,
    Manager,
    Result,
    ShardKey,
    StatusPatch,
    apply,
    ensure_finalizer,
    get_or_none,
    is_not_found,
    remove_finalizer,
    status_writer,
)
from kokpit.runtime.conditions import UNKNOWN
from kokpit.runtime.resources import ServedKind, resource_class, served_class

log = logging.getLogger("kokpit.propagation.execution_controller")

CONTROLLER_NAME = "execution"
WORK_FINALIZER = names.WORK_FINALIZER

WorkResource = resource_class(WORK)

SLOW_REQUEUE = 30.0
"""Seconds before a Work that failed for a reason retrying cannot fix soon is looked at again."""
ENABLEMENTS_REQUEUE = 5.0
"""Seconds before retrying a Work whose member has not reported its served APIs yet."""
RESYNC = 300.0
"""Seconds after which a steady Work's copies are compared with the member again even without an event
(drift correction when a watch event was missed)."""
MEMBER_COALESCE = 1.0
"""Seconds a Work waits after the first change of a burst to its member copies (a Deployment's status
settling in steps, kokpit's own apply echoing back) before it is looked at: one status write for the
burst."""
DRIFT_CORRECTED = "DriftCorrected"
"""Event reason on the template (or the Work, when the template cannot be read): a member copy's
kokpit-owned fields were changed in the member and have been restored."""

HPA_KIND = ServedKind(
    group="autoscaling",
    version="v2",
    kind="HorizontalPodAutoscaler",
    plural="horizontalpodautoscalers",
    namespaced=True,
)
"""The HorizontalPodAutoscalers of a member, read to leave the replicas they scale to them."""

_ROUTING_LABELS = (
    names.MANAGED_BY_LABEL,
    names.BINDING_NAME_KEY,
    names.BINDING_NAMESPACE_KEY,
    names.CLUSTER_KEY,
)
_ROUTING_ANNOTATIONS = (
    names.BINDING_KIND_KEY,
    names.BINDING_NAME_KEY,
    names.BINDING_NAMESPACE_KEY,
    names.CLUSTER_KEY,
    WORK_NAMESPACE_ANNOTATION,
    WORK_NAME_ANNOTATION,
)


@dataclass
class _Applied:
    """What the last successful apply of one manifest left in the member."""

    work_uid: str
    work_generation: int | None
    identity: tuple[str, str, str | None, str]
    marker: str
    at: float
    applied: dict[str, Any]
    """The object as the member answered the apply: what later copies are compared with for drift."""


def _marker(obj: Mapping[str, Any]) -> str:
    """What changes when someone else changes the object's spec or metadata: its generation when it has
    one (status updates leave it alone), else its resourceVersion."""
    metadata = obj.get("metadata") or {}
    generation = metadata.get("generation")
    return f"g{generation}" if generation is not None else f"rv{metadata.get('resourceVersion')}"


def cluster_of_work(work: Mapping[str, Any]) -> str | None:
    """`cluster_of_work` is the member a Work is for: from its execution namespace, else from its
    `kokpit.io/cluster` label or annotation (execution namespaces of long names are hashed)."""
    metadata = work.get("metadata") or {}
    cluster = names.cluster_from_execution_namespace(str(metadata.get("namespace") or ""))
    if cluster is not None:
        return cluster
    if not str(metadata.get("namespace") or "").startswith(names.EXECUTION_NAMESPACE_PREFIX):
        return None
    return names.cluster_from_metadata(metadata.get("labels"), metadata.get("annotations"))


class ExecutionReconciler:
    """Reconciles the Works of the hub that `scope` serves, reaching members through `members`; see
    the module docstring. `component` names the writer of its Events (the hub's controller or an
    agent)."""

    def __init__(
        self,
        manager: Manager,
        members: MemberAccess,
        *,
        scope: ExecutionScope = HUB_SCOPE,
        hub: str = "hub",
        resync: float = RESYNC,
        slow_requeue: float = SLOW_REQUEUE,
        component: str = "kokpit-execution-controller",
        interpreters: InterpreterSource | None = None,
    ) -> None:
        self.manager = manager
        self.interpreters = interpreters
        """Judge the health of custom kinds; None (a kokpit agent) keeps the built-in rules."""
        self.members = members
        self.scope = scope
        self.hub = hub
        self.resync = resync
        self.slow_requeue = slow_requeue
        self.component = component
        self.works: Informer = manager.informer(hub, WorkResource, namespace=scope.namespace)
        self.controller: Controller | None = None
        self._member_informers: dict[tuple[str, type[Any]], Informer] = {}
        self._applied: dict[Key, dict[int, _Applied]] = {}
        self._reported: dict[Key, dict[str, str]] = {}
        self._recorder: EventRecorder | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def setup(self) -> Controller:
        """Registers the controller: Works, and their member's Cluster appearing, going, or changing the
        API versions it serves."""
        controller = self.manager.controller(
            CONTROLLER_NAME, self, workers=16, shard_key=self._shard_key, on_disowned=self._forget
        )
        controller.watch(self.works)
        self.members.clusters.add_handler(
            Handler(add=self._cluster_event, update=self._cluster_update, delete=self._cluster_event)
        )
        self.controller = controller
        return controller

    @property
    def recorder(self) -> EventRecorder:
        if self._recorder is None:
            self._recorder = EventRecorder(self.manager.clients.get(self.hub), component=self.component)
        return self._recorder

    # -- routing ------------------------------------------------------------------------------------

    def _works_of_cluster(self, cluster: Any) -> list[Key]:
        name = str(cluster["metadata"]["name"])
        return [Key.of(self.hub, w) for w in self.works.list(names.execution_namespace(name))]

    def _cluster_event(self, cluster: Any) -> None:
        if self.controller is not None:
            for key in self._works_of_cluster(cluster):
                self.controller.enqueue(key)

    def _cluster_update(self, old: Any, new: Any) -> None:
        def relevant(cluster: Any) -> tuple[Any, Any, Any]:
            return (
                (cluster.get("status") or {}).get("apiEnablements"),
                cluster["metadata"].get("deletionTimestamp"),
                (cluster.get("spec") or {}).get("syncMode"),
            )

        if relevant(old) != relevant(new):
            self._cluster_event(new)
            self._retire_unserved(new)

    def _retire_unserved(self, cluster: Any) -> None:
        """Stops the member informers of kinds the member no longer serves (a CRD deleted there), which
        would otherwise retry their watch forever; `_member_informer` restarts them if needed again."""
        enablements = (cluster.get("status") or {}).get("apiEnablements")
        if not enablements:
            return
        served = served_kinds(enablements)
        client_name = self.members.client_name(str(cluster["metadata"]["name"]))
        stale = []
        for (name, resource), informer in self._member_informers.items():
            info = lkr.api_info(resource).resource
            if (
                name == client_name
                and informer.running
                and (info.group, info.version, info.kind) not in served
            ):
                stale.append(informer)
        if stale:
            task = asyncio.get_running_loop().create_task(_stop_all(stale))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _works_of_member_object(self, obj: Any) -> list[Key]:
        ref = work_ref_from_metadata((obj.get("metadata") or {}).get("annotations"))
        return [] if ref is None else [Key(self.hub, ref.namespace, ref.name)]

    def _works_of_hpa(self, client_name: str) -> Any:
        """A mapper from an HPA of a member to the Work of the object it scales."""

        def works(hpa: Any) -> list[Key]:
            found: list[Key] = []
            namespace = (hpa.get("metadata") or {}).get("namespace")
            targets = hpa_targets([hpa])
            for (name, resource), informer in list(self._member_informers.items()):
                if name != client_name or resource is served_class(HPA_KIND) or not informer.has_synced():
                    continue
                for _, group, kind, target in targets:
                    info = lkr.api_info(resource).resource
                    if (info.group or "", info.kind) == (group, kind):
                        obj = informer.get(target, namespace)
                        if obj is not None:
                            found.extend(self._works_of_member_object(obj))
            return found

        return works

    def _member_informer(self, cluster: str, resource: type[Any]) -> Informer:
        """The shared informer of `resource` in the member, created and watched on first use."""
        client_name = self.members.client_name(cluster)
        informer = self.manager.informer(client_name, resource)
        key = (client_name, resource)
        if self._member_informers.get(key) is not informer:
            self._member_informers[key] = informer
            if self.controller is not None:
                mapper = (
                    self._works_of_hpa(client_name)
                    if resource is served_class(HPA_KIND)
                    else self._works_of_member_object
                )
                self.controller.watch(informer, mapper=mapper, coalesce=MEMBER_COALESCE)
        elif not informer.running and self.manager.healthy():
            informer.start()  # retired when the kind went away, needed again
        return informer

    def _shard_key(self, key: Key) -> ShardKey:
        work = self.works.get(key.name, key.namespace)
        cluster = (
            cluster_of_work(work)
            if work is not None
            else names.cluster_from_execution_namespace(key.namespace or "")
        )
        return shard_keys.of_work(key, cluster)

    def _forget(self, key: Key) -> None:
        self._applied.pop(key, None)
        self._reported.pop(key, None)

    # -- reconcile ----------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> Result:
        work = self.works.get(key.name, key.namespace)
        if work is None:
            self._forget(key)
            return Result()
        cluster = cluster_of_work(work)
        if cluster is None:
            return Result()  # not in an execution namespace: not ours to apply
        if not self.scope.serves(cluster, self.members.clusters.get(cluster)):
            self._forget(key)  # the other driver's (a Pull member's agent, or the hub)
            return Result()
        if work["metadata"].get("deletionTimestamp"):
            return await self._delete(key, work, cluster)
        work = await ensure_finalizer(self.manager.clients.get(self.hub), work, WORK_FINALIZER)
        return await self._sync(key, work, cluster)

    async def _sync(self, key: Key, work: Any, cluster: str) -> Result:
        spec = work.get("spec") or {}
        manifests = list((spec.get("workload") or {}).get("manifests") or [])
        outcomes: list[ManifestOutcome] = []
        problem: WorkProblem | None = None
        requeue: float = self.resync
        cluster_obj = self.members.clusters.get(cluster)
        hub = self.manager.clients.get(self.hub)
        async with status_writer(hub, WorkResource, work, owned=(APPLIED, AVAILABLE)) as status:
            try:
                if cluster_obj is None:
                    problem = WorkProblem(
                        "ClusterNotFound", f"cluster {cluster} is not a member of the fleet"
                    )
                    requeue = self.slow_requeue
                elif spec.get("suspendDispatching"):
                    problem = WorkProblem(
                        "DispatchingSuspended",
                        f"dispatching to {cluster} is suspended; the member keeps what it had",
                        status=UNKNOWN,
                    )
                else:
                    try:
                        client = await self.members.client(cluster)
                    except MemberUnavailable as error:
                        problem = WorkProblem(FailureKind.UNAVAILABLE, str(error))
                        requeue = self.slow_requeue
                    else:
                        enablements = (cluster_obj.get("status") or {}).get("apiEnablements")
                        for ordinal, manifest in enumerate(manifests):
                            outcome, again = await self._apply_one(
                                key, work, cluster, client, ordinal, manifest, enablements
                            )
                            outcomes.append(outcome)
                            if again is not None:
                                requeue = min(requeue, again)
                        await self._prune(key, work, cluster, client, enablements, outcomes)
            except Exception as error:
                code = error.status.code if isinstance(error, ApiError) else None
                reason = classify_api_error(code).kind
                problem = WorkProblem(reason, f"applying to {cluster} failed: {_describe_error(error)}")
                raise
            finally:
                await self._record(key, work, cluster, outcomes, problem, status)
        return Result(requeue_after=requeue)

    async def _apply_one(
        self,
        key: Key,
        work: Any,
        cluster: str,
        client: AsyncClient,
        ordinal: int,
        manifest: Mapping[str, Any],
        enablements: Any,
    ) -> tuple[ManifestOutcome, float | None]:
        """Applies one manifest; returns its outcome and, when it failed for now, when to look again."""
        served = choose_version(manifest, enablements, cluster=cluster)
        if isinstance(served, Unserved):
            identifier = manifest_identifier(manifest, ordinal)
            await self._report(key, work, identifier, served.reason, served.message)
            again = ENABLEMENTS_REQUEUE if served.reason == UnservedReason.ENABLEMENTS_UNKNOWN else None
            return ManifestOutcome(
                identifier, False, served.reason, served.message
            ), again or self.slow_requeue
        identifier = manifest_identifier(manifest, ordinal, served)
        name = str((manifest.get("metadata") or {}).get("name") or "")
        if not name:
            message = "the manifest has no metadata.name"
            await self._report(key, work, identifier, UnservedReason.MALFORMED, message)
            return ManifestOutcome(identifier, False, UnservedReason.MALFORMED, message), self.slow_requeue
        namespace = identifier.get("namespace")
        resource = served_class(served)
        informer = self._member_informer(cluster, resource)
        existing = await self._current(client, informer, resource, name, namespace)
        what = describe(identifier)
        decision = decide_conflict(
            existing, (work.get("spec") or {}).get("conflictResolution"), what=what, cluster=cluster
        )
        if not decision.proceed:
            await self._report(key, work, identifier, FailureKind.CONFLICT, decision.message)
            return ManifestOutcome(
                identifier, False, FailureKind.CONFLICT, decision.message
            ), self.slow_requeue

        identity = (served.api_version, served.kind, namespace, name)
        work_uid = str(work["metadata"].get("uid") or "")
        generation = work["metadata"].get("generation")
        record = self._applied.get(key, {}).get(ordinal)
        last = (
            record
            if existing is not None
            and decision.action == Action.UPDATE
            and record is not None
            and record.work_uid == work_uid
            and record.work_generation == generation
            and record.identity == identity
            else None
        )
        if (
            last is not None
            and last.marker == _marker(existing or {})
            and time.monotonic() - last.at < self.resync
        ):
            return ManifestOutcome(identifier, True, observed=existing), None

        metadata = work.get("metadata") or {}
        desired = desired_object(
            manifest,
            served,
            work=WorkRef(str(key.namespace), key.name),
            cluster=cluster,
            work_labels=metadata.get("labels"),
            work_annotations=metadata.get("annotations"),
        )
        retain_replicas = existing is not None and await self._replicas_retained(
            cluster, client, desired, namespace, enablements
        )
        interpreter = self.interpreters.current().get(desired) if self.interpreters is not None else None
        retained_paths = interpreter.retained if interpreter is not None else ()
        body = retain(desired, existing, retain_replicas=retain_replicas, retained_paths=retained_paths).body
        drifted: list[str] = []
        if (
            last is None
            and record is None
            and existing is not None
            and decision.action == Action.UPDATE
            and already_carried(body, existing)
        ):  # first look since the hub started, and the member already serves this: no write
            self._applied.setdefault(key, {})[ordinal] = _Applied(
                work_uid, generation, identity, _marker(existing), time.monotonic(), dict(existing)
            )
            await self._report(key, work, identifier, "", "")
            return ManifestOutcome(identifier, True, observed=existing), None
        if last is not None and existing is not None:
            drifted = drifted_fields(body, last.applied, existing)
            if not drifted:  # the member's own change (status, replicas it owns): nothing to write
                last.marker, last.at = _marker(existing), time.monotonic()
                return ManifestOutcome(identifier, True, observed=existing), None
        try:
            result = await self._apply(client, resource, body, force=decision.force)
        except ApiError as error:
            failure = classify_api_error(error.status.code)
            if not failure.permanent:
                raise
            message = f"cluster {cluster} rejected {what}: {error.status.message}"
            await self._report(key, work, identifier, failure.kind, message)
            return ManifestOutcome(identifier, False, failure.kind, message), self.slow_requeue
        applied = dict(result)
        self._applied.setdefault(key, {})[ordinal] = _Applied(
            work_uid, generation, identity, _marker(applied), time.monotonic(), applied
        )
        if drifted:
            await self._report_drift(work, manifest, served, cluster, what, drifted)
        if decision.action == Action.TAKE_OVER:
            await self.recorder.normal(work, "TakenOver", decision.message, action="Apply")
        await self._report(key, work, identifier, "", "")
        return ManifestOutcome(identifier, True, observed=applied), None

    async def _replicas_retained(
        self,
        cluster: str,
        client: AsyncClient,
        desired: Mapping[str, Any],
        namespace: str | None,
        enablements: Any,
    ) -> bool:
        """Whether the member keeps the replicas of `desired`: the template asks for it, or an HPA in
        the member scales the object (read from the member's HPA informer, directly until it synced)."""
        if not isinstance((desired.get("spec") or {}).get("replicas"), int):
            return False
        if wants_retained_replicas(desired):
            return True
        if namespace is None or (HPA_KIND.group, HPA_KIND.version, HPA_KIND.kind) not in served_kinds(
            enablements
        ):
            return False
        resource = served_class(HPA_KIND)
        informer = self._member_informer(cluster, resource)
        if informer.has_synced():
            hpas = [dict(h) for h in informer.list(namespace)]
        else:
            hpas = [dict(h) async for h in client.list(resource, namespace=namespace)]
        return targeted(desired, hpa_targets(hpas), namespace=namespace)

    async def _report_drift(
        self,
        work: Any,
        manifest: Mapping[str, Any],
        served: ServedKind,
        cluster: str,
        what: str,
        fields: list[str],
    ) -> None:
        """Records `DriftCorrected` on the template the manifest was rendered from (on the Work when the
        template cannot be read from the hub, e.g. a Work written by hand)."""
        message = f"{what} was changed in cluster {cluster} ({describe_drift(fields)}); restored"
        log.info("drift corrected: %s", message)
        target: Any = work
        metadata = manifest.get("metadata") or {}
        _, version = split_api_version(str(manifest.get("apiVersion") or ""))
        kind = ServedKind(
            group=served.group,
            version=version or served.version,
            kind=served.kind,
            plural=served.plural,
            namespaced=served.namespaced,
        )
        try:
            template = await get_or_none(
                self.manager.clients.get(self.hub),
                served_class(kind),
                str(metadata.get("name") or ""),
                namespace=(metadata.get("namespace") or "default") if served.namespaced else None,
            )
        except Exception as error:  # the Event still goes to the Work
            log.debug("cannot read the template of %s: %s", what, error)
            template = None
        if template is not None and names.binding_ref_from_metadata(
            metadata.get("labels"), metadata.get("annotations")
        ):
            target = template
        await self.recorder.warning(target, DRIFT_CORRECTED, message, action="Apply")

    async def _current(
        self, client: AsyncClient, informer: Informer, resource: type[Any], name: str, namespace: str | None
    ) -> dict[str, Any] | None:
        """The member's copy: from the informer once synced, else read directly."""
        if informer.has_synced():
            cached = informer.get(name, namespace)
            return None if cached is None else dict(cached)
        found = await get_or_none(client, resource, name, namespace=namespace)
        return None if found is None else dict(found)

    async def _apply(
        self, client: AsyncClient, resource: type[Any], body: dict[str, Any], *, force: bool
    ) -> Any:
        """Server-side applies `body`; creates its namespace when the member has none of that name."""
        try:
            return await apply(client, resource(body), force=force)
        except ApiError as error:
            namespace = missing_namespace(error.status.code, str(error.status.message or ""))
            if namespace is None:
                raise
        await apply(
            client,
            Namespace(
                metadata=ObjectMeta(name=namespace, labels={names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE})
            ),
        )
        log.info("created namespace %s in a member", namespace)
        return await apply(client, resource(body), force=force)

    async def _prune(
        self,
        key: Key,
        work: Any,
        cluster: str,
        client: AsyncClient,
        enablements: Any,
        outcomes: list[ManifestOutcome],
    ) -> None:
        """Deletes from the member what this Work applied before (its previous manifestStatuses) and no
        longer holds."""
        current = {_object_key(o.identifier) for o in outcomes}
        previous = ((work.get("status") or {}).get("manifestStatuses")) or []
        preserve = bool((work.get("spec") or {}).get("preserveResourcesOnDeletion"))
        for entry in previous:
            identifier = entry.get("identifier") or {}
            if _object_key(identifier) in current:
                continue
            group = str(identifier.get("group") or "")
            manifest = {
                "apiVersion": f"{group}/{identifier.get('version')}" if group else identifier.get("version"),
                "kind": identifier.get("kind"),
                "metadata": {"name": identifier.get("name"), "namespace": identifier.get("namespace")},
            }
            await self._remove(key, client, manifest, enablements, cluster=cluster, preserve=preserve)

    async def _remove(
        self,
        key: Key,
        client: AsyncClient,
        manifest: Mapping[str, Any],
        enablements: Any,
        *,
        cluster: str,
        preserve: bool,
    ) -> None:
        """Deletes (or, with `preserve`, releases) the member's copy of `manifest` if this Work applied it."""
        served = choose_version(manifest, enablements, cluster=cluster)
        name = str((manifest.get("metadata") or {}).get("name") or "")
        if isinstance(served, Unserved) or not name:
            return
        namespace = manifest_identifier(manifest, 0, served).get("namespace")
        resource = served_class(served)
        existing = await get_or_none(client, resource, name, namespace=namespace)
        if existing is None:
            return
        if not belongs_to(existing, WorkRef(str(key.namespace), key.name)):
            return
        try:
            if preserve:
                await client.patch(
                    resource, name, _release_patch(), namespace=namespace, patch_type=PatchType.MERGE
                )
            else:
                await client.delete(resource, name, namespace=namespace)
        except ApiError as error:
            if not is_not_found(error):
                raise

    async def _delete(self, key: Key, work: Any, cluster: str) -> Result:
        hub = self.manager.clients.get(self.hub)
        if WORK_FINALIZER not in (work["metadata"].get("finalizers") or []):
            self._forget(key)
            return Result()
        cluster_obj = self.members.clusters.get(cluster)
        if cluster_obj is None and self.members.clusters.has_synced():
            log.info("cluster %s is gone; releasing Work %s without cleaning up the member", cluster, key)
            await remove_finalizer(hub, work, WORK_FINALIZER)
            self._forget(key)
            return Result()
        spec = work.get("spec") or {}
        preserve = bool(spec.get("preserveResourcesOnDeletion"))
        try:
            client = await self.members.client(cluster)
        except MemberUnavailable as error:
            raise MemberUnavailable(f"cannot clean up Work {key} in {cluster}: {error}") from error
        enablements = ((cluster_obj or {}).get("status") or {}).get("apiEnablements")
        for manifest in (spec.get("workload") or {}).get("manifests") or []:
            await self._remove(key, client, manifest, enablements, cluster=cluster, preserve=preserve)
        await remove_finalizer(hub, work, WORK_FINALIZER)
        self._forget(key)
        verb = "released (preserveResourcesOnDeletion)" if preserve else "deleted"
        log.info("Work %s deleted; its objects in %s were %s", key, cluster, verb)
        return Result()

    # -- reporting ----------------------------------------------------------------------------------

    async def _report(
        self, key: Key, work: Any, identifier: Mapping[str, Any], reason: str, message: str
    ) -> None:
        """Records a Warning Event on the Work when a manifest's failure is new (or changed)."""
        reported = self._reported.setdefault(key, {})
        object_key = "/".join(str(part) for part in _object_key(identifier))
        previous = reported.get(object_key, "")
        reported[object_key] = message
        if message and message != previous:
            await self.recorder.warning(work, str(reason) or "ApplyFailed", message, action="Apply")

    async def _record(
        self,
        key: Key,
        work: Any,
        cluster: str,
        outcomes: list[ManifestOutcome],
        problem: WorkProblem | None,
        status: StatusPatch,
    ) -> None:
        """Records this pass in the Work's status (written by the status writer on the way out) and
        reports a new Work-wide problem as an Event."""
        if problem is None:
            self._reported.get(key, {}).pop("", None)
        elif problem.status != UNKNOWN:
            await self._report_problem(key, work, problem)
        report = work_report(
            outcomes,
            cluster=cluster,
            problem=problem,
            interpreters=self.interpreters.current() if self.interpreters is not None else None,
        )
        status.set(report.applied)
        status.set(report.available)
        if problem is not None and not outcomes:
            # Nothing was looked at: keep what the member last reported; only the conditions change.
            status.fields.update(status.current_fields("manifestStatuses"))
        else:
            status.fields["manifestStatuses"] = report.manifest_statuses

    async def _report_problem(self, key: Key, work: Any, problem: WorkProblem) -> None:
        reported = self._reported.setdefault(key, {})
        previous = reported.get("", "")
        reported[""] = problem.message
        if problem.message != previous:
            await self.recorder.warning(work, str(problem.reason), problem.message, action="Apply")


async def _stop_all(informers: list[Informer]) -> None:
    for informer in informers:
        log.info("stopping %r: the member no longer serves the kind", informer)
        await informer.stop()


def _object_key(identifier: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """A manifest's object regardless of version and position: (group, kind, namespace, name)."""
    return (
        str(identifier.get("group") or ""),
        str(identifier.get("kind") or ""),
        str(identifier.get("namespace") or ""),
        str(identifier.get("name") or ""),
    )


def _release_patch() -> dict[str, Any]:
    """A merge patch removing kokpit's routing labels and annotations from a member object."""
    return {
        "metadata": {
            "labels": dict.fromkeys(_ROUTING_LABELS),
            "annotations": dict.fromkeys(_ROUTING_ANNOTATIONS),
        }
    }


def _describe_error(error: BaseException) -> str:
    if isinstance(error, ApiError):
        return f"HTTP {error.status.code}: {error.status.message}"
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


__all__ = [
    "CONTROLLER_NAME",
    "DRIFT_CORRECTED",
    "WORK_FINALIZER",
    "ExecutionReconciler",
    "WorkResource",
    "cluster_of_work",
]
