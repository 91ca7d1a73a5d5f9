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


@pytest.mark.parametrize("attempt", range(20))
def test_stop_right_after_launch_stops_the_process(tmp_path: Path, attempt: int) -> None:
    """The child may still be inside execve (empty /proc/<pid>/cmdline) when stop looks at it."""
    launched = processes.launch(
        processes.ProcessSpec(name="sleeper", argv=["sleep", "1000"], log_path=tmp_path / "s.log")
    )
    assert processes.stop([(launched.pid, "sleep")], grace_seconds=5) == [launched.pid]
    assert not processes.is_alive(launched.pid)


def test_a_process_launched_by_another_command_is_found_and_stopped(tmp_path: Path) -> None:
    """`down` runs in a later command: no Popen there, identity comes from /proc alone."""
    script = (
        "import subprocess, sys; "
        "p = subprocess.Popen(['sleep', '1000'], start_new_session=True, stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL); "
        "print(p.pid, flush=True)"
    )
    pid = int(
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    )
    assert processes.is_alive(pid, argv0="sleep")
    assert not processes.is_alive(pid, argv0="kube-apiserver")
    assert processes.stop([(pid, "sleep")], grace_seconds=5) == [pid]
    assert not processes.is_alive(pid)


@pytest.mark.parametrize(
    ("pid", "pgid", "cmdline", "ours"),
    [
        (100, 100, [b"sleep", b"1000", b""], True),
        (100, 100, [b""], True),  # still inside execve: no command line yet
        (100, 100, [], True),
        (100, 100, [b"/usr/bin/python3", b"-c", b""], False),  # the pid was reused
        (100, 42, [b"sleep", b"1000", b""], False),  # not a group leader: not one we launched
        (100, 42, [b""], False),
        (2, 0, [b""], False),  # a kernel thread
    ],
)
def test_is_ours(pid: int, pgid: int, cmdline: list[bytes], ours: bool) -> None:
    assert processes.is_ours(pid=pid, pgid=pgid, cmdline=cmdline, argv0="sleep") is ours
