"""Every name and routing label that delivery derives, each with its inverse, so a human can follow an
object from template to member with `kubectl get` alone.

    template  apps/v1 Deployment shop/web
    binding   ResourceBinding shop/web-deployment                       binding_name(kind=, name=)
    work      Work kokpit-es-<cluster>/shop.web-deployment              execution_namespace(), work_name()
    member    Deployment shop/web, labelled kokpit.io/managed-by=kokpit

Derived names stay valid DNS-1123 names. A name that would be too long, or that contains characters the
target cannot hold, is shortened and given a `--<hash>` suffix; parse functions return None for those,
and the full values are always in the `kokpit.io/*` annotations (`binding_ref_from_metadata`). Plain
names never contain `--`, which is how the two forms are told apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from kokpit.fleet import names as fleet_names

PREFIX = "kokpit.io/"
MANAGED_BY_LABEL = "kokpit.io/managed-by"
"""Label on everything kokpit writes to members and on the hub objects it derives."""
MANAGED_BY_VALUE = "kokpit"
CLUSTER_KEY = "kokpit.io/cluster"
"""Label and annotation: the member cluster an execution namespace or a Work is for."""
BINDING_NAMESPACE_KEY = "kokpit.io/binding-namespace"
"""Label and annotation on Works and member objects: the namespace of their binding."""
BINDING_NAME_KEY = "kokpit.io/binding-name"
"""Label and annotation on Works and member objects: the name of their binding."""
BINDING_KIND_KEY = "kokpit.io/binding-kind"
"""Annotation: ResourceBinding or ClusterResourceBinding."""
POLICY_KIND_KEY = "kokpit.io/policy-kind"
"""Annotation on templates and bindings: PropagationPolicy or ClusterPropagationPolicy."""
POLICY_NAMESPACE_KEY = "kokpit.io/policy-namespace"
"""Label and annotation on templates and bindings: the claiming policy's namespace."""
POLICY_NAME_KEY = "kokpit.io/policy-name"
"""Label and annotation on templates and bindings: the claiming policy's name."""
ATTACHED_LABEL = "kokpit.io/attached-binding"
"""On a binding the dependencies controller made (`propagateDeps`): delivered by its dependents when no
policy selects its template, and removed once nothing requires it. Bindings written otherwise without
a policy are left alone."""
WORK_NAMESPACE_ANNOTATION = "kokpit.io/work-namespace"
"""Annotation on every object applied to a member: the namespace (on the hub) of the Work it came from."""
WORK_NAME_ANNOTATION = "kokpit.io/work-name"
"""Annotation on every object applied to a member: the name of the Work it came from."""
PROPAGATION_FINALIZER = "kokpit.io/propagation"
"""Finalizer that templates propagated by earlier kokpit releases carry; released when they are deleted.
Templates are no longer given it: their binding holds `BINDING_FINALIZER` instead."""
BINDING_FINALIZER = "kokpit.io/binding"
"""Held on every (Cluster)ResourceBinding, written with the binding itself, until the template's Works are
gone: the template's deletion (its binding deleted with it by the garbage collector, as its owner) then
costs no request on the template, and the Works are still removed after a restart."""
WORK_FINALIZER = "work.kokpit.io/execution"
"""Held on every Work until its objects are deleted from (or released in) the member. Written with the
Work itself (`work_render.render_work`), so a new Work costs one request, not an apply and a patch."""

# Execution namespaces (`execution_namespace`, `cluster_from_execution_namespace`) and the hashed form
# of names are the fleet's (`kokpit.fleet.names`: a member's agent keeps its Lease there too); they are
# re-exported here, where delivery's names build on them.
DNS_LABEL_MAX = fleet_names.DNS_LABEL_MAX
DNS_SUBDOMAIN_MAX = fleet_names.DNS_SUBDOMAIN_MAX
EXECUTION_NAMESPACE_PREFIX = fleet_names.EXECUTION_NAMESPACE_PREFIX
HASH_LENGTH = fleet_names.HASH_LENGTH
HASH_SEPARATOR = fleet_names.HASH_SEPARATOR
LABEL_VALUE_MAX = fleet_names.LABEL_VALUE_MAX
cluster_from_execution_namespace = fleet_names.cluster_from_execution_namespace
execution_namespace = fleet_names.execution_namespace
hashed_name = fleet_names.hashed_name
label_value = fleet_names.label_value
short_hash = fleet_names.short_hash

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _fit_subdomain(text: str, *, limit: int = DNS_SUBDOMAIN_MAX) -> str:
    if len(text) <= limit and _DNS_SUBDOMAIN.match(text) and HASH_SEPARATOR not in text:
        return text
    return hashed_name(text, limit=limit, allowed="a-z0-9.-")


def execution_namespace_metadata(cluster: str) -> tuple[dict[str, str], dict[str, str]]:
    """`execution_namespace_metadata` returns the (labels, annotations) of the execution namespace of
    `cluster`: managed-by, and the cluster name in full in the annotation."""
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, CLUSTER_KEY: label_value(cluster)}
    return labels, {CLUSTER_KEY: cluster}


# --- bindings and works ----------------------------------------------------------------------------------


def binding_name(*, kind: str, name: str) -> str:
    """`binding_name` is the name of the (Cluster)ResourceBinding of a template: `<name>-<kind lowercased>`,
    Karmada's convention (`web` Deployment -> `web-deployment`). RBAC names with `:` and names too long
    for the suffix get the hashed form."""
    if not kind or not name:
        raise ValueError("kind and name must not be empty")
    return _fit_subdomain(f"{name}-{kind.lower()}")


def template_name_from_binding(binding: str, *, kind: str) -> str | None:
    """`template_name_from_binding` inverts `binding_name` for a known `kind`; None for hashed names and
    names that do not end in `-<kind>` (read `spec.resource` of the binding then)."""
    suffix = f"-{kind.lower()}"
    if not binding.endswith(suffix) or HASH_SEPARATOR in binding:
        return None
    name = binding[: -len(suffix)]
    if not name or binding_name(kind=kind, name=name) != binding:
        return None
    return name


def work_name(*, binding_namespace: str | None, binding: str) -> str:
    """`work_name` is the name of the Work of a binding in every chosen cluster's execution namespace:
    `<binding namespace>.<binding name>` for a ResourceBinding, the binding name for a
    ClusterResourceBinding (`shop.web-deployment`, `admin-clusterrole`)."""
    if not binding:
        raise ValueError("binding must not be empty")
    return _fit_subdomain(f"{binding_namespace}.{binding}" if binding_namespace else binding)


def binding_from_work_name(work: str, *, namespaced: bool) -> BindingRef | None:
    """`binding_from_work_name` inverts `work_name`, given whether the binding is namespaced; None for
    hashed names (use `binding_ref_from_metadata` then)."""
    if namespaced:
        namespace, dot, binding = work.partition(".")
        if not dot or not namespace or not binding:
            return None
        ref = BindingRef(namespace=namespace, name=binding)
    else:
        ref = BindingRef(namespace=None, name=work)
    return ref if work_name(binding_namespace=ref.namespace, binding=ref.name) == work else None


@dataclass(frozen=True)
class BindingRef:
    """A (Cluster)ResourceBinding by namespace (None: a ClusterResourceBinding) and name."""

    namespace: str | None
    name: str

    @property
    def kind(self) -> str:
        """`kind` is ResourceBinding or ClusterResourceBinding."""
        return "ResourceBinding" if self.namespace else "ClusterResourceBinding"


def binding_metadata(ref: BindingRef, *, cluster: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """`binding_metadata` returns the (labels, annotations) that route a Work, or an object applied to a
    member, back to its binding (and to `cluster` if given). Labels can be used in selectors; their
    values are shortened when too long, the annotations always hold the full names."""
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, BINDING_NAME_KEY: label_value(ref.name)}
    annotations = {BINDING_KIND_KEY: ref.kind, BINDING_NAME_KEY: ref.name}
    if ref.namespace:
        labels[BINDING_NAMESPACE_KEY] = ref.namespace
        annotations[BINDING_NAMESPACE_KEY] = ref.namespace
    if cluster is not None:
        labels[CLUSTER_KEY] = label_value(cluster)
        annotations[CLUSTER_KEY] = cluster
    return labels, annotations


def binding_ref_from_metadata(
    labels: Mapping[str, str] | None, annotations: Mapping[str, str] | None
) -> BindingRef | None:
    """`binding_ref_from_metadata` inverts `binding_metadata`: the binding an object belongs to, or None
    when it carries no routing. Annotations are preferred; labels serve when they are unshortened."""
    annotations = annotations or {}
    labels = labels or {}
    name = annotations.get(BINDING_NAME_KEY)
    namespace = annotations.get(BINDING_NAMESPACE_KEY)
    if name is None:
        name = labels.get(BINDING_NAME_KEY)
        namespace = labels.get(BINDING_NAMESPACE_KEY)
        if name is None or HASH_SEPARATOR in name:
            return None
    return BindingRef(namespace=namespace or None, name=name)


def cluster_from_metadata(
    labels: Mapping[str, str] | None, annotations: Mapping[str, str] | None
) -> str | None:
    """`cluster_from_metadata` returns the cluster recorded by `binding_metadata` or
    `execution_namespace_metadata`, or None."""
    if annotations and CLUSTER_KEY in annotations:
        return annotations[CLUSTER_KEY]
    value = (labels or {}).get(CLUSTER_KEY)
    return None if value is None or HASH_SEPARATOR in value else value


# --- policies --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyRef:
    """A propagation policy by kind, namespace (None for ClusterPropagationPolicy) and name."""

    kind: str
    namespace: str | None
    name: str


def policy_metadata(ref: PolicyRef) -> tuple[dict[str, str], dict[str, str]]:
    """`policy_metadata` returns the (labels, annotations) marking a template or binding as claimed by the
    policy `ref`."""
    labels = {POLICY_NAME_KEY: label_value(ref.name)}
    annotations = {POLICY_KIND_KEY: ref.kind, POLICY_NAME_KEY: ref.name}
    if ref.namespace:
        labels[POLICY_NAMESPACE_KEY] = ref.namespace
        annotations[POLICY_NAMESPACE_KEY] = ref.namespace
    return labels, annotations


def policy_ref_from_metadata(annotations: Mapping[str, str] | None) -> PolicyRef | None:
    """`policy_ref_from_metadata` inverts `policy_metadata`: the claiming policy, or None."""
    annotations = annotations or {}
    kind = annotations.get(POLICY_KIND_KEY)
    name = annotations.get(POLICY_NAME_KEY)
    if kind is None or name is None:
        return None
    return PolicyRef(kind=kind, namespace=annotations.get(POLICY_NAMESPACE_KEY) or None, name=name)
