"""Label selectors of MachineSets (`hostSelector`) and MachineHealthChecks (`selector`), pure.

Both accept either a plain label map (`{pool: blue}`: every pair must match) or a Kubernetes
`LabelSelector` (`matchLabels` and `matchExpressions` with `In`, `NotIn`, `Exists`, `DoesNotExist`),
so a selector reads the way the rest of Kubernetes writes one. An empty selector matches everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SELECTOR_KEYS = frozenset({"matchLabels", "matchExpressions"})


class SelectorError(ValueError):
    """A selector that cannot be read (an unknown operator, a value list where none belongs)."""


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """`matches` says whether `labels` satisfy `selector` (a label map or a LabelSelector).

    Raises `SelectorError` for an unknown operator, so a typo refuses rather than matching all.
    """
    labels = labels or {}
    if not selector:
        return True
    if not set(selector) <= SELECTOR_KEYS:
        return all(labels.get(str(k)) == str(v) for k, v in selector.items())
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(str(key)) != str(value):
            return False
    return all(_expression(e, labels) for e in selector.get("matchExpressions") or [])


def _expression(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key = str(expression.get("key", ""))
    operator = str(expression.get("operator", ""))
    values = [str(v) for v in expression.get("values") or []]
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise SelectorError(f"unknown selector operator {operator!r} (In, NotIn, Exists, DoesNotExist)")


def describe(selector: Mapping[str, Any] | None) -> str:
    """`describe` renders a selector the way `kubectl` does: `pool=blue,zone in (a,b)`; `<all>` when
    empty."""
    if not selector:
        return "<all>"
    if not set(selector) <= SELECTOR_KEYS:
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key", ""), expression.get("operator", "")
        values = ",".join(str(v) for v in expression.get("values") or [])
        if operator == "Exists":
            parts.append(str(key))
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            parts.append(f"{key} {str(operator).lower()} ({values})")
    return ",".join(parts) or "<all>"
