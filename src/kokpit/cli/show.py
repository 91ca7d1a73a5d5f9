"""What every `get` and `describe` command shares: the options kubectl users expect, kubectl's AGE,
a condition by type, lightkube objects as plain data, and an object's recent Events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

import typer
from lightkube import ApiError, AsyncClient
from lightkube.resources.events_v1 import Event

NamespaceOption = Annotated[str, typer.Option("--namespace", "-n", help="Namespace on the hub.")]
AllNamespacesOption = Annotated[bool, typer.Option("--all-namespaces", "-A", help="Every namespace.")]
OutputOption = Annotated[str, typer.Option("-o", "--output", help="table, yaml or json")]
EVENTS_SHOWN = 10


def condition_of(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == type_), {})


def age(timestamp: str | None, now: datetime) -> str:
    """`age` is kubectl's AGE column: `3d`, `5h`, `12m`, `40s`."""
    if not timestamp:
        return ""
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return ""
    seconds = int((now - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def as_plain(obj: Any) -> dict[str, Any]:
    """A lightkube object as plain JSON data (times as strings)."""
    plain: dict[str, Any] = json.loads(
        json.dumps(obj.to_dict() if hasattr(obj, "to_dict") else dict(obj), default=str)
    )
    return plain


async def recent_events(client: AsyncClient, namespace: str, name: str, kind: str) -> list[dict[str, Any]]:
    try:
        found = [
            as_plain(e)
            async for e in client.list(
                Event, namespace=namespace, fields={"regarding.name": name, "regarding.kind": kind}
            )
        ]
    except ApiError:
        return []
    return sorted(found, key=_last_seen)[-EVENTS_SHOWN:]


def _last_seen(event: Mapping[str, Any]) -> str:
    """When an Event last happened: a repeated one's series says it, else its own time."""
    series, metadata = event.get("series") or {}, event.get("metadata") or {}
    return str(
        series.get("lastObservedTime") or event.get("eventTime") or metadata.get("creationTimestamp") or ""
    )
