"""A Pull member of the sandbox is behind a firewall: it reaches the hub, nothing reaches it.

`kokpit sandbox up --pull member2` runs member2's processes in a network namespace of their own,
with the hub API server on the bridge the namespace's only link leads to. Needs root.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kokpit import sandbox as sandboxes
from kokpit.sandbox import AGENT_COMPONENT, UpOptions
from kokpit.sandbox.kwoklogs import append_log_line
from kokpit.sandbox.network import link_exists, netns_exists, netns_inode, pids_in_netns
from tests.support import SandboxHandle, kubectl, kubectl_argv, run_kokpit, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="Pull members need root (network namespaces, a firewall)"),
]

PULL = "member2"


@pytest.fixture(scope="module")
def pulled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    directory = tmp_path_factory.mktemp("pull-sandbox")
    state = sandboxes.up(directory, UpOptions(members=2, nodes=1, pull=(PULL,), tie_to_parent=True))
    try:
        yield SandboxHandle(dir=directory, state=state)
    finally:
        sandboxes.down(directory)


def _connect(address: str, port: int, *, timeout: float = 3.0) -> str:
    """How a TCP connection attempt ends: `connected`, `refused`, `timed out` or `unreachable`
    (just after a link comes back up, until the neighbour entry is resolved again)."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return "connected"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timed out"
    except OSError as error:
        if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "unreachable"
        raise


def test_a_direct_connection_from_the_hub_side_to_the_pull_member_fails(pulled: SandboxHandle) -> None:
    member = pulled.state.clusters[PULL]
    assert member.pull is not None
    address, port = member.pull.address, member.components["kube-apiserver"].ports["secure"]
    assert member.endpoint == f"https://{address}:{port}"
    # From the root namespace, where the hub and its controllers run: dropped by the firewall,
    # not refused, while the API server does listen there (a connection from inside gets in).
    assert _connect(address, port) == "timed out"
    assert pulled.call_in(PULL, lambda: _connect(address, port)) == "connected"
    denied = kubectl(pulled.kubeconfig(PULL), "get", "--raw", "/readyz", "--request-timeout=3s", check=False)
    assert denied.returncode != 0
    # The Push member stays reachable as before.
    assert kubectl(pulled.kubeconfig("member1"), "get", "--raw", "/readyz").stdout.strip() == "ok"


def test_the_pull_member_reaches_the_hub_whose_certificate_names_its_address(pulled: SandboxHandle) -> None:
    hub = pulled.state.clusters["hub"]
    assert hub.endpoint.startswith(f"https://{pulled.hub_address}:")
    # kubectl verifies the hub's serving certificate against the bridge address it dials.
    inside = kubectl(pulled.kubeconfig("hub"), "get", "--raw", "/readyz", netns=pulled.netns_path(PULL))
    assert inside.stdout.strip() == "ok"
    assert kubectl(pulled.kubeconfig("hub"), "get", "--raw", "/readyz").stdout.strip() == "ok"


def test_the_pull_member_is_a_full_cluster_from_inside_its_namespace(pulled: SandboxHandle) -> None:
    pulled.kubectl(PULL, "create", "deployment", "web", "--image=nginx", "--replicas=2")
    rollout = pulled.kubectl(PULL, "rollout", "status", "deployment/web", "--timeout=60s")
    assert "successfully rolled out" in rollout.stdout
    nodes = json.loads(pulled.kubectl(PULL, "get", "nodes", "-o", "json").stdout)["items"]
    assert [node["metadata"]["name"] for node in nodes] == [f"{PULL}-node1"]


@pytest.mark.parametrize("cluster", ["member1", PULL], ids=["a Push member", "the Pull member"])
def test_kubectl_logs_follows_a_kwok_pod(pulled: SandboxHandle, cluster: str) -> None:
    pulled.kubectl(cluster, "create", "deployment", "logged", "--image=nginx")
    pulled.kubectl(cluster, "rollout", "status", "deployment/logged", "--timeout=60s")
    assert "kwok node" in pulled.kubectl(cluster, "logs", "deployment/logged").stdout
    follow = subprocess.Popen(
        kubectl_argv(
            pulled.kubeconfig(cluster), "logs", "-f", "deployment/logged", netns=pulled.netns_path(cluster)
        ),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout is not None
        assert "kwok node" in follow.stdout.readline()
        append_log_line(pulled.dir / "clusters" / cluster / "kwok", f"a new line on {cluster}")
        assert follow.stdout.readline().strip() == f"a new line on {cluster}"
    finally:
        follow.kill()
        follow.wait()


def test_its_agent_is_a_component_of_the_member_running_in_its_namespace(pulled: SandboxHandle) -> None:
    member = pulled.state.clusters[PULL]
    agent = member.components[AGENT_COMPONENT]
    assert member.pull is not None
    inode = netns_inode(member.pull.netns)
    assert inode is not None
    running_inside = set(pids_in_netns(inode))
    assert agent.pid in running_inside
    for component in member.components.values():
        assert component.pid in running_inside, component.name
    assert not {c.pid for c in pulled.state.clusters["member1"].components.values()} & running_inside


def test_status_answers_for_the_pull_member_even_with_its_link_cut(pulled: SandboxHandle) -> None:
    pulled.set_link(PULL, up=False)
    try:
        rows = sandboxes.status(pulled.dir)
        assert {(row.cluster, row.component): row.state for row in rows if row.cluster == PULL} == {
            (PULL, name): "running" for name in pulled.state.clusters[PULL].components
        }
        hub = pulled.state.clusters["hub"].components["kube-apiserver"].ports["secure"]
        cut = pulled.call_in(PULL, lambda: _connect(pulled.hub_address, hub, timeout=2))
        assert cut in ("timed out", "unreachable")
    finally:
        pulled.set_link(PULL, up=True)
    wait_until(
        "the hub reachable again from the Pull member",
        lambda: pulled.call_in(PULL, lambda: _connect(pulled.hub_address, hub)) == "connected",
        timeout=20,
    )


def test_down_removes_the_namespace_its_firewall_the_links_and_every_process(tmp_path: Path) -> None:
    directory = tmp_path / "sandbox"
    up = run_kokpit(
        "sandbox", "up", "--members", "1", "--nodes", "1", "--pull", "member1", "--dir", str(directory)
    )
    assert up.returncode == 0, up.stderr
    state = sandboxes.load(directory)
    link, network = state.clusters["member1"].pull, state.pull_network
    assert link is not None and network is not None
    assert "pull: behind a firewall" in up.stdout
    try:
        inode = netns_inode(link.netns)
        assert inode is not None and pids_in_netns(inode)
        ruleset = subprocess.run(
            ["nsenter", f"--net={link.netns_path}", "nft", "list", "ruleset"], capture_output=True, text=True
        ).stdout
        assert 'iifname "eth0" drop' in ruleset
        status = run_kokpit("sandbox", "status", "--dir", str(directory), "-o", "json")
        assert status.returncode == 0, status.stdout + status.stderr
        assert AGENT_COMPONENT in {row["component"] for row in json.loads(status.stdout)}
        inside = run_kokpit(
            "sandbox",
            "exec",
            "member1",
            "--dir",
            str(directory),
            "--",
            "ip",
            "-4",
            "-o",
            "addr",
            "show",
            "eth0",
        )
        assert f"{link.address}/" in inside.stdout, inside.stderr
    finally:
        down = run_kokpit("sandbox", "down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    assert not netns_exists(link.netns)
    assert not link_exists(link.veth)
    assert not link_exists(network.bridge)
    assert not pids_in_netns(inode)
    assert not (directory / "sandbox.json").exists()
    again = run_kokpit("sandbox", "down", "--dir", str(directory))
    assert again.returncode == 0 and "nothing was running" in again.stdout
