"""The one exception type that means "the user can act on this", and how validation errors read."""

from __future__ import annotations

from pydantic import ValidationError


class KokpitError(Exception):
    """A failure the user can act on; its message is the whole story, shown as one line by the CLI."""


def validation_message(error: ValidationError, *, limit: int = 5) -> str:
    """`validation_message` is a pydantic error as one line: `spec.placement: message; ...`."""
    parts = []
    for item in error.errors()[:limit]:
        where = ".".join(str(p) for p in item.get("loc", ()))
        parts.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", "")))
    return "; ".join(parts)
