"""Derived names of the fleet: one place for how a member's Secret, client and finalizer are called."""

from __future__ import annotations

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
