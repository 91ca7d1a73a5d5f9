"""`beyond_status`: which informer updates are more than a status write."""

from __future__ import annotations

from typing import Any

from kokpit.fleet.cluster_controller import _worth_a_probe
from kokpit.runtime.changes import beyond_status


def cluster(
    *, rv: str, ready: str = "True", taints: list[Any] | None = None, pull: bool = False
) -> dict[str, Any]:
    spec: dict[str, Any] = {"taints": taints or []}
    if pull:
        spec["syncMode"] = "Pull"
    return {
        "metadata": {"name": "member1", "resourceVersion": rv, "generation": 1, "managedFields": [{"m": rv}]},
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": ready}], "lastProbeTime": rv},
    }


def test_a_status_write_alone_is_not_beyond_status() -> None:
    assert not beyond_status(cluster(rv="1"), cluster(rv="2", ready="False"))


def test_spec_and_metadata_changes_are() -> None:
    assert beyond_status(cluster(rv="1"), cluster(rv="2", taints=[{"key": "k", "effect": "NoSchedule"}]))
    labelled = cluster(rv="2")
    labelled["metadata"]["labels"] = {"region": "eu"}
    assert beyond_status(cluster(rv="1"), labelled)


def test_the_probe_s_own_status_write_asks_for_no_probe_but_a_pull_agent_s_report_does() -> None:
    assert not _worth_a_probe(cluster(rv="1"), cluster(rv="2"))
    assert _worth_a_probe(cluster(rv="1", pull=True), cluster(rv="2", pull=True))
