"""The EtcdCluster status: conditions, phase, and a shape the CRD schema accepts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from kokpit.api.etcd import EtcdClusterStatus
from kokpit.etcd.planner import Action, Kind, MemberView
from kokpit.etcd.status import MemberReport, Problem, cluster_status
from kokpit.runtime import StatusPatch, get_condition


def report(i: int, *, healthy: bool = True, leader: bool = False, learner: bool = False) -> MemberReport:
    view = MemberView(
        name=f"db-{i}",
        id=100 + i,
        running=True,
        healthy=healthy,
        leader=leader,
        learner=learner,
        version="3.6.16",
    )
    return MemberReport(
        view=view,
        client_url=f"https://127.0.0.1:{2379 + i}",
        peer_url=f"https://127.0.0.1:{3379 + i}",
        db_size=20480,
    )


STEADY = Action(Kind.NONE, "Steady", "3 healthy members")


def build(
    members: list[MemberReport], *, size: int = 3, action: Action = STEADY, **extra: Any
) -> dict[str, Any]:
    args: dict[str, Any] = {
        "size": size,
        "generation": 4,
        "members": members,
        "reachable": True,
        "action": action,
        "version": "v3.6.16",
        "version_available": True,
        "client_secret": "db-etcd-client",
    }
    previous = extra.pop("previous", None)
    args.update(extra)
    computed = cluster_status(**args)
    patch = StatusPatch(previous, owned=computed.owned, generation=4)
    computed.write(patch)
    return patch.status()


def cond(status: dict[str, Any], type_: str) -> tuple[str, str]:
    c = get_condition(status["conditions"], type_)
    assert c is not None, type_
    return c["status"], c["reason"]


def test_steady_cluster() -> None:
    status = build([report(0, leader=True), report(1), report(2)])
    assert status["phase"] == "Running"
    assert status["leader"] == "db-0" and status["readyMembers"] == 3 and status["size"] == 3
    assert status["currentVersion"] == "3.6.16"
    assert len(status["clientEndpoints"]) == 3
    for type_, expected in [
        ("Ready", "True"),
        ("Available", "True"),
        ("Healthy", "True"),
        ("Progressing", "False"),
    ]:
        assert cond(status, type_)[0] == expected
    assert status["conditions"][0]["type"] == "Ready"
    EtcdClusterStatus.model_validate(status)  # the CRD's schema comes from this model


@pytest.mark.parametrize(
    ("members", "available", "healthy", "phase"),
    [
        ([report(0, leader=True), report(1), report(2, healthy=False)], "True", "False", "Degraded"),
        (
            [report(0, leader=True), report(1, healthy=False), report(2, healthy=False)],
            "False",
            "False",
            "Degraded",
        ),
        ([report(0, leader=True), report(1)], "True", "False", "Degraded"),
        (
            [report(0, leader=True), report(1), report(2), report(3, learner=True)],
            "True",
            "False",
            "Degraded",
        ),
    ],
    ids=["one of three unhealthy", "quorum lost", "two of three", "learner catching up"],
)
def test_degraded(members: list[MemberReport], available: str, healthy: str, phase: str) -> None:
    status = build(members, action=Action(Kind.WAIT, "MemberUnhealthy", "waiting"))
    assert cond(status, "Available")[0] == available
    assert cond(status, "Healthy")[0] == healthy
    assert status["phase"] == phase
    EtcdClusterStatus.model_validate(status)


@pytest.mark.parametrize(
    ("action", "phase"),
    [
        (Action(Kind.BOOTSTRAP, "Bootstrapping", "x", members=("db-0",)), "Creating"),
        (Action(Kind.ADD, "ScalingUp", "x", member="db-3"), "Scaling"),
        (Action(Kind.REMOVE, "ReplacingMember", "x", member="db-1", member_id=101), "Repairing"),
        (Action(Kind.UPGRADE, "Upgrading", "x", member="db-1"), "Upgrading"),
        (Action(Kind.NONE, "Paused", "x"), "Paused"),
    ],
    ids=lambda v: getattr(v, "reason", v),
)
def test_phase_follows_the_action(action: Action, phase: str) -> None:
    status = build([report(0, leader=True), report(1), report(2)], action=action)
    assert status["phase"] == phase
    expected = "False" if action.kind is Kind.NONE else "True"
    assert cond(status, "Progressing") == (expected, action.reason)


def test_warnings_and_problems() -> None:
    members = [report(0, leader=True), report(1), report(2), report(3)]
    status = build(members, size=4, version_available=False, problem=Problem("SnapshotInvalid", "bad"))
    assert cond(status, "EvenSize") == ("True", "EvenSize")
    assert cond(status, "VersionAvailable") == ("False", "VersionUnavailable")
    assert cond(status, "Progressing") == ("False", "SnapshotInvalid")
    assert build(members[:3])["conditions"] == build(members[:3])["conditions"]
    assert get_condition(build(members[:3])["conditions"], "EvenSize") is None


def test_backup_condition() -> None:
    members = [report(0, leader=True), report(1), report(2)]
    record = {"path": "/b/x.db", "sha256": "0" * 64, "size": 1, "time": "2026-01-01T00:00:00Z"}
    ok = build(members, backups_scheduled=True, last_backup=record)
    assert cond(ok, "BackupReady") == ("True", "BackupTaken") and ok["lastBackup"] == record
    EtcdClusterStatus.model_validate(ok)
    failed = build(members, backups_scheduled=True, backup=Problem("BackupFailed", "disk full"))
    assert cond(failed, "BackupReady") == ("False", "BackupFailed")
    assert get_condition(build(members)["conditions"], "BackupReady") is None


def test_unreachable_endpoints_are_the_reason_ready_is_false() -> None:
    why = Problem("EndpointsUnreachable", "member endpoints https://db-0.db-peers.ns.svc:2379 resolve only")
    status = build([], reachable=False, unreachable=why, action=Action(Kind.WAIT, "Bootstrapping", "x"))
    assert cond(status, "Available") == ("False", "EndpointsUnreachable")
    assert cond(status, "Ready") == ("False", "EndpointsUnreachable")
    ready = get_condition(status["conditions"], "Ready")
    assert ready is not None and ".svc" in ready["message"]


def test_a_problem_is_the_reason_ready_is_false() -> None:
    status = build([], reachable=False, problem=Problem("DataDirOutsideRoot", "outside"))
    assert cond(status, "Ready") == ("False", "DataDirOutsideRoot")


def test_transition_times_are_kept_when_nothing_changes() -> None:
    members = [report(0, leader=True), report(1), report(2)]
    first = build(members)
    old = [{**c, "lastTransitionTime": "2020-01-01T00:00:00Z"} for c in first["conditions"]]
    second = build(members, previous={"conditions": old})
    assert all(c["lastTransitionTime"] == "2020-01-01T00:00:00Z" for c in second["conditions"])
    changed = build(
        [report(0, leader=True), report(1), replace(report(2), view=replace(report(2).view, healthy=False))],
        previous={"conditions": old},
    )
    assert get_condition(changed["conditions"], "Healthy")["lastTransitionTime"] != "2020-01-01T00:00:00Z"  # type: ignore[index]
