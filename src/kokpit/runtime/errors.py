"""What API errors mean to a controller, said once: "404 means absent"."""

from __future__ import annotations

from typing import Any

from lightkube import ApiError, AsyncClient


def is_not_found(error: BaseException) -> bool:
    """`is_not_found` is true for an API error 404 (the object, or its kind, does not exist)."""
    return isinstance(error, ApiError) and error.status.code == 404


async def get_or_none(
    client: AsyncClient, resource: type[Any], name: str, *, namespace: str | None = None
) -> Any:
    """`get_or_none` GETs `name`; None when the API server says it does not exist."""
    try:
        return await client.get(resource, name, namespace=namespace)
    except ApiError as error:
        if is_not_found(error):
            return None
        raise


async def delete_if_present(
    client: AsyncClient, resource: type[Any], name: str, *, namespace: str | None = None, **options: Any
) -> bool:
    """`delete_if_present` deletes `name`; returns False when it was already gone."""
    try:
        await client.delete(resource, name, namespace=namespace, **options)
    except ApiError as error:
        if is_not_found(error):
            return False
        raise
    return True
