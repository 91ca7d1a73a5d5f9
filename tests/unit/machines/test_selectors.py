"""Host and Machine selectors: plain label maps and Kubernetes LabelSelectors."""

from __future__ import annotations

from typing import Any

import pytest

from kokpit.machines.selectors import SelectorError, describe, matches

LABELS = {"pool": "blue", "zone": "a"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param(None, True, id="no selector: all"),
        pytest.param({}, True, id="empty map: all"),
        pytest.param({"pool": "blue"}, True, id="map, matching pair"),
        pytest.param({"pool": "green"}, False, id="map, other value"),
        pytest.param({"matchLabels": {"zone": "a"}}, True, id="matchLabels"),
        pytest.param(
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}, True, id="In"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, False, id="NotIn"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, False, id="Exists, absent"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}, True, id="DoesNotExist"
        ),
    ],
)
def test_matches(selector: dict[str, Any] | None, expected: bool) -> None:
    assert matches(selector, LABELS) is expected


def test_an_unknown_operator_refuses() -> None:
    with pytest.raises(SelectorError, match="Equals"):
        matches({"matchExpressions": [{"key": "zone", "operator": "Equals"}]}, LABELS)


def test_describe() -> None:
    assert describe(None) == "<all>"
    assert describe({"pool": "blue"}) == "pool=blue"
    selector = {
        "matchLabels": {"pool": "blue"},
        "matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["a", "b"]},
            {"key": "gpu", "operator": "DoesNotExist"},
        ],
    }
    assert describe(selector) == "pool=blue,zone in (a,b),!gpu"
