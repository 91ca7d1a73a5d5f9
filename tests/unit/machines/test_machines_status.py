"""A Machine's phase and Ready from its conditions."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kokpit.api.machine import MachinePhase
from kokpit.machines.machine_status import (
    CONDITION_TYPES,
    ComponentReport,
    MachinePass,
    fill_status,
    machine_phase,
    ready_condition,
)
from kokpit.runtime import Condition, StatusPatch

T = Condition.true
F = Condition.false


def conditions(*items: Condition) -> dict[str, Condition]:
    return {c.type: c for c in items}


HOST_OK = T("HostReachable", "Reachable")
COMPONENTS_OK = T("ComponentsReady", "ComponentsReady")
JOINED = T("NodeJoined", "NodeRegistered")
HEALTHY = T("NodeHealthy", "KubeletReady")


@pytest.mark.parametrize(
    ("given", "was_ready", "phase"),
    [
        pytest.param(conditions(), False, MachinePhase.PENDING, id="nothing known yet: Pending"),
        pytest.param(
            conditions(F("HostReachable", "HostClaimed")),
            False,
            MachinePhase.PENDING,
            id="host held by another machine: Pending",
        ),
        pytest.param(
            conditions(F("HostReachable", "HostUnreachable")),
            False,
            MachinePhase.PENDING,
            id="host unreachable: Pending",
        ),
        pytest.param(
            conditions(F("HostReachable", "HostKeyMismatch")),
            False,
            MachinePhase.FAILED,
            id="host key mismatch: Failed",
        ),
        pytest.param(
            conditions(F("HostReachable", "AuthenticationFailed")),
            False,
            MachinePhase.FAILED,
            id="wrong key: Failed",
        ),
        pytest.param(
            conditions(HOST_OK, F("ComponentsReady", "Installing")),
            False,
            MachinePhase.PROVISIONING,
            id="installing: Provisioning",
        ),
        pytest.param(
            conditions(HOST_OK, F("ComponentsReady", "InstallFailed")),
            False,
            MachinePhase.FAILED,
            id="an install step failed: Failed",
        ),
        pytest.param(
            conditions(HOST_OK, F("ComponentsReady", "NoMatchingVariant")),
            False,
            MachinePhase.FAILED,
            id="no variant for the host: Failed",
        ),
        pytest.param(
            conditions(HOST_OK, COMPONENTS_OK, F("NodeJoined", "WaitingForNode")),
            False,
            MachinePhase.JOINING,
            id="components healthy, node not there yet: Joining",
        ),
        pytest.param(
            conditions(HOST_OK, COMPONENTS_OK, JOINED, F("NodeHealthy", "KubeletNotReady")),
            False,
            MachinePhase.JOINING,
            id="registered, not Ready yet: Joining",
        ),
        pytest.param(
            conditions(HOST_OK, COMPONENTS_OK, JOINED, F("NodeHealthy", "KubeletNotReady")),
            True,
            MachinePhase.FAILED,
            id="was Ready, is not any more: Failed",
        ),
        pytest.param(
            conditions(HOST_OK, COMPONENTS_OK, JOINED, HEALTHY),
            False,
            MachinePhase.READY,
            id="node Ready: Ready",
        ),
    ],
)
def test_machine_phase(given: dict[str, Condition], was_ready: bool, phase: MachinePhase) -> None:
    assert machine_phase(given, deleting=False, was_ready=was_ready) is phase


def test_deleting_wins() -> None:
    assert machine_phase(conditions(HOST_OK), deleting=True, was_ready=True) is MachinePhase.DELETING


def test_ready_is_true_only_when_the_node_is_ready() -> None:
    assert not ready_condition(conditions(HOST_OK, COMPONENTS_OK, JOINED)).is_true
    failed = ready_condition(conditions(HOST_OK, F("ComponentsReady", "InstallFailed", "kubelet: install")))
    assert (failed.status, failed.reason, failed.message) == ("False", "InstallFailed", "kubelet: install")
    assert ready_condition(conditions(HOST_OK, COMPONENTS_OK, JOINED, HEALTHY)).is_true


def test_fill_status_keeps_unreached_rows_and_drops_components_no_longer_wanted() -> None:
    previous = {
        "phase": "Ready",
        "components": [
            {"name": "containerd", "version": "2.4.2", "digest": "c", "healthy": True},
            {"name": "gone", "version": "1", "healthy": True},
            {"name": "kubelet", "version": "v1.36.5", "digest": "k", "healthy": True},
        ],
        "nodeRef": {"name": "node-1"},
    }
    patch = StatusPatch(previous, owned=CONDITION_TYPES)
    state = MachinePass(order=["containerd", "kubelet"], host_name="host-1")
    state.set("HostReachable", True, "Reachable")
    state.set("ComponentsReady", False, "CheckFailed", "containerd: check failed")
    state.report(ComponentReport("containerd", "2.4.2", "c", False, "check failed"))
    fill_status(patch, SimpleNamespace(metadata=SimpleNamespace(generation=3)), state)
    assert [r["name"] for r in patch.fields["components"]] == ["containerd", "kubelet"]
    assert patch.fields["components"][0]["healthy"] is False
    assert patch.fields["components"][1]["healthy"] is True  # not reached: kept
    assert patch.fields["phase"] == "Failed"
    assert patch.fields["nodeRef"] == {"name": "node-1"}
    assert patch.fields["hostRef"] == {"name": "host-1"}
    assert patch.fields["observedGeneration"] == 3
    ready = patch.get("Ready")
    assert ready is not None and ready.reason == "CheckFailed"
