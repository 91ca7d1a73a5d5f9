"""Sandbox hosts on paper: names, addresses, subnets, sshd config, network commands, inventory."""

from __future__ import annotations

import base64
import ipaddress
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from kokpit.sandbox import network
from kokpit.sandbox.hostplan import (
    BRIDGE,
    GATEWAY,
    NODE_NETWORK,
    HostCredentials,
    inventory_documents,
    parse_inventory,
    plan_hosts,
    render_inventory,
    render_sshd_config,
)
from kokpit.sandbox.hosts import SSHD, _generate_key
from kokpit.sandbox.teardown import mount_points, mounts_below

DIR = Path("/srv/sandbox")


@pytest.mark.parametrize(
    ("count", "index", "name", "address", "pod_cidr"),
    [
        (1, 1, "host-1", "10.77.0.11", "10.78.1.0/24"),
        (3, 3, "host-3", "10.77.0.13", "10.78.3.0/24"),
        (200, 200, "host-200", "10.77.0.210", "10.78.200.0/24"),
    ],
    ids=["one host: the first", "three hosts: the third", "the most hosts: the last"],
)
def test_host_i_gets_address_10_plus_i_and_pod_subnet_i(
    count: int, index: int, name: str, address: str, pod_cidr: str
) -> None:
    host = plan_hosts(count, DIR)[index - 1]
    assert (host.name, host.address, host.pod_cidr) == (name, address, pod_cidr)
    assert host.netns == f"kokpit-{name}"
    assert host.prefix == f"/srv/sandbox/hosts/{name}"
    assert host.cgroup_root == f"/kokpit-{name}"


def test_hosts_never_share_a_name_an_address_a_subnet_or_a_cgroup() -> None:
    hosts = plan_hosts(200, DIR)
    for attribute in ("name", "netns", "veth", "address", "pod_cidr", "prefix", "cgroup_root"):
        values = [getattr(host, attribute) for host in hosts]
        assert len(set(values)) == len(values), attribute
    for host in hosts:
        assert ipaddress.ip_address(host.address) in NODE_NETWORK
        assert host.address != GATEWAY
        assert len(host.veth) <= 15  # IFNAMSIZ - 1
        assert not ipaddress.ip_network(host.pod_cidr).overlaps(NODE_NETWORK)


@pytest.mark.parametrize("count", [0, -1, 201], ids=["none", "negative", "more than the subnet holds"])
def test_counts_outside_one_to_two_hundred_are_refused(count: int) -> None:
    with pytest.raises(ValueError, match="--count must be between 1 and 200"):
        plan_hosts(count, DIR)


def test_sshd_listens_on_the_host_address_only_and_lets_root_in_by_key_only() -> None:
    host = plan_hosts(2, DIR)[1]
    lines = render_sshd_config(host).splitlines()
    assert "ListenAddress 10.77.0.12:22" in lines
    assert [line for line in lines if line.startswith("ListenAddress")] == ["ListenAddress 10.77.0.12:22"]
    for expected in (
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "Subsystem sftp internal-sftp",
        "HostKey /srv/sandbox/hosts/host-2/etc/ssh/ssh_host_ed25519_key",
        "AuthorizedKeysFile /srv/sandbox/hosts/host-2/etc/ssh/authorized_keys",
        "PidFile /srv/sandbox/hosts/host-2/run/sshd.pid",
    ):
        assert expected in lines


@pytest.mark.skipif(not SSHD.exists() or os.geteuid() != 0, reason="needs Debian's sshd and root")
def test_sshd_accepts_the_rendered_config(tmp_path: Path) -> None:
    host = plan_hosts(1, tmp_path)[0]
    host.host_key.parent.mkdir(parents=True)
    private, public = _generate_key()
    host.host_key.write_text(private)
    host.host_key.chmod(0o600)
    host.authorized_keys.write_text(public + "\n")
    host.sshd_config.write_text(render_sshd_config(host))
    Path("/run/sshd").mkdir(exist_ok=True)
    result = subprocess.run([str(SSHD), "-t", "-f", str(host.sshd_config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_host_network_enters_the_namespace_with_nsenter_never_ip_netns_exec() -> None:
    host = plan_hosts(1, DIR)[0]
    commands = network.host_commands(host)
    assert not [argv for argv in commands if argv[:3] == ["ip", "netns", "exec"]]
    assert ["nsenter", "--net=/run/netns/kokpit-host-1", "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"] in (
        commands
    )
    assert commands[0] == ["ip", "netns", "add", "kokpit-host-1"]
    assert ["ip", "-n", "kokpit-host-1", "route", "add", "default", "via", GATEWAY] in commands
    assert commands[-1] == ["ip", "route", "add", "10.78.1.0/24", "via", "10.77.0.11", "dev", BRIDGE]


def test_the_bridge_says_which_directory_made_it() -> None:
    commands = network.bridge_commands("/srv/sandbox")
    assert ["ip", "link", "set", "dev", BRIDGE, "alias", "/srv/sandbox"] in commands
    assert ["ip", "addr", "add", "10.77.0.1/24", "dev", BRIDGE] in commands


def _inventory(count: int, namespace: str | None = None) -> tuple[str, dict[str, HostCredentials]]:
    hosts = plan_hosts(count, DIR)
    credentials = {}
    for host in hosts:
        private, _ = _generate_key()
        _, host_public = _generate_key()
        credentials[host.name] = HostCredentials(host_key=host_public, private_key=private)
    return render_inventory(inventory_documents(hosts, credentials, namespace=namespace)), credentials


def test_the_inventory_is_a_secret_then_a_host_per_host() -> None:
    text, credentials = _inventory(2)
    documents = list(yaml.safe_load_all(text))
    assert [(doc["kind"], doc["metadata"]["name"]) for doc in documents] == [
        ("Secret", "host-1-ssh"),
        ("Host", "host-1"),
        ("Secret", "host-2-ssh"),
        ("Host", "host-2"),
    ]
    secret, host = documents[2], documents[3]
    assert secret["type"] == "kubernetes.io/ssh-auth"
    assert base64.b64decode(secret["data"]["ssh-privatekey"]).decode() == credentials["host-2"].private_key
    assert host["apiVersion"] == "machines.kokpit.io/v1alpha1"
    assert host["spec"] == {
        "address": "10.77.0.12",
        "port": 22,
        "user": "root",
        "credentialsSecretRef": {"name": "host-2-ssh"},
        "hostKey": credentials["host-2"].host_key,
        "prefix": "/srv/sandbox/hosts/host-2",
        "cgroupRoot": "/kokpit-host-2",
        "podCIDR": "10.78.2.0/24",
    }
    assert host["spec"]["hostKey"].startswith("ssh-ed25519 AAAA")
    assert "namespace" not in host["metadata"]


def test_the_inventory_names_a_namespace_when_asked() -> None:
    text, _ = _inventory(1, namespace="machines")
    assert {doc["metadata"]["namespace"] for doc in yaml.safe_load_all(text)} == {"machines"}


def test_inventory_hosts_are_valid_host_resources() -> None:
    machine = pytest.importorskip("kokpit.api.machine")
    text, _ = _inventory(3)
    for doc in yaml.safe_load_all(text):
        if doc["kind"] == "Host":
            host = machine.Host.model_validate(doc)
            assert host.spec.pod_cidr == doc["spec"]["podCIDR"]


def test_the_inventory_reads_back_with_each_host_joined_to_its_secret() -> None:
    text, credentials = _inventory(2)
    hosts = parse_inventory(text)
    assert [(host.name, host.address, host.port, host.user) for host in hosts] == [
        ("host-1", "10.77.0.11", 22, "root"),
        ("host-2", "10.77.0.12", 22, "root"),
    ]
    assert hosts[0].private_key == credentials["host-1"].private_key
    assert hosts[1].host_key == credentials["host-2"].host_key


def test_a_host_whose_secret_is_missing_is_refused() -> None:
    text, _ = _inventory(1)
    without_secret = [doc for doc in yaml.safe_load_all(text) if doc["kind"] == "Host"]
    with pytest.raises(ValueError, match="names a Secret"):
        parse_inventory(yaml.safe_dump_all(without_secret))


MOUNTINFO = (
    "22 1 8:1 / / rw - ext4 /dev/root rw\n"
    "40 22 0:40 / /srv/sandbox/hosts/host-1/var/lib/kubelet/pods/a/vol rw - tmpfs tmpfs rw\n"
    "41 40 0:41 / /srv/sandbox/hosts/host-1/var/lib/kubelet/pods/a/vol/my\\040secret rw - tmpfs tmpfs rw\n"
    "42 22 0:42 / /srv/sandbox/hosts/host-2/run/containerd/rootfs rw - overlay overlay rw\n"
    "43 22 0:43 / /srv/sandbox/hosts2/elsewhere rw - tmpfs tmpfs rw\n"
)


def test_mounts_below_the_hosts_come_deepest_first_and_a_sibling_directory_is_left_alone() -> None:
    points = mount_points(MOUNTINFO)
    assert "/srv/sandbox/hosts/host-1/var/lib/kubelet/pods/a/vol/my secret" in points
    assert mounts_below(points, Path("/srv/sandbox/hosts")) == [
        "/srv/sandbox/hosts/host-1/var/lib/kubelet/pods/a/vol/my secret",
        "/srv/sandbox/hosts/host-1/var/lib/kubelet/pods/a/vol",
        "/srv/sandbox/hosts/host-2/run/containerd/rootfs",
    ]
