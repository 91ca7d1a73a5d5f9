"""Supported versions, version-change rules, upgrade ordering, restarts and the Ready summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from kokpit.hosted import names, plan
from kokpit.hosted.versions import (
    SupportedVersions,
    VersionsFileError,
    check_version_change,
    load_supported,
    parse_supported,
)
from kokpit.runtime import Condition

SUPPORTED = parse_supported(
    {
        "default": "v1.36.5",
        "versions": [
            {"version": "v1.35.4", "etcd": "v3.6.16"},
            {"version": "v1.36.5", "etcd": "v3.6.16"},
            {"version": "v1.36.2", "etcd": "v3.6.16"},
            {"version": "v1.34.9", "etcd": "v3.5.35"},
            {"version": "v1.37.0", "etcd": "v3.6.16"},
        ],
    }
)
APISERVER, CM, SCHED = names.CONTROL_PLANE


def test_packaged_file_lists_the_default() -> None:
    supported = load_supported()
    assert supported.get(supported.default) is not None
    assert supported.names == sorted(
        supported.names, key=lambda v: tuple(map(int, v[1:].split("."))), reverse=True
    )


def test_a_new_release_is_data(tmp_path: Path) -> None:
    path = tmp_path / "versions.yaml"
    path.write_text("default: v1.38.0\nversions:\n  - {version: v1.38.0, etcd: v3.6.20}\n")
    supported = load_supported(path)
    assert supported.names == ["v1.38.0"]
    assert check_version_change("v1.38.0", None, supported).allowed


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"versions": [{"version": "v1.36.5"}]},
        {"versions": [{"version": "x", "etcd": "v3.6.16"}]},
        {"default": "v1.1.1", "versions": [{"version": "v1.36.5", "etcd": "v3.6.16"}]},
    ],
    ids=["empty", "no etcd", "bad version", "default not listed"],
)
def test_malformed_versions_file(data: dict[str, object]) -> None:
    with pytest.raises(VersionsFileError):
        parse_supported(data)


@pytest.mark.parametrize(
    ("wanted", "current", "allowed", "reason"),
    [
        ("v1.36.5", None, True, "VersionAccepted"),
        ("v1.36.5", "v1.36.5", True, "VersionAccepted"),
        ("v1.36.5", "v1.35.4", True, "VersionAccepted"),
        ("v1.36.2", "v1.36.5", True, "VersionAccepted"),
        ("v1.20.0", None, False, "UnsupportedVersion"),
        ("v1.20.0", "v1.36.5", False, "UnsupportedVersion"),
        ("v1.35.4", "v1.36.5", False, "Downgrade"),
        ("v1.36.5", "v1.34.9", False, "SkippedMinor"),
        ("v1.37.0", "v1.35.4", False, "SkippedMinor"),
    ],
    ids=[
        "create",
        "unchanged",
        "one minor up",
        "patch down",
        "unsupported create",
        "unsupported change",
        "downgrade",
        "skip from 1.34",
        "skip from 1.35",
    ],
)
def test_version_changes(wanted: str, current: str | None, allowed: bool, reason: str) -> None:
    verdict = check_version_change(wanted, current, SUPPORTED)
    assert (verdict.allowed, verdict.reason) == (allowed, reason)
    if not allowed and current is not None:
        assert f"keeps {current}" in verdict.message or "not supported" in verdict.message


def test_supported_lookup() -> None:
    assert isinstance(SUPPORTED, SupportedVersions)
    assert SUPPORTED.get("1.36.5") is not None and SUPPORTED.get("v1.99.0") is None
    assert SUPPORTED.names[0] == "v1.37.0"


OLD, NEW = "v1.35.4", "v1.36.5"


@pytest.mark.parametrize(
    ("running", "healthy", "expected"),
    [
        ({}, {}, (NEW, NEW, NEW)),
        ({APISERVER: OLD, CM: OLD, SCHED: OLD}, {APISERVER: True, CM: True, SCHED: True}, (NEW, OLD, OLD)),
        ({APISERVER: NEW, CM: OLD, SCHED: OLD}, {APISERVER: False, CM: True, SCHED: True}, (NEW, OLD, OLD)),
        ({APISERVER: NEW, CM: OLD, SCHED: OLD}, {APISERVER: True, CM: True, SCHED: True}, (NEW, NEW, OLD)),
        ({APISERVER: NEW, CM: NEW, SCHED: OLD}, {APISERVER: True, CM: False, SCHED: True}, (NEW, NEW, OLD)),
        ({APISERVER: NEW, CM: NEW, SCHED: OLD}, {APISERVER: True, CM: True, SCHED: True}, (NEW, NEW, NEW)),
        ({APISERVER: NEW, CM: None, SCHED: OLD}, {APISERVER: True}, (NEW, NEW, NEW)),
    ],
    ids=[
        "fresh cluster",
        "apiserver first",
        "wait for a healthy apiserver",
        "then controller-manager",
        "stop at an unhealthy controller-manager",
        "then scheduler",
        "missing component starts at target",
    ],
)
def test_component_versions(
    running: dict[str, str | None], healthy: dict[str, bool], expected: tuple[str, str, str]
) -> None:
    result = plan.component_versions(NEW, running, healthy)
    assert (result[APISERVER], result[CM], result[SCHED]) == expected


def test_upgrading_component_and_cluster_version() -> None:
    assert plan.upgrading_component(NEW, {APISERVER: NEW, CM: OLD, SCHED: OLD}) == CM
    assert plan.upgrading_component(NEW, {APISERVER: NEW, CM: NEW, SCHED: NEW}) is None
    assert plan.cluster_version({APISERVER: NEW, CM: NEW, SCHED: NEW}) == NEW
    assert plan.cluster_version({APISERVER: NEW, CM: OLD, SCHED: NEW}) is None


def test_restart_policy_backs_off_a_crash_loop() -> None:
    policy = plan.RestartPolicy(max_restarts=3, window=60, backoff=10)
    history = plan.RestartHistory()
    for now in (0.0, 1.0, 2.0):
        assert plan.restart_decision(history, policy, now) == (True, False)
        history.record(now)
    assert plan.restart_decision(history, policy, 3.0) == (False, True)
    assert plan.restart_decision(history, policy, 12.5) == (True, True)
    assert plan.restart_decision(history, policy, 200.0) == (True, False)
    assert history.total == 3


def test_ready_summary_names_the_first_problem() -> None:
    ok = Condition.true("Any", "Fine")
    conditions = {
        "VersionAccepted": ok,
        "EtcdReady": ok,
        "APIServerAvailable": Condition.false(
            "APIServerAvailable", "CrashLoop", "kube-apiserver keeps failing"
        ),
        "SchedulerReady": Condition.false("SchedulerReady", "NotReady", "starting"),
    }
    ready = plan.ready_condition(conditions)
    assert (ready.type, ready.status, ready.reason) == ("Ready", "False", "CrashLoop")
    assert ready.message.startswith("APIServerAvailable: ")
    assert plan.ready_condition({"EtcdReady": ok}).is_true


@pytest.mark.parametrize(
    ("deleting", "ready", "upgrading", "ever_ready", "expected"),
    [
        (True, True, False, True, "Deleting"),
        (False, False, True, True, "Upgrading"),
        (False, True, False, True, "Ready"),
        (False, False, False, False, "Provisioning"),
        (False, False, False, True, "NotReady"),
    ],
)
def test_phase(deleting: bool, ready: bool, upgrading: bool, ever_ready: bool, expected: str) -> None:
    assert plan.phase(deleting=deleting, ready=ready, upgrading=upgrading, ever_ready=ever_ready) == expected


def test_nodes_to_delete() -> None:
    assert plan.nodes_to_delete(["c-node-2", "c-node-0", "c-node-1"], ["c-node-0"]) == [
        "c-node-1",
        "c-node-2",
    ]
