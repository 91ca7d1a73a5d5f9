"""The Machine's side of the join: a bootstrap kubeconfig on the host, then its Node in the target cluster.

The token and RBAC come from `kokpit.machines.join` (what a target cluster needs for TLS bootstrap);
here is when and where: the bootstrap kubeconfig is written (0600) just before a component that
uses it (its rendered scripts or files name `cluster.bootstrapKubeconfig`, normally the kubelet)
is installed or configured, so no token is made for a host whose container runtime never came up.
Tokens carry the Machine's uid as a label and are revoked once the Node registered (the kubelet has
its own certificate by then) and when the Machine goes.

`node_conditions` is the pure reading of a Node: registered or not, Ready or not, and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from kokpit.machines.join import (
    TOKEN_NAMESPACE,
    bootstrap_kubeconfig,
    create_bootstrap_token,
    delete_bootstrap_token,
    ensure_node_bootstrap_rbac,
)
from kokpit.machines.ssh import Session
from kokpit.machines.targets import TargetAccess
from kokpit.runtime import Condition, delete_if_present, get_or_none
from kokpit.runtime.resources import PlainNode

MACHINE_UID_LABEL = "machines.kokpit.io/machine-uid"
TOKEN_TTL = timedelta(hours=1)
NODE_JOINED = "NodeJoined"
NODE_HEALTHY = "NodeHealthy"


def uses_bootstrap(texts: Sequence[str], path: str) -> bool:
    """`uses_bootstrap` is true when any of a component's rendered `texts` (scripts, file contents)
    names the bootstrap kubeconfig `path`."""
    return any(path in text for text in texts)


async def write_bootstrap_kubeconfig(
    session: Session, client: AsyncClient, access: TargetAccess, *, path: str, machine: str, uid: str
) -> None:
    """`write_bootstrap_kubeconfig` makes sure the target cluster has the bootstrap RBAC, creates a
    token for this Machine and writes the kubeconfig holding it to `path` on the host, mode 0600."""
    await ensure_node_bootstrap_rbac(client)
    token = await create_bootstrap_token(
        client,
        description=f"kokpit machine {machine}",
        ttl=TOKEN_TTL,
        labels={MACHINE_UID_LABEL: uid},
    )
    text = bootstrap_kubeconfig(access.server, access.ca_data, token)
    await session.upload(text.encode(), path, 0o600)


async def revoke_tokens(client: AsyncClient, uid: str) -> int:
    """`revoke_tokens` deletes every bootstrap token made for the Machine `uid`; returns how many."""
    revoked = 0
    async for secret in client.list(Secret, namespace=TOKEN_NAMESPACE, labels={MACHINE_UID_LABEL: uid}):
        token_id = str(secret.metadata.name if secret.metadata else "").removeprefix("bootstrap-token-")
        if await delete_bootstrap_token(client, token_id):
            revoked += 1
    return revoked


@dataclass(frozen=True)
class NodeView:
    """What the Machine needs of its Node."""

    registered: bool
    ready: str = "Unknown"
    """The Node's Ready condition status: True, False or Unknown."""
    reason: str = ""
    message: str = ""
    labels: Mapping[str, str] | None = None
    taints: tuple[tuple[str, str, str], ...] = ()
    """(key, value, effect) of each taint."""


def node_view(node: Any) -> NodeView:
    """`node_view` reads a Node (a plain dict) or None."""
    if node is None:
        return NodeView(registered=False)
    ready = next(
        (c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None
    )
    taints = tuple(
        (str(t.get("key")), str(t.get("value") or ""), str(t.get("effect")))
        for t in (node.get("spec") or {}).get("taints") or []
    )
    return NodeView(
        registered=True,
        ready=str((ready or {}).get("status") or "Unknown"),
        reason=str((ready or {}).get("reason") or ""),
        message=str((ready or {}).get("message") or ""),
        labels=dict((node.get("metadata") or {}).get("labels") or {}),
        taints=taints,
    )


def node_conditions(name: str, view: NodeView) -> tuple[Condition, Condition]:
    """`node_conditions` is (NodeJoined, NodeHealthy) for the Node `name` as seen."""
    if not view.registered:
        return (
            Condition.false(NODE_JOINED, "WaitingForNode", f"node {name} has not registered yet"),
            Condition.unknown(NODE_HEALTHY, "WaitingForNode", f"node {name} has not registered yet"),
        )
    joined = Condition.true(NODE_JOINED, "NodeRegistered", f"node {name}")
    detail = f"node {name}: {view.reason or 'Ready ' + view.ready}" + (
        f": {view.message}" if view.message else ""
    )
    if view.ready == "True":
        return joined, Condition.true(NODE_HEALTHY, view.reason or "KubeletReady", detail)
    if view.ready == "False":
        return joined, Condition.false(NODE_HEALTHY, view.reason or "NodeNotReady", detail)
    return joined, Condition.unknown(NODE_HEALTHY, view.reason or "NodeStatusUnknown", detail)


def label_patch(view: NodeView, labels: Mapping[str, str]) -> dict[str, str]:
    """`label_patch` is the labels of `labels` the Node lacks or has with another value (pure)."""
    have = view.labels or {}
    return {k: v for k, v in sorted(labels.items()) if have.get(k) != v}


async def read_node(client: AsyncClient, name: str) -> NodeView:
    return node_view(await get_or_none(client, PlainNode, name))


async def label_node(client: AsyncClient, name: str, labels: Mapping[str, str]) -> None:
    """`label_node` merges `labels` into the Node's labels (others' labels are kept)."""
    await client.patch(PlainNode, name, {"metadata": {"labels": dict(labels)}}, patch_type=PatchType.MERGE)


async def delete_node(client: AsyncClient, name: str) -> bool:
    """`delete_node` deletes the Node; False when it was gone already."""
    return await delete_if_present(client, PlainNode, name)
