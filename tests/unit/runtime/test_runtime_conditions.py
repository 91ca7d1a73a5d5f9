"""Conditions: transition-time semantics and ordering."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kokpit.runtime.conditions import get_condition, ready_first, remove_condition, set_condition

T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
T1 = datetime(2025, 1, 1, 12, 5, 30, 999, tzinfo=UTC)


def cond(type_: str, status: str, at: str = "2025-01-01T12:00:00Z", reason: str = "R") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": "", "lastTransitionTime": at}


@pytest.mark.parametrize(
    ("before", "status", "expected_time"),
    [
        pytest.param([], "True", "2025-01-01T12:05:30Z", id="new condition takes now"),
        pytest.param(
            [cond("Ready", "True")], "True", "2025-01-01T12:00:00Z", id="same status keeps the time"
        ),
        pytest.param([cond("Ready", "False")], "True", "2025-01-01T12:05:30Z", id="status change takes now"),
        pytest.param([cond("Ready", "True")], True, "2025-01-01T12:00:00Z", id="bool True equals 'True'"),
        pytest.param(
            [cond("Ready", "Unknown")], False, "2025-01-01T12:05:30Z", id="Unknown to False changes"
        ),
    ],
)
def test_last_transition_time_moves_only_when_status_changes(
    before: list[dict[str, Any]], status: str | bool, expected_time: str
) -> None:
    after = set_condition(before, "Ready", status, "Checked", "all good", now=T1)
    ready = get_condition(after, "Ready")
    assert ready is not None
    assert ready["lastTransitionTime"] == expected_time
    assert ready["reason"] == "Checked"
    assert ready["message"] == "all good"


def test_reason_message_and_generation_always_update() -> None:
    before = [cond("Applied", "True", reason="Old")]
    after = set_condition(before, "Applied", "True", "New", "now applied", observed_generation=7, now=T1)
    assert after == [
        {
            "type": "Applied",
            "status": "True",
            "reason": "New",
            "message": "now applied",
            "lastTransitionTime": "2025-01-01T12:00:00Z",
            "observedGeneration": 7,
        }
    ]


def test_input_is_not_modified() -> None:
    before = [cond("Ready", "False")]
    set_condition(before, "Ready", "True", "Up", now=T1)
    assert before == [cond("Ready", "False")]


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        pytest.param(
            ["Healthy", "Ready", "Applied"], ["Ready", "Applied", "Healthy"], id="Ready first, rest by type"
        ),
        pytest.param(["Degraded", "Applied"], ["Applied", "Degraded"], id="no Ready: by type"),
        pytest.param(["Ready"], ["Ready"], id="only Ready"),
    ],
)
def test_ready_first(types: list[str], expected: list[str]) -> None:
    assert [c["type"] for c in ready_first([cond(t, "True") for t in types])] == expected


def test_set_condition_keeps_one_entry_per_type_and_orders_ready_first() -> None:
    conditions = set_condition([], "Applied", "True", "Applied", now=T0)
    conditions = set_condition(conditions, "Ready", "False", "Waiting", now=T0)
    conditions = set_condition(conditions, "Applied", "False", "Failed", now=T1)
    assert [(c["type"], c["status"]) for c in conditions] == [("Ready", "False"), ("Applied", "False")]


def test_naive_now_is_taken_as_utc_and_rendered_in_seconds() -> None:
    after = set_condition([], "Ready", "True", "Up", now=datetime(2025, 3, 4, 5, 6, 7, 890000))
    assert after[0]["lastTransitionTime"] == "2025-03-04T05:06:07Z"


@pytest.mark.parametrize(("status", "reason"), [("Yes", "R"), ("True", "")])
def test_invalid_status_or_empty_reason_is_refused(status: str, reason: str) -> None:
    with pytest.raises(ValueError):
        set_condition([], "Ready", status, reason)


def test_get_and_remove() -> None:
    conditions = [cond("Ready", "True"), cond("Applied", "False")]
    assert get_condition(conditions, "Missing") is None
    assert get_condition(None, "Ready") is None
    assert [c["type"] for c in remove_condition(conditions, "Ready")] == ["Applied"]
