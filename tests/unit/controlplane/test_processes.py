"""Process launching: processes tied to their launcher die with it, even when it is killed hard."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kokpit.controlplane import processes

LAUNCHER = """
import sys, time
from pathlib import Path
from kokpit.controlplane import processes
launched = processes.launch(
    processes.ProcessSpec(name="sleeper", argv=["sleep", "1000"], log_path=Path(sys.argv[1])),
    tie_to_parent=True,
)
print(launched.pid, flush=True)
time.sleep(1000)
"""


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGKILL], ids=["launcher terminated", "launcher killed"]
)
def test_a_tied_process_dies_with_its_launcher(tmp_path: Path, sig: signal.Signals) -> None:
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(tmp_path / "sleeper.log")], stdout=subprocess.PIPE, text=True
    )
    assert launcher.stdout is not None
    child = int(launcher.stdout.readline())
    assert processes.is_alive(child, argv0="sleep")
    launcher.send_signal(sig)
    launcher.wait(timeout=10)
    deadline = time.monotonic() + 10
    while processes.is_alive(child, argv0="sleep") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes.is_alive(child, argv0="sleep")


def test_stop_signals_the_group_and_is_idempotent(tmp_path: Path) -> None:
    launched = processes.launch(
        processes.ProcessSpec(name="sleeper", argv=["sleep", "1000"], log_path=tmp_path / "s.log")
    )
    assert processes.stop([(launched.pid, "sleep")], grace_seconds=5) == [launched.pid]
    assert not processes.is_alive(launched.pid)
    assert processes.stop([(launched.pid, "sleep")]) == []
    assert "starting: sleep 1000" in (tmp_path / "s.log").read_text()
