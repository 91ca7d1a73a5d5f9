"""Pure parts of the sandbox: who the members are, how state round-trips, how ports are handed out."""

from __future__ import annotations

import random
import socket

import pytest

from kokpit.errors import KokpitError
from kokpit.sandbox.ports import (
    PortAllocator,
    PortInUseError,
    allocatable_ports,
    local_port_range,
    parse_local_port_range,
    pick_port,
)
from kokpit.sandbox.state import ClusterState, ComponentState, SandboxState
from kokpit.sandbox.topology import REGIONS, plan_members


@pytest.mark.parametrize(
    ("count", "nodes", "expected_regions"),
    [
        pytest.param(0, 3, [], id="no members"),
        pytest.param(3, 3, ["eu-west", "us-east", "ap-south"], id="3 members, 3 nodes"),
        pytest.param(9, 1, [*REGIONS, "eu-west-2"], id="more members than regions"),
    ],
)
def test_plan_members(count: int, nodes: int, expected_regions: list[str]) -> None:
    members = plan_members(count, nodes_per_member=nodes)
    assert [m.name for m in members] == [f"member{i}" for i in range(1, count + 1)]
    assert [m.region for m in members] == expected_regions
    assert len({m.region for m in members}) == count
    for member in members:
        assert member.zone.startswith(member.region)
        assert member.nodes == tuple(f"{member.name}-node{n}" for n in range(1, nodes + 1))


def test_state_round_trips_through_json() -> None:
    state = SandboxState(dir="/tmp/x", kubernetes_version="v1.36.5")
    cluster = ClusterState(
        name="member1",
        role="member",
        endpoint="https://127.0.0.1:1",
        kubeconfig="/tmp/x/member1.kubeconfig",
        region="eu-west",
        zone="eu-westa",
        nodes=["member1-node1"],
    )
    cluster.components["etcd"] = ComponentState(
        name="etcd",
        pid=42,
        argv=["/bin/etcd", "--name=x"],
        log="/tmp/x/logs/member1-etcd.log",
        ports={"client": 1, "peer": 2},
        version="v3.6.16",
        health_url="https://127.0.0.1:1/health",
    )
    state.clusters["member1"] = cluster
    again = SandboxState.from_json(state.to_json())
    assert again == state
    assert again.members == [cluster]


def test_ports_are_distinct_when_chosen_by_the_kernel() -> None:
    allocator = PortAllocator()
    ports = [allocator.take() for _ in range(20)]
    assert len(set(ports)) == 20


def test_a_base_port_that_is_taken_is_an_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        allocator = PortAllocator(base=port)
        with pytest.raises(PortInUseError, match=f"port 127.0.0.1:{port} is already in use"):
            allocator.take()


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("32768\t60999\n", (32768, 60999)),
        ("1024 65000", (1024, 65000)),
        ("", (32768, 60999)),
        ("9 x", (32768, 60999)),
    ],
)
def test_the_local_port_range_is_parsed(text: str, parsed: tuple[int, int]) -> None:
    assert parse_local_port_range(text) == parsed


def test_allocatable_ports_stay_out_of_the_ephemeral_range() -> None:
    assert allocatable_ports((32768, 60999)) == range(10000, 32768)
    assert allocatable_ports((10500, 60000)) == range(60001, 65536)
    with pytest.raises(KokpitError, match="leaves no ports outside it"):
        allocatable_ports((10500, 65000))


def test_kernel_chosen_ports_are_never_allocated() -> None:
    allocator = PortAllocator(local_range=(20000, 60999), rng=random.Random(7))
    ports = [allocator.take() for _ in range(200)]
    assert len(set(ports)) == 200
    assert all(10000 <= port < 20000 for port in ports)


def test_the_system_range_is_respected() -> None:
    low, _ = local_port_range()
    allocator = PortAllocator()
    assert all(port < low for port in (allocator.take() for _ in range(20)))


def test_pick_port_never_repeats_and_knows_when_it_is_out() -> None:
    candidates = range(10000, 10003)
    taken: set[int] = set()
    rng = random.Random(1)
    for _ in range(3):
        taken.add(pick_port(candidates, taken, rng))
    assert taken == {10000, 10001, 10002}
    with pytest.raises(KokpitError, match="no ports left"):
        pick_port(candidates, taken, rng)


def test_a_port_bound_by_someone_else_is_skipped() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        busy.listen()
        allocator = PortAllocator(local_range=(port + 1, 65535), rng=random.Random(3))
        allocator._candidates = range(port, port + 2)
        assert allocator.take() == port + 1
