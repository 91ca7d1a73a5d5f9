"""Sandbox hosts as the machine operator meets them: real sshd in real network namespaces.

The first tests bring hosts up and down themselves (through the CLI and the Python API) and check
that nothing is left; the rest share the `hosts` fixture (tests/integration/conftest.py). Only one
set of hosts exists at a time, since they share the bridge kokpit0. Needs root; run under
`flock /tmp/kokpit-integration.lock`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

import asyncssh
import pytest

from kokpit.sandbox import hosts as sandbox_hosts
from kokpit.sandbox.hostplan import BRIDGE, InventoryHost
from kokpit.sandbox.hosts import SSHD, HostsError, Inventory, hosts_down, hosts_status, hosts_up, read_state
from kokpit.sandbox.kernel import read_settings
from kokpit.sandbox.network import link_exists, netns_exists, read_ip_forward
from kokpit.sandbox.teardown import current_mounts_below
from tests.support import run_kokpit, wait_until

SRC = Path(__file__).resolve().parents[3] / "src"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0 or not SSHD.exists(), reason="needs root and openssh-server"),
]


async def connect(host: InventoryHost, *, private_key: str | None = None) -> asyncssh.SSHClientConnection:
    """An SSH session to `host` as the operator opens it: only the pinned host key is trusted,
    the key is the Secret's, nothing is read from ~/.ssh."""
    return await asyncssh.connect(
        host.address,
        port=host.port,
        username=host.user,
        known_hosts=asyncssh.import_known_hosts(f"{host.address} {host.host_key}\n"),
        client_keys=[asyncssh.import_private_key(private_key or host.private_key)],
        agent_path=None,
        config=[],
        connect_timeout=10,
    )


async def run(host: InventoryHost, command: str) -> str:
    async with await connect(host) as session:
        result = await session.run(command, check=True, timeout=30)
    return str(result.stdout)


def ssh(host: InventoryHost, command: str) -> str:
    """`run` for tests that are not async."""
    return asyncio.run(run(host, command))


def read_pid(path: Path) -> int:
    return int(path.read_text())


def live_processes_mentioning(directory: Path) -> list[int]:
    """Live (non-zombie) processes whose command line names `directory`."""
    needle = str(directory).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
                if state != "Z" and needle in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    return found


def write_payload(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def same_bytes(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def assert_nothing_left(directory: Path, *, ip_forward: str) -> None:
    assert not [name for name in ("kokpit-host-1", "kokpit-host-2") if netns_exists(name)]
    assert not link_exists(BRIDGE)
    assert not link_exists("kokpit-host-1")
    assert live_processes_mentioning(directory) == []
    assert current_mounts_below(directory) == []
    assert not (directory / "hosts").exists()
    assert not (directory / "hosts.yaml").exists()
    assert read_state(directory) is None
    assert read_ip_forward() == ip_forward


def test_cli_up_status_down_removes_every_process_mount_and_link(tmp_path: Path) -> None:
    directory = tmp_path / "sb"
    ip_forward = read_ip_forward()
    maxkeys = read_settings()["kernel/keys/root_maxkeys"]
    up = run_kokpit("sandbox", "hosts", "up", "--count", "2", "--dir", str(directory))
    assert up.returncode == 0, up.stderr
    assert "host-2: 10.77.0.12" in up.stdout
    status = run_kokpit("sandbox", "hosts", "status", "--dir", str(directory))
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count("answers") == 2
    assert read_ip_forward() == "1"

    inventory = sandbox_hosts.load_inventory(directory)
    state = read_state(directory)
    assert state is not None
    sshd_pids = [sshd.pid for sshd in state.sshd.values()]
    host = inventory.host("host-1")
    prefix = shlex.quote(host.prefix)
    # What a node leaves: a daemon in the host's namespace, a "container" in a network namespace
    # of its own but in the host's cgroup, and tmpfs mounts below the host's directory.
    ssh(
        host,
        f"mkdir -p {prefix}/volumes/a && mount -t tmpfs tmpfs {prefix}/volumes && "
        f"mkdir -p {prefix}/volumes/a && mount -t tmpfs tmpfs {prefix}/volumes/a && "
        f"start-stop-daemon --start --background --make-pidfile --pidfile {prefix}/run/daemon.pid "
        "--exec /bin/sleep -- 600 && "
        "mkdir -p /sys/fs/cgroup/pids/kokpit-host-1/pod && "
        "setsid -f unshare --net sh -c "
        f"'echo $$ > /sys/fs/cgroup/pids/kokpit-host-1/pod/cgroup.procs; echo $$ > {prefix}/run/pod.pid; "
        "exec sleep 600' </dev/null >/dev/null 2>&1 && sleep 0.3",
    )
    # and a kernel-wide setting changed the way a kubelet changes its own
    ssh(
        host, "echo $(( $(cat /proc/sys/kernel/keys/root_maxkeys) + 1 )) > /proc/sys/kernel/keys/root_maxkeys"
    )
    daemon = read_pid(Path(host.prefix, "run", "daemon.pid"))
    pod = read_pid(Path(host.prefix, "run", "pod.pid"))
    assert alive(daemon) and alive(pod)
    assert len(current_mounts_below(directory)) == 2

    down = run_kokpit("sandbox", "hosts", "down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    assert "removed 2 hosts" in down.stdout
    assert "2 mounts unmounted" in down.stdout
    assert not [pid for pid in [*sshd_pids, daemon, pod] if alive(pid)]
    assert not Path("/sys/fs/cgroup/pids/kokpit-host-1").exists()
    assert read_settings()["kernel/keys/root_maxkeys"] == maxkeys
    assert_nothing_left(directory, ip_forward=ip_forward)

    again = run_kokpit("sandbox", "hosts", "down", "--dir", str(directory))
    assert again.returncode == 0, again.stderr
    assert "no hosts were there" in again.stdout


def test_an_interrupted_up_leaves_nothing(tmp_path: Path) -> None:
    ip_forward = read_ip_forward()

    def interrupt(message: str) -> None:
        if message.startswith("host-2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hosts_up(tmp_path, 2, tie_to_parent=True, report=interrupt)
    assert_nothing_left(tmp_path, ip_forward=ip_forward)


def test_up_over_dead_hosts_cleans_their_leftovers_first(tmp_path: Path) -> None:
    ip_forward = read_ip_forward()
    hosts_up(tmp_path, 2, tie_to_parent=True)
    try:
        refused = run_kokpit("sandbox", "hosts", "up", "--count", "2", "--dir", str(tmp_path))
        assert refused.returncode == 1
        assert "already holds running sandbox hosts" in refused.stderr
        state = read_state(tmp_path)
        assert state is not None
        for sshd in state.sshd.values():  # the hosts "crash": their sshds die, the rest stays
            os.kill(sshd.pid, 9)
        wait_until("the sshds dead", lambda: not any(row.sshd for row in hosts_status(tmp_path)), timeout=10)
        hosts_up(tmp_path, 2, tie_to_parent=True)
        assert all(row.ok for row in hosts_status(tmp_path))
    finally:
        hosts_down(tmp_path)
    assert_nothing_left(tmp_path, ip_forward=ip_forward)


def test_another_directorys_hosts_are_refused_while_alive_and_removed_once_abandoned(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    hosts_up(first, 1, tie_to_parent=True)
    try:
        with pytest.raises(HostsError, match=f"belongs to the sandbox hosts in {first}"):
            hosts_up(second, 1, tie_to_parent=True)
        state = read_state(first)
        assert state is not None
        os.kill(state.sshd["host-1"].pid, 9)  # the run that made them is gone
        wait_until("the sshd dead", lambda: not hosts_status(first)[0].sshd, timeout=10)
        hosts_up(second, 1, tie_to_parent=True)
        assert read_state(first) is None
        assert not (first / "hosts").exists()
        assert hosts_status(second)[0].ok
    finally:
        hosts_down(second)
        hosts_down(first)


def test_up_without_root_is_one_line(tmp_path: Path) -> None:
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    result = subprocess.run(
        [
            *as_nobody,
            sys.executable,
            "-m",
            "kokpit.cli.main",
            "sandbox",
            "hosts",
            "up",
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={**os.environ, "PYTHONPATH": str(SRC), "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/"},
    )
    assert result.returncode == 1, result.stdout
    assert result.stderr.strip().splitlines() == [
        "kokpit: error: kokpit sandbox hosts up needs root (network namespaces, a bridge, sshd); "
        "run it as root"
    ]


# --- one set of hosts for the rest of the module -------------------------------------------------


async def test_each_host_has_its_own_address_and_default_route(hosts: Inventory) -> None:
    for host in hosts.hosts:
        addresses = await run(host, "ip -4 -o addr show")
        assert f"inet {host.address}/24" in addresses
        assert [other.address for other in hosts.hosts if f"inet {other.address}/" in addresses] == [
            host.address
        ]
        assert "default via 10.77.0.1" in await run(host, "ip route")
        assert (await run(host, "id -u")).strip() == "0"


async def test_host_1_reaches_host_2(hosts: Inventory) -> None:
    first, second = hosts.hosts[0], hosts.hosts[1]
    banner = await run(first, f"busybox nc -w 3 {second.address} 22 </dev/null | head -c 8")
    assert banner == "SSH-2.0-"


async def test_pod_subnets_are_routed_between_hosts(hosts: Inventory) -> None:
    first, second = hosts.hosts[0], hosts.hosts[1]
    pod_address = first.pod_cidr.replace(".0/24", ".1")  # a pod's address, held by host-1
    await run(
        first,
        f"ip addr add {pod_address}/32 dev lo && "
        "setsid -f busybox nc -l -p 8080 -e /bin/echo pod </dev/null >/dev/null 2>&1 && sleep 0.2",
    )
    # host-2 has only its default route: 10.77.0.1 routes the pod subnet to host-1's address.
    assert (await run(second, f"busybox nc -w 3 {pod_address} 8080 </dev/null")).strip() == "pod"


async def test_sftp_uploads_below_the_prefix(hosts: Inventory, tmp_path: Path) -> None:
    host = hosts.hosts[0]
    local = write_payload(tmp_path / "payload", b"kokpit\n" * 1000)
    target = f"{host.prefix}/opt/bin/payload"
    async with await connect(host) as session:
        await session.run(f"mkdir -p {host.prefix}/opt/bin", check=True)
        async with session.start_sftp_client() as sftp:
            await sftp.put(str(local), target)
        result = await session.run(f"sha256sum {target}", check=True)
    assert same_bytes(Path(target), local)  # the host's disk is a directory of this machine
    assert str(result.stdout).split()[0] == hashlib.sha256(b"kokpit\n" * 1000).hexdigest()


async def test_another_hosts_key_is_refused(hosts: Inventory) -> None:
    first, second = hosts.hosts[0], hosts.hosts[1]
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(first, private_key=second.private_key)


async def test_a_host_presenting_another_host_key_is_not_trusted(hosts: Inventory) -> None:
    first, second = hosts.hosts[0], hosts.hosts[1]
    impostor = InventoryHost(**{**first.__dict__, "host_key": second.host_key})
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await connect(impostor)


def test_status_and_inventory_agree_with_the_hosts(hosts: Inventory) -> None:
    rows = hosts_status(hosts.directory)
    assert [(row.name, row.address, row.ok) for row in rows] == [
        (host.name, host.address, True) for host in hosts.hosts
    ]
    assert (hosts.path.stat().st_mode & 0o777) == 0o600
    assert (hosts.key_file("host-1").stat().st_mode & 0o777) == 0o600
