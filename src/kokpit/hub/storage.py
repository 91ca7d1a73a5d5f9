"""Storage migration: every stored object of a kokpit type rewritten in its storage version.

An object is kept in etcd in the version that was the storage version when it was last written; the
CRD's `status.storedVersions` lists every version that may still be there, and a version can only be
dropped from the CRD once it is gone from that list. `migrate_storage` does what the Kubernetes
storage-version migrator does: it writes every object back unchanged (a PUT of what it read, so the API
server encodes it again, now in the storage version; a conflict with a concurrent writer is read again
and retried, a write that changed it since already re-encoded it), then sets `storedVersions` to the
storage version alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lightkube import ALL_NS, ApiError, AsyncClient
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.types import PatchType

from kokpit.api.crd import ResourceType
from kokpit.api.registry import ALL_RESOURCES
from kokpit.errors import KokpitError
from kokpit.runtime.resources import resource_class

ATTEMPTS = 5
"""Conflicting rewrites of one object before giving up (each one re-reads it)."""


@dataclass(frozen=True)
class Migration:
    """What one migration did."""

    resource: str
    rewritten: int
    """Objects written back in the storage version."""
    stored_versions: list[str]
    """`status.storedVersions` before the migration."""
    storage_version: str


def resource_by_plural(plural: str, resources: Sequence[ResourceType] = ALL_RESOURCES) -> ResourceType:
    """`resource_by_plural` is the kokpit type named `plural` (`components`), or a one-line error."""
    for resource in resources:
        if plural in (resource.plural, resource.crd_name):
            return resource
    known = ", ".join(sorted(r.plural for r in resources))
    raise KokpitError(f"no kokpit resource {plural!r} (one of {known})")


async def _rewrite(client: AsyncClient, resource: type[Any], obj: Any) -> bool:
    """Writes `obj` back unchanged; False when it was deleted meanwhile."""
    current = obj
    for _ in range(ATTEMPTS):
        try:
            await client.replace(current)
            return True
        except ApiError as error:
            if error.status.code == 404:
                return False
            if error.status.code != 409:
                raise
        try:
            current = await client.get(resource, current.metadata.name, namespace=current.metadata.namespace)
        except ApiError as error:
            if error.status.code == 404:
                return False
            raise
    raise KokpitError(f"{current.metadata.name}: still conflicting after {ATTEMPTS} attempts, try again")


async def migrate_storage(client: AsyncClient, resource: ResourceType) -> Migration:
    """`migrate_storage` rewrites every object of `resource` in its storage version, then records that
    only that version is stored."""
    try:
        crd = await client.get(CustomResourceDefinition, resource.crd_name)
    except ApiError as error:
        if error.status.code == 404:
            raise KokpitError(f"{resource.crd_name} is not installed: run kokpit install") from None
        raise
    before = list(crd.status.storedVersions or []) if crd.status is not None else []
    cls = resource_class(resource)
    rewritten = 0
    async for obj in client.list(cls, namespace=ALL_NS if resource.scope == "Namespaced" else None):
        rewritten += await _rewrite(client, cls, obj)
    await client.patch(
        CustomResourceDefinition.Status,
        resource.crd_name,
        {"status": {"storedVersions": [resource.version]}},
        patch_type=PatchType.MERGE,
    )
    return Migration(
        resource=resource.crd_name,
        rewritten=rewritten,
        stored_versions=before,
        storage_version=resource.version,
    )
