"""What the benchmarks share to drive kokpit as a user would: its CLI, and `kokpit hub run` as a
process of its own (tied to the benchmark, so it stops when the benchmark does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kokpit.controlplane import processes
from kokpit.sandbox.ports import PortAllocator


def cli(*args: str, hub: Path) -> subprocess.CompletedProcess[str]:
    """Runs `kokpit ARGS` against the hub kubeconfig `hub`; raises when it exits non-zero."""
    return subprocess.run(
        [sys.executable, "-m", "kokpit.cli.main", *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "KOKPIT_KUBECONFIG": str(hub)},
    )


def launch_hub(hub: Path, log_path: Path, *options: str) -> processes.LaunchedProcess:
    """Starts `kokpit hub run` against `hub` with a free metrics port and `options`, logging to
    `log_path`."""
    return processes.launch(
        processes.ProcessSpec(
            name="hub",
            argv=[
                sys.executable,
                "-m",
                "kokpit.cli.main",
                "hub",
                "run",
                f"--kubeconfig={hub}",
                f"--metrics-port={PortAllocator().take()}",
                *options,
            ],
            log_path=log_path,
        ),
        tie_to_parent=True,
    )
