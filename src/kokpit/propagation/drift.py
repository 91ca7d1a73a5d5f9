"""Drift: a member copy whose kokpit-owned fields someone else changed.

After each apply the execution controller keeps what the member answered (the object as the member
stores it). When the member's copy changes later while the Work stays the same, `drifted_fields`
compares, field by field, that answer with the copy now in the member, looking only at the fields
kokpit applies (the leaves of the body it would apply, member-owned fields already left out by
`kokpit.propagation.retain`). Both sides are in the member's own normalized form (quantities,
defaults), so a difference is a real edit, never a spelling of the same value.

No drifted field: the change was the member's own (status, replicas an HPA owns, a controller's
annotation) and kokpit writes nothing. Drifted fields: the copy is applied again with force and an
Event `DriftCorrected` names the cluster and the fields.

Lists whose items all carry a `name` (containers, env, volumes, ports of a pod) are compared item by
item and reported as `containers[web].image`; other lists are compared whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_IGNORED_TOP_LEVEL = frozenset({"apiVersion", "kind", "status"})
_IGNORED_METADATA = frozenset({"name", "namespace"})


def _by_name(items: Any) -> dict[str, Any] | None:
    if not isinstance(items, list) or not items:
        return None
    if not all(isinstance(item, Mapping) and isinstance(item.get("name"), str) for item in items):
        return None
    return {str(item["name"]): item for item in items}


def _walk(desired: Any, applied: Any, observed: Any, path: str, out: list[str]) -> None:
    if isinstance(desired, Mapping):
        applied_map = applied if isinstance(applied, Mapping) else {}
        observed_map = observed if isinstance(observed, Mapping) else {}
        if not desired:
            if applied_map != observed_map:
                out.append(path)
            return
        for key, value in desired.items():
            child = f"{path}.{key}" if path else str(key)
            _walk(value, applied_map.get(key), observed_map.get(key), child, out)
        return
    named = _by_name(desired)
    if named is not None:
        applied_items = _by_name(applied) or {}
        observed_items = _by_name(observed) or {}
        for name, item in named.items():
            if (name in applied_items) != (name in observed_items):  # an item removed or added whole
                out.append(f"{path}[{name}]")
                continue
            _walk(item, applied_items.get(name), observed_items.get(name), f"{path}[{name}]", out)
        return
    if applied != observed:
        out.append(path)


def drifted_fields(
    desired: Mapping[str, Any], applied: Mapping[str, Any], observed: Mapping[str, Any]
) -> list[str]:
    """`drifted_fields` lists the fields of `desired` (the body kokpit applies) whose value in the
    member's copy `observed` differs from the value the member answered to kokpit's last apply
    (`applied`), as dotted paths in the body's order (`spec.template.spec.containers[web].image`,
    `metadata.labels.tier`). Empty when nothing kokpit owns changed."""
    out: list[str] = []
    for key, value in desired.items():
        if key in _IGNORED_TOP_LEVEL:
            continue
        if key == "metadata" and isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if k not in _IGNORED_METADATA}
        _walk(value, applied.get(key), observed.get(key), str(key), out)
    return out


def already_carried(desired: Mapping[str, Any], observed: Mapping[str, Any]) -> bool:
    """`already_carried`: whether the member's copy `observed` already holds every field of the body
    kokpit would apply (`desired`), so applying it would change nothing the member serves.

    Used when the execution controller has no record of a last apply (a hub just started over
    delivered Works): instead of re-applying every object, it writes only those that differ. A value
    spelled differently from the member's normalized form (`0.5` vs `500m`) counts as different: the
    error is always towards one write too many, never a missed one. What it cannot see is a field
    kokpit applied before and no longer wants (removed from the template while no hub ran): the
    periodic resync applies the Work again and removes it."""
    return not drifted_fields(desired, desired, observed)


def describe_drift(fields: Sequence[str], *, limit: int = 8) -> str:
    """`describe_drift` names drifted fields for people: the first `limit`, then how many more."""
    shown = ", ".join(fields[:limit])
    more = len(fields) - limit
    return f"{shown} and {more} more" if more > 0 else shown


__all__ = ["already_carried", "describe_drift", "drifted_fields"]
