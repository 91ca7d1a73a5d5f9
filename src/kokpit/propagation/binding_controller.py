"""The binding reconciler: a propagated template's `ResourceBinding` and its `Work` per chosen cluster.

One `BindingReconciler` runs per template kind (`apps/v1 Deployment`, a CRD's kind, `ClusterRole`, ...),
started by `kokpit.propagation.kind_watches` the first time a policy or a binding names the kind; what
all of them share is the `PropagationContext` (`kokpit.propagation.context`).
Its key is the template. A reconcile:

1. picks the claiming policy with `select_policy` among the valid propagation policies;
2. schedules it with `schedule` over every Cluster (`cluster_info_from_object`), passing the binding's
   current decision for stability, and server-side applies the `ResourceBinding` (or
   `ClusterResourceBinding` for a cluster-scoped template) next to the template: the template's
   reference, replicas, the policy's placement, conflictResolution and preserveResourcesOnDeletion, the
   chosen clusters and one decision per cluster; owned by the template, and holding the
   `kokpit.io/binding` finalizer from its first write;
3. renders one `Work` per chosen cluster (`kokpit.propagation.work_render`) into the cluster's
   execution namespace `kokpit-es-<cluster>` (created when missing), applies it, and deletes the Works
   of clusters no longer chosen; the member-side controller applies Works to members and removes what
   a deleted Work applied. A cluster whose dispatching is suspended (the policy's `suspension`, the
   template's `kokpit.io/suspend-dispatching`, `kokpit.propagation.suspension`) still gets its Work,
   marked `suspendDispatching`.

The binding's status carries `Scheduled` (reasons `Scheduled`, `NoClusterFit`, `SpreadConstraintNotMet`,
`InsufficientCapacity`, `InvalidPolicy`) and `OverridesApplied` (`Applied`, `OverrideFailed`,
`InvalidOverridePolicy`), with `schedulerObservedGeneration` (the binding's generation the scheduler
acted on), written through `kokpit.runtime.status_writer` under the field manager `kokpit-binding`, so
the member side's conditions and aggregated status (another manager) are left alone; a step that raises
after `Scheduled` is decided still leaves it written. Failures are also Events on the template. When a
step fails, what is already on members is kept: a failed scheduling keeps the binding's previous
decision, a failed override keeps every Work as it was, and a policy that does not parse (so which
policy claims the template is unknown) freezes the binding where it is.

**Failover** (`kokpit.propagation.failover`): before scheduling, the clusters the resource must leave
(a NoExecute taint not tolerated, or tolerated for `tolerationSeconds` that are over; a workload
unhealthy there for `failover.application.decisionConditions.tolerationSeconds`) leave the placement and
are excluded, so the same scheduler places their replicas elsewhere. Their copies stay while the
binding's `spec.gracefulEvictionTasks` keep them (each with reason, producer, creationTimestamp and
deadline): until every new cluster reports the workload healthy, or the deadline. Each eviction and each
removed copy is an Event on the template (reasons `TaintUntolerated`, `ApplicationFailure`,
`GracefulEvictionDone`). A copy on an unreachable cluster is removed by the member side once the cluster
answers again (its Work waits, deleted, until then).

**Deleting a policy removes nothing** (Karmada's behaviour): a template no policy selects any more keeps
its binding and Works as they are; it is only no longer updated (a Normal Event `NoPolicy` on the
template says so). To remove a resource from the members, delete the template, or change a policy so it
no longer chooses those clusters.

**Dependencies** (`propagateDeps`, `kokpit.propagation.dependencies`): a binding whose `spec.requiredBy`
lists the bindings needing its template (an *attached* binding, written by the dependencies controller)
sends the template to its own clusters and to every cluster of those bindings (`target_clusters`), and
its Works leave a cluster none of them is on any more. A template no policy selects is delivered by its
attached binding alone (with the binding's conflictResolution; override policies apply as usual); once
nothing requires it and it has no policy of its own, its Works, binding and finalizer are removed.

**Deleting the template** (Karmada's way: the template itself carries no kokpit finalizer) leaves its
binding to the garbage collector, which deletes it as the template's dependent; the binding's finalizer
keeps it while its Works are deleted and until they are gone (the member side removes the objects from
members unless preserveResourcesOnDeletion), then is released. A template still carrying the finalizer of
an earlier release (`PROPAGATION_FINALIZER`) has it released last.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kokpit.api.policy import AnyPropagationPolicy, ReplicaSchedulingType
from kokpit.api.work import RESOURCE_BINDING, SCHEDULED
from kokpit.propagation import names, shard_keys
from kokpit.propagation.clusters import ClusterInfo, cluster_info_from_object
from kokpit.propagation.context import (
    PropagationContext,
    WorkResource,
    describe_policy,
    ignored_namespace,
    policy_ref,
    raw_may_select,
    raw_selects_kind,
)
from kokpit.propagation.dependencies import attached_policy, describe_required_by, target_clusters
from kokpit.propagation.failover import (
    EvictionTask,
    FailoverPlan,
    Settled,
    plan_failover,
    settle_tasks,
    unhealthy_since,
)
from kokpit.propagation.interpreter import Interpreter
from kokpit.propagation.names import BINDING_FINALIZER, PROPAGATION_FINALIZER
from kokpit.propagation.overrides import OverrideError
from kokpit.propagation.replicas import resource_request, workload_replicas
from kokpit.propagation.scheduler import Decision, ScheduleResult, SchedulingError, TargetCluster, schedule
from kokpit.propagation.selectors import select_policy
from kokpit.propagation.status import HEALTHY, ClusterReport, replicas_carried, report_from_work
from kokpit.propagation.suspension import dispatching_suspended
from kokpit.propagation.work_render import (
    divided_replicas,
    override_rules,
    render_manifest,
    render_work,
)
from kokpit.runtime import (
    Condition,
    Handler,
    Informer,
    Key,
    Result,
    StatusPatch,
    apply,
    delete_if_present,
    format_time,
    is_not_found,
    remove_finalizer,
    status_writer,
)
from kokpit.runtime.changes import beyond_status
from kokpit.runtime.resources import ServedKind

log = logging.getLogger("kokpit.propagation.binding_controller")

OVERRIDES_APPLIED = "OverridesApplied"
"""Binding condition: every chosen cluster's Work carries the template with its overrides."""
STATUS_FIELD_MANAGER = "kokpit-binding"
"""Field manager of the binding's `Scheduled` and `OverridesApplied` conditions and of
`schedulerObservedGeneration`."""
OWNED_CONDITIONS = (SCHEDULED, OVERRIDES_APPLIED)
REQUIRED_BY = "RequiredBy"
"""Scheduled reason of an attached binding no policy selects: it goes where its dependents are."""
NO_POLICY = "NoPolicy"
"""Event reason on a propagated template that no policy selects any more."""
NO_POLICY_MESSAGE = "no policy selects it any more; its binding and Works are kept as they are"
SCHEDULER_OBSERVED_GENERATION = "schedulerObservedGeneration"
EVICTION_DONE = "GracefulEvictionDone"
"""Event reason on a template when the copy an eviction task kept is removed."""
EVICTION_RECHECK = 2.0
"""Seconds between looks at the replacement's health while an eviction task keeps a copy."""
DELETION_RECHECK = 2.0
"""Seconds between checks that a deleted template's Works are gone (Work events also wake it)."""


def _generation_changed(old: Any, new: Any) -> bool:
    return bool(
        (old.get("metadata") or {}).get("generation") != (new.get("metadata") or {}).get("generation")
    )


def _health_changed(old: Any, new: Any) -> bool:
    """Whether a Work's report changed in what failover and graceful eviction judge: its conditions
    (status, reason, generation observed) or a manifest's health; not the member's counters alone."""

    def view(work: Any) -> tuple[Any, ...]:
        status = work.get("status") or {}
        conditions = sorted(
            (str(c.get("type")), c.get("status"), c.get("reason"), c.get("observedGeneration"))
            for c in status.get("conditions") or ()
        )
        return (*conditions, *(m.get("health") for m in status.get("manifestStatuses") or ()))

    return view(old) != view(new)


class BindingReconciler:
    """Reconciles the templates of one kind; see the module docstring."""

    def __init__(self, context: PropagationContext, kind: ServedKind, templates: Informer) -> None:
        self.context = context
        self.kind = kind
        self.templates = templates
        self.name = f"binding/{kind}"

    def setup(self, *, workers: int = 2) -> None:
        """Registers the controller and routes template, policy, binding, Work and Cluster events to the
        affected templates of this kind."""
        ctx = self.context
        kind = self.kind.kind
        controller = ctx.manager.controller(
            self.name, self, workers=workers, shard_key=lambda key: shard_keys.of_template(kind, key)
        )
        # The status the binding status controller writes back is no reason to look at the binding again.
        controller.watch(self.templates, relevant=beyond_status)
        enqueue = controller.queue.add

        def route(
            mapper: Callable[[Any], Iterable[Key]],
            *,
            spec_only: bool,
            also: Callable[[Any, Any], bool] | None = None,
        ) -> Handler:
            def one(obj: Any) -> None:
                for key in mapper(obj):
                    enqueue(key)

            def update(old: Any, new: Any) -> None:
                if spec_only and not _generation_changed(old, new) and not (also and also(old, new)):
                    return
                one(old)
                one(new)

            return Handler(add=one, update=update, delete=one)

        for informer in (
            ctx.policies,
            ctx.cluster_policies,
            ctx.override_policies,
            ctx.cluster_override_policies,
        ):
            informer.add_handler(route(self._templates_of_policy, spec_only=True))
        for informer in (ctx.bindings, ctx.cluster_bindings):
            informer.add_handler(route(self._template_of_binding, spec_only=True))
        ctx.works.add_handler(route(self._template_of_work, spec_only=True, also=_health_changed))
        ctx.interpreters.informer.add_handler(route(self._templates_of_interpreter, spec_only=True))

        def cluster_changed(old: Any, new: Any) -> None:
            if _cluster_view(old) != _cluster_view(new):
                self._enqueue_bound(enqueue)

        ctx.clusters.add_handler(
            Handler(
                add=lambda _: self._enqueue_bound(enqueue),
                update=cluster_changed,
                delete=lambda _: self._enqueue_bound(enqueue),
            )
        )

    # -- routing ------------------------------------------------------------------------------------------

    def _key(self, namespace: str | None, name: str) -> Key:
        return Key(self.context.hub, namespace if self.kind.namespaced else None, name)

    def _is_mine(self, resource: Mapping[str, Any]) -> bool:
        return (resource.get("apiVersion"), resource.get("kind")) == (self.kind.api_version, self.kind.kind)

    def _templates_of_interpreter(self, interpreter: Any) -> list[Key]:
        """Every template of this kind, when `interpreter` (a ResourceInterpreter) is for it."""
        target = (interpreter.get("spec") or {}).get("target") or {}
        if (target.get("apiVersion"), target.get("kind")) != (self.kind.api_version, self.kind.kind):
            return []
        return [Key.of(self.context.hub, t) for t in self.templates.list()]

    def _templates_of_policy(self, policy: Any) -> list[Key]:
        if not raw_selects_kind(policy, self.kind.api_version, self.kind.kind):
            return []
        namespace = (policy.get("metadata") or {}).get("namespace")
        if namespace and not self.kind.namespaced:
            return []
        return [Key.of(self.context.hub, t) for t in self.templates.list(namespace or None)]

    def _template_of_binding(self, binding: Any) -> list[Key]:
        resource = (binding.get("spec") or {}).get("resource") or {}
        if not self._is_mine(resource) or not resource.get("name"):
            return []
        return [self._key(resource.get("namespace"), str(resource["name"]))]

    def _template_of_work(self, work: Any) -> list[Key]:
        metadata = work.get("metadata") or {}
        ref = names.binding_ref_from_metadata(metadata.get("labels"), metadata.get("annotations"))
        if ref is None:
            return []
        binding = self.context.binding_informer(ref).get(ref.name, ref.namespace)
        if binding is not None:
            return self._template_of_binding(binding)
        name = names.template_name_from_binding(ref.name, kind=self.kind.kind)
        return [] if name is None else [self._key(ref.namespace, name)]

    def _enqueue_bound(self, enqueue: Callable[[Key], None]) -> None:
        for informer in (self.context.bindings, self.context.cluster_bindings):
            for binding in informer.list():
                for key in self._template_of_binding(binding):
                    enqueue(key)

    # -- reconcile ----------------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> Result:
        if not self.templates.has_synced():
            return Result(requeue_after=1.0)
        ctx = self.context
        template = self.templates.get(key.name, key.namespace)
        ref = names.BindingRef(
            namespace=key.namespace if self.kind.namespaced else None,
            name=names.binding_name(kind=self.kind.kind, name=key.name),
        )
        binding = ctx.binding_informer(ref).get(ref.name, ref.namespace)
        if binding is not None and not self._is_mine((binding.get("spec") or {}).get("resource") or {}):
            binding = None  # a binding of another kind that happens to have the same name
        if template is None:
            return await self._clean_up(ref, binding, None)
        metadata = template.get("metadata") or {}
        if metadata.get("deletionTimestamp"):  # held by others' finalizers (a foreground deletion)
            return await self._clean_up(ref, binding, template)
        if ignored_namespace(key.namespace):
            return Result()

        policies, invalid = ctx.propagation_policies()
        blocking = [(raw, error) for raw, error in invalid if raw_may_select(raw, template)]
        if blocking:
            raw, error = blocking[0]
            message = f"{describe_policy(raw)} is invalid ({error}); the binding is kept as it is"
            await ctx.recorder.warning(template, "InvalidPolicy", message)
            if binding is not None:
                async with self._status(binding, ref) as status:
                    status.fields.update(status.current_fields(SCHEDULER_OBSERVED_GENERATION))
                    status.set(Condition.false(SCHEDULED, "InvalidPolicy", message))
            return Result()
        policy = select_policy(template, policies)
        if policy is None and binding is not None and _is_attached(binding):
            return await self._sync_attached(template, ref, binding)
        if policy is None:
            if binding is not None:  # deleting or narrowing a policy removes nothing; say so
                await ctx.recorder.normal(template, NO_POLICY, NO_POLICY_MESSAGE, action="Propagate")
            return Result()
        return await self._sync(template, ref, binding, policy)

    async def _sync(
        self, template: Any, ref: names.BindingRef, binding: Any | None, policy: AnyPropagationPolicy
    ) -> Result:
        ctx = self.context
        clusters = ctx.cluster_infos()
        previous = _previous_decision(binding, template)
        interpreter = ctx.interpreters.current().get(template)
        replicas = workload_replicas(template, interpreter=interpreter)
        now = datetime.now(UTC)
        works = {_work_cluster(w): w for w in ctx.works_of(ref)}
        failover = plan_failover(
            clusters,
            tolerations=policy.spec.placement.cluster_tolerations or [],
            application=policy.spec.failover.application if policy.spec.failover else None,
            placed=previous or {},
            unhealthy={name: unhealthy_since(works.get(name), now=now) for name in previous or {}},
            tasks=_eviction_tasks(binding),
            now=now,
        )
        try:
            result = schedule(
                clusters,
                policy.spec.placement,
                replicas=replicas or 0,
                workload_request=resource_request(template),
                previous=previous,
                excluded=failover.excluded,
            )
        except SchedulingError as error:
            await ctx.recorder.warning(template, error.reason, str(error), action="Schedule")
            if binding is None:  # explain every cluster, place nowhere
                binding = await self._apply_binding(template, ref, policy, None, error.decisions, binding)
            async with self._status(binding, ref) as status:
                status.fields[SCHEDULER_OBSERVED_GENERATION] = _generation(binding)
                status.set(Condition.false(SCHEDULED, error.reason, str(error)))
            return Result()

        resource = {"kind": template.get("kind"), **(template.get("metadata") or {})}
        scheduling_type = _scheduling_type(policy)

        def healthy_with_its_share(target: TargetCluster) -> bool:
            """Healthy, holding the share it is given now: until its Work carries that share (it is
            written after this decision), its status is the old share's."""
            work = works.get(target.name)
            share = divided_replicas(scheduling_type, target.replicas)
            return _healthy(report_from_work(target.name, work, template=resource)) and (
                share is None or replicas_carried(work, resource, interpreter=interpreter) == share
            )

        settled = settle_tasks(
            failover.tasks,
            targets=[t.name for t in result.clusters],
            healthy={t.name: healthy_with_its_share(t) for t in result.clusters},
            now=now,
        )
        binding = await self._apply_binding(
            template, ref, policy, result, result.decisions, binding, eviction_tasks=settled.kept
        )
        await self._report_failover(template, failover, settled)
        placed = ", ".join(f"{t.name} ({t.replicas})" if replicas else t.name for t in result.clusters)
        async with self._status(binding, ref) as status:
            # The binding as the scheduler acted on it (Karmada's schedulerObservedGeneration).
            status.fields[SCHEDULER_OBSERVED_GENERATION] = _generation(binding)
            status.set(Condition.true(SCHEDULED, "Scheduled", f"scheduled to {placed}"))
            await self._sync_works(
                template,
                ref,
                policy,
                result,
                clusters,
                status,
                required=_required(binding),
                keep={task.from_cluster for task in settled.kept},
            )
        return Result(requeue_after=_wake_up(now, failover.recheck, settled))

    async def _report_failover(self, template: Any, failover: FailoverPlan, settled: Settled) -> None:
        """Events on the template for each cluster the resource leaves and each copy left behind that
        goes now."""
        recorder = self.context.recorder
        tasks = {task.from_cluster: task for task in failover.tasks}
        for eviction in failover.evictions:
            task = tasks.get(eviction.cluster)
            if task is None:
                kept = "its copy there is removed now (purgeMode Immediately)"
            elif task.deadline is not None:
                deadline = format_time(task.deadline)
                kept = f"its copy stays until the workload is healthy elsewhere, at the latest {deadline}"
            else:
                kept = "its copy there stays until the eviction task is removed (purgeMode Never)"
            message = f"evicted from {eviction.cluster}: {eviction.message}; {kept}"
            await recorder.warning(template, eviction.reason, message, action="Evict")
        for task, why in settled.ended:
            message = f"the copy on {task.from_cluster} is removed: {why}"
            await recorder.normal(template, EVICTION_DONE, message, action="Evict")

    async def _sync_attached(self, template: Any, ref: names.BindingRef, binding: Any) -> Result:
        """Delivers a template no policy selects by its attached binding: to the binding's own (last)
        clusters and its dependents' clusters; with neither, and no policy behind the binding, removes its
        Works, binding and finalizer."""
        spec = binding.get("spec") or {}
        required = _required(binding)
        own = spec.get("clusters") or []
        if not required and not own and not spec.get("policyRef"):
            return await self._clean_up(ref, binding, template)
        clusters = self.context.cluster_infos()
        result = ScheduleResult(clusters=target_clusters(own, None), decisions=[])
        known = {c.name for c in clusters}
        placed = ", ".join(t.name for t in target_clusters(own, required) if t.name in known) or "no cluster"
        async with self._status(binding, ref) as status:
            status.fields.update(status.current_fields(SCHEDULER_OBSERVED_GENERATION))
            status.set(
                Condition.true(
                    SCHEDULED, REQUIRED_BY, f"required by {describe_required_by(required)}: on {placed}"
                )
            )
            await self._sync_works(
                template, ref, attached_policy(binding), result, clusters, status, required=required
            )
        return Result()

    def _status(self, binding: Any, ref: names.BindingRef) -> Any:
        """The status writer of this reconciler's part of the binding's status (`OWNED_CONDITIONS` and
        `schedulerObservedGeneration`, as `STATUS_FIELD_MANAGER`)."""
        return status_writer(
            self.context.client,
            self.context.binding_resource(ref),
            binding,
            owned=OWNED_CONDITIONS,
            field_manager=STATUS_FIELD_MANAGER,
        )

    async def _sync_works(
        self,
        template: Any,
        ref: names.BindingRef,
        policy: AnyPropagationPolicy,
        result: ScheduleResult,
        clusters: Sequence[ClusterInfo],
        status: StatusPatch,
        *,
        required: Sequence[Mapping[str, Any]] = (),
        keep: Collection[str] = (),
    ) -> None:
        """Applies the Works of the chosen clusters and deletes the others, except those of `keep` (the
        clusters whose copies graceful eviction tasks still keep, left as they are)."""
        ctx = self.context
        overrides, invalid = ctx.override_policies_parsed()
        blocking = [(raw, error) for raw, error in invalid if raw_may_select(raw, template)]
        if blocking:
            raw, error = blocking[0]
            message = f"{describe_policy(raw)} is invalid ({error}); the Works are kept as they are"
            status.set(Condition.false(OVERRIDES_APPLIED, "InvalidOverridePolicy", message))
            await ctx.recorder.warning(template, "InvalidOverridePolicy", message)
            return
        _, rules = override_rules(template, overrides)
        scheduling_type = _scheduling_type(policy)
        by_name = {c.name: c for c in clusters}
        works: dict[str, dict[str, Any]] = {}
        changed = 0
        for target in target_clusters(result.clusters, required):
            if target.name not in by_name:
                continue  # a dependent's cluster that is gone
            try:
                rendered = render_manifest(
                    template,
                    cluster=by_name[target.name],
                    binding=ref,
                    replicas=divided_replicas(scheduling_type, target.replicas),
                    rules=rules,
                    interpreter=self.context.interpreters.current().get(template),
                )
            except OverrideError as error:
                message = f"{target.name}: {error}; the Works are kept as they are"
                status.set(Condition.false(OVERRIDES_APPLIED, OverrideError.reason, message))
                await ctx.recorder.warning(template, OverrideError.reason, message, action="Override")
                return
            changed += len(rendered.changes)
            works[target.name] = render_work(
                rendered.manifest,
                cluster=target.name,
                binding=ref,
                conflict_resolution=policy.spec.conflict_resolution,
                preserve_resources_on_deletion=policy.spec.preserve_resources_on_deletion,
                suspend_dispatching=dispatching_suspended(
                    target.name,
                    suspension=policy.spec.suspension,
                    annotations=(template.get("metadata") or {}).get("annotations"),
                ),
            )
        await asyncio.gather(*(self._apply_work(cluster, work) for cluster, work in works.items()))
        for work in ctx.works_of(ref):
            cluster = _work_cluster(work)
            if cluster in keep or cluster in works:
                continue
            if not (work.get("metadata") or {}).get("deletionTimestamp"):
                await _delete_work(ctx, work)
        status.set(
            Condition.true(
                OVERRIDES_APPLIED, "Applied", f"{len(works)} Work(s) rendered, {changed} override change(s)"
            )
        )

    async def _apply_work(self, cluster: str, work: dict[str, Any]) -> None:
        ctx = self.context
        metadata = work["metadata"]
        current = ctx.works.get(metadata["name"], metadata["namespace"])
        if current is not None and (current["metadata"].get("deletionTimestamp") or _same(work, current)):
            return  # carried already, or going: its deletion wakes this template to write it anew
        await ctx.ensure_execution_namespace(cluster)
        try:
            await apply(ctx.client, WorkResource.from_dict(work), force=True)
        except Exception as error:
            if is_not_found(error):  # the execution namespace went away: create it again next time
                ctx.namespaces.discard(metadata["namespace"])
            raise

    async def _apply_binding(
        self,
        template: Any,
        ref: names.BindingRef,
        policy: AnyPropagationPolicy,
        result: ScheduleResult | None,
        decisions: Sequence[Decision],
        current: Any | None,
        *,
        eviction_tasks: Sequence[EvictionTask] = (),
    ) -> Any:
        body = desired_binding(
            template,
            ref,
            policy,
            result,
            decisions,
            eviction_tasks=eviction_tasks,
            interpreter=self.context.interpreters.current().get(template),
        )
        if current is not None and _same(body, current):
            return current
        resource = self.context.binding_resource(ref)
        return await apply(self.context.client, resource.from_dict(body), force=True)

    async def _clean_up(self, ref: names.BindingRef, binding: Any | None, template: Any | None) -> Result:
        """Deletes the template's Works, then (once they are gone) releases and deletes its binding, then
        releases the template's finalizer of an earlier release, if it has one."""
        ctx = self.context
        works = [w for w in ctx.works_of(ref) if binding is not None or self._carries_mine(w)]
        for work in works:
            if not (work.get("metadata") or {}).get("deletionTimestamp"):
                await _delete_work(ctx, work)
        if works:
            return Result(requeue_after=DELETION_RECHECK)
        if binding is not None:
            released = await remove_finalizer(ctx.client, binding, BINDING_FINALIZER)
            if released is not None and not released["metadata"].get("deletionTimestamp"):
                await delete_if_present(
                    ctx.client, ctx.binding_resource(ref), ref.name, namespace=ref.namespace
                )
        if template is not None:
            await remove_finalizer(ctx.client, template, PROPAGATION_FINALIZER)
        return Result()

    def _carries_mine(self, work: Any) -> bool:
        manifests = ((work.get("spec") or {}).get("workload") or {}).get("manifests") or ()
        return any(self._is_mine(m) for m in manifests if isinstance(m, Mapping))


# --- building and comparing ------------------------------------------------------------------------------


def desired_binding(
    template: Mapping[str, Any],
    ref: names.BindingRef,
    policy: AnyPropagationPolicy,
    result: ScheduleResult | None,
    decisions: Sequence[Decision],
    *,
    eviction_tasks: Sequence[EvictionTask] = (),
    interpreter: Interpreter | None = None,
) -> dict[str, Any]:
    """`desired_binding` is the (Cluster)ResourceBinding of `template` claimed by `policy` with the
    scheduling `result` (None: scheduling failed, no cluster is chosen), `decisions` and the graceful
    `eviction_tasks` still open; a custom kind's replicas are read by its `interpreter`."""
    metadata = template.get("metadata") or {}
    pref = policy_ref(policy)
    policy_labels, policy_annotations = names.policy_metadata(pref)
    spec: dict[str, Any] = {
        "resource": {
            key: value
            for key, value in {
                "apiVersion": template.get("apiVersion"),
                "kind": template.get("kind"),
                "namespace": metadata.get("namespace"),
                "name": metadata.get("name"),
                "uid": metadata.get("uid"),
                "resourceVersion": metadata.get("resourceVersion"),
            }.items()
            if value is not None
        },
        "placement": policy.spec.placement.to_dict(),
        "policyRef": {
            key: value
            for key, value in {"kind": pref.kind, "namespace": pref.namespace, "name": pref.name}.items()
            if value is not None
        },
        "conflictResolution": policy.spec.conflict_resolution.value,
        "clusters": [{"name": t.name, "replicas": t.replicas} for t in (result.clusters if result else [])],
        "decisions": [
            {"cluster": d.cluster, "selected": d.selected, "replicas": d.replicas, "reason": d.reason}
            for d in decisions
        ],
    }
    replicas = workload_replicas(template, interpreter=interpreter)
    if replicas is not None:
        spec["replicas"] = replicas
    if policy.spec.preserve_resources_on_deletion is not None:
        spec["preserveResourcesOnDeletion"] = policy.spec.preserve_resources_on_deletion
    if policy.spec.propagate_deps:
        spec["propagateDeps"] = True
    if eviction_tasks:
        spec["gracefulEvictionTasks"] = [task.to_dict() for task in eviction_tasks]
    body_metadata: dict[str, Any] = {
        "name": ref.name,
        "labels": {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE, **policy_labels},
        "annotations": dict(policy_annotations),
        "finalizers": [names.BINDING_FINALIZER],
        "ownerReferences": [
            {
                "apiVersion": template.get("apiVersion"),
                "kind": template.get("kind"),
                "name": metadata.get("name"),
                "uid": metadata.get("uid"),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if ref.namespace:
        body_metadata["namespace"] = ref.namespace
    kind = "ResourceBinding" if ref.namespace else "ClusterResourceBinding"
    return {"apiVersion": RESOURCE_BINDING.api_version, "kind": kind, "metadata": body_metadata, "spec": spec}


def _same(desired: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Whether `current` already carries `desired`: the same spec (the template's resourceVersion aside,
    so status-only changes of the template cause no write, and requiredBy aside, which the dependencies
    controller owns) and at least its labels, annotations and finalizers."""

    def spec_view(obj: Mapping[str, Any]) -> Any:
        spec = {k: v for k, v in (obj.get("spec") or {}).items() if k != "requiredBy"}
        if isinstance(spec.get("resource"), Mapping):
            spec["resource"] = {k: v for k, v in spec["resource"].items() if k != "resourceVersion"}
        return spec

    if spec_view(desired) != spec_view(current):
        return False
    want, have = desired.get("metadata") or {}, current.get("metadata") or {}
    for key in ("labels", "annotations"):
        if any((have.get(key) or {}).get(k) != v for k, v in (want.get(key) or {}).items()):
            return False
    if not set(want.get("finalizers") or ()) <= set(have.get("finalizers") or ()):
        return False
    owners = [(o.get("uid"), o.get("controller")) for o in have.get("ownerReferences") or ()]
    return all((o.get("uid"), o.get("controller")) in owners for o in want.get("ownerReferences") or ())


def _cluster_view(cluster: Any) -> ClusterInfo | None:
    try:
        return cluster_info_from_object(cluster)
    except ValueError:
        return None


def _previous_decision(binding: Any | None, template: Mapping[str, Any]) -> dict[str, int] | None:
    """The binding's chosen clusters, unless it was made for another object of the same name."""
    if binding is None:
        return None
    spec = binding.get("spec") or {}
    uid = (template.get("metadata") or {}).get("uid")
    if (spec.get("resource") or {}).get("uid") not in (None, uid):
        return None
    return {str(t["name"]): int(t.get("replicas") or 0) for t in spec.get("clusters") or () if t.get("name")}


def _eviction_tasks(binding: Any | None) -> list[EvictionTask]:
    """The binding's `spec.gracefulEvictionTasks`."""
    entries = ((binding or {}).get("spec") or {}).get("gracefulEvictionTasks") or ()
    tasks = (EvictionTask.from_dict(e) for e in entries if isinstance(e, Mapping))
    return [task for task in tasks if task is not None]


def _scheduling_type(policy: AnyPropagationPolicy) -> ReplicaSchedulingType | None:
    """The policy's replicaSchedulingType; None when it sets no replicaScheduling."""
    strategy = policy.spec.placement.replica_scheduling
    return strategy.replica_scheduling_type if strategy is not None else None


def _healthy(report: ClusterReport) -> bool:
    return bool(report.applied) and report.health == HEALTHY


def _wake_up(now: datetime, recheck: datetime | None, settled: Settled) -> float | None:
    """Seconds until the next failover deadline; while copies are kept, soon, to see the replacement's
    health (Work status changes do not wake the reconciler)."""
    moments = [m for m in (recheck, settled.recheck) if m is not None]
    delay = min(((m - now).total_seconds() for m in moments), default=None)
    if settled.kept:
        delay = min(delay, EVICTION_RECHECK) if delay is not None else EVICTION_RECHECK
    return None if delay is None else max(delay, 0.5)


def _required(binding: Any | None) -> list[Mapping[str, Any]]:
    """The binding's `spec.requiredBy`: the bindings needing its template, with their clusters."""
    required = ((binding or {}).get("spec") or {}).get("requiredBy")
    return [s for s in required if isinstance(s, Mapping)] if isinstance(required, list) else []


def _is_attached(binding: Any) -> bool:
    """Whether a binding is delivered by its dependents when no policy selects its template: it is
    required by some, or the dependencies controller made it (`names.ATTACHED_LABEL`). A binding
    written by hand, or left by a deleted policy, is neither, and is left as it is."""
    labels = (binding.get("metadata") or {}).get("labels") or {}
    return bool(_required(binding)) or labels.get(names.ATTACHED_LABEL) == "true"


def _work_cluster(work: Mapping[str, Any]) -> str | None:
    metadata = work.get("metadata") or {}
    cluster = names.cluster_from_metadata(metadata.get("labels"), metadata.get("annotations"))
    return cluster or names.cluster_from_execution_namespace(str(metadata.get("namespace", "")))


async def _delete_work(ctx: PropagationContext, work: Any) -> None:
    metadata = work["metadata"]
    await delete_if_present(ctx.client, WorkResource, metadata["name"], namespace=metadata["namespace"])


def _generation(obj: Any) -> int | None:
    generation = (obj.get("metadata") or {}).get("generation")
    return generation if isinstance(generation, int) else None


__all__ = [
    "OVERRIDES_APPLIED",
    "STATUS_FIELD_MANAGER",
    "BindingReconciler",
    "desired_binding",
]
