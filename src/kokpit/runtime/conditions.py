"""Standard `status.conditions`: pure functions over lists of condition dicts.

Conventions (Kubernetes API conventions, Cluster API's util/conditions): one entry per `type`;
`lastTransitionTime` moves only when `status` changes; `Ready` is listed first, then the others
by type, so a status written twice from the same state is byte-for-byte the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

READY = "Ready"
TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"
STATUSES = (TRUE, FALSE, UNKNOWN)

StoredCondition = dict[str, Any]
"""A condition as the API stores it (`type`, `status`, `reason`, `message`, `lastTransitionTime`)."""


@dataclass(frozen=True)
class Condition:
    """One condition as a decision returns it: pure code builds these, the status writer stores them."""

    type: str
    status: str
    reason: str
    message: str = ""

    @classmethod
    def true(cls, type_: str, reason: str, message: str = "") -> Condition:
        return cls(type_, TRUE, reason, message)

    @classmethod
    def false(cls, type_: str, reason: str, message: str = "") -> Condition:
        return cls(type_, FALSE, reason, message)

    @classmethod
    def unknown(cls, type_: str, reason: str, message: str = "") -> Condition:
        return cls(type_, UNKNOWN, reason, message)

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> Condition:
        """`Condition.of` reads a stored condition dict."""
        return cls(
            str(stored.get("type", "")),
            str(stored.get("status", UNKNOWN)),
            str(stored.get("reason", "")),
            str(stored.get("message", "")),
        )

    @property
    def is_true(self) -> bool:
        return self.status == TRUE


TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_time(moment: datetime) -> str:
    """`format_time` renders a metav1.Time: UTC, whole seconds, `Z` suffix."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(value: Any) -> datetime | None:
    """`parse_time` reads a metav1.Time (as `format_time` writes it, fractions allowed); None when
    `value` is empty or not a time."""
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def condition_view(conditions: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """`condition_view` is what matters of `conditions` for "did anything change": everything but the
    transition time, in a stable order."""
    return sorted(
        (
            str(c.get("type")),
            str(c.get("status")),
            str(c.get("reason")),
            str(c.get("message")),
            c.get("observedGeneration"),
        )
        for c in conditions
    )


def get_condition(conditions: Iterable[StoredCondition] | None, type_: str) -> StoredCondition | None:
    """`get_condition` returns the condition of `type_`, or None."""
    for condition in conditions or ():
        if condition.get("type") == type_:
            return condition
    return None


def is_true(conditions: Iterable[StoredCondition] | None, type_: str) -> bool:
    condition = get_condition(conditions, type_)
    return condition is not None and condition.get("status") == TRUE


def ready_first(conditions: Iterable[StoredCondition]) -> list[StoredCondition]:
    """`ready_first` orders conditions: `Ready` first, then the rest by type."""
    return sorted(conditions, key=lambda c: (c.get("type") != READY, str(c.get("type", ""))))


def set_condition(
    conditions: Iterable[StoredCondition] | None,
    type_: str,
    status: str | bool,
    reason: str,
    message: str = "",
    *,
    observed_generation: int | None = None,
    now: datetime | None = None,
) -> list[StoredCondition]:
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
    condition: StoredCondition = {
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


def remove_condition(conditions: Iterable[StoredCondition] | None, type_: str) -> list[StoredCondition]:
    """`remove_condition` returns a new list without condition `type_`."""
    return [dict(c) for c in conditions or () if c.get("type") != type_]
