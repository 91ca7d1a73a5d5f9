"""The status writer's pure part: owned conditions, transition times, Ready summaries, change detection."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kokpit.runtime import Condition, StatusPatch, summarize

EARLIER = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 1, 2, tzinfo=UTC)


def stored(type_: str, status: str, reason: str = "R", message: str = "", when: str = "2026-01-01T00:00:00Z"):  # type: ignore[no-untyped-def]
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": when}


def test_only_owned_conditions_are_written_and_unset_owned_ones_are_kept() -> None:
    current = {"conditions": [stored("Ready", "True"), stored("Applied", "True"), stored("Theirs", "False")]}
    patch = StatusPatch(current, owned=("Ready", "Applied"), now=NOW)
    patch.set(Condition.false("Applied", "Conflict", "owned by someone else"))
    written = {c["type"]: c for c in patch.status()["conditions"]}
    assert set(written) == {"Ready", "Applied"}
    assert written["Ready"]["status"] == "True"
    assert written["Applied"]["reason"] == "Conflict"
    assert written["Applied"]["lastTransitionTime"] == "2026-01-02T00:00:00Z"


def test_transition_time_moves_only_when_the_status_changes() -> None:
    patch = StatusPatch({"conditions": [stored("Ready", "True")]}, owned=("Ready",), now=NOW)
    patch.set(Condition.true("Ready", "StillFine", "new words"))
    [ready] = patch.status()["conditions"]
    assert ready["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert ready["reason"] == "StillFine"


def test_setting_a_condition_the_writer_does_not_own_is_a_bug() -> None:
    with pytest.raises(ValueError, match="not owned"):
        StatusPatch({}, owned=("Ready",)).set(Condition.true("Applied", "X"))


def test_nothing_changed_means_nothing_to_write() -> None:
    current = {"phase": "Running", "conditions": [stored("Ready", "True", "Fine")]}
    patch = StatusPatch(current, owned=("Ready",), now=NOW)
    patch.fields["phase"] = "Running"
    patch.set(Condition.true("Ready", "Fine"))
    assert not patch.changed()
    patch.fields["phase"] = "Failed"
    assert patch.changed()


def test_ready_is_listed_first() -> None:
    patch = StatusPatch({}, owned=("Ready", "Applied", "Available"), now=NOW)
    patch.set(Condition.true("Available", "A"))
    patch.set(Condition.true("Applied", "A"))
    patch.summarize_ready(("Applied", "Available"))
    assert [c["type"] for c in patch.conditions] == ["Ready", "Applied", "Available"]


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        pytest.param([stored("A", "True"), stored("B", "True")], ("True", "Ready"), id="all good: Ready"),
        pytest.param(
            [stored("A", "True"), stored("B", "False", "Broken")],
            ("False", "Broken"),
            id="one False: its reason",
        ),
        pytest.param(
            [stored("A", "Unknown", "Probing"), stored("B", "False", "Broken")],
            ("False", "Broken"),
            id="False wins over Unknown",
        ),
        pytest.param([stored("A", "True")], ("Unknown", "BNotObserved"), id="missing: Unknown"),
        pytest.param(
            [stored("A", "True"), stored("B", "True"), stored("Degraded", "True", "Lagging")],
            ("False", "Lagging"),
            id="negative polarity: Degraded True is bad",
        ),
    ],
)
def test_summarize(conditions: list[dict[str, str]], expected: tuple[str, str]) -> None:
    ready = summarize(conditions, ("A", "B", "Degraded"), negative=("Degraded",))
    if not any(c["type"] == "Degraded" for c in conditions):
        ready = summarize(conditions, ("A", "B"))
    assert (ready.status, ready.reason) == expected
