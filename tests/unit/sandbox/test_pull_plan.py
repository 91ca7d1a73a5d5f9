"""Pull members on paper: names, addresses, network commands, firewall, token parsing, agent commands."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kokpit.sandbox import network
from kokpit.sandbox.hostplan import NODE_NETWORK, POD_NETWORK
from kokpit.sandbox.pullplan import (
    MAX_PULL_MEMBERS,
    PULL_NETWORK,
    SLOTS,
    agent_commands,
    check_pull_members,
    firewall_ruleset,
    link_commands,
    link_state_command,
    parse_token_output,
    plan_pull_network,
)
from kokpit.sandbox.state import ClusterState, PullLink, PullNetworkState, SandboxState

CA_HASH = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("slot", "members", "cluster", "netns", "veth", "address", "gateway"),
    [
        (1, ["member3"], "member3", "kokpit-p1-member3", "kokpit-p1-1", "10.79.1.11", "10.79.1.1"),
        (7, ["member1", "member2"], "member2", "kokpit-p7-member2", "kokpit-p7-2", "10.79.7.12", "10.79.7.1"),
        (
            254,
            [f"member{i}" for i in range(1, 100)],
            "member99",
            "kokpit-p254-member99",
            "kokpit-p254-99",
            "10.79.254.109",
            "10.79.254.1",
        ),
    ],
    ids=[
        "one Pull member in the first slot",
        "the second of two in slot 7",
        "the last member of the last slot",
    ],
)
def test_member_j_of_slot_s_is_10_79_s_10_plus_j(
    slot: int, members: list[str], cluster: str, netns: str, veth: str, address: str, gateway: str
) -> None:
    plan = plan_pull_network(slot, members)
    link = plan.link(cluster)
    assert (link.netns, link.veth, link.address, plan.gateway) == (netns, veth, address, gateway)
    assert plan.bridge == f"kokpit-p{slot}"
    assert link.netns_path == f"/run/netns/{netns}"


def test_names_fit_the_kernel_and_addresses_stay_off_the_hosts_networks() -> None:
    members = [f"member{i}" for i in range(1, MAX_PULL_MEMBERS + 1)]
    for slot in (SLOTS.start, SLOTS.stop - 1):
        plan = plan_pull_network(slot, members)
        assert len(plan.bridge) <= 15
        for link in plan.links:
            assert len(link.veth) <= 15, link.veth  # IFNAMSIZ - 1
            address = ipaddress.ip_address(link.address)
            assert address in PULL_NETWORK and address != ipaddress.ip_address(plan.gateway)
        assert len({link.address for link in plan.links}) == len(members)
    assert not PULL_NETWORK.overlaps(NODE_NETWORK)
    assert not PULL_NETWORK.overlaps(POD_NETWORK)
    assert not plan.bridge.startswith("kokpit0")
    assert not any(link.netns.startswith("kokpit-host-") for link in plan.links)


@pytest.mark.parametrize("slot", [0, 255], ids=["slot 0", "slot 255"])
def test_a_slot_outside_the_range_is_refused(slot: int) -> None:
    with pytest.raises(ValueError, match="slot"):
        plan_pull_network(slot, ["member1"])


@pytest.mark.parametrize(
    ("pull", "members", "reason"),
    [
        (["member3"], ["member1", "member2", "member3"], None),
        (["member4"], ["member1"], "--pull member4: no such member (have: member1)"),
        (["member1"], [], "--pull member1: no such member (have: none)"),
        (["member1", "member1"], ["member1"], "--pull names a member twice"),
    ],
    ids=["a member", "no such member", "no members at all", "twice"],
)
def test_pull_names_must_be_members(pull: list[str], members: list[str], reason: str | None) -> None:
    assert check_pull_members(pull, members) == reason


def test_a_link_is_a_namespace_with_a_veth_into_the_bridge_and_a_default_route_to_the_hub() -> None:
    plan = plan_pull_network(3, ["member2"])
    commands = link_commands(plan, plan.links[0])
    assert commands[0] == ["ip", "netns", "add", "kokpit-p3-member2"]
    assert ["ip", "link", "set", "dev", "kokpit-p3-1", "master", "kokpit-p3", "up"] in commands
    assert ["ip", "-n", "kokpit-p3-member2", "addr", "add", "10.79.3.11/24", "dev", "eth0"] in commands
    assert commands[-1] == ["ip", "-n", "kokpit-p3-member2", "route", "add", "default", "via", "10.79.3.1"]
    assert not [argv for argv in commands if "ip_forward" in " ".join(argv)]
    bridge = network.bridge_commands("/srv/sandbox", bridge=plan.bridge, address="10.79.3.1/24")
    assert ["ip", "link", "set", "dev", "kokpit-p3", "alias", "/srv/sandbox"] in bridge
    assert ["ip", "addr", "add", "10.79.3.1/24", "dev", "kokpit-p3"] in bridge


def test_cutting_a_link_downs_the_root_side_only() -> None:
    assert link_state_command("kokpit-p1-1", up=False) == ["ip", "link", "set", "dev", "kokpit-p1-1", "down"]
    assert link_state_command("kokpit-p1-1", up=True)[-1] == "up"


def test_the_firewall_drops_new_inbound_connections_but_not_replies_or_loopback() -> None:
    ruleset = firewall_ruleset()
    lines = [line.strip() for line in ruleset.splitlines()]
    accept_lo = lines.index('iifname "lo" accept')
    established = lines.index("ct state established,related accept")
    drop = lines.index('iifname "eth0" drop')
    assert accept_lo < drop and established < drop
    assert "type filter hook input priority filter; policy accept;" in lines
    assert "output" not in ruleset  # outbound (to the hub) is never filtered


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")
def test_the_firewall_is_valid_nftables(tmp_path: Path) -> None:
    path = tmp_path / "firewall.nft"
    path.write_text(firewall_ruleset())
    result = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    if "Operation not permitted" in result.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "output",
    [
        f"token: abcdef.0123456789abcdef\nca-cert-hash: {CA_HASH}\n",
        f"kokpit register member3 --hub https://10.79.1.1:6443 --token abcdef.0123456789abcdef "
        f"--ca-cert-hash {CA_HASH}\n",
    ],
    ids=["labelled lines", "only the register line"],
)
def test_the_token_and_ca_hash_are_read_from_token_create(output: str) -> None:
    assert parse_token_output(output) == ("abcdef.0123456789abcdef", CA_HASH)


def test_token_create_output_without_a_token_is_an_error() -> None:
    with pytest.raises(ValueError, match="no token"):
        parse_token_output("error: forbidden\n")


def test_the_agent_registers_once_with_a_user_s_flags_then_runs() -> None:
    commands = agent_commands(
        ["kokpit"],
        cluster="member3",
        hub_url="https://10.79.1.1:6443",
        token="abcdef.0123456789abcdef",
        ca_hash=CA_HASH,
        member_kubeconfig="/s/member3.kubeconfig",
        out_dir="/s/clusters/member3/agent",
        region="ap-south",
        zone="ap-south-a",
        provider="kwok",
    )
    register = list(commands.register)
    assert register[:3] == ["kokpit", "register", "member3"]
    flags = dict(zip(register[3::2], register[4::2], strict=True))
    assert flags == {
        "--hub": "https://10.79.1.1:6443",
        "--token": "abcdef.0123456789abcdef",
        "--ca-cert-hash": CA_HASH,
        "--kubeconfig": "/s/member3.kubeconfig",
        "--out": "/s/clusters/member3/agent",
        "--timeout": "0",
        "--provider": "kwok",
        "--region": "ap-south",
        "--zone": "ap-south-a",
    }
    assert commands.hub_kubeconfig == "/s/clusters/member3/agent/hub.kubeconfig"
    assert list(commands.agent) == [
        "kokpit",
        "agent",
        "--hub-kubeconfig",
        "/s/clusters/member3/agent/hub.kubeconfig",
        "--kubeconfig",
        "/s/member3.kubeconfig",
    ]


def test_a_pull_sandbox_state_round_trips() -> None:
    state = SandboxState(dir="/s", kubernetes_version="v1.36.5")
    state.clusters["hub"] = ClusterState(
        name="hub", role="hub", endpoint="https://10.79.1.1:1", kubeconfig="h"
    )
    state.clusters["member3"] = ClusterState(
        name="member3",
        role="member",
        endpoint="https://10.79.1.11:2",
        kubeconfig="m",
        pull=PullLink(netns="kokpit-p1-member3", veth="kokpit-p1-1", address="10.79.1.11"),
    )
    state.pull_network = PullNetworkState(slot=1, bridge="kokpit-p1", gateway="10.79.1.1", prefixlen=24)
    again = SandboxState.from_json(state.to_json())
    assert again == state
    assert [c.name for c in again.pull_members] == ["member3"]
    assert again.clusters["member3"].netns_path == "/run/netns/kokpit-p1-member3"
    assert again.clusters["hub"].netns_path is None
    old = json.loads(state.to_json())
    del old["pull_network"]
    for cluster in old["clusters"].values():
        del cluster["pull"]
    assert SandboxState.from_json(json.dumps(old)).pull_members == []


def test_a_shorter_lease_and_certificate_validity_are_passed_on() -> None:
    commands = agent_commands(
        ["kokpit"],
        cluster="m",
        hub_url="https://h",
        token="abcdef.0123456789abcdef",
        ca_hash=CA_HASH,
        member_kubeconfig="k",
        out_dir="o",
        lease_duration=6.0,
        cert_ttl="10m",
        renew_fraction=0.45,
    )
    assert commands.agent[-4:] == ("--lease-duration", "6", "--renew-fraction", "0.45")
    assert commands.register[-2:] == ("--cert-ttl", "10m")
    assert "--region" not in commands.register
