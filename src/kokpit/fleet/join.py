"""Joining a member to the fleet (Push mode): check it, store its kubeconfig, create its Cluster.

`join` refuses anything that would leave a broken Cluster behind: a kubeconfig that cannot be read,
a context that does not exist, a member that does not answer, credentials that may not do what
kokpit needs, or a name already taken. Only then are the Secret and the Cluster written.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lightkube import ApiError, AsyncClient
from lightkube.models.authorization_v1 import ResourceAttributes, SelfSubjectAccessReviewSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.authorization_v1 import SelfSubjectAccessReview
from lightkube.resources.core_v1 import Secret

from kokpit.api.cluster import CLUSTER, SECRET_NAMESPACE
from kokpit.errors import KokpitError
from kokpit.fleet.kubeconfigs import (
    flatten,
    read_kubeconfig,
    refuse_credential_plugins,
    server_of,
    user_of,
)
from kokpit.fleet.members import ClusterResource
from kokpit.fleet.names import KUBECONFIG_KEY, RESERVED_NAMES, kubeconfig_secret_name, kubeconfig_secret_ref
from kokpit.runtime.clients import make_client
from kokpit.runtime.raw import get_raw

# What kokpit does in a member: create any kind anywhere (delivery), read nodes and pods (capacity).
REQUIRED_ACCESS: tuple[tuple[str, str, str], ...] = (
    ("*", "*", "*"),
    ("list", "", "nodes"),
    ("list", "", "pods"),
    ("create", "", "namespaces"),
)


class JoinError(KokpitError):
    """The member cannot join; the message says why in one line."""


@dataclass(frozen=True)
class JoinRequest:
    name: str
    kubeconfig: Path
    context: str | None = None
    provider: str | None = None
    region: str | None = None
    zone: str | None = None
    allow_exec_credentials: bool = False
    """Accept a kubeconfig with an exec/auth-provider plugin (only useful with a hub that allows them)."""


async def check_member(client: AsyncClient, *, server: str, user: str, timeout: float = 10.0) -> str:
    """Checks the member answers and lets `user` do what kokpit needs; returns its version."""
    try:
        response = await asyncio.wait_for(get_raw(client, "/version", timeout=timeout), timeout)
    except Exception as error:  # any failure to get an answer
        reason = str(error).strip() or type(error).__name__
        raise JoinError(f"member at {server} is unreachable: {reason}") from None
    if response.status_code == 401:
        raise JoinError(
            f"member at {server} does not accept the credentials of user {user!r} (401 Unauthorized)"
        )
    if response.status_code != 200:
        raise JoinError(f"member at {server} answered /version with HTTP {response.status_code}")
    denied = []
    for verb, group, resource in REQUIRED_ACCESS:
        review = SelfSubjectAccessReview(
            metadata=ObjectMeta(),
            spec=SelfSubjectAccessReviewSpec(
                resourceAttributes=ResourceAttributes(verb=verb, group=group, resource=resource)
            ),
        )
        try:
            answer = await client.create(review)
        except ApiError as error:
            raise JoinError(f"member at {server} refused an access review: {error.status.message}") from None
        if not (answer.status and answer.status.allowed):
            denied.append(f"{verb} {resource}" + (f".{group}" if group and group != "*" else ""))
    if denied:
        raise JoinError(
            f"user {user!r} may not do what kokpit needs in the member (cluster-admin): "
            f"denied {', '.join(denied)}"
        )
    return str(response.json().get("gitVersion", ""))


def cluster_manifest(request: JoinRequest, *, server: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "syncMode": "Push",
        "apiEndpoint": server,
        "secretRef": kubeconfig_secret_ref(request.name),
    }
    for field, value in (("provider", request.provider), ("region", request.region), ("zone", request.zone)):
        if value:
            spec[field] = value
    return {
        "apiVersion": CLUSTER.api_version,
        "kind": CLUSTER.kind,
        "metadata": {"name": request.name},
        "spec": spec,
    }


async def join(hub: AsyncClient, request: JoinRequest) -> str:
    """Joins the member; returns its Kubernetes version. Writes nothing unless every check passed."""
    if request.name in RESERVED_NAMES:
        raise JoinError(f"{request.name!r} is reserved; choose another cluster name")
    flat = flatten(read_kubeconfig(request.kubeconfig), path=request.kubeconfig, context=request.context)
    if not request.allow_exec_credentials:
        refuse_credential_plugins(flat, source=f"kubeconfig {request.kubeconfig}")
    server = server_of(flat)
    try:
        member = make_client(request.name, flat, qps=None)
    except Exception as error:
        raise JoinError(f"kubeconfig {request.kubeconfig} cannot be used: {error}") from None
    try:
        version = await check_member(member, server=server, user=user_of(flat))
    finally:
        await member.close()
    try:
        await hub.get(ClusterResource, request.name)
    except ApiError as error:
        if error.status.code != 404:
            raise JoinError(
                f"the hub refused to look up cluster {request.name}: {error.status.message}"
            ) from None
    else:
        raise JoinError(f"cluster {request.name!r} is already joined (kokpit unjoin {request.name} first)")

    secret = Secret(
        metadata=ObjectMeta(
            name=kubeconfig_secret_name(request.name),
            namespace=SECRET_NAMESPACE,
            labels={"kokpit.io/cluster": request.name},
        ),
        type="Opaque",
        data={KUBECONFIG_KEY: base64.b64encode(yaml.safe_dump(flat).encode()).decode()},
    )
    try:
        await hub.apply(secret, field_manager="kokpit", force=True)
        await hub.create(ClusterResource.from_dict(cluster_manifest(request, server=server)))
    except ApiError as error:
        raise JoinError(f"the hub refused cluster {request.name}: {error.status.message}") from None
    return version


async def unjoin(hub: AsyncClient, name: str, *, wait_seconds: float = 30.0) -> None:
    """Deletes the Cluster (its finalizer lets the controllers let go) and then its Secret."""
    try:
        await hub.delete(ClusterResource, name)
    except ApiError as error:
        if error.status.code == 404:
            raise JoinError(f"cluster {name!r} is not joined") from None
        raise JoinError(f"the hub refused to delete cluster {name}: {error.status.message}") from None
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while asyncio.get_running_loop().time() < deadline:
        try:
            await hub.get(ClusterResource, name)
        except ApiError as error:
            if error.status.code == 404:
                break
            raise
        await asyncio.sleep(0.2)
    else:
        raise JoinError(
            f"cluster {name} is still being deleted after {wait_seconds:.0f}s (is `kokpit hub run` up?)"
        )
    try:
        await hub.delete(Secret, kubeconfig_secret_name(name), namespace=SECRET_NAMESPACE)
    except ApiError as error:
        if error.status.code != 404:
            raise
