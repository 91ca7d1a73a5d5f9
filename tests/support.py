"""What integration tests share: a handle on the session sandbox and a kubectl runner.

A Pull member (`kokpit sandbox up --pull NAME`) is reachable only from inside its network
namespace: `SandboxHandle.kubectl(NAME, ...)` and `kubectl(..., netns=...)` run kubectl there,
`SandboxHandle.call_in(NAME, fn)` runs a Python function there (a lightkube client made inside it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from lightkube import Client, KubeConfig

from kokpit import sandbox as sandboxes
from kokpit.binaries import find_binaries
from kokpit.sandbox import SandboxState
from kokpit.sandbox.hosts import Inventory, hosts_down, hosts_up
from kokpit.sandbox.netns import call_in
from kokpit.sandbox.ports import HOST

T = TypeVar("T")

MEMBERS = 3
NODES = 3


@dataclass
class SandboxHandle:
    """What tests need of the running sandbox."""

    dir: Path
    state: SandboxState

    def kubeconfig(self, cluster: str) -> Path:
        return Path(self.state.clusters[cluster].kubeconfig)

    def client(self, cluster: str) -> Client:
        """A lightkube client for `cluster` as its admin (field manager `kokpit`)."""
        return Client(KubeConfig.from_file(self.kubeconfig(cluster)), field_manager="kokpit", trust_env=False)

    @property
    def members(self) -> list[str]:
        return [cluster.name for cluster in self.state.members]

    @property
    def push_members(self) -> list[str]:
        """The members the hub reaches with their kubeconfig (`kokpit join`)."""
        return [cluster.name for cluster in self.state.members if cluster.pull is None]

    @property
    def pull_members(self) -> list[str]:
        """The members behind a firewall, registered and run by their agent."""
        return [cluster.name for cluster in self.state.pull_members]

    @property
    def hub_address(self) -> str:
        """The address the hub API server listens on, reachable from every member: where tests
        start the hub's proxy and tunnel (`f"{hub_address}:0"`)."""
        network = self.state.pull_network
        return network.gateway if network is not None else HOST

    def netns_path(self, cluster: str) -> str | None:
        """The network namespace `cluster`'s processes run in (None: this one)."""
        return self.state.clusters[cluster].netns_path

    def kubectl(self, cluster: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """kubectl as `cluster`'s admin, from where its API server is reachable."""
        return kubectl(self.kubeconfig(cluster), *args, check=check, netns=self.netns_path(cluster))

    def call_in(self, cluster: str, function: Callable[[], T]) -> T:
        """`function()` run where `cluster`'s API server is reachable (a client made inside it)."""
        return call_in(self.netns_path(cluster), function)

    def set_link(self, cluster: str, *, up: bool) -> None:
        """Cuts (`up=False`) or mends a Pull member's link to the hub."""
        sandboxes.set_link(self.dir, cluster, up=up)

    def restart(self, cluster: str, component: str) -> None:
        sandboxes.restart(self.dir, cluster, component, tie_to_parent=True)
        self.state = sandboxes.load(self.dir)

    def kill(self, cluster: str, component: str, sig: signal.Signals = signal.SIGKILL) -> int:
        return sandboxes.kill(self.dir, cluster, component, sig=sig)


class ExternalSandbox(SandboxHandle):
    """A sandbox this test process did not start: what it restarts must outlive the tests."""

    def restart(self, cluster: str, component: str) -> None:
        sandboxes.restart(self.dir, cluster, component, tie_to_parent=False)
        self.state = sandboxes.load(self.dir)


def kubectl_argv(kubeconfig: Path, *args: str, netns: str | None = None) -> list[str]:
    """The command line of the sandbox's own kubectl against `kubeconfig`, run in the network
    namespace at `netns` when given (a Pull member's)."""
    argv = [str(find_binaries().kubectl), f"--kubeconfig={kubeconfig}", *args]
    return ["nsenter", f"--net={netns}", *argv] if netns is not None else argv


def kubectl(
    kubeconfig: Path, *args: str, check: bool = True, netns: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Runs the sandbox's own kubectl against `kubeconfig` (in the namespace `netns`, if given)."""
    return subprocess.run(
        kubectl_argv(kubeconfig, *args, netns=netns),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def kubectl_apply(
    kubeconfig: Path, tmp_path: Path, *docs: dict[str, Any], check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`kubectl apply` of `docs`, written as one YAML file of their own under `tmp_path`."""
    path = tmp_path / f"{uuid.uuid4().hex}.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return kubectl(kubeconfig, "apply", "-f", str(path), check=check)


def kubectl_get(
    kubeconfig: Path, resource: str, name: str, namespace: str | None = None
) -> dict[str, Any] | None:
    """The object as `kubectl get -o json` shows it; None when it does not exist."""
    args = ["get", resource, name, "-o", "json", "--ignore-not-found"]
    if namespace:
        args += ["-n", namespace]
    out = kubectl(kubeconfig, *args).stdout.strip()
    return dict(json.loads(out)) if out else None


class Streaming:
    """A long-running command (`kubectl get -w`, `kubectl logs -f`) whose output lines are collected
    by a thread as they arrive, so a test can wait for a line or for the command to end."""

    def __init__(self, argv: list[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        self._reader = threading.Thread(target=self._read, name="streaming", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, what: str, predicate: Callable[[str], bool], *, timeout: float = 60.0) -> str:
        """The first line (seen so far or arriving within `timeout`) for which `predicate` holds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((line for line in self.lines if predicate(line)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    raise AssertionError(f"no line with {what} in: {self.lines[-10:]}")
                self._changed.wait(min(left, 1.0))

    def ended(self, *, timeout: float) -> int | None:
        """The exit code once the command ended within `timeout`, None when it still runs."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)

    def __enter__(self) -> Streaming:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def wait_until(what: str, condition: Callable[[], bool], *, timeout: float = 60.0) -> None:
    """Polls `condition` until true; fails the test naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


class HubThread:
    """All hub controllers (`kokpit.hub.manager.build_manager`) running in a thread of the test process.

    Integration tests of controllers use it instead of a `kokpit hub run` subprocess: same manager,
    same controllers, but stopped deterministically when the test module ends.
    """

    def __init__(self, kubeconfig: Path, **options: Any) -> None:
        from kokpit.hub.manager import HubOptions, build_manager

        self.manager = build_manager(
            HubOptions(kubeconfig=kubeconfig, metrics_port=None, leader_elect=False, **options)
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="hub-controllers", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.manager.run())
        except BaseException as error:  # surfaced by stop()
            self._error = error
        finally:
            loop.close()

    def start(self) -> HubThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.manager.stop)
        self._thread.join(timeout=30)
        if self._error is not None and not isinstance(self._error, asyncio.CancelledError):
            raise self._error


def kokpit_cli(*args: str, hub: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs the kokpit CLI as a user would, with `hub` as the hub kubeconfig."""
    return subprocess.run(
        [sys.executable, "-m", "kokpit.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "KOKPIT_KUBECONFIG": str(hub)},
    )


REGIONS = {"member1": "eu-west", "member2": "us-east", "member3": "ap-south"}


def ensure_joined(sandbox: SandboxHandle, hub: Path) -> None:
    """Installs kokpit on the hub and joins every Push member that is not joined yet (idempotent;
    Pull members join by themselves, through their agent's registration)."""
    result = kokpit_cli("install", hub=hub)
    assert result.returncode == 0, result.stderr
    joined = kubectl(hub, "get", "clusters.cluster.kokpit.io", "-o", "name").stdout
    for member in sandbox.push_members:
        if f"/{member}" in joined:
            continue
        region = REGIONS.get(member, member)
        result = kokpit_cli(
            "join",
            member,
            "--kubeconfig",
            str(sandbox.kubeconfig(member)),
            "--provider",
            "kwok",
            "--region",
            region,
            "--zone",
            f"{region}-a",
            hub=hub,
        )
        assert result.returncode == 0, result.stderr


@contextlib.contextmanager
def joined_sandbox(directory: Path, options: sandboxes.UpOptions) -> Iterator[SandboxHandle]:
    """A sandbox of a test module's own (counts per member stay its own), kokpit installed and the
    Push members joined; taken down afterwards."""
    state = sandboxes.up(directory, options)
    handle = SandboxHandle(dir=directory, state=state)
    try:
        ensure_joined(handle, handle.kubeconfig("hub"))
        yield handle
    finally:
        sandboxes.down(directory)


def run_kokpit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the kokpit CLI as a user would (a separate process), capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "kokpit.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@contextlib.contextmanager
def small_cli_sandbox(directory: Path) -> Iterator[Path]:
    """A sandbox of its own (hub + one member with one node) started and stopped through the CLI."""
    result = run_kokpit("sandbox", "up", "--members", "1", "--nodes", "1", "--dir", str(directory))
    assert result.returncode == 0, result.stderr
    try:
        yield directory
    finally:
        run_kokpit("sandbox", "down", "--dir", str(directory))


async def eventually(what: str, predicate: Callable[[], bool], within: float = 30.0) -> None:
    """`eventually` is `wait_until` for async tests: polls `predicate` without blocking the loop."""
    for _ in range(int(within / 0.1)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    assert predicate(), f"timed out waiting for {what}"


def data_of(obj: Any) -> dict[str, str]:
    """The `data` of a ConfigMap read from a cache (empty when there is none)."""
    return dict(obj.data or {}) if obj is not None else {}


@contextlib.contextmanager
def sandbox_hosts(directory: Path, count: int) -> Iterator[Inventory]:
    """`count` sandbox hosts (network namespaces with sshd, `kokpit sandbox hosts up`) in
    `directory`, removed at the end even when the block fails; their sshds die with this process.
    Only one set of hosts exists at a time (they share the bridge kokpit0 and its addresses)."""
    inventory = hosts_up(directory, count, tie_to_parent=True)
    try:
        yield inventory
    finally:
        hosts_down(directory)
