"""The binding status controller: what the members reported, brought back to the binding and the template.

For each (Cluster)ResourceBinding it reads the Works of the binding (one per chosen cluster, found by the
binding routing labels and annotations of `names.binding_metadata`) and writes

- the binding's `status.aggregatedStatus` (one item per chosen cluster: applied, health, the member's
  status of the template's copy, why applying failed) and its `FullyApplied` condition, as the field
  manager `kokpit-status`, so the scheduler's own status fields (`Scheduled`, ...) are left alone;
- for Deployments, StatefulSets, ReplicaSets and DaemonSets, the template's own `status` on the hub (its
  status subresource, free since the hub runs no workload controllers): the members' counters summed,
  `observedGeneration`, and `Applied` / `Available` conditions naming the clusters that are not fine
  (`status.template_status`).

When a cluster starts failing to apply or turns unhealthy, a Warning Event is recorded on the binding and
on the template, so `kubectl describe` on the hub shows member-side failures where users look.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kokpit.api.work import APPLIED, AVAILABLE, CLUSTER_RESOURCE_BINDING, FULLY_APPLIED, RESOURCE_BINDING
from kokpit.propagation import names, shard_keys
from kokpit.propagation.apply_plan import split_api_version
from kokpit.propagation.dependencies import target_clusters
from kokpit.propagation.execution_controller import cluster_of_work
from kokpit.propagation.interpreter_controller import InterpreterSource
from kokpit.propagation.kinds import discover_kind
from kokpit.propagation.status import (
    UNHEALTHY,
    ClusterReport,
    aggregated_status,
    fully_applied_condition,
    has_template_status,
    report_from_work,
    template_status,
)
from kokpit.runtime import (
    Controller,
    EventRecorder,
    Informer,
    Key,
    Manager,
    Result,
    get_or_none,
    status_writer,
)
from kokpit.runtime.resources import ServedKind, resource_class, served_class

log = logging.getLogger("kokpit.propagation.status_controller")

CONTROLLER_NAME = "binding-status"
STATUS_FIELD_MANAGER = "kokpit-status"
"""The field manager of the status fields this controller owns in bindings."""
BINDING_INDEX = "kokpit.io/binding"
COALESCE = 1.0
"""Seconds a binding's status waits after the first change of a burst (its Works reporting one after
another, each member's status settling): one write for the burst, not one per Work event."""

ResourceBindingResource = resource_class(RESOURCE_BINDING)
ClusterResourceBindingResource = resource_class(CLUSTER_RESOURCE_BINDING)

_TEMPLATE_PLURALS = {
    ("apps", "Deployment"): "deployments",
    ("apps", "StatefulSet"): "statefulsets",
    ("apps", "ReplicaSet"): "replicasets",
    ("apps", "DaemonSet"): "daemonsets",
}


def _binding_index(work: Any) -> list[str]:
    metadata = work.get("metadata") or {}
    ref = names.binding_ref_from_metadata(metadata.get("labels"), metadata.get("annotations"))
    return [] if ref is None else [f"{ref.namespace or ''}/{ref.name}"]


class BindingStatusReconciler:
    """Reconciles (Cluster)ResourceBindings' status from their Works; see the module docstring."""

    def __init__(
        self,
        manager: Manager,
        works: Informer,
        *,
        hub: str = "hub",
        interpreters: InterpreterSource | None = None,
    ) -> None:
        self.manager = manager
        self.interpreters = interpreters
        self._custom_kinds: dict[tuple[str, str], ServedKind] = {}
        self.hub = hub
        self.works = works
        self.bindings: Informer = manager.informer(hub, ResourceBindingResource)
        self.cluster_bindings: Informer = manager.informer(hub, ClusterResourceBindingResource)
        self._recorder: EventRecorder | None = None

    def setup(self) -> Controller:
        self.works.add_indexer(BINDING_INDEX, _binding_index)
        controller = self.manager.controller(
            CONTROLLER_NAME, self, workers=4, shard_key=shard_keys.of_binding
        )
        controller.watch(self.bindings, coalesce=COALESCE)
        controller.watch(self.cluster_bindings, coalesce=COALESCE)
        controller.watch(self.works, mapper=self._binding_of_work, coalesce=COALESCE)
        return controller

    @property
    def recorder(self) -> EventRecorder:
        if self._recorder is None:
            self._recorder = EventRecorder(
                self.manager.clients.get(self.hub), component="kokpit-binding-status-controller"
            )
        return self._recorder

    def _binding_of_work(self, work: Any) -> list[Key]:
        metadata = work.get("metadata") or {}
        ref = names.binding_ref_from_metadata(metadata.get("labels"), metadata.get("annotations"))
        return [] if ref is None else [Key(self.hub, ref.namespace, ref.name)]

    async def reconcile(self, key: Key) -> Result:
        informer = self.bindings if key.namespace else self.cluster_bindings
        resource = ResourceBindingResource if key.namespace else ClusterResourceBindingResource
        binding = informer.get(key.name, key.namespace)
        if binding is None or binding["metadata"].get("deletionTimestamp"):
            return Result()
        spec = binding.get("spec") or {}
        # An attached binding's resource is also on its dependents' clusters (`target_clusters`).
        placed = target_clusters(spec.get("clusters") or [], spec.get("requiredBy"))
        targets = sorted({t.name for t in placed})
        template_ref = spec.get("resource") or {}
        works: dict[str, Any] = {}
        for work in self.works.store.by_index(BINDING_INDEX, f"{key.namespace or ''}/{key.name}"):
            cluster = cluster_of_work(work)
            if cluster is not None and not work["metadata"].get("deletionTimestamp"):
                works[cluster] = work
        reports = [report_from_work(c, works.get(c), template=template_ref) for c in targets]
        if (
            reports
            and all(report.applied is None for report in reports)
            and not (binding.get("status") or {}).get("aggregatedStatus")
        ):
            return Result()  # no member has reported yet: the first report is the first news

        async with status_writer(
            self.manager.clients.get(self.hub),
            resource,
            binding,
            owned=(FULLY_APPLIED,),
            field_manager=STATUS_FIELD_MANAGER,
        ) as status:
            status.fields["aggregatedStatus"] = aggregated_status(reports)
            status.set(fully_applied_condition(reports))
        changes = _transitions(
            (binding.get("status") or {}).get("aggregatedStatus") or [],
            status.fields["aggregatedStatus"],
            reports,
        )
        for reason, message in changes:
            await self.recorder.warning(binding, reason, message, action="Aggregate")
        await self._template(template_ref, reports, changes)
        return Result()

    async def _template(
        self, ref: Mapping[str, Any], reports: list[ClusterReport], changes: list[tuple[str, str]]
    ) -> None:
        """Writes the fleet-wide status of the template, for the kinds `status.SUMMED_FIELDS` lists."""
        group, version = split_api_version(str(ref.get("apiVersion") or ""))
        kind, name, namespace = str(ref.get("kind") or ""), str(ref.get("name") or ""), ref.get("namespace")
        interpreter = None
        if self.interpreters is not None and (group, kind) not in _TEMPLATE_PLURALS:
            interpreter = self.interpreters.current().get(ref)
        if not has_template_status(group, kind, interpreter=interpreter) or not name or not namespace:
            return
        hub = self.manager.clients.get(self.hub)
        if interpreter is not None:
            api_version = str(ref.get("apiVersion") or "")
            kind_served = self._custom_kinds.get((api_version, kind))
            if kind_served is None:
                kind_served = self._custom_kinds[(api_version, kind)] = await discover_kind(
                    hub, api_version, kind
                )
        else:
            kind_served = ServedKind(group, version, kind, _TEMPLATE_PLURALS[(group, kind)], True)
        resource = served_class(kind_served)
        # The template kind's shared informer (the binding controller's) serves the read; only before it
        # has synced does it cost a request.
        templates = self.manager.informer(self.hub, resource)
        if templates.has_synced():
            template = templates.get(name, namespace)
        else:
            template = await get_or_none(hub, resource, name, namespace=namespace)
        if template is None:
            return
        metadata = template.get("metadata") or {}
        if ref.get("uid") and metadata.get("uid") != ref.get("uid"):
            return  # the binding is for an older template of the same name
        new = template_status(
            group, kind, reports, generation=metadata.get("generation"), interpreter=interpreter
        )
        if new is None:
            return
        # The built-in condition types of these kinds have no observedGeneration: the writer is handed
        # the template without its generation, so its conditions carry none.
        view = resource(
            {"metadata": {"name": name, "namespace": namespace}, "status": template.get("status")}
        )
        async with status_writer(hub, resource, view, owned=(APPLIED, AVAILABLE)) as status:
            status.fields.update(new.fields)
            status.set(new.applied)
            status.set(new.available)
        for reason, message in changes:
            await self.recorder.warning(template, reason, message, action="Aggregate")


def _transitions(
    previous: list[Mapping[str, Any]], items: list[dict[str, Any]], reports: list[ClusterReport]
) -> list[tuple[str, str]]:
    """The (reason, message) of the Warning Events due when `previous` aggregated items become `items`:
    a cluster that newly failed to apply (or fails with a new message), or newly turned Unhealthy."""
    before = {str(item.get("clusterName")): item for item in previous}
    by_cluster = {report.cluster: report for report in reports}
    events: list[tuple[str, str]] = []
    for item in items:
        cluster = str(item["clusterName"])
        old = before.get(cluster) or {}
        report = by_cluster[cluster]
        if item.get("applied") is False:
            if old.get("applied") is not False or old.get("appliedMessage") != item.get("appliedMessage"):
                events.append(("ApplyFailed", f"{cluster}: {report.applied_message}"))
        elif item.get("applied") and item.get("health") == UNHEALTHY and old.get("health") != UNHEALTHY:
            events.append(("ClusterUnhealthy", f"{cluster}: {report.health_message or 'unhealthy'}"))
    return events


__all__ = [
    "CONTROLLER_NAME",
    "STATUS_FIELD_MANAGER",
    "BindingStatusReconciler",
    "ClusterResourceBindingResource",
    "ResourceBindingResource",
]
