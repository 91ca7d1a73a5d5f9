"""Derived names of the fleet: one place for how a member's Secret, client and finalizer are called."""

from __future__ import annotations

import hashlib
import re

from kokpit.api.cluster import SECRET_NAMESPACE

KUBECONFIG_KEY = "kubeconfig"
"""The key of a member's kubeconfig in its Secret."""

CLUSTER_FINALIZER = "cluster.kokpit.io/cleanup"
"""Held on every Cluster until the hub has let go of the member (its client, its health state)."""

HEALTH_FIELD_MANAGER = "kokpit-cluster-health"
"""The field manager of the health taints, so applying them never touches the rest of the spec."""

RESERVED_NAMES = frozenset({"hub"})
"""Names a member cannot take: `hub` is the hub's own client."""

_CLIENT_PREFIX = "member/"


def kubeconfig_secret_name(cluster: str) -> str:
    """`kubeconfig_secret_name("member1")` is `member1-kubeconfig` (in `kokpit-system`)."""
    return f"{cluster}-kubeconfig"


def kubeconfig_secret_ref(cluster: str) -> dict[str, str]:
    return {"namespace": SECRET_NAMESPACE, "name": kubeconfig_secret_name(cluster)}


def member_client_name(cluster: str) -> str:
    """The name of a member's API client in the manager's registry (never clashes with `hub`)."""
    return f"{_CLIENT_PREFIX}{cluster}"


def cluster_of_client(name: str) -> str | None:
    """The member behind a client name, or None for the hub's own client."""
    return name.removeprefix(_CLIENT_PREFIX) if name.startswith(_CLIENT_PREFIX) else None


# --- Pull mode: the agent's identity and where it keeps its state on the hub ----------------------

AGENT_USER_PREFIX = "system:kokpit:agent:"
"""An agent's user name on the hub is `system:kokpit:agent:<cluster>` (the CN of its certificate)."""

AGENTS_GROUP = "kokpit:agents"
"""The group (certificate O) of every agent; RBAC grants per cluster, never to the group as a whole."""

AGENT_LEASE_NAME = "kokpit-agent"
"""The Lease an agent renews in its cluster's execution namespace; the hub judges its health by it."""

AGENT_FIELD_MANAGER = "kokpit-agent"
"""The field manager of what an agent writes to its Cluster's status."""

HUB_ENDPOINTS_NAMESPACE = "kube-public"
HUB_ENDPOINTS_CONFIGMAP = "kokpit-hub-endpoints"
"""Where the hub process publishes its tunnel and proxy URLs and the CA that signs their certificate."""


def agent_user(cluster: str) -> str:
    """`agent_user("edge1")` is `system:kokpit:agent:edge1`."""
    return f"{AGENT_USER_PREFIX}{cluster}"


def cluster_of_agent_user(user: str) -> str | None:
    """The cluster an agent user name stands for, or None when `user` is no agent."""
    if not user.startswith(AGENT_USER_PREFIX):
        return None
    return user.removeprefix(AGENT_USER_PREFIX) or None


# --- execution namespaces: a member's namespace on the hub -----------------------------------------
# Its Works (delivery) and its agent's Lease (Pull mode) live there; delivery's names build on these.

EXECUTION_NAMESPACE_PREFIX = "kokpit-es-"
"""Prefix of the per-member namespaces on the hub holding the member's Works."""

DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253
LABEL_VALUE_MAX = 63
HASH_LENGTH = 10
HASH_SEPARATOR = "--"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def short_hash(*parts: str) -> str:
    """`short_hash` is a stable 10-hex-digit digest of `parts` (sha256, parts separated unambiguously)."""
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    return digest[:HASH_LENGTH]


def hashed_name(text: str, *, limit: int, allowed: str) -> str:
    """`text` made of `allowed` characters, shortened to fit `limit` with the `--<hash>` suffix."""
    cleaned = re.sub(f"[^{allowed}]", "-", text.lower())
    keep = limit - len(HASH_SEPARATOR) - HASH_LENGTH
    head = cleaned[:keep].strip("-.")
    suffix = HASH_SEPARATOR + short_hash(text)
    return f"{head}{suffix}" if head else suffix.lstrip("-")


def fit_label(text: str, *, limit: int = DNS_LABEL_MAX) -> str:
    """`fit_label` is `text` if it is a DNS label of at most `limit` characters without `--`, else its
    shortened `--<hash>` form."""
    if len(text) <= limit and _DNS_LABEL.match(text) and HASH_SEPARATOR not in text:
        return text
    return hashed_name(text, limit=limit, allowed="a-z0-9-")


def label_value(text: str) -> str:
    """`label_value` is `text` if it is a valid label value without `--`, else a shortened `--<hash>` form.
    The full text belongs in the annotation of the same key."""
    if len(text) <= LABEL_VALUE_MAX and _LABEL_VALUE.match(text) and HASH_SEPARATOR not in text:
        return text
    return hashed_name(text, limit=LABEL_VALUE_MAX, allowed="A-Za-z0-9_.-")


def execution_namespace(cluster: str) -> str:
    """`execution_namespace` is the hub namespace holding the Works of `cluster`: `kokpit-es-<cluster>`.

    Cluster names that are DNS labels of at most 53 characters without `--` map one to one; others get a
    shortened hashed form, whose namespace carries the `kokpit.io/cluster` annotation."""
    if not cluster:
        raise ValueError("a cluster name must not be empty")
    suffix_limit = DNS_LABEL_MAX - len(EXECUTION_NAMESPACE_PREFIX)
    return EXECUTION_NAMESPACE_PREFIX + fit_label(cluster, limit=suffix_limit)


def cluster_from_execution_namespace(namespace: str) -> str | None:
    """`cluster_from_execution_namespace` inverts `execution_namespace`: the cluster name, or None when
    `namespace` is not an execution namespace or is in hashed form (read its `kokpit.io/cluster`
    annotation then)."""
    if not namespace.startswith(EXECUTION_NAMESPACE_PREFIX):
        return None
    cluster = namespace[len(EXECUTION_NAMESPACE_PREFIX) :]
    if not cluster or HASH_SEPARATOR in cluster or execution_namespace(cluster) != namespace:
        return None
    return cluster
