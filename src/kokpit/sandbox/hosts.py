"""Sandbox hosts: machines on this machine, each a network namespace with its own sshd.

    inventory = hosts_up(directory, 3)      # host-1..3 on 10.77.0.11..13, DIR/hosts.yaml written
    hosts_status(directory)                 # namespace present, sshd alive, port 22 answering
    hosts_down(directory)                   # every process, mount, cgroup, link and file gone

The machine operator reaches these hosts exactly as it reaches real ones (SSH to an address with
a pinned host key and a key from a Secret); nothing in it knows they share a kernel. What makes
them distinct machines is here: an own network namespace and address on the bridge `kokpit0`, an
own directory (its disk, the Host's `prefix`), an own cgroup root and pod subnet, and an own sshd
with a generated host key that accepts one generated client key for root.

State goes to `DIR/hosts.json` before anything is created, so `down` also removes what a `up`
that failed half-way made; `up` on a directory whose hosts are gone (a crash, a reboot) cleans
the leftovers first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kokpit.controlplane import processes
from kokpit.controlplane.files import private_dir, write_private
from kokpit.errors import KokpitError
from kokpit.sandbox import kernel, network, teardown
from kokpit.sandbox.hostplan import (
    BRIDGE,
    SSH_PORT,
    SSH_USER,
    HostCredentials,
    HostPlan,
    InventoryHost,
    hosts_root,
    inventory_documents,
    parse_inventory,
    plan_hosts,
    render_inventory,
    render_sshd_config,
)

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")
"""sshd (Debian's, without systemd to make it) refuses to start without this directory."""
STATE_FILE = "hosts.json"
INVENTORY_FILE = "hosts.yaml"
KNOWN_HOSTS_FILE = "known_hosts"
KEYS_DIR = "keys"
FORMAT_VERSION = 1

Report = Callable[[str], None]


class HostsError(KokpitError):
    """Sandbox hosts could not be made, found or removed."""


# --- state ---------------------------------------------------------------------------------------


@dataclass
class SshdProcess:
    """A host's sshd: its pid and start time (sshd rewrites its command line, so identity is the
    start time, which survives exec and differs for a reused pid)."""

    pid: int
    start_time: str


@dataclass
class HostsState:
    """What `up` made in a directory, as written to `DIR/hosts.json`."""

    dir: str
    hosts: list[HostPlan]
    ip_forward_before: str | None = None
    """The root namespace's `net.ipv4.ip_forward` before `up` set it, restored by `down`."""
    kernel_before: dict[str, str] = field(default_factory=dict)
    """Kernel-wide settings a kubelet changes (`sandbox/kernel.py`), as they were before `up`."""
    sshd: dict[str, SshdProcess] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> HostsState:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            dir=raw["dir"],
            hosts=[HostPlan(**host) for host in raw.get("hosts", [])],
            ip_forward_before=raw.get("ip_forward_before"),
            kernel_before=raw.get("kernel_before", {}),
            sshd={name: SshdProcess(**sshd) for name, sshd in raw.get("sshd", {}).items()},
            format_version=raw.get("format_version", FORMAT_VERSION),
        )


def read_state(directory: Path) -> HostsState | None:
    """The hosts state in `directory`, or None when there is none."""
    path = directory / STATE_FILE
    if not path.exists():
        return None
    return HostsState.from_json(path.read_text())


def write_state(directory: Path, state: HostsState) -> None:
    """Writes the state atomically (a crash never leaves half a file for `down` to trip over)."""
    path = directory / STATE_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(state.to_json())
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialises hosts commands on one directory (its own lock: `sandbox up` may share DIR)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".hosts.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HostsError(f"another kokpit command is using the hosts in {directory}") from None
        yield


def _start_time(pid: int) -> str | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] in {"Z", "X"} else fields[19]


def sshd_alive(sshd: SshdProcess | None) -> bool:
    if sshd is None:
        return False
    processes.is_alive(sshd.pid)  # reaps it when it is our child that exited
    return _start_time(sshd.pid) == sshd.start_time


# --- the inventory -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inventory:
    """The hosts of a directory: what `hosts.yaml` says (`hosts`) and how each is made (`plans`)."""

    directory: Path
    path: Path
    """`DIR/hosts.yaml`: the Secrets and Hosts, for `kubectl apply -f`."""
    hosts: list[InventoryHost]
    plans: list[HostPlan]

    def host(self, name: str) -> InventoryHost:
        return next(host for host in self.hosts if host.name == name)

    def plan(self, name: str) -> HostPlan:
        return next(plan for plan in self.plans if plan.name == name)

    def key_file(self, name: str) -> Path:
        """The host's private key as a file, for `ssh -i` (the same key as its Secret)."""
        return self.directory / KEYS_DIR / name

    @property
    def known_hosts(self) -> Path:
        return self.directory / KNOWN_HOSTS_FILE

    def ssh_command(self, name: str) -> str:
        """How a person logs in to a host with OpenSSH's client."""
        return (
            f"ssh -i {self.key_file(name)} -o UserKnownHostsFile={self.known_hosts} "
            f"{SSH_USER}@{self.host(name).address}"
        )


def load_inventory(directory: Path) -> Inventory:
    """The inventory of the hosts in `directory`; a one-line error when there are none."""
    directory = directory.resolve()
    state = read_state(directory)
    path = directory / INVENTORY_FILE
    if state is None or not path.exists():
        raise HostsError(
            f"no sandbox hosts in {directory} (start some with: kokpit sandbox hosts up --dir {directory})"
        )
    return Inventory(
        directory=directory, path=path, hosts=parse_inventory(path.read_text()), plans=state.hosts
    )


# --- up ------------------------------------------------------------------------------------------


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise HostsError(
            f"kokpit sandbox hosts {what} needs root (network namespaces, a bridge, sshd); run it as root"
        )


def _generate_key() -> tuple[str, str]:
    """A new ed25519 key: (private key in OpenSSH format, public key line `ssh-ed25519 AAAA...`)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode()


def hosts_up(
    directory: Path,
    count: int,
    *,
    namespace: str | None = None,
    tie_to_parent: bool = False,
    timeout_seconds: float = 20.0,
    report: Report = lambda message: None,
) -> Inventory:
    """Creates `count` hosts in `directory` and returns their inventory once every sshd answers.

    `namespace` goes into the inventory's metadata (default: none, so `kubectl apply -n` chooses).
    `tie_to_parent` ends the sshds with the calling thread (tests). A failure at any point removes
    whatever was made: there are no half-made hosts.
    """
    _require_root("up")
    if not SSHD.exists():
        raise HostsError(f"{SSHD} is missing: install Debian's openssh-server")
    directory = directory.resolve()
    try:
        plans = plan_hosts(count, directory)
    except ValueError as error:
        raise HostsError(str(error)) from None
    with _locked(directory):
        previous = read_state(directory)
        if previous is not None:
            if any(sshd_alive(previous.sshd.get(host.name)) for host in previous.hosts):
                raise HostsError(
                    f"{directory} already holds running sandbox hosts; "
                    f"run: kokpit sandbox hosts down --dir {directory}"
                )
            report("removing what earlier hosts left")
            _teardown(directory, previous)
        owner = network.bridge_owner()
        if owner and owner != str(directory):
            _remove_abandoned(Path(owner), report)
        taken = [f"network namespace {host.netns}" for host in plans if network.netns_exists(host.netns)]
        taken += [f"link {host.veth}" for host in plans if network.link_exists(host.veth)]
        if taken:  # another directory's hosts, or by hand: never ours to remove on a failure
            raise HostsError(
                f"{', '.join(taken)} already exist(s), not made by the hosts in {directory}; "
                "remove them first (ip netns del / ip link del)"
            )
        state = HostsState(dir=str(directory), hosts=plans)
        write_state(directory, state)  # before anything exists, so a failure can be cleaned
        try:
            return _up(directory, state, namespace, tie_to_parent, timeout_seconds, report)
        except BaseException as error:
            try:
                _teardown(directory, state)
            except HostsError as cleanup:  # the first failure is the story; this one is a footnote
                error.add_note(f"removing the half-made hosts failed too: {cleanup}")
            raise


def _remove_abandoned(other: Path, report: Report) -> None:
    """Removes the hosts of `other` when they are abandoned: no command is working on them and
    none of their sshds lives (a test run killed before its cleanup); refuses otherwise."""
    busy = HostsError(
        f"the bridge {BRIDGE} belongs to the sandbox hosts in {other}; "
        f"run: kokpit sandbox hosts down --dir {other}"
    )
    state = read_state(other)
    if state is None:
        raise busy
    try:
        with _locked(other):
            if any(sshd_alive(sshd) for sshd in state.sshd.values()):
                raise busy
            report(f"removing the abandoned hosts in {other} (their sshds are gone)")
            _teardown(other, state)
    except HostsError as error:
        raise busy from error


def _up(
    directory: Path,
    state: HostsState,
    namespace: str | None,
    tie_to_parent: bool,
    timeout_seconds: float,
    report: Report,
) -> Inventory:
    report(f"bridge {BRIDGE}")
    network.ensure_bridge(state.dir)
    state.ip_forward_before = network.read_ip_forward()
    state.kernel_before = kernel.read_settings()
    write_state(directory, state)
    network.write_ip_forward("1")
    credentials: dict[str, HostCredentials] = {}
    for host in state.hosts:
        report(f"{host.name}: namespace {host.netns}, {host.address}, pods {host.pod_cidr}")
        credentials[host.name] = _prepare_disk(directory, host)
        network.create_host(host)
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    for host in state.hosts:
        launched = processes.launch(
            processes.ProcessSpec(
                name=f"sshd-{host.name}",
                argv=network.nsenter(host, [str(SSHD), "-D", "-e", "-f", str(host.sshd_config)]),
                log_path=host.sshd_log,
            ),
            tie_to_parent=tie_to_parent,
        )
        state.sshd[host.name] = SshdProcess(launched.pid, _start_time(launched.pid) or "")
    write_state(directory, state)
    deadline = time.monotonic() + timeout_seconds
    for host in state.hosts:
        _wait_for_sshd(host, state.sshd[host.name], deadline)
    documents = inventory_documents(state.hosts, credentials, namespace=namespace)
    write_private(directory / INVENTORY_FILE, render_inventory(documents).encode())
    known = "".join(f"{host.address} {credentials[host.name].host_key}\n" for host in state.hosts)
    write_private(directory / KNOWN_HOSTS_FILE, known.encode(), mode=0o644)
    report(f"inventory {directory / INVENTORY_FILE}")
    return load_inventory(directory)


def _prepare_disk(directory: Path, host: HostPlan) -> HostCredentials:
    """Makes the host's directories and sshd's files: host key, authorised key, config."""
    prefix = Path(host.prefix)
    for path in (prefix, prefix / "run", prefix / "var" / "log"):
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
    private_dir(host.sshd_config.parent)
    host_private, host_public = _generate_key()
    client_private, client_public = _generate_key()
    write_private(host.host_key, host_private.encode())
    write_private(host.host_key.with_suffix(".pub"), f"{host_public}\n".encode(), mode=0o644)
    write_private(host.authorized_keys, f"{client_public} kokpit@{host.name}\n".encode())
    write_private(host.sshd_config, render_sshd_config(host).encode())
    write_private(directory / KEYS_DIR / host.name, client_private.encode())
    return HostCredentials(host_key=host_public, private_key=client_private)


def ssh_banner(address: str, *, timeout: float = 2.0) -> str | None:
    """The SSH banner (`SSH-2.0-OpenSSH_9.2...`) of `address:22`, or None when nothing answers."""
    try:
        with socket.create_connection((address, SSH_PORT), timeout=timeout) as sock:
            sock.settimeout(timeout)
            banner = sock.recv(256).decode(errors="replace").strip()
    except OSError:
        return None
    return banner if banner.startswith("SSH-") else None


def _wait_for_sshd(host: HostPlan, sshd: SshdProcess, deadline: float) -> None:
    while True:
        if not sshd_alive(sshd):
            tail = " | ".join(processes.log_tail(host.sshd_log, lines=3))
            raise HostsError(f"sshd of {host.name} exited: {tail or 'no output'} (log: {host.sshd_log})")
        if ssh_banner(host.address, timeout=0.5) is not None:
            return
        if time.monotonic() > deadline:
            raise HostsError(f"sshd of {host.name} does not answer on {host.address}:{SSH_PORT}")
        time.sleep(0.05)


# --- down ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DownReport:
    """What `down` removed."""

    hosts: list[str]
    processes: int
    mounts: list[str]


def hosts_down(directory: Path) -> DownReport:
    """Removes the hosts of `directory` and everything in them; returns what it removed.

    Idempotent: with nothing recorded it does nothing; a failure leaves the state file, so running
    it again retries what is left.
    """
    _require_root("down")
    directory = directory.resolve()
    state = read_state(directory)
    if state is None:
        return DownReport(hosts=[], processes=0, mounts=[])
    with _locked(directory):
        return _teardown(directory, state)


def _teardown(directory: Path, state: HostsState) -> DownReport:
    """Stops every process of the hosts, unmounts, removes cgroups, network and files, restores
    ip_forward and the kernel settings; collects failures and raises them together at the end,
    after trying everything."""
    problems: list[str] = []
    inodes = [inode for host in state.hosts if (inode := network.netns_inode(host.netns)) is not None]
    sshds = [sshd for sshd in state.sshd.values() if sshd_alive(sshd)]

    def find() -> list[int]:
        found = {sshd.pid for sshd in sshds if sshd_alive(sshd)}
        for inode in inodes:
            found.update(network.pids_in_netns(inode))
        for host in state.hosts:
            found.update(teardown.pids_in_cgroup(host.cgroup_root))
        return sorted(found)

    stopped = 0
    try:
        stopped = teardown.kill_all(find)
    except teardown.TeardownError as error:
        problems.append(str(error))
    for sshd in sshds:
        sshd_alive(sshd)  # reap our own children
    unmounted: list[str] = []
    root = hosts_root(directory)
    try:
        unmounted = teardown.unmount_below(root)
    except teardown.TeardownError as error:
        problems.append(str(error))
    for host in state.hosts:
        left = teardown.remove_cgroups(host.cgroup_root)
        if left:
            problems.append(f"cgroups still in use: {', '.join(left[:3])}")
        try:
            network.remove_host(host)
        except network.NetworkError as error:
            problems.append(str(error))
    try:
        network.remove_bridge(state.dir)
    except network.NetworkError as error:
        problems.append(str(error))
    if state.ip_forward_before is not None:
        network.write_ip_forward(state.ip_forward_before)
    kernel.restore_settings(state.kernel_before)
    if not teardown.current_mounts_below(root):
        shutil.rmtree(root, ignore_errors=True)
        if root.exists():
            problems.append(f"could not delete {root}")
    for name in (INVENTORY_FILE, KNOWN_HOSTS_FILE):
        (directory / name).unlink(missing_ok=True)
    shutil.rmtree(directory / KEYS_DIR, ignore_errors=True)
    if problems:
        raise HostsError("; ".join(problems))
    (directory / STATE_FILE).unlink(missing_ok=True)
    return DownReport(hosts=[host.name for host in state.hosts], processes=stopped, mounts=unmounted)


# --- status --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostStatus:
    """One host as `hosts status` shows it."""

    name: str
    address: str
    netns: bool
    sshd: bool
    reachable: bool
    """Whether port 22 on the host's address answers with an SSH banner (from the root namespace)."""
    pid: int

    @property
    def ok(self) -> bool:
        return self.netns and self.sshd and self.reachable


def hosts_status(directory: Path) -> list[HostStatus]:
    """Each host's namespace, sshd and port 22, for `kokpit sandbox hosts status`."""
    directory = directory.resolve()
    state = read_state(directory)
    if state is None:
        raise HostsError(
            f"no sandbox hosts in {directory} (start some with: kokpit sandbox hosts up --dir {directory})"
        )
    rows = []
    for host in state.hosts:
        sshd = state.sshd.get(host.name)
        rows.append(
            HostStatus(
                name=host.name,
                address=host.address,
                netns=network.netns_exists(host.netns),
                sshd=sshd_alive(sshd),
                reachable=ssh_banner(host.address) is not None,
                pid=sshd.pid if sshd else 0,
            )
        )
    return rows
