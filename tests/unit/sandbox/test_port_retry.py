"""When a sandbox component is started again on a new port rather than failing the whole sandbox."""

from __future__ import annotations

import pytest

from kokpit.sandbox.sandbox import (
    APISERVER,
    ETCD,
    KWOK,
    MAX_PORT_RETRIES,
    SCHEDULER,
    lost_its_port,
    should_relaunch,
)

START = "--- 2026-12-01T22:00:00 starting: kube-scheduler --secure-port=20001"
BIND_FAILED = (
    "E1201 22:00:01 run.go:72] failed to listen on 127.0.0.1:20001: "
    "listen tcp 127.0.0.1:20001: bind: address already in use"
)


def test_a_bind_failure_after_the_latest_start_is_a_lost_port() -> None:
    assert lost_its_port([START, "I1201 starting", BIND_FAILED])
    assert lost_its_port([START, BIND_FAILED.replace("address", "Address")])


def test_a_bind_failure_of_an_earlier_start_does_not_count() -> None:
    assert not lost_its_port([START, BIND_FAILED, START.replace("20001", "20002"), "E1201 something else"])


def test_other_deaths_are_not_lost_ports() -> None:
    assert not lost_its_port([START, "E1201 unable to load configmap: connection refused"])
    assert not lost_its_port([])


@pytest.mark.parametrize("component", [SCHEDULER, KWOK, "kube-controller-manager"])
def test_components_whose_port_nobody_else_knows_are_relaunched(component: str) -> None:
    assert should_relaunch(component, [START, BIND_FAILED], retries=0)
    assert should_relaunch(component, [START, BIND_FAILED], retries=MAX_PORT_RETRIES - 1)
    assert not should_relaunch(component, [START, BIND_FAILED], retries=MAX_PORT_RETRIES)
    assert not should_relaunch(component, [START, "E1201 crashed"], retries=0)


@pytest.mark.parametrize("component", [ETCD, APISERVER])
def test_components_whose_port_is_written_elsewhere_fail_the_sandbox(component: str) -> None:
    assert not should_relaunch(component, [START, BIND_FAILED], retries=0)
