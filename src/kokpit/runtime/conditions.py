"""Standard `status.conditions`: pure functions over lists of condition dicts.

Conventions (Kubernetes API conventions, Cluster API's util/conditions): one entry per `type`;
`lastTransitionTime` moves only when `status` changes; `Ready` is listed first, then the others
by type, so a status written twice from the same state is byte-for-byte the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

READY = "Ready"
TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"
STATUSES = (TRUE, FALSE, UNKNOWN)

Condition = dict[str, Any]


def format_time(moment: datetime) -> str:
    """`format_time` renders a metav1.Time: UTC, whole seconds, `Z` suffix."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_condition(conditions: Iterable[Condition] | None, type_: str) -> Condition | None:
    """`get_condition` returns the condition of `type_`, or None."""
    for condition in conditions or ():
        if condition.get("type") == type_:
            return condition
    return None


def is_true(conditions: Iterable[Condition] | None, type_: str) -> bool:
    condition = get_condition(conditions, type_)
    return condition is not None and condition.get("status") == TRUE


def ready_first(conditions: Iterable[Condition]) -> list[Condition]:
    """`ready_first` orders conditions: `Ready` first, then the rest by type."""
    return sorted(conditions, key=lambda c: (c.get("type") != READY, str(c.get("type", ""))))


def set_condition(
    conditions: Iterable[Condition] | None,
    type_: str,
    status: str | bool,
    reason: str,
    message: str = "",
    *,
    observed_generation: int | None = None,
    now: datetime | None = None,
) -> list[Condition]:
    """`set_condition` returns a new list with condition `type_` set; the input is not modified.

    `status` is "True", "False", "Unknown" or a bool. `lastTransitionTime` is `now` (default: the
    current time) when the condition is new or its status changed, and kept otherwise; reason,
    message and observedGeneration always take the new values. The result is `ready_first`.
    """
    if isinstance(status, bool):
        status = TRUE if status else FALSE
    if status not in STATUSES:
        raise ValueError(f"condition status must be one of {STATUSES}, got {status!r}")
    if not reason:
        raise ValueError("condition reason must not be empty")
    existing = [dict(c) for c in conditions or ()]
    previous = get_condition(existing, type_)
    if previous is not None and previous.get("status") == status and previous.get("lastTransitionTime"):
        transition = str(previous["lastTransitionTime"])
    else:
        transition = format_time(now if now is not None else datetime.now(UTC))
    condition: Condition = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if observed_generation is not None:
        condition["observedGeneration"] = observed_generation
    others = [c for c in existing if c.get("type") != type_]
    return ready_first([*others, condition])


def remove_condition(conditions: Iterable[Condition] | None, type_: str) -> list[Condition]:
    """`remove_condition` returns a new list without condition `type_`."""
    return [dict(c) for c in conditions or () if c.get("type") != type_]
