"""Draining, the pure part: which pods are evicted, skipped or waited for, and the condition left."""

from __future__ import annotations

import pytest

from kokpit.machines.drain import DrainResult, PodView, classify, drain_condition, drained_since, listing
from kokpit.machines.healthcheck_controller import parse_duration


def test_classify_skips_daemonset_and_mirror_pods_and_waits_for_terminating_ones() -> None:
    pods = [
        PodView("kube-system", "kube-proxy-x", controller_kind="DaemonSet"),
        PodView("kube-system", "static-etcd", mirror=True),
        PodView("web", "b", controller_kind="ReplicaSet"),
        PodView("web", "a", controller_kind="ReplicaSet", deleting=True),
        PodView("default", "bare"),
    ]
    found = classify(pods)
    assert [p.ref for p in found.evict] == ["default/bare", "web/b"]
    assert [p.ref for p in found.terminating] == ["web/a"]
    assert [p.ref for p in found.skipped] == ["kube-system/kube-proxy-x", "kube-system/static-etcd"]
    assert [p.ref for p in found.left] == ["default/bare", "web/b", "web/a"]


def test_only_skipped_pods_left_is_drained() -> None:
    assert classify([PodView("kube-system", "proxy", controller_kind="DaemonSet")]).left == ()


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        pytest.param(DrainResult(node="n1", done=True), "Drained", id="nothing left: Drained"),
        pytest.param(DrainResult(node="n1", done=False, left=("web/a",)), "Draining", id="waiting: Draining"),
        pytest.param(
            DrainResult(node="n1", done=False, left=("web/a",), blocked=("web/a",)),
            "EvictionBlocked",
            id="a budget refused: EvictionBlocked",
        ),
        pytest.param(
            DrainResult(node="n1", done=False, left=("web/a",), timed_out=True, elapsed=301),
            "DrainTimeout",
            id="past the timeout: DrainTimeout",
        ),
    ],
)
def test_drain_condition(result: DrainResult, reason: str) -> None:
    condition = drain_condition(result)
    assert condition.reason == reason
    assert condition.is_true is (reason == "Drained")


def test_drain_timeout_names_the_pods_left_and_the_budget() -> None:
    result = DrainResult(node="n1", done=False, left=("web/a", "web/b"), blocked=("web/a",))
    timed = drained_since(result, started=1000.0, now=1400.0, timeout=300.0)
    condition = drain_condition(timed)
    assert condition.reason == "DrainTimeout"
    assert "web/a, web/b" in condition.message and "400s" in condition.message
    assert "PodDisruptionBudget refused web/a" in condition.message
    assert not drained_since(result, started=1000.0, now=1100.0, timeout=300.0).timed_out


def test_listing_cuts_long_lists() -> None:
    assert listing([f"p{i}" for i in range(10)]).endswith("p7 and 2 more")


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "5 m", "1d"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
