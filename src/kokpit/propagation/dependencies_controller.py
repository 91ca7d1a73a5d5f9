"""The dependencies controller: attached bindings for what `propagateDeps` workloads reference.

Karmada's dependencies distributor, level-triggered. A binding whose policy says `propagateDeps: true`
carries `spec.propagateDeps` (written by the binding controller). For every object its workload's pod
template references (`kokpit.propagation.dependencies.dependencies_of`: ConfigMaps, Secrets,
ServiceAccounts, PersistentVolumeClaims in the workload's namespace) this controller server-side applies
an *attached* `ResourceBinding` named like any binding of that object (`<name>-configmap`), owned by the
object, whose `spec.requiredBy` lists every binding needing it with that binding's clusters
(`required_by`). The binding controller of the object's kind then sends it to the union of its own
clusters and those (`target_clusters`), so it follows the workloads when they move, and its Works leave
a cluster once no workload there references it.

Keys of the one work queue:

- `Kind/name` in a namespace (`dependency_key`): one dependency. Its reconcile gathers the bindings with
  propagateDeps in that namespace, reads their templates from the hub's cache, and writes the attached
  binding's `requiredBy` (as the field manager `FIELD_MANAGER`, which owns nothing else there), or drops
  it when nobody requires the object any more. An object that does not exist (yet) gets nothing but a
  Warning Event `DependencyMissing` on the workloads referencing it; its creation wakes the key.
- `binding/<name>` in a namespace: a binding with propagateDeps, or one that some attached binding lists.
  Its reconcile starts the watches it needs (its template kind; ConfigMaps, Secrets, ServiceAccounts and
  PVCs of the hub, the first time) and queues every dependency it references now or is listed for, so a
  reference dropped from the template is reconciled too.

The dependencies are read from the template as stored on the hub, so references an override policy adds
are not followed (Karmada does the same). A custom kind's are what its ResourceInterpreter's
`dependencyInterpretation` returns; of those, the v1 kinds above are followed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kokpit.api.work import RESOURCE_BINDING
from kokpit.propagation import names, shard_keys
from kokpit.propagation.context import ResourceBindingResource, ignored_namespace
from kokpit.propagation.dependencies import (
    DEPENDENCY_KINDS,
    Dependent,
    DependentObjectReference,
    dependencies_of,
    dependency_key,
    has_pod_template,
    parse_dependency_key,
    pod_spec_of,
    required_by,
)
from kokpit.propagation.interpreter import InterpreterError
from kokpit.propagation.kind_watches import KindRegistry
from kokpit.propagation.kinds import KindError
from kokpit.runtime import Handler, Informer, Key, Result, apply

log = logging.getLogger("kokpit.propagation.dependencies_controller")

CONTROLLER_NAME = "dependencies"
FIELD_MANAGER = "kokpit-dependencies"
"""The field manager of `spec.requiredBy` (and of the attached binding's identity) in bindings."""
REQUIRED_BY_INDEX = "kokpit.propagation/required-by"
"""Index of the hub's binding informer: `<namespace>/<name>` of every binding an attached binding lists
in its requiredBy."""
DEPENDENCY_MISSING = "DependencyMissing"
"""Warning Event on a workload template referencing an object the hub does not have."""
BINDING_KEY_PREFIX = "binding/"
NOT_SYNCED_RETRY = 1.0


def _required_by_index(binding: Any) -> list[str]:
    values = []
    for snapshot in (binding.get("spec") or {}).get("requiredBy") or ():
        if isinstance(snapshot, Mapping) and snapshot.get("name"):
            values.append(f"{snapshot.get('namespace') or ''}/{snapshot['name']}")
    return values


def _binding_key(hub: str, namespace: str, name: str) -> Key:
    return Key(hub, namespace, f"{BINDING_KEY_PREFIX}{name}")


def attached_binding(dependency: Mapping[str, Any], required: list[dict[str, Any]]) -> dict[str, Any]:
    """`attached_binding` is the part of the attached ResourceBinding of `dependency` this controller
    owns: its name, the object's reference, the object as its owner, and `requiredBy` (left out when
    empty, which removes it)."""
    metadata = dependency.get("metadata") or {}
    kind, name, namespace = str(dependency.get("kind")), str(metadata.get("name")), metadata.get("namespace")
    resource = {
        "apiVersion": dependency.get("apiVersion"),
        "kind": kind,
        "namespace": namespace,
        "name": name,
    }
    if metadata.get("uid"):
        resource["uid"] = metadata["uid"]
    spec: dict[str, Any] = {"resource": resource}
    if required:
        spec["requiredBy"] = required
    return {
        "apiVersion": RESOURCE_BINDING.api_version,
        "kind": "ResourceBinding",
        "metadata": {
            "name": names.binding_name(kind=kind, name=name),
            "namespace": namespace,
            "labels": {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE, names.ATTACHED_LABEL: "true"},
            "finalizers": [names.BINDING_FINALIZER],
            "ownerReferences": [
                {
                    "apiVersion": dependency.get("apiVersion"),
                    "kind": kind,
                    "name": name,
                    "uid": metadata.get("uid"),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


class DependenciesReconciler:
    """Reconciles attached bindings; see the module docstring."""

    def __init__(self, registry: KindRegistry, *, workers: int = 2) -> None:
        self.registry = registry
        self.context = registry.context
        self.hub = registry.context.hub
        self.workers = workers
        self._hooked: set[tuple[str, str]] = set()

    def setup(self) -> None:
        """Registers the controller and routes binding events to its keys."""
        ctx = self.context
        self.controller = ctx.manager.controller(
            CONTROLLER_NAME, self, workers=self.workers, shard_key=shard_keys.of_key
        )
        ctx.bindings.add_indexer(REQUIRED_BY_INDEX, _required_by_index)

        def update(old: Any, new: Any) -> None:
            self._route_binding(old)
            self._route_binding(new)

        ctx.bindings.add_handler(Handler(add=self._route_binding, update=update, delete=self._route_binding))

    # -- routing ------------------------------------------------------------------------------------------

    def _route_binding(self, binding: Any) -> None:
        metadata = binding.get("metadata") or {}
        namespace, name = metadata.get("namespace"), metadata.get("name")
        if not namespace or not name:
            return
        spec = binding.get("spec") or {}
        resource = spec.get("resource") or {}
        if resource.get("apiVersion") == "v1" and resource.get("kind") in DEPENDENCY_KINDS:
            self.controller.queue.add(
                Key(self.hub, namespace, dependency_key(str(resource["kind"]), str(resource.get("name"))))
            )
        listed = self.context.bindings.store.by_index(REQUIRED_BY_INDEX, f"{namespace}/{name}")
        if spec.get("propagateDeps") or listed:
            self.controller.queue.add(_binding_key(self.hub, namespace, name))

    def _route_template(self, template: Any) -> None:
        metadata = template.get("metadata") or {}
        namespace, name = metadata.get("namespace"), metadata.get("name")
        if namespace and name and not ignored_namespace(namespace):
            binding = names.binding_name(kind=str(template.get("kind")), name=str(name))
            self.controller.queue.add(_binding_key(self.hub, namespace, binding))

    def _route_dependency(self, obj: Any) -> None:
        metadata = obj.get("metadata") or {}
        namespace, name = metadata.get("namespace"), metadata.get("name")
        if namespace and name and not ignored_namespace(namespace):
            self.controller.queue.add(Key(self.hub, namespace, dependency_key(str(obj.get("kind")), name)))

    async def _templates(self, api_version: str, kind: str) -> Informer | None:
        """The hub's informer of `kind` templates, routed here once; None when the kind is not served."""
        try:
            reconciler = await self.registry.ensure(api_version, kind)
        except KindError as error:
            log.info("cannot follow the dependencies of %s %s: %s", api_version, kind, error)
            return None
        if (api_version, kind) not in self._hooked:
            self._hooked.add((api_version, kind))
            if api_version == "v1" and kind in DEPENDENCY_KINDS:  # only a new uid matters here
                dependency = self._route_dependency
                handler = Handler(add=dependency, delete=dependency)
            else:
                template = self._route_template
                handler = Handler(
                    add=template,
                    update=lambda old, new: template(new) if _spec_changed(old, new) else None,
                    delete=template,
                )
            reconciler.templates.add_handler(handler)
        return reconciler.templates

    # -- reconcile ----------------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> Result:
        if key.namespace is None:
            return Result()
        if key.name.startswith(BINDING_KEY_PREFIX):
            return await self._fan_out(key.namespace, key.name[len(BINDING_KEY_PREFIX) :])
        parsed = parse_dependency_key(key.name)
        if parsed is None:
            return Result()
        return await self._sync_dependency(DependentObjectReference(parsed[0], parsed[1], key.namespace))

    async def _fan_out(self, namespace: str, name: str) -> Result:
        """Queues every dependency binding `name` references now or is listed for."""
        keys: set[str] = set()
        binding = self.context.bindings.get(name, namespace)
        if binding is not None and _propagates_deps(binding):
            for kind in DEPENDENCY_KINDS:
                await self._templates("v1", kind)
            template = await self._template_of(binding)
            if template is False:
                return Result(requeue_after=NOT_SYNCED_RETRY)
            if template is not None:
                keys.update(ref.key for ref in self._dependencies(template))
        for attached in self.context.bindings.store.by_index(REQUIRED_BY_INDEX, f"{namespace}/{name}"):
            resource = (attached.get("spec") or {}).get("resource") or {}
            keys.add(dependency_key(str(resource.get("kind")), str(resource.get("name"))))
        for dependency in sorted(keys):
            self.controller.queue.add(Key(self.hub, namespace, dependency))
        return Result()

    async def _template_of(self, binding: Any) -> Any | None:
        """The workload template of a binding; None when there is none (or it is not the binding's, or is
        being deleted), False while its kind's cache has not synced."""
        resource = (binding.get("spec") or {}).get("resource") or {}
        api_version, kind = str(resource.get("apiVersion")), str(resource.get("kind"))
        if not has_pod_template(api_version, kind) and not self._interpreted(api_version, kind):
            return None
        templates = await self._templates(api_version, kind)
        if templates is None:
            return None
        if not templates.has_synced():
            return False
        template = templates.get(str(resource.get("name")), resource.get("namespace"))
        if template is None:
            return None
        metadata = template.get("metadata") or {}
        if resource.get("uid") not in (None, metadata.get("uid")) or metadata.get("deletionTimestamp"):
            return None
        return template

    def _interpreted(self, api_version: str, kind: str) -> bool:
        """Whether a ResourceInterpreter declares the dependencies of `kind`."""
        found = self.context.interpreters.current().get({"apiVersion": api_version, "kind": kind})
        return found is not None and found.has_dependencies

    def _dependencies(self, template: Any) -> list[DependentObjectReference]:
        """What `template` references: its pod template's, or its interpreter's `dependencyInterpretation`
        (the v1 kinds kokpit follows; a failing expression is logged and follows nothing)."""
        if pod_spec_of(template) is not None:
            return dependencies_of(template)
        interpreter = self.context.interpreters.current().get(template)
        if interpreter is None:
            return []
        try:
            declared = interpreter.dependencies(template)
        except InterpreterError as error:
            log.warning("dependencies of %s not followed: %s", template.get("kind"), error)
            return []
        followed = [d for d in declared if d[0] == "v1" and d[1] in DEPENDENCY_KINDS]
        for api_version, kind, _, name in sorted(set(declared) - set(followed)):
            log.info(
                "dependency %s %s %s not followed: only v1 %s are", api_version, kind, name, DEPENDENCY_KINDS
            )
        return sorted(
            DependentObjectReference(kind, name, namespace) for _, kind, namespace, name in followed
        )

    async def _sync_dependency(self, dependency: DependentObjectReference) -> Result:
        """Writes the requiredBy of `dependency`'s attached binding from the bindings needing it."""
        namespace = str(dependency.namespace)
        objects = await self._templates(dependency.api_version, dependency.kind)
        if objects is None:
            return Result()
        if not objects.has_synced():
            return Result(requeue_after=NOT_SYNCED_RETRY)
        dependents, workloads = [], {}
        for binding in self.context.bindings.list(namespace):
            if not _propagates_deps(binding):
                continue
            template = await self._template_of(binding)
            if template is False:
                return Result(requeue_after=NOT_SYNCED_RETRY)
            if template is None:
                continue
            spec = binding.get("spec") or {}
            workloads[str(binding["metadata"]["name"])] = template
            dependents.append(
                Dependent(
                    namespace=namespace,
                    name=str(binding["metadata"]["name"]),
                    clusters=[
                        c for c in spec.get("clusters") or () if isinstance(c, Mapping) and c.get("name")
                    ],
                    dependencies=self._dependencies(template),
                )
            )
        required = required_by(dependency, dependents)
        obj = objects.get(dependency.name, namespace)
        if obj is None:  # nothing to deliver (yet); its creation wakes this key
            note = f"{dependency.kind} {namespace}/{dependency.name} is referenced but not on the hub"
            for snapshot in required:
                await self.context.recorder.warning(
                    workloads[snapshot["name"]], DEPENDENCY_MISSING, note, action="PropagateDependencies"
                )
            return Result()
        current = self.context.bindings.get(
            names.binding_name(kind=dependency.kind, name=dependency.name), namespace
        )
        current_required = ((current or {}).get("spec") or {}).get("requiredBy") or []
        if current is None and not required:
            return Result()
        if current is not None and current_required == required and _owned_by(current, obj):
            return Result()
        body = attached_binding(obj, required)
        await apply(
            self.context.client,
            ResourceBindingResource.from_dict(body),
            field_manager=FIELD_MANAGER,
            force=True,
        )
        log.info(
            "%s %s/%s is required by %s",
            dependency.kind,
            namespace,
            dependency.name,
            ", ".join(s["name"] for s in required) or "nothing any more",
        )
        return Result()


def _spec_changed(old: Any, new: Any) -> bool:
    """Whether a template changed beyond its status (its generation), or started being deleted."""
    before, after = old.get("metadata") or {}, new.get("metadata") or {}
    return bool(
        before.get("generation") != after.get("generation")
        or before.get("deletionTimestamp") != after.get("deletionTimestamp")
    )


def _propagates_deps(binding: Any) -> bool:
    metadata = binding.get("metadata") or {}
    return bool((binding.get("spec") or {}).get("propagateDeps")) and not metadata.get("deletionTimestamp")


def _owned_by(binding: Any, obj: Any) -> bool:
    uid = (obj.get("metadata") or {}).get("uid")
    owners = (binding.get("metadata") or {}).get("ownerReferences") or ()
    return any(o.get("uid") == uid and o.get("controller") for o in owners)


__all__ = ["CONTROLLER_NAME", "FIELD_MANAGER", "DependenciesReconciler", "attached_binding"]
