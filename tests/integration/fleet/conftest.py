"""The fleet's integration fixtures: kokpit installed on the sandbox hub and `kokpit hub run` processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from kokpit.controlplane import processes
from kokpit.sandbox.ports import PortAllocator
from tests.support import SandboxHandle

PROBE_PERIOD = 1.0


def kokpit(*args: str, hub: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs the kokpit CLI with `hub` as the hub kubeconfig."""
    return subprocess.run(
        [sys.executable, "-m", "kokpit.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "KOKPIT_KUBECONFIG": str(hub)},
    )


@dataclass
class HubReplica:
    """One `kokpit hub run` process and its metrics endpoint."""

    name: str
    pid: int
    argv0: str
    metrics_port: int
    log: Path

    def metrics(self) -> dict[str, float]:
        """The `kokpit_*` samples of /metrics, keyed by their full name with labels."""
        text = httpx2.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        samples = {}
        for line in text.splitlines():
            match = re.match(r"^(kokpit_\S+)\s+(\S+)$", line)
            if match:
                samples[match[1]] = float(match[2])
        return samples

    def leading(self) -> bool:
        try:
            return any(k.startswith("kokpit_leader{") and v == 1 for k, v in self.metrics().items())
        except httpx2.HTTPError:
            return False

    def reconciles(self) -> float:
        return sum(v for k, v in self.metrics().items() if k.startswith("kokpit_reconcile_total{"))

    def alive(self) -> bool:
        return processes.is_alive(self.pid, argv0=self.argv0)

    def stop(self) -> None:
        processes.stop([(self.pid, self.argv0)], grace_seconds=10)


def start_hub(
    name: str, *, hub: Path, logs: Path, lease_name: str = "kokpit-hub", extra: tuple[str, ...] = ()
) -> HubReplica:
    port = PortAllocator().take()
    argv = [
        sys.executable,
        "-m",
        "kokpit.cli.main",
        "hub",
        "run",
        f"--kubeconfig={hub}",
        f"--metrics-port={port}",
        f"--probe-period={PROBE_PERIOD}",
        f"--lease-name={lease_name}",
        f"--id={name}",
        *extra,
    ]
    launched = processes.launch(
        processes.ProcessSpec(name=name, argv=argv, log_path=logs / f"{name}.log"), tie_to_parent=True
    )
    replica = HubReplica(name, launched.pid, argv[0], port, launched.log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            replica.metrics()
            return replica
        except httpx2.HTTPError:
            if not replica.alive():
                raise AssertionError(f"hub {name} exited: {processes.log_tail(replica.log)}") from None
            time.sleep(0.2)
    raise AssertionError(f"hub {name} serves no metrics: {processes.log_tail(replica.log)}")


@pytest.fixture(scope="session")
def installed_hub(sandbox: SandboxHandle) -> Path:
    """The sandbox hub with kokpit installed (idempotent, so other modules may install too)."""
    hub = sandbox.kubeconfig("hub")
    result = kokpit("install", hub=hub)
    assert result.returncode == 0, result.stderr
    return hub


@pytest.fixture(scope="module")
def hub_replicas(installed_hub: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[HubReplica]]:
    """Two `kokpit hub run` replicas competing for one Lease, stopped after the module."""
    logs = tmp_path_factory.mktemp("hub-logs")
    replicas = [start_hub(f"hub-{n}", hub=installed_hub, logs=logs) for n in ("a", "b")]
    try:
        yield replicas
    finally:
        for replica in replicas:
            replica.stop()
