"""What integration tests share: a handle on the session sandbox and a kubectl runner."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kokpit import sandbox as sandboxes
from kokpit.binaries import find_binaries
from kokpit.sandbox import SandboxState

MEMBERS = 3
NODES = 3


@dataclass
class SandboxHandle:
    """What tests need of the running sandbox."""

    dir: Path
    state: SandboxState

    def kubeconfig(self, cluster: str) -> Path:
        return Path(self.state.clusters[cluster].kubeconfig)

    @property
    def members(self) -> list[str]:
        return [cluster.name for cluster in self.state.members]

    def restart(self, cluster: str, component: str) -> None:
        sandboxes.restart(self.dir, cluster, component, tie_to_parent=True)
        self.state = sandboxes.load(self.dir)

    def kill(self, cluster: str, component: str, sig: signal.Signals = signal.SIGKILL) -> int:
        return sandboxes.kill(self.dir, cluster, component, sig=sig)


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs the sandbox's own kubectl against `kubeconfig`."""
    binary = find_binaries().kubectl
    return subprocess.run(
        [str(binary), f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


def wait_until(what: str, condition: Callable[[], bool], *, timeout: float = 60.0) -> None:
    """Polls `condition` until true; fails the test naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)
