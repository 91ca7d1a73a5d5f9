"""Each direction of the health hysteresis counts against its own threshold.

With equal thresholds a decision that used the failure threshold to recover (or the success
threshold to fail) could not be told apart; here they differ, so such a mix-up fails a case.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kokpit.fleet.health import Probe, ProbeHistory, ProbeOutcome, Thresholds, decide_health
from kokpit.runtime import Condition

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
THREE_TO_FAIL_ONE_TO_RECOVER = Thresholds(
    failure_threshold=3, success_threshold=1, no_execute_grace=timedelta(seconds=60)
)
READY = Condition.true("Ready", "ClusterReady", "the member's API server is ready")
NOT_READY = Condition.false("Ready", "ClusterNotReady", "etcd failed")
NR, OK = ProbeOutcome.NOT_READY, ProbeOutcome.READY


@pytest.mark.parametrize(
    ("current", "outcomes", "status"),
    [
        pytest.param(READY, [NR, NR], "True", id="2 failures of the 3 needed: still ready"),
        pytest.param(READY, [NR, NR, NR], "False", id="3 failures in a row: not ready"),
        pytest.param(NOT_READY, [OK], "True", id="1 success is all recovery needs: ready again"),
    ],
)
def test_failing_and_recovering_use_their_own_thresholds(
    current: Condition, outcomes: list[ProbeOutcome], status: str
) -> None:
    history = ProbeHistory()
    for outcome in outcomes:
        history.record(outcome)
    decision = decide_health(
        current=current,
        current_since=NOW - timedelta(minutes=5),
        history=history,
        probe=Probe(outcomes[-1], ""),
        now=NOW,
        thresholds=THREE_TO_FAIL_ONE_TO_RECOVER,
    )
    assert decision.ready.status == status
