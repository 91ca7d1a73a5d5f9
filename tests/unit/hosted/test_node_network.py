"""Serving a hosted control plane where nodes reach it: the exposure address must be one of this
machine's, and the ports it gets never collide with those another component recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from kokpit.api.hostedcluster import HostedClusterSpec
from kokpit.controlplane.runtime import Group, ProcessRuntime
from kokpit.hosted.process_plane import address_problem


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", None),
        ("::1", None),
        ("203.0.113.7", "is not an address of this machine"),
        ("api.example.com", "is not an IP address"),
    ],
    ids=["loopback", "IPv6 loopback", "an address no interface has (a bridge not up)", "a DNS name"],
)
def test_address_problem(address: str, problem: str | None) -> None:
    got = address_problem(address)
    if problem is None:
        assert got is None
    else:
        assert got is not None and problem in got and address in got


def test_the_default_exposure_stays_on_loopback() -> None:
    spec = HostedClusterSpec.model_validate({"kubernetesVersion": "v1.36.5"})
    assert spec.exposure is None
    exposed = HostedClusterSpec.model_validate({"kubernetesVersion": "v1.36.5", "exposure": {}})
    assert exposed.exposure is not None and exposed.exposure.address == "127.0.0.1"


def test_ports_recorded_under_the_root_are_never_handed_out_again(tmp_path: Path) -> None:
    first = ProcessRuntime(tmp_path)
    taken: set[int] = set()
    for index in range(5):
        addresses = first.addresses(Group("ns", f"c{index}"), "kube-apiserver")
        taken |= {int(url.rsplit(":", 1)[1]) for url in (addresses.client_url, addresses.peer_url)}
    # A new runtime over the same root (kokpit restarted; its processes may be stopped) sees them all.
    again = ProcessRuntime(tmp_path)
    assert again._recorded_ports() == taken
    for index in range(5):
        addresses = again.addresses(Group("ns", f"d{index}"), "kube-apiserver")
        assert int(addresses.client_url.rsplit(":", 1)[1]) not in taken
    # A component's own ports are kept, not re-drawn.
    assert again.addresses(Group("ns", "c0"), "kube-apiserver") == first.addresses(
        Group("ns", "c0"), "kube-apiserver"
    )
