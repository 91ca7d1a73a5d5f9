"""What every binding reconciler shares: the hub's informers, the parsed policies, execution namespaces.

One `PropagationContext` serves every template kind (`kokpit.propagation.binding_controller`) and the
policy checks (`kokpit.propagation.policy_checker`): the informers of Clusters, policies, bindings and
Works are made once, and each policy is parsed once per resourceVersion (`PolicyCache`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace
from pydantic import BaseModel, ValidationError

from kokpit.api.override import (
    CLUSTER_OVERRIDE_POLICY,
    OVERRIDE_POLICY,
    AnyOverridePolicy,
    ClusterOverridePolicy,
    OverridePolicy,
)
from kokpit.api.policy import (
    CLUSTER_PROPAGATION_POLICY,
    PROPAGATION_POLICY,
    AnyPropagationPolicy,
    ClusterPropagationPolicy,
    PropagationPolicy,
)
from kokpit.api.work import CLUSTER_RESOURCE_BINDING, RESOURCE_BINDING, WORK
from kokpit.errors import validation_message
from kokpit.fleet.members import MemberClients
from kokpit.propagation import names
from kokpit.propagation.clusters import ClusterInfo, cluster_info_from_object
from kokpit.propagation.interpreter_controller import InterpreterSource, interpreter_source
from kokpit.runtime import EventRecorder, Informer, Manager
from kokpit.runtime.resources import resource_class

WORK_BINDING_INDEX = "kokpit.propagation/binding"
"""Index of the hub's Work informer: `<binding namespace>/<binding name>` (namespace empty when
cluster-scoped)."""
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


def describe_policy(raw: Mapping[str, Any]) -> str:
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
        self.interpreters: InterpreterSource = interpreter_source(m, hub=hub)
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
