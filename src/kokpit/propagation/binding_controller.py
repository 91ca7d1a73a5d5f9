"""The binding controller: a propagated template's `ResourceBinding` and its `Work` per chosen cluster.

One controller runs per template kind (`apps/v1 Deployment`, a CRD's kind, `ClusterRole`, ...), started
by the detector (`kokpit.propagation.detector`) the first time a policy or a binding names the kind.
Its key is the template. A reconcile:

1. picks the claiming policy with `select_policy` among the valid propagation policies;
2. puts the `kokpit.io/propagation` finalizer on the template;
3. schedules it with `schedule` over every Cluster (`cluster_info_from_object`), passing the binding's
   current decision for stability, and server-side applies the `ResourceBinding` (or
   `ClusterResourceBinding` for a cluster-scoped template) next to the template: the template's
   reference, replicas, the policy's placement, conflictResolution and preserveResourcesOnDeletion, the
   chosen clusters and one decision per cluster; owned by the template when namespaced;
4. renders one `Work` per chosen cluster (`kokpit.propagation.work_render`) into the cluster's
   execution namespace `kokpit-es-<cluster>` (created when missing), applies it, and deletes the Works
   of clusters no longer chosen; the member-side controller applies Works to members and removes what
   a deleted Work applied.

The binding's status carries `Scheduled` (reasons `Scheduled`, `NoClusterFit`, `SpreadConstraintNotMet`,
`InsufficientCapacity`, `InvalidPolicy`) and `OverridesApplied` (`Applied`, `OverrideFailed`,
`InvalidOverridePolicy`), written under the field manager `kokpit-binding` so the member side's
conditions and aggregated status (another manager) are left alone. Failures are also Events on the
template. When a step fails, what is already on members is kept: a failed scheduling keeps the
binding's previous decision, a failed override keeps every Work as it was, and a policy that does not
parse (so which policy claims the template is unknown) freezes the binding where it is.

**Deleting a policy removes nothing** (Karmada's behaviour): a template no policy selects any more keeps
its binding and Works as they are; it is only no longer updated. To remove a resource from the members,
delete the template, or change a policy so it no longer chooses those clusters.

**Deleting the template** deletes its Works, waits until they are gone (the member side removes the
objects from members unless preserveResourcesOnDeletion), then deletes the binding and releases the
template's finalizer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace
from pydantic import BaseModel, ValidationError

from kokpit.api.policy import (
    CLUSTER_OVERRIDE_POLICY,
    CLUSTER_PROPAGATION_POLICY,
    OVERRIDE_POLICY,
    PROPAGATION_POLICY,
    AnyOverridePolicy,
    AnyPropagationPolicy,
    ClusterOverridePolicy,
    ClusterPropagationPolicy,
    OverridePolicy,
    PropagationPolicy,
)
from kokpit.api.work import (
    CLUSTER_RESOURCE_BINDING,
    RESOURCE_BINDING,
    SCHEDULED,
    WORK,
)
from kokpit.fleet.members import MemberClients
from kokpit.propagation import names
from kokpit.propagation.clusters import ClusterInfo, cluster_info_from_object
from kokpit.propagation.overrides import OverrideError
from kokpit.propagation.replicas import resource_request, workload_replicas
from kokpit.propagation.scheduler import Decision, ScheduleResult, SchedulingError, schedule
from kokpit.propagation.selectors import select_policy
from kokpit.propagation.work_render import (
    PROPAGATION_FINALIZER,
    binding_ref_of,
    divided_replicas,
    override_rules,
    render_manifest,
    render_work,
)
from kokpit.runtime import (
    EventRecorder,
    Handler,
    Informer,
    Key,
    Manager,
    Result,
    apply,
    ensure_finalizer,
    patch_status,
    remove_finalizer,
    set_condition,
)
from kokpit.runtime.resources import resource_class

log = logging.getLogger("kokpit.propagation.binding_controller")

OVERRIDES_APPLIED = "OverridesApplied"
"""Binding condition: every chosen cluster's Work carries the template with its overrides."""
STATUS_FIELD_MANAGER = "kokpit-binding"
"""Field manager of the binding's `Scheduled` and `OverridesApplied` conditions."""
WORK_BINDING_INDEX = "kokpit.propagation/binding"
"""Index of the hub's Work informer: `<binding namespace>/<binding name>` (namespace empty when
cluster-scoped)."""
DELETION_RECHECK = 2.0
"""Seconds between checks that a deleted template's Works are gone (Work events also wake it)."""

PropagationPolicyResource = resource_class(PROPAGATION_POLICY)
ClusterPropagationPolicyResource = resource_class(CLUSTER_PROPAGATION_POLICY)
OverridePolicyResource = resource_class(OVERRIDE_POLICY)
ClusterOverridePolicyResource = resource_class(CLUSTER_OVERRIDE_POLICY)
ResourceBindingResource = resource_class(RESOURCE_BINDING)
ClusterResourceBindingResource = resource_class(CLUSTER_RESOURCE_BINDING)
WorkResource = resource_class(WORK)

IGNORED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "kokpit-system"})
"""Namespaces whose objects are never templates (besides the execution namespaces)."""


def ignored_namespace(namespace: str | None) -> bool:
    """`ignored_namespace` says whether objects in `namespace` are never propagated: the system namespaces
    and the execution namespaces `kokpit-es-*` (which hold Works, not templates)."""
    return bool(namespace) and (
        namespace in IGNORED_NAMESPACES or str(namespace).startswith(names.EXECUTION_NAMESPACE_PREFIX)
    )


def work_index_value(namespace: str | None, name: str) -> str:
    return f"{namespace or ''}/{name}"


def _work_binding_index(work: Any) -> list[str]:
    metadata = work.get("metadata") or {}
    ref = names.binding_ref_from_metadata(metadata.get("labels"), metadata.get("annotations"))
    return [] if ref is None else [work_index_value(ref.namespace, ref.name)]


# --- policies --------------------------------------------------------------------------------------------


class PolicyCache:
    """`PolicyCache` parses the policies of one informer, remembering each parse by uid and
    resourceVersion. `snapshot()` returns the valid policies and the invalid ones with their error."""

    def __init__(self, informer: Informer, model: type[BaseModel]) -> None:
        self.informer = informer
        self.model = model
        self._parsed: dict[tuple[str, str], BaseModel | str] = {}

    def parse(self, raw: Any) -> BaseModel | str:
        """`parse` returns the policy model, or the validation error as one line."""
        metadata = raw.get("metadata") or {}
        key = (str(metadata.get("uid")), str(metadata.get("resourceVersion")))
        parsed = self._parsed.get(key)
        if parsed is None:
            try:
                parsed = self.model.model_validate(dict(raw))
            except ValidationError as error:
                parsed = validation_message(error)
            self._parsed[key] = parsed
        return parsed

    def snapshot(self) -> tuple[list[Any], list[tuple[Any, str]]]:
        valid: list[Any] = []
        invalid: list[tuple[Any, str]] = []
        seen: set[tuple[str, str]] = set()
        for raw in self.informer.list():
            metadata = raw.get("metadata") or {}
            seen.add((str(metadata.get("uid")), str(metadata.get("resourceVersion"))))
            parsed = self.parse(raw)
            if isinstance(parsed, str):
                invalid.append((raw, parsed))
            else:
                valid.append(parsed)
        for stale in set(self._parsed) - seen:
            del self._parsed[stale]
        return valid, invalid


def validation_message(error: ValidationError) -> str:
    """`validation_message` is a pydantic error as one line: `spec.placement: message; ...`."""
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()))
        parts.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", "")))
    return "; ".join(parts)


def raw_selects_kind(policy: Mapping[str, Any], api_version: str, kind: str) -> bool:
    """`raw_selects_kind` says whether a policy as stored (not parsed) names `api_version` `kind`."""
    for selector in (policy.get("spec") or {}).get("resourceSelectors") or ():
        if isinstance(selector, Mapping) and (selector.get("apiVersion"), selector.get("kind")) == (
            api_version,
            kind,
        ):
            return True
    return False


def raw_may_select(policy: Mapping[str, Any], template: Mapping[str, Any]) -> bool:
    """`raw_may_select` says whether a policy as stored (possibly invalid) could select `template`: it
    names its kind and, when namespaced, lives in the template's namespace."""
    namespace = (template.get("metadata") or {}).get("namespace")
    policy_namespace = (policy.get("metadata") or {}).get("namespace")
    if policy_namespace and policy_namespace != namespace:
        return False
    return raw_selects_kind(policy, str(template.get("apiVersion")), str(template.get("kind")))


def policy_ref(policy: AnyPropagationPolicy) -> names.PolicyRef:
    namespace = policy.metadata.namespace if isinstance(policy, PropagationPolicy) else None
    return names.PolicyRef(kind=policy.kind, namespace=namespace, name=policy.metadata.name or "")


def _describe(raw: Mapping[str, Any]) -> str:
    metadata = raw.get("metadata") or {}
    namespace, name = metadata.get("namespace"), metadata.get("name")
    return f"{raw.get('kind')} {namespace}/{name}" if namespace else f"{raw.get('kind')} {name}"


# --- shared state ----------------------------------------------------------------------------------------


@dataclass
class PropagationContext:
    """What every binding controller shares: the hub's informers of Clusters, policies, bindings and
    Works, the parsed policies, and the execution namespaces known to exist."""

    manager: Manager
    members: MemberClients
    hub: str = "hub"
    namespaces: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        m, hub = self.manager, self.hub
        self.clusters: Informer = self.members.clusters
        self.policies: Informer = m.informer(hub, PropagationPolicyResource)
        self.cluster_policies: Informer = m.informer(hub, ClusterPropagationPolicyResource)
        self.override_policies: Informer = m.informer(hub, OverridePolicyResource)
        self.cluster_override_policies: Informer = m.informer(hub, ClusterOverridePolicyResource)
        self.bindings: Informer = m.informer(hub, ResourceBindingResource)
        self.cluster_bindings: Informer = m.informer(hub, ClusterResourceBindingResource)
        self.works: Informer = m.informer(hub, WorkResource)
        self.works.add_indexer(WORK_BINDING_INDEX, _work_binding_index)
        self.policy_cache = PolicyCache(self.policies, PropagationPolicy)
        self.cluster_policy_cache = PolicyCache(self.cluster_policies, ClusterPropagationPolicy)
        self.override_cache = PolicyCache(self.override_policies, OverridePolicy)
        self.cluster_override_cache = PolicyCache(self.cluster_override_policies, ClusterOverridePolicy)
        self._recorder: EventRecorder | None = None

    @property
    def client(self) -> AsyncClient:
        return self.manager.clients.get(self.hub)

    @property
    def recorder(self) -> EventRecorder:
        if self._recorder is None:
            self._recorder = EventRecorder(self.client, component="kokpit-binding-controller")
        return self._recorder

    def propagation_policies(self) -> tuple[list[AnyPropagationPolicy], list[tuple[Any, str]]]:
        valid, invalid = self.policy_cache.snapshot()
        cluster_valid, cluster_invalid = self.cluster_policy_cache.snapshot()
        return [*valid, *cluster_valid], [*invalid, *cluster_invalid]

    def override_policies_parsed(self) -> tuple[list[AnyOverridePolicy], list[tuple[Any, str]]]:
        valid, invalid = self.override_cache.snapshot()
        cluster_valid, cluster_invalid = self.cluster_override_cache.snapshot()
        return [*valid, *cluster_valid], [*invalid, *cluster_invalid]

    def cluster_infos(self) -> list[ClusterInfo]:
        """Every Cluster not being deleted, as the scheduler sees it."""
        infos = []
        for cluster in self.clusters.list():
            if (cluster.get("metadata") or {}).get("deletionTimestamp"):
                continue
            try:
                infos.append(cluster_info_from_object(cluster))
            except ValueError:
                continue
        return infos

    def binding_informer(self, ref: names.BindingRef) -> Informer:
        return self.bindings if ref.namespace else self.cluster_bindings

    def binding_resource(self, ref: names.BindingRef) -> type[Any]:
        return ResourceBindingResource if ref.namespace else ClusterResourceBindingResource

    def works_of(self, ref: names.BindingRef) -> list[Any]:
        return self.works.store.by_index(WORK_BINDING_INDEX, work_index_value(ref.namespace, ref.name))

    async def ensure_execution_namespace(self, cluster: str) -> str:
        """Creates `kokpit-es-<cluster>` on the hub unless known to exist; returns its name."""
        namespace = names.execution_namespace(cluster)
        if namespace in self.namespaces:
            return namespace
        labels, annotations = names.execution_namespace_metadata(cluster)
        try:
            await self.client.create(
                Namespace(metadata=ObjectMeta(name=namespace, labels=labels, annotations=annotations))
            )
        except ApiError as error:
            if error.status.code != 409:
                raise
        self.namespaces.add(namespace)
        return namespace


# --- the controller of one kind --------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateKind:
    """A template kind as the hub serves it."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def __str__(self) -> str:
        return f"{self.kind}.{self.api_version}"


def _generation_changed(old: Any, new: Any) -> bool:
    return bool(
        (old.get("metadata") or {}).get("generation") != (new.get("metadata") or {}).get("generation")
    )


class BindingController:
    """Reconciles the templates of one kind; see the module docstring."""

    def __init__(self, context: PropagationContext, kind: TemplateKind, templates: Informer) -> None:
        self.context = context
        self.kind = kind
        self.templates = templates
        self.name = f"binding/{kind}"

    def setup(self, *, workers: int = 2) -> None:
        """Registers the controller and routes template, policy, binding, Work and Cluster events to the
        affected templates of this kind."""
        ctx = self.context
        controller = ctx.manager.controller(self.name, self, workers=workers)
        controller.watch(self.templates)
        enqueue = controller.queue.add

        def route(mapper: Callable[[Any], Iterable[Key]], *, spec_only: bool) -> Handler:
            def one(obj: Any) -> None:
                for key in mapper(obj):
                    enqueue(key)

            def update(old: Any, new: Any) -> None:
                if spec_only and not _generation_changed(old, new):
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
        ctx.works.add_handler(route(self._template_of_work, spec_only=True))

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
        if metadata.get("deletionTimestamp"):
            if PROPAGATION_FINALIZER not in (metadata.get("finalizers") or ()):
                return Result()
            return await self._clean_up(ref, binding, template)
        if ignored_namespace(key.namespace):
            return Result()

        policies, invalid = ctx.propagation_policies()
        blocking = [(raw, error) for raw, error in invalid if raw_may_select(raw, template)]
        if blocking:
            raw, error = blocking[0]
            message = f"{_describe(raw)} is invalid ({error}); the binding is kept as it is"
            await ctx.recorder.warning(template, "InvalidPolicy", message)
            if binding is not None:
                await self._write_status(binding, ref, {SCHEDULED: (False, "InvalidPolicy", message)})
            return Result()
        policy = select_policy(template, policies)
        if policy is None:
            return Result()  # deleting or narrowing a policy removes nothing
        template = await ensure_finalizer(ctx.client, template, PROPAGATION_FINALIZER)
        return await self._sync(template, ref, binding, policy)

    async def _sync(
        self, template: Any, ref: names.BindingRef, binding: Any | None, policy: AnyPropagationPolicy
    ) -> Result:
        ctx = self.context
        conditions: dict[str, tuple[bool, str, str]] = {}
        clusters = ctx.cluster_infos()
        previous = _previous_decision(binding, template)
        replicas = workload_replicas(template)
        result: ScheduleResult | None = None
        try:
            result = schedule(
                clusters,
                policy.spec.placement,
                replicas=replicas or 0,
                workload_request=resource_request(template),
                previous=previous,
            )
        except SchedulingError as error:
            conditions[SCHEDULED] = (False, error.reason, str(error))
            await ctx.recorder.warning(template, error.reason, str(error), action="Schedule")
            if binding is None:  # explain every cluster, place nowhere
                binding = await self._apply_binding(template, ref, policy, None, error.decisions, binding)
            await self._write_status(binding, ref, conditions)
            return Result()

        binding = await self._apply_binding(template, ref, policy, result, result.decisions, binding)
        placed = ", ".join(f"{t.name} ({t.replicas})" if replicas else t.name for t in result.clusters)
        conditions[SCHEDULED] = (True, "Scheduled", f"scheduled to {placed}")
        try:
            await self._sync_works(template, ref, policy, result, clusters, conditions)
        finally:
            await self._write_status(binding, ref, conditions)
        return Result()

    async def _sync_works(
        self,
        template: Any,
        ref: names.BindingRef,
        policy: AnyPropagationPolicy,
        result: ScheduleResult,
        clusters: Sequence[ClusterInfo],
        conditions: dict[str, tuple[bool, str, str]],
    ) -> None:
        ctx = self.context
        overrides, invalid = ctx.override_policies_parsed()
        blocking = [(raw, error) for raw, error in invalid if raw_may_select(raw, template)]
        if blocking:
            raw, error = blocking[0]
            message = f"{_describe(raw)} is invalid ({error}); the Works are kept as they are"
            conditions[OVERRIDES_APPLIED] = (False, "InvalidOverridePolicy", message)
            await ctx.recorder.warning(template, "InvalidOverridePolicy", message)
            return
        _, rules = override_rules(template, overrides)
        strategy = policy.spec.placement.replica_scheduling
        scheduling_type = strategy.replica_scheduling_type if strategy is not None else None
        by_name = {c.name: c for c in clusters}
        works: dict[str, dict[str, Any]] = {}
        changed = 0
        for target in result.clusters:
            try:
                rendered = render_manifest(
                    template,
                    cluster=by_name[target.name],
                    binding=ref,
                    replicas=divided_replicas(scheduling_type, target.replicas),
                    rules=rules,
                )
            except OverrideError as error:
                message = f"{target.name}: {error}; the Works are kept as they are"
                conditions[OVERRIDES_APPLIED] = (False, OverrideError.reason, message)
                await ctx.recorder.warning(template, OverrideError.reason, message, action="Override")
                return
            changed += len(rendered.changes)
            works[target.name] = render_work(
                rendered.manifest,
                cluster=target.name,
                binding=ref,
                conflict_resolution=policy.spec.conflict_resolution,
                preserve_resources_on_deletion=policy.spec.preserve_resources_on_deletion,
            )
        await asyncio.gather(*(self._apply_work(cluster, work) for cluster, work in works.items()))
        for work in ctx.works_of(ref):
            if _work_cluster(work) not in works and not (work.get("metadata") or {}).get("deletionTimestamp"):
                await _delete(
                    ctx.client, WorkResource, work["metadata"]["name"], work["metadata"]["namespace"]
                )
        conditions[OVERRIDES_APPLIED] = (
            True,
            "Applied",
            f"{len(works)} Work(s) rendered, {changed} override change(s)",
        )

    async def _apply_work(self, cluster: str, work: dict[str, Any]) -> None:
        ctx = self.context
        metadata = work["metadata"]
        current = ctx.works.get(metadata["name"], metadata["namespace"])
        if current is not None and _same(work, current):
            return
        await ctx.ensure_execution_namespace(cluster)
        try:
            await apply(ctx.client, WorkResource.from_dict(work), force=True)
        except ApiError as error:
            if error.status.code == 404:  # the execution namespace went away: create it again next time
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
    ) -> Any:
        body = desired_binding(template, ref, policy, result, decisions)
        if current is not None and _same(body, current):
            return current
        resource = self.context.binding_resource(ref)
        return await apply(self.context.client, resource.from_dict(body), force=True)

    async def _write_status(
        self, binding: Any, ref: names.BindingRef, wanted: Mapping[str, tuple[bool, str, str]]
    ) -> None:
        """Patches the binding's conditions of this controller once, when they changed."""
        status = binding.get("status") or {}
        existing = [
            c for c in status.get("conditions") or () if c.get("type") in (SCHEDULED, OVERRIDES_APPLIED)
        ]
        conditions = existing
        generation = (binding.get("metadata") or {}).get("generation")
        for type_, (ok, reason, message) in wanted.items():
            conditions = set_condition(conditions, type_, ok, reason, message, observed_generation=generation)
        if _condition_view(conditions) == _condition_view(existing):
            return
        await patch_status(
            self.context.client,
            self.context.binding_resource(ref),
            ref.name,
            {"conditions": conditions},
            namespace=ref.namespace,
            field_manager=STATUS_FIELD_MANAGER,
        )

    async def _clean_up(self, ref: names.BindingRef, binding: Any | None, template: Any | None) -> Result:
        """Deletes the template's Works, then (once they are gone) its binding, then its finalizer."""
        ctx = self.context
        works = [w for w in ctx.works_of(ref) if binding is not None or self._carries_mine(w)]
        for work in works:
            if not (work.get("metadata") or {}).get("deletionTimestamp"):
                await _delete(
                    ctx.client, WorkResource, work["metadata"]["name"], work["metadata"]["namespace"]
                )
        if works:
            return Result(requeue_after=DELETION_RECHECK)
        if binding is not None:
            await _delete(ctx.client, ctx.binding_resource(ref), ref.name, ref.namespace)
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
) -> dict[str, Any]:
    """`desired_binding` is the (Cluster)ResourceBinding of `template` claimed by `policy` with the
    scheduling `result` (None: scheduling failed, no cluster is chosen) and `decisions`."""
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
    replicas = workload_replicas(template)
    if replicas is not None:
        spec["replicas"] = replicas
    if policy.spec.preserve_resources_on_deletion is not None:
        spec["preserveResourcesOnDeletion"] = policy.spec.preserve_resources_on_deletion
    body_metadata: dict[str, Any] = {
        "name": ref.name,
        "labels": {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE, **policy_labels},
        "annotations": dict(policy_annotations),
    }
    if ref.namespace:
        body_metadata["namespace"] = ref.namespace
        body_metadata["ownerReferences"] = [
            {
                "apiVersion": template.get("apiVersion"),
                "kind": template.get("kind"),
                "name": metadata.get("name"),
                "uid": metadata.get("uid"),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    kind = "ResourceBinding" if ref.namespace else "ClusterResourceBinding"
    return {"apiVersion": RESOURCE_BINDING.api_version, "kind": kind, "metadata": body_metadata, "spec": spec}


def _same(desired: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Whether `current` already carries `desired`: the same spec (the template's resourceVersion aside,
    so status-only changes of the template cause no write) and at least its labels and annotations."""

    def spec_view(obj: Mapping[str, Any]) -> Any:
        spec = dict(obj.get("spec") or {})
        if isinstance(spec.get("resource"), Mapping):
            spec["resource"] = {k: v for k, v in spec["resource"].items() if k != "resourceVersion"}
        return spec

    if spec_view(desired) != spec_view(current):
        return False
    want, have = desired.get("metadata") or {}, current.get("metadata") or {}
    for key in ("labels", "annotations"):
        if any((have.get(key) or {}).get(k) != v for k, v in (want.get(key) or {}).items()):
            return False
    owners = [(o.get("uid"), o.get("controller")) for o in have.get("ownerReferences") or ()]
    return all((o.get("uid"), o.get("controller")) in owners for o in want.get("ownerReferences") or ())


def _condition_view(conditions: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (c.get("type"), c.get("status"), c.get("reason"), c.get("message"), c.get("observedGeneration"))
        for c in conditions
    )


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


def _work_cluster(work: Mapping[str, Any]) -> str | None:
    metadata = work.get("metadata") or {}
    cluster = names.cluster_from_metadata(metadata.get("labels"), metadata.get("annotations"))
    return cluster or names.cluster_from_execution_namespace(str(metadata.get("namespace", "")))


async def _delete(client: AsyncClient, resource: type[Any], name: str, namespace: str | None) -> None:
    try:
        await client.delete(resource, name, namespace=namespace)
    except ApiError as error:
        if error.status.code != 404:
            raise


__all__ = [
    "OVERRIDES_APPLIED",
    "STATUS_FIELD_MANAGER",
    "BindingController",
    "PolicyCache",
    "PropagationContext",
    "TemplateKind",
    "binding_ref_of",
    "desired_binding",
    "ignored_namespace",
    "raw_may_select",
    "raw_selects_kind",
]
