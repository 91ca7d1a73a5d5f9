"""The Component controller: render each Component into hub templates and policies, and report back.

Each pass reads the caches (level-triggered), plans with `kokpit.components.plan.plan_component`
(hub ComponentTemplates and the built-in ones, the hub's Clusters), writes what changed and the
status once through `status_writer`:

- Every object it writes (the templates, PropagationPolicies, OverridePolicies) is server-side
  applied with field manager `kokpit`, in the Component's namespace, labelled
  `apps.kokpit.io/component: <name>`, with a controller owner reference to the Component (so the
  hub's garbage collector deletes them with it) and the annotation `apps.kokpit.io/rendered-hash`
  (a digest of what was rendered, so a field the rendering dropped is noticed): an object whose hash
  and every applied field already match is not written again. Objects it owns that the plan
  no longer has are deleted. An object of that name owned by something else is left alone and
  reported (`Applied=False`, `NameTaken`).
- Delivery does the rest; the status folds the Works of the templates per cluster
  (`kokpit.components.status`). A member refusing an object, or a cluster failing to render, is a
  Warning Event on the Component when it starts.
- A controller group (`kokpit hub run --controller-id ID`) reconciles only the Components labelled
  `apps.kokpit.io/controller-id: ID`, the default group only unlabelled ones; its Events come from
  `kokpit-components-ID`.
- Each pass that writes says so in a `Rendered` Event naming what it wrote or deleted.
- `apps.kokpit.io/unmanaged: "true"` on a Component: nothing it rendered is written or deleted any
  more, and its PropagationPolicies get `suspension.dispatching: true` (the one write), so delivery
  leaves the members' copies alone too (no apply, no drift correction); `Progressing` says
  `Unmanaged`. Removing the annotation lifts the suspension and renders again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.types import PatchType
from pydantic import ValidationError

from kokpit.api.cluster import CLUSTER
from kokpit.api.component import COMPONENT, COMPONENT_TEMPLATE, Component, ComponentTemplate
from kokpit.api.override import OVERRIDE_POLICY
from kokpit.api.policy import PROPAGATION_POLICY
from kokpit.api.work import WORK
from kokpit.components.builtin import builtin_templates
from kokpit.components.plan import (
    HASH_ANNOTATION,
    ComponentPlan,
    ObjectKey,
    object_key,
    plan_component,
    rendered_hash,
)
from kokpit.components.render import COMPONENT_LABEL
from kokpit.components.selection import Candidate
from kokpit.components.status import (
    CONDITIONS,
    PROGRESSING,
    RENDERED,
    ClusterReport,
    component_status,
    work_report,
)
from kokpit.components.template_controller import TemplateReconciler
from kokpit.errors import validation_message
from kokpit.propagation import names
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
    status_writer,
)
from kokpit.runtime.resources import ServedKind, resource_class, served_class
from kokpit.settings import HubSettings

log = logging.getLogger("kokpit.components.controller")

CONTROLLER_ID_LABEL = "apps.kokpit.io/controller-id"
"""Which controller group reconciles a Component (`kokpit hub run --controller-id`); unset: the default."""
UNMANAGED_ANNOTATION = "apps.kokpit.io/unmanaged"
"""`"true"`: the controller leaves the Component and what it rendered untouched."""

ComponentResource = resource_class(COMPONENT)
TemplateResource = resource_class(COMPONENT_TEMPLATE)
ClusterResource = resource_class(CLUSTER)
WorkResource = resource_class(WORK)
PropagationPolicyResource = resource_class(PROPAGATION_POLICY)
OverridePolicyResource = resource_class(OVERRIDE_POLICY)

RENDERED_KINDS: tuple[ServedKind, ...] = (
    ServedKind.of("apps/v1", "Deployment", "deployments", namespaced=True),
    ServedKind.of("apps/v1", "StatefulSet", "statefulsets", namespaced=True),
    ServedKind.of("v1", "Service", "services", namespaced=True),
    ServedKind.of("v1", "ConfigMap", "configmaps", namespaced=True),
    ServedKind.of("v1", "ServiceAccount", "serviceaccounts", namespaced=True),
    ServedKind.of("networking.k8s.io/v1", "Ingress", "ingresses", namespaced=True),
    ServedKind.of("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", namespaced=True),
    ServedKind.of("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", namespaced=True),
)
"""The kinds of `kokpit.components.render.ALLOWED_KINDS`, as the hub serves them."""

BUSY_SECONDS = 5.0
RESYNC_SECONDS = 300.0


def contains(actual: Any, desired: Any) -> bool:
    """`contains` tells whether `actual` holds every field of `desired` with its value (the API server
    adds defaults, so `actual` may hold more)."""
    if isinstance(desired, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and contains(actual[k], v) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(desired)
            and all(contains(a, d) for a, d in zip(actual, desired, strict=True))
        )
    return bool(actual == desired)


def owned_by(obj: Any, component: Any) -> bool:
    """`owned_by` tells whether `obj` is controlled by this Component (same uid)."""
    return any(
        o.get("controller") and o.get("kind") == COMPONENT.kind and o.get("uid") == component.metadata.uid
        for o in (obj.get("metadata") or {}).get("ownerReferences") or []
    )


class ComponentReconciler:
    """Reconciles the hub's Components (key: a Component)."""

    def __init__(self, manager: Manager, *, hub: str = "hub", controller_id: str | None = None) -> None:
        self.hub = hub
        self.controller_id = controller_id
        self.client: AsyncClient = manager.clients.get(hub)
        self.components = manager.informer(hub, ComponentResource)
        self.templates = manager.informer(hub, TemplateResource)
        self.clusters = manager.informer(hub, ClusterResource)
        self.works = manager.informer(hub, WorkResource)
        self.policies = manager.informer(hub, PropagationPolicyResource)
        self.overrides = manager.informer(hub, OverridePolicyResource)
        self.kinds: dict[tuple[str, str], tuple[type[Any], Informer]] = {}
        for kind in RENDERED_KINDS:
            resource = served_class(kind)
            self.kinds[(kind.api_version, kind.kind)] = (resource, manager.informer(hub, resource))
        self.kinds[(PROPAGATION_POLICY.api_version, PROPAGATION_POLICY.kind)] = (
            PropagationPolicyResource,
            self.policies,
        )
        self.kinds[(OVERRIDE_POLICY.api_version, OVERRIDE_POLICY.kind)] = (
            OverridePolicyResource,
            self.overrides,
        )
        group = "" if controller_id is None else f"-{controller_id}"
        self.recorder = EventRecorder(self.client, f"kokpit-components{group}")
        self._parsed: dict[tuple[str, str], ComponentTemplate | None] = {}

    # -- watches --------------------------------------------------------------------------------

    def setup(self, manager: Manager) -> None:
        """Registers the controller: Components, and whatever changes what they render or report."""
        controller = manager.controller("components", self, workers=2)
        controller.watch(self.components, self._if_mine)
        controller.watch(self.templates, self._every_component)
        controller.watch(self.clusters, self._every_component)
        controller.watch(self.works, self._component_of_work)
        for _, informer in self.kinds.values():
            controller.watch(informer, self._component_of_object)

    def mine(self, component: Any) -> bool:
        """`mine` tells whether this controller group reconciles `component` (by its label)."""
        return (component.metadata.labels or {}).get(CONTROLLER_ID_LABEL) == self.controller_id

    def _if_mine(self, component: Any) -> list[Key]:
        return [Key.of(self.hub, component)] if self.mine(component) else []

    def _every_component(self, _: Any) -> list[Key]:
        return [Key.of(self.hub, c) for c in self.components.list() if self.mine(c)]

    def _component_of_object(self, obj: Any) -> list[Key]:
        component = (obj.metadata.labels or {}).get(COMPONENT_LABEL)
        return [Key(self.hub, obj.metadata.namespace, component)] if component else []

    def _component_of_work(self, work: Any) -> list[Key]:
        manifests = ((work.get("spec") or {}).get("workload") or {}).get("manifests") or []
        metadata = (manifests[0] if manifests else {}).get("metadata") or {}
        component = (metadata.get("labels") or {}).get(COMPONENT_LABEL)
        return [Key(self.hub, metadata.get("namespace"), component)] if component else []

    # -- reconcile ------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> Result:
        obj = self.components.get(key.name, key.namespace)
        if obj is None or obj.metadata.deletionTimestamp is not None or not self.mine(obj):
            return Result()  # deleted: the garbage collector deletes what it rendered (owner references)
        async with status_writer(
            self.client, ComponentResource, obj, owned=CONDITIONS, now=datetime.now(UTC)
        ) as status:
            if (obj.metadata.annotations or {}).get(UNMANAGED_ANNOTATION) == "true":
                await self._leave_alone(obj, status)
                return Result()
            status.fields = status.current_fields(
                "observedGeneration", "replicas", "readyReplicas", "availableReplicas", "clusters"
            )
            try:
                component = Component.model_validate(dict(obj))
            except ValidationError as error:
                status.set(Condition.false(RENDERED, "InvalidSpec", validation_message(error)))
                return Result()
            await self._lift_suspension(obj)
            plan = plan_component(component, self._candidates(), self._cluster_labels())
            taken = await self._write(obj, plan)
            view = component_status(plan, self._reports(plan), generation=obj.metadata.generation)
            status.fields = view.fields
            for condition in view.conditions:
                status.set(condition)
            if taken:
                status.set(Condition.false("Applied", "NameTaken", "; ".join(taken)))
                status.set(Condition.false(PROGRESSING, "Blocked", "Applied: " + "; ".join(taken)))
            await self._events(obj, plan, view.failures)
            return Result(requeue_after=RESYNC_SECONDS if view.settled else BUSY_SECONDS)

    def _candidates(self) -> list[Candidate]:
        hub = [Candidate(t) for t in (self._template(raw) for raw in self.templates.list()) if t is not None]
        return hub + [Candidate(t, builtin=True) for t in builtin_templates()]

    def _template(self, raw: Any) -> ComponentTemplate | None:
        key = (str(raw.metadata.uid), str(raw.metadata.resourceVersion))
        if key not in self._parsed:
            try:
                self._parsed[key] = ComponentTemplate.model_validate(dict(raw))
            except ValidationError as error:
                log.warning(
                    "ComponentTemplate %s is invalid: %s", raw.metadata.name, validation_message(error)
                )
                self._parsed[key] = None
        return self._parsed[key]

    def _cluster_labels(self) -> dict[str, dict[str, str]]:
        return {
            str(c.metadata.name): dict(c.metadata.labels or {})
            for c in self.clusters.list()
            if c.metadata.deletionTimestamp is None
        }

    def _reports(self, plan: ComponentPlan) -> dict[ObjectKey, dict[str, ClusterReport]]:
        """The report of each cluster's Work of each hub object."""
        hashes = {object_key(o): rendered_hash(o) for o in plan.objects}
        reports: dict[ObjectKey, dict[str, ClusterReport]] = {}
        for rendering in plan.clusters:
            for obj in rendering.objects:
                key = object_key(obj)
                namespace = str(obj["metadata"]["namespace"])
                binding = names.binding_name(kind=key[1], name=key[2])
                work = self.works.get(
                    names.work_name(binding_namespace=namespace, binding=binding),
                    names.execution_namespace(rendering.cluster),
                )
                report = work_report(work, hashes[key])
                if report is not None:
                    reports.setdefault(key, {})[rendering.cluster] = report
        return reports

    # -- writing --------------------------------------------------------------------------------

    def _owner_reference(self, obj: Any) -> dict[str, Any]:
        return {
            "apiVersion": COMPONENT.api_version,
            "kind": COMPONENT.kind,
            "name": str(obj.metadata.name),
            "uid": str(obj.metadata.uid),
            "controller": True,
            "blockOwnerDeletion": True,
        }

    async def _write(self, obj: Any, plan: ComponentPlan) -> list[str]:
        """Applies what changed, deletes what the plan dropped; returns the objects it could not
        write because another owner holds their name."""
        namespace = str(obj.metadata.namespace)
        desired = [*plan.objects, *plan.propagation_policies, *plan.override_policies]
        wanted = {object_key(d) for d in desired}
        taken: list[str] = []
        written: list[str] = []
        for body in desired:
            key = object_key(body)
            resource, informer = self.kinds[(key[0], key[1])]
            cached = informer.get(key[2], namespace)
            if cached is not None and not owned_by(cached, obj):
                taken.append(f"{key[1]} {key[2]} exists and is not this Component's")
                continue
            full = self._with_ownership(obj, body)
            if cached is not None and contains(cached, full):
                continue
            await apply(self.client, resource.from_dict(full), field_manager=FIELD_MANAGER, force=True)
            written.append(f"{key[1]} {key[2]}")
        for (api_version, kind), (resource, informer) in self.kinds.items():
            for existing in informer.list(namespace):
                labels = existing.metadata.labels or {}
                if labels.get(COMPONENT_LABEL) != obj.metadata.name or not owned_by(existing, obj):
                    continue
                if (api_version, kind, str(existing.metadata.name)) not in wanted:
                    await delete_if_present(
                        self.client, resource, str(existing.metadata.name), namespace=namespace
                    )
                    written.append(f"deleted {kind} {existing.metadata.name}")
        if written:
            await self.recorder.event(obj, "Normal", "Rendered", "wrote " + ", ".join(written))
        return taken

    def _with_ownership(self, obj: Any, body: Mapping[str, Any]) -> dict[str, Any]:
        full = json.loads(json.dumps(body))
        metadata = full["metadata"]
        metadata["annotations"] = {
            **(metadata.get("annotations") or {}),
            HASH_ANNOTATION: rendered_hash(body),
        }
        metadata["ownerReferences"] = [self._owner_reference(obj)]
        return dict(full)

    def _own_policies(self, obj: Any) -> list[Any]:
        return [
            p
            for p in self.policies.list(str(obj.metadata.namespace))
            if (p.metadata.labels or {}).get(COMPONENT_LABEL) == obj.metadata.name and owned_by(p, obj)
        ]

    async def _set_suspension(self, policy: Any, suspension: Mapping[str, Any] | None) -> None:
        try:
            await self.client.patch(
                PropagationPolicyResource,
                str(policy.metadata.name),
                {"spec": {"suspension": suspension}},
                namespace=policy.metadata.namespace,
                patch_type=PatchType.MERGE,
                field_manager=FIELD_MANAGER,
            )
        except ApiError as error:
            if error.status.code != 404:
                raise

    async def _leave_alone(self, obj: Any, status: StatusPatch) -> None:
        for policy in self._own_policies(obj):
            if not ((policy.get("spec") or {}).get("suspension") or {}).get("dispatching"):
                await self._set_suspension(policy, {"dispatching": True})
        previous = status.get(PROGRESSING)
        if previous is None or previous.reason != "Unmanaged":
            await self.recorder.event(
                obj, "Normal", "Unmanaged", f"{UNMANAGED_ANNOTATION} is true: left alone"
            )
        status.set(
            Condition.false(
                PROGRESSING,
                "Unmanaged",
                f"{UNMANAGED_ANNOTATION} is true: kokpit leaves this Component and what it rendered "
                "untouched (its propagation is suspended)",
            )
        )

    async def _lift_suspension(self, obj: Any) -> None:
        for policy in self._own_policies(obj):
            if (policy.get("spec") or {}).get("suspension") is not None:
                await self._set_suspension(policy, None)

    async def _events(self, obj: Any, plan: ComponentPlan, failures: Sequence[tuple[str, str]]) -> None:
        """Warnings for clusters that start failing (the status held them as fine before)."""
        before = {str(c.get("name")): c for c in (obj.get("status") or {}).get("clusters") or []}
        for rendering in plan.errors:
            if (before.get(rendering.cluster) or {}).get(
                "rendered"
            ) is not False and rendering.error is not None:
                await self.recorder.event(
                    obj, "Warning", rendering.error.reason, f"{rendering.cluster}: {rendering.error.message}"
                )
        for cluster, message in failures:
            if (before.get(cluster) or {}).get("applied") is not False:
                await self.recorder.event(obj, "Warning", "ApplyFailed", f"{cluster}: {message}")


def setup(manager: Manager, settings: HubSettings) -> None:
    """`setup` adds the Component controller to the hub's `manager`, for the Components of its
    controller group (`settings.controller_id`), and in the default group the templates' one."""
    ComponentReconciler(manager, hub=settings.hub, controller_id=settings.controller_id).setup(manager)
    if settings.controller_id is None:
        TemplateReconciler(manager, hub=settings.hub).setup()
