"""What kind of change an informer update is: for watches that act only on some (`Controller.watch`'s
`relevant`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_VOLATILE_METADATA = ("resourceVersion", "managedFields")


def beyond_status(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """`beyond_status` is whether `new` differs from `old` in more than its status (and the
    resourceVersion and managedFields every write changes): a status write alone is False."""
    return _without_status(old) != _without_status(new)


def _without_status(obj: Mapping[str, Any]) -> dict[str, Any]:
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE_METADATA}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": metadata}
