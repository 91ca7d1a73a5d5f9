"""Install kokpit into a hub API server: its namespace and the CRD of every kokpit resource type.

Everything is server-side applied with field manager `kokpit` and `force`, so running it again changes
nothing, and running a newer kokpit upgrades the CRDs in place to the schemas its models describe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

from kokpit.api.crd import ResourceType, crd_manifest
from kokpit.api.registry import ALL_RESOURCES
from kokpit.errors import KokpitError

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
        manifest = crd_manifest(resource)
        report.append(
            await _apply(
                client, CustomResourceDefinition, resource.crd_name, manifest, kind="customresourcedefinition"
            )
        )
    await asyncio.gather(
        *(_wait_established(client, r.crd_name, wait_seconds=wait_seconds) for r in resources)
    )
    return report


async def _apply(client: AsyncClient, res: Any, name: str, body: Any, *, kind: str) -> str:
    before = await _resource_version(client, res, name)
    try:
        applied = await client.patch(
            res, name, body, patch_type=PatchType.APPLY, field_manager=FIELD_MANAGER, force=True
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


async def _resource_version(client: AsyncClient, res: Any, name: str) -> str | None:
    try:
        obj = await client.get(res, name)
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
