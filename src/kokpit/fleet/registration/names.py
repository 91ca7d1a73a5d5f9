"""The names registration agrees on between `kokpit token create`, `kokpit register` and the approver.

A token made for agents carries `AGENT_TOKEN_GROUP` (never the nodes' `system:bootstrappers:kokpit`),
and, when made for one cluster, `bound_group(name)`; the API server hands these groups to every
request made with the token, so the approver and `kokpit register` both read the binding from them.
"""

from __future__ import annotations

from collections.abc import Iterable

AGENT_TOKEN_GROUP = "system:bootstrappers:kokpit:agents"
"""The extra group of every agent registration token; only it may submit agent CSRs."""

BOUND_GROUP_PREFIX = "system:bootstrappers:kokpit:cluster:"
"""A token bound to cluster NAME carries `system:bootstrappers:kokpit:cluster:NAME` as well."""

AGENT_SIGNER = "kubernetes.io/kube-apiserver-client"
"""Agents' client certificates are signed by the hub's controller-manager with the hub CA."""

ANNOTATION_PREFIX = "registration.kokpit.io/"
PROVIDER_ANNOTATION = f"{ANNOTATION_PREFIX}provider"
REGION_ANNOTATION = f"{ANNOTATION_PREFIX}region"
ZONE_ANNOTATION = f"{ANNOTATION_PREFIX}zone"
"""Annotations of a first registration's CSR: where the member runs, copied to its new Cluster."""
TOPOLOGY_ANNOTATIONS = {"provider": PROVIDER_ANNOTATION, "region": REGION_ANNOTATION, "zone": ZONE_ANNOTATION}

USED_BY_ANNOTATION = f"{ANNOTATION_PREFIX}used-by"
"""On a token's Secret: the CSR it registered; any other CSR made with it is denied."""

TOKEN_CLUSTER_LABEL = f"{ANNOTATION_PREFIX}cluster"
"""On a bound token's Secret: the cluster it is for (so `kubectl get secrets -l` finds them)."""

AGENT_TOKEN_LABEL = f"{ANNOTATION_PREFIX}agent-token"

CSR_NAME_PREFIX = "kokpit-agent-"
"""Agents name their CSRs `kokpit-agent-<cluster>-<random>` (a name to read, not a security check)."""

RBAC_PREFIX = "kokpit:agent:"
"""ClusterRole(Binding)s and RoleBindings of an agent are named `kokpit:agent:<cluster>`."""

BOOTSTRAP_ROLE = "kokpit:agent-bootstrapper"
"""The ClusterRole (and binding to `AGENT_TOKEN_GROUP`) letting a token submit and read CSRs."""


def bound_group(cluster: str) -> str:
    """`bound_group("edge1")` is `system:bootstrappers:kokpit:cluster:edge1`."""
    return f"{BOUND_GROUP_PREFIX}{cluster}"


def bound_clusters(groups: Iterable[str]) -> set[str]:
    """`bound_clusters` are the clusters a token's groups bind it to (empty: unbound)."""
    return {g.removeprefix(BOUND_GROUP_PREFIX) for g in groups if g.startswith(BOUND_GROUP_PREFIX)}


def agent_groups(cluster: str | None) -> tuple[str, ...]:
    """`agent_groups` are the extra groups of a token for `cluster` (None: any new cluster)."""
    return (AGENT_TOKEN_GROUP, bound_group(cluster)) if cluster else (AGENT_TOKEN_GROUP,)


def rbac_name(cluster: str) -> str:
    """`rbac_name("edge1")` is `kokpit:agent:edge1`."""
    return f"{RBAC_PREFIX}{cluster}"
