"""Install kokpit into a hub API server: its namespace, the CRD of every kokpit resource type, and
what Pull-mode members need to register: `kube-public/cluster-info` (the hub's CA, readable
anonymously, so `kokpit register` can check it against the pin of `kokpit token create`) and the
right of agent tokens to submit CSRs.

Everything is server-side applied with field manager `kokpit` and `force`, so running it again changes
nothing, and running a newer kokpit upgrades the CRDs in place to the schemas its models describe. A
CRD's conversion webhook, registered by the serving hub replica (`kokpit.hub.webhooks`), is kept.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import ConfigMap, Namespace
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding, Role, RoleBinding
from lightkube.types import PatchType

from kokpit.api.crd import ConversionWebhook, ResourceType, crd_manifest, needs_conversion
from kokpit.api.registry import ALL_RESOURCES
from kokpit.controlplane import bootstrap_tokens
from kokpit.errors import KokpitError
from kokpit.fleet.registration.names import BOOTSTRAP_ROLE
from kokpit.fleet.registration.rbac import bootstrap_rbac

FIELD_MANAGER = "kokpit"
NAMESPACE = "kokpit-system"
"""Where kokpit keeps its own objects in the hub, such as the kubeconfig Secrets of Push clusters."""


async def install(
    client: AsyncClient,
    *,
    resources: Sequence[ResourceType] = ALL_RESOURCES,
    wait_seconds: float = 60.0,
) -> list[str]:
    """`install` applies the `kokpit-system` namespace and the CRD of each of `resources`, then waits up to
    `wait_seconds` seconds for every CRD to be Established.

    Returns one line per object, `<kind>/<name> <created|configured|unchanged>`. Raises `KokpitError`
    when the API server rejects an object or a CRD does not become Established; lets `ApiError` and
    transport errors of unexpected kinds through.
    """
    report: list[str] = []
    namespace = Namespace(
        metadata=ObjectMeta(name=NAMESPACE, labels={"app.kubernetes.io/part-of": "kokpit"}),
    )
    report.append(await _apply(client, Namespace, NAMESPACE, namespace, kind="namespace"))
    for resource in resources:
        manifest = crd_manifest(resource, await _registered_conversion(client, resource))
        report.append(
            await _apply(
                client, CustomResourceDefinition, resource.crd_name, manifest, kind="customresourcedefinition"
            )
        )
    await asyncio.gather(
        *(_wait_established(client, r.crd_name, wait_seconds=wait_seconds) for r in resources)
    )
    report.extend(await install_registration(client))
    return report


async def _registered_conversion(client: AsyncClient, resource: ResourceType) -> ConversionWebhook | None:
    """The conversion webhook the serving hub replica registered on `resource`'s CRD, kept as is (only
    that replica knows its address); None when there is none yet, or the type needs no conversion."""
    if not needs_conversion(resource):
        return None
    try:
        crd = await client.get(CustomResourceDefinition, resource.crd_name)
    except ApiError as error:
        if error.status.code == 404:
            return None
        raise
    conversion = crd.spec.conversion
    webhook = conversion.webhook if conversion is not None and conversion.strategy == "Webhook" else None
    config = webhook.clientConfig if webhook is not None else None
    if config is None or not config.url or not config.caBundle:
        return None
    return ConversionWebhook(url=config.url, ca_bundle=config.caBundle)


async def install_registration(client: AsyncClient) -> list[str]:
    """`install_registration` publishes `kube-public/cluster-info` (server and CA of the hub as
    `client` reaches it), lets anonymous clients read it, and lets agent tokens submit CSRs."""
    ca_pem = await hub_ca(client)
    configmap = bootstrap_tokens.cluster_info_configmap(client.config.cluster.server, ca_pem)
    role, binding = bootstrap_tokens.cluster_info_rbac()
    cluster_role, cluster_binding = bootstrap_rbac()
    namespace = bootstrap_tokens.CLUSTER_INFO_NAMESPACE
    reader = bootstrap_tokens.CLUSTER_INFO_READER
    return [
        await _apply(
            client,
            ConfigMap,
            bootstrap_tokens.CLUSTER_INFO_NAME,
            configmap,
            kind="configmap",
            namespace=namespace,
        ),
        await _apply(client, Role, reader, role, kind="role", namespace=namespace),
        await _apply(client, RoleBinding, reader, binding, kind="rolebinding", namespace=namespace),
        await _apply(client, ClusterRole, BOOTSTRAP_ROLE, cluster_role, kind="clusterrole"),
        await _apply(client, ClusterRoleBinding, BOOTSTRAP_ROLE, cluster_binding, kind="clusterrolebinding"),
    ]


async def hub_ca(client: AsyncClient) -> bytes:
    """`hub_ca` is the PEM CA the hub's kubeconfig trusts, else the one the hub publishes in
    `kube-public/kube-root-ca.crt`; `KokpitError` when neither is there."""
    cluster = client.config.cluster
    if cluster.certificate_auth_data:
        return base64.b64decode(cluster.certificate_auth_data)
    if cluster.certificate_auth:
        path = Path(client.config.abs_file(cluster.certificate_auth))
        return await asyncio.to_thread(path.read_bytes)
    try:
        root = await client.get(ConfigMap, "kube-root-ca.crt", namespace="kube-public")
    except ApiError as error:
        raise KokpitError(
            f"the hub's CA is unknown: its kubeconfig has none ({error.status.message})"
        ) from None
    pem = str((root.data or {}).get("ca.crt") or "")
    if not pem:
        raise KokpitError(
            "the hub's CA is unknown: neither its kubeconfig nor kube-public/kube-root-ca.crt has it"
        )
    return pem.encode()


async def _apply(
    client: AsyncClient, res: Any, name: str, body: Any, *, kind: str, namespace: str | None = None
) -> str:
    before = await _resource_version(client, res, name, namespace=namespace)
    try:
        applied = await client.patch(
            res,
            name,
            body,
            namespace=namespace,
            patch_type=PatchType.APPLY,
            field_manager=FIELD_MANAGER,
            force=True,
        )
    except ApiError as error:
        raise KokpitError(f"{kind}/{name}: {error.status.message}") from error
    if before is None:
        outcome = "created"
    elif applied.metadata is not None and applied.metadata.resourceVersion == before:
        outcome = "unchanged"
    else:
        outcome = "configured"
    return f"{kind}/{name} {outcome}"


async def _resource_version(
    client: AsyncClient, res: Any, name: str, *, namespace: str | None = None
) -> str | None:
    try:
        obj = await client.get(res, name, namespace=namespace)
    except ApiError as error:
        if error.status.code == 404:
            return None
        raise
    return None if obj.metadata is None else str(obj.metadata.resourceVersion)


async def _wait_established(client: AsyncClient, name: str, *, wait_seconds: float) -> None:
    try:
        async with asyncio.timeout(wait_seconds):
            while True:
                conditions = await _conditions(client, name)
                if conditions.get("Established", ("", ""))[0] == "True":
                    return
                await asyncio.sleep(0.2)
    except TimeoutError:
        conditions = await _conditions(client, name)
        detail = (
            "; ".join(f"{t}={s}: {m}" for t, (s, m) in conditions.items() if s != "True") or "no conditions"
        )
        raise KokpitError(
            f"customresourcedefinition/{name} not Established after {wait_seconds:g}s ({detail})"
        ) from None


async def _conditions(client: AsyncClient, name: str) -> dict[str, tuple[str, str]]:
    crd = await client.get(CustomResourceDefinition, name)
    conditions = (crd.status.conditions if crd.status is not None else None) or []
    return {c.type: (c.status, c.message or "") for c in conditions}
