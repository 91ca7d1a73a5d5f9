"""What an agent may do on the hub: its own cluster's objects and nothing else (pure).

Granted to the agent's user (`system:kokpit:agent:<cluster>`), never to `kokpit:agents`, so one
agent's certificate is no key to another cluster:

- in its execution namespace (Role `kokpit:agent`): read and update its Works and their status,
  keep its Lease, write Events;
- cluster-wide, narrowed by name (ClusterRole `kokpit:agent:<cluster>`): read its `Cluster` (list
  and watch only with `fieldSelector=metadata.name=<cluster>`) and update its status; submit and
  read CSRs to renew its certificate;
- in kube-public: read the hub's published endpoints (`kokpit-hub-endpoints`);
- cluster-wide, read only: the hub's `ResourceInterpreter`s, so the agent judges the health of a custom
  kind's copies with the same CEL rules as the hub does for Push members (they hold no secrets and are
  the same for every cluster).

Every object is owned by the Cluster, so the hub's garbage collector takes them when it goes.
"""

from __future__ import annotations

from typing import Any

from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding, Role, RoleBinding

from kokpit.api.cluster import CLUSTER
from kokpit.api.interpreter import RESOURCE_INTERPRETER
from kokpit.api.work import GROUP as WORK_GROUP
from kokpit.fleet.names import HUB_ENDPOINTS_CONFIGMAP, HUB_ENDPOINTS_NAMESPACE, agent_user
from kokpit.fleet.registration.names import AGENT_TOKEN_GROUP, BOOTSTRAP_ROLE, rbac_name

RBAC_GROUP = "rbac.authorization.k8s.io"
NAMESPACE_ROLE = "kokpit:agent"
"""The Role in each execution namespace (one namespace per cluster, so one name serves all)."""
LABELS = {"app.kubernetes.io/managed-by": "kokpit", "app.kubernetes.io/component": "agent-rbac"}

CSR_RULE = PolicyRule(
    apiGroups=["certificates.k8s.io"],
    resources=["certificatesigningrequests"],
    verbs=["create", "get", "list", "watch"],
)


def namespace_rules() -> list[PolicyRule]:
    """The agent's rights in its execution namespace."""
    return [
        PolicyRule(
            apiGroups=[WORK_GROUP], resources=["works"], verbs=["get", "list", "watch", "patch", "update"]
        ),
        PolicyRule(apiGroups=[WORK_GROUP], resources=["works/status"], verbs=["get", "patch", "update"]),
        PolicyRule(
            apiGroups=["coordination.k8s.io"],
            resources=["leases"],
            verbs=["get", "create", "update", "patch"],
        ),
        PolicyRule(apiGroups=["", "events.k8s.io"], resources=["events"], verbs=["create", "patch"]),
    ]


def cluster_rules(cluster: str) -> list[PolicyRule]:
    """The agent's cluster-wide rights: its own Cluster by name, reading interpreters, CSRs for renewal."""
    return [
        PolicyRule(
            apiGroups=[CLUSTER.group],
            resources=[CLUSTER.plural],
            resourceNames=[cluster],
            verbs=["get", "list", "watch"],
        ),
        PolicyRule(
            apiGroups=[CLUSTER.group],
            resources=[f"{CLUSTER.plural}/status"],
            resourceNames=[cluster],
            verbs=["get", "patch", "update"],
        ),
        PolicyRule(
            apiGroups=[RESOURCE_INTERPRETER.group],
            resources=[RESOURCE_INTERPRETER.plural],
            verbs=["get", "list", "watch"],
        ),
        CSR_RULE,
    ]


def owner_reference(cluster: str, uid: str) -> OwnerReference:
    return OwnerReference(apiVersion=CLUSTER.api_version, kind=CLUSTER.kind, name=cluster, uid=uid)


def agent_rbac(cluster: str, *, namespace: str, cluster_uid: str) -> list[Any]:
    """`agent_rbac` is every RBAC object of the agent of `cluster`, whose Works live in `namespace`."""
    owners = [owner_reference(cluster, cluster_uid)]
    name = rbac_name(cluster)
    subject = [Subject(kind="User", apiGroup=RBAC_GROUP, name=agent_user(cluster))]

    def meta(object_name: str, object_namespace: str | None = None) -> ObjectMeta:
        return ObjectMeta(
            name=object_name,
            namespace=object_namespace,
            labels={**LABELS, "kokpit.io/cluster": cluster},
            ownerReferences=owners,
        )

    return [
        ClusterRole(metadata=meta(name), rules=cluster_rules(cluster)),
        ClusterRoleBinding(
            metadata=meta(name),
            roleRef=RoleRef(apiGroup=RBAC_GROUP, kind="ClusterRole", name=name),
            subjects=subject,
        ),
        Role(metadata=meta(NAMESPACE_ROLE, namespace), rules=namespace_rules()),
        RoleBinding(
            metadata=meta(name, namespace),
            roleRef=RoleRef(apiGroup=RBAC_GROUP, kind="Role", name=NAMESPACE_ROLE),
            subjects=subject,
        ),
        Role(
            metadata=meta(name, HUB_ENDPOINTS_NAMESPACE),
            rules=[
                PolicyRule(
                    apiGroups=[""],
                    resources=["configmaps"],
                    resourceNames=[HUB_ENDPOINTS_CONFIGMAP],
                    verbs=["get"],
                )
            ],
        ),
        RoleBinding(
            metadata=meta(name, HUB_ENDPOINTS_NAMESPACE),
            roleRef=RoleRef(apiGroup=RBAC_GROUP, kind="Role", name=name),
            subjects=subject,
        ),
    ]


def bootstrap_rbac() -> list[Any]:
    """`bootstrap_rbac` lets agent tokens (`AGENT_TOKEN_GROUP`) submit and read CSRs, nothing more;
    installed once per hub by `kokpit install`."""
    labels = {"app.kubernetes.io/managed-by": "kokpit"}
    return [
        ClusterRole(metadata=ObjectMeta(name=BOOTSTRAP_ROLE, labels=labels), rules=[CSR_RULE]),
        ClusterRoleBinding(
            metadata=ObjectMeta(name=BOOTSTRAP_ROLE, labels=labels),
            roleRef=RoleRef(apiGroup=RBAC_GROUP, kind="ClusterRole", name=BOOTSTRAP_ROLE),
            subjects=[Subject(kind="Group", apiGroup=RBAC_GROUP, name=AGENT_TOKEN_GROUP)],
        ),
    ]
