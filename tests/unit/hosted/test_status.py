"""The HostedCluster status as one pass leaves it (`hosted.status.fill_status`, pure)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kokpit.hosted import plan
from kokpit.hosted.context import Pass
from kokpit.hosted.status import CONDITION_TYPES, fill_status
from kokpit.runtime import StatusPatch, get_condition

OBJ = SimpleNamespace(metadata=SimpleNamespace(name="demo", namespace="team", generation=3))


def _fill(state: Pass, previous: dict[str, Any] | None = None, **options: Any) -> StatusPatch:
    patch = StatusPatch(previous or {}, owned=CONDITION_TYPES, generation=3)
    fill_status(patch, OBJ, state, options.pop("restarts", {}), **options)
    return patch


def _condition(patch: StatusPatch, type_: str) -> tuple[str, str]:
    found = get_condition(patch.conditions, type_)
    assert found is not None, patch.conditions
    return str(found["status"]), str(found["reason"])


def test_an_invalid_spec_says_so_and_is_not_ready() -> None:
    patch = _fill(Pass(), invalid="invalid spec: join: the kubernetes runtime cannot join the fleet yet")
    assert _condition(patch, "VersionAccepted") == ("False", "InvalidSpec")
    assert _condition(patch, "Ready") == ("False", "InvalidSpec")
    assert patch.fields["phase"] == "Provisioning" and patch.fields["observedGeneration"] == 3


def test_a_pass_stopped_before_the_api_server_is_provisioning() -> None:
    state = Pass()
    state.set("VersionAccepted", True, "VersionAccepted", "Kubernetes v1.36.5")
    state.set("EtcdReady", False, "EtcdNotAvailable", "waiting")
    patch = _fill(state)
    assert _condition(patch, "Ready") == ("False", "Provisioning")
    assert _condition(patch, "EtcdReady") == ("False", "EtcdNotAvailable")
    state = Pass()
    state.set("VersionAccepted", True, "VersionAccepted", "Kubernetes v1.36.5")
    assert _condition(_fill(state), "Ready") == ("False", "Provisioning")


def test_a_failed_step_keeps_what_earlier_passes_learnt() -> None:
    """A pass that raised midway still writes its conditions, and keeps endpoint, version and
    restart counts from the status before rather than dropping them."""
    previous = {
        "phase": "Ready",
        "version": "v1.36.5",
        "endpoint": "https://127.0.0.1:7000",
        "components": [{"name": "kube-apiserver", "restarts": 2, "version": "v1.36.5", "ready": True}],
    }
    state = Pass()
    state.set("Progressing", False, "StepFailed", "ApiError: boom")
    state.set("APIServerAvailable", False, "NotReady", "starting")
    history = plan.RestartHistory()
    history.record(1.0, wall="2030-01-01T00:00:00Z")
    patch = _fill(state, previous, restarts={"kube-apiserver": history})
    assert _condition(patch, "Progressing") == ("False", "StepFailed")
    assert _condition(patch, "Ready") == ("False", "NotReady")
    assert patch.fields["phase"] == "NotReady"  # was Ready before
    assert patch.fields["endpoint"] == "https://127.0.0.1:7000" and patch.fields["version"] == "v1.36.5"
    (row,) = patch.fields["components"]
    assert row["restarts"] == 2 and row["ready"] is False and row["lastRestart"] == "2030-01-01T00:00:00Z"


def test_ready_when_every_input_is_true() -> None:
    state = Pass(
        running=dict.fromkeys(("kube-apiserver", "kube-controller-manager", "kube-scheduler"), "v1.36.5")
    )
    for type_ in plan.READY_INPUTS:
        state.set(type_, True, "Fine")
    state.target = "v1.36.5"
    patch = _fill(state)
    assert _condition(patch, "Ready") == ("True", "ClusterReady")
    assert patch.fields["phase"] == "Ready" and patch.fields["version"] == "v1.36.5"
