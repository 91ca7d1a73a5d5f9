"""Writing to clusters the kokpit way: server-side apply as `kokpit`, status via its subresource,
finalizers with optimistic locking.

Every helper takes a lightkube resource instance, typed (`ConfigMap`) or generic (made with
`lightkube.generic_resource`, e.g. a kokpit CRD), or a resource class plus a name.
"""

from __future__ import annotations

from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.core import resource as lkr
from lightkube.types import PatchType

from .keys import namespace_name, resource_version

FIELD_MANAGER = "kokpit"


async def apply(
    client: AsyncClient,
    obj: Any,
    *,
    field_manager: str = FIELD_MANAGER,
    force: bool = False,
    dry_run: bool = False,
) -> Any:
    """`apply` server-side-applies `obj` (the full desired state of the fields kokpit owns).

    Conflicts with another manager raise `ApiError` (409) unless `force` takes the fields over;
    force only when the caller has decided kokpit is the fields' rightful owner. Pass a freshly
    built object, not one read from a cache (its managedFields would be rejected).
    """
    namespace_name(obj)  # fail early without a name
    return await client.apply(
        obj,
        field_manager=field_manager,
        force=force,
        dry_run=dry_run,
    )


async def patch_status(
    client: AsyncClient,
    resource: type[Any],
    name: str,
    status: dict[str, Any],
    *,
    namespace: str | None = None,
    field_manager: str = FIELD_MANAGER,
    force: bool = True,
) -> Any:
    """`patch_status` server-side-applies `status` on the status subresource of `resource` `name`.

    The apply configuration is the whole status kokpit owns: fields it applied before and leaves
    out now are removed. `force` defaults to true because the controller is the status' only
    writer; pass False to surface conflicts instead.
    """
    info = lkr.api_info(resource).resource
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    body = {"apiVersion": info.api_version, "kind": info.kind, "metadata": metadata, "status": status}
    return await client.patch(
        resource.Status,
        name,
        body,
        namespace=namespace,
        patch_type=PatchType.APPLY,
        field_manager=field_manager,
        force=force,
    )


def _finalizers(obj: Any) -> list[str]:
    meta = obj.metadata
    return list(meta.finalizers or []) if meta is not None else []


async def _patch_finalizers(client: AsyncClient, obj: Any, finalizers: list[str]) -> Any:
    # A merge patch replaces the list, so carry the resourceVersion we read: if anyone changed
    # the object since (e.g. added their own finalizer), the server answers 409 instead of us
    # clobbering them, and the reconcile retries from a fresh cache.
    namespace, name = namespace_name(obj)
    patch = {"metadata": {"finalizers": finalizers, "resourceVersion": resource_version(obj)}}
    return await client.patch(type(obj), name, patch, namespace=namespace, patch_type=PatchType.MERGE)


async def ensure_finalizer(client: AsyncClient, obj: Any, finalizer: str) -> Any:
    """`ensure_finalizer` adds `finalizer` to `obj` unless present; returns the object as it now is.

    Raises `ApiError` 409 when `obj` is stale: let the reconcile fail and retry.
    """
    current = _finalizers(obj)
    if finalizer in current:
        return obj
    return await _patch_finalizers(client, obj, [*current, finalizer])


async def remove_finalizer(client: AsyncClient, obj: Any, finalizer: str) -> Any:
    """`remove_finalizer` removes `finalizer` from `obj` if present; returns the object as it now is.

    Others' finalizers are kept. A 404 (the object is already gone) is not an error: returns None.
    """
    current = _finalizers(obj)
    if finalizer not in current:
        return obj
    try:
        return await _patch_finalizers(client, obj, [f for f in current if f != finalizer])
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise
