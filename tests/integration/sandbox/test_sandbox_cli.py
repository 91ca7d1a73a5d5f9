"""`kokpit sandbox` as a user runs it: its own sandboxes, stopped cleanly, and bad input refused.

These start small sandboxes of their own (hub + one member with one node) through the CLI, so that
stopping and failing never disturbs the session sandbox other tests share.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kokpit.controlplane import processes
from kokpit.sandbox.ports import port_is_free
from kokpit.sandbox.state import read_state
from tests.support import kubectl, small_cli_sandbox
from tests.support import run_kokpit as kokpit

pytestmark = pytest.mark.integration


def processes_mentioning(directory: Path) -> list[int]:
    """Live processes whose command line names `directory`: what a sandbox there started."""
    needle = str(directory).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if needle in (proc / "cmdline").read_bytes() and processes.is_alive(int(proc.name)):
                    found.append(int(proc.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def free_port_run(length: int) -> int:
    """The first port of `length` consecutive free loopback ports."""
    for base in range(21000 + os.getpid() % 1000 * 10, 60000, length):
        if all(port_is_free(port) for port in range(base, base + length)):
            return base
    raise AssertionError("no run of free ports")


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """The failure is one `kokpit: error:` line, last on stderr (progress lines may precede it)."""
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "Traceback" in line]
    assert len(errors) == 1, result.stderr
    assert lines[-1] == errors[0], result.stderr
    assert errors[0].startswith("kokpit: error: "), errors[0]
    for fragment in fragments:
        assert fragment in errors[0]


@pytest.fixture
def small_sandbox(tmp_path: Path) -> Iterator[Path]:
    with small_cli_sandbox(tmp_path / "sb") as directory:
        yield directory


def test_down_stops_every_process_and_is_idempotent(small_sandbox: Path) -> None:
    state = read_state(small_sandbox)
    assert state is not None
    pids = [component.pid for _, component in state.all_components()]
    assert len(pids) == 8  # hub: etcd, apiserver, cm; member: + scheduler, kwok
    assert all(processes.is_alive(pid) for pid in pids)

    first = kokpit("sandbox", "down", "--dir", str(small_sandbox))
    assert first.returncode == 0, first.stderr
    assert "stopped 8 processes" in first.stdout
    assert not [pid for pid in pids if processes.is_alive(pid)]
    assert processes_mentioning(small_sandbox) == []

    second = kokpit("sandbox", "down", "--dir", str(small_sandbox))
    assert second.returncode == 0, second.stderr


def test_a_second_up_in_a_running_dir_is_refused_and_harms_nothing(small_sandbox: Path) -> None:
    before = sorted(processes_mentioning(small_sandbox))
    result = kokpit("sandbox", "up", "--members", "1", "--dir", str(small_sandbox))
    assert_one_line_error(result, "already holds a running sandbox", "sandbox down")
    assert sorted(processes_mentioning(small_sandbox)) == before
    assert kubectl(small_sandbox / "member1.kubeconfig", "get", "--raw", "/readyz").stdout.strip() == "ok"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        pytest.param(["--members", "-1"], ["--members must be 0 or more", "-1"], id="negative members"),
        pytest.param(["--nodes", "-2"], ["--nodes must be 0 or more"], id="negative nodes"),
    ],
)
def test_bad_counts_are_refused(tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    result = kokpit("sandbox", "up", *args, "--dir", str(tmp_path / "sb"))
    assert_one_line_error(result, *fragments)
    assert processes_mentioning(tmp_path) == []


def test_missing_binaries_are_named(tmp_path: Path) -> None:
    result = kokpit(
        "sandbox", "up", "--dir", str(tmp_path / "sb"), env={"KOKPIT_BIN_DIR": str(tmp_path / "empty")}
    )
    assert_one_line_error(result, "kube-apiserver", "kokpit binaries build")
    assert processes_mentioning(tmp_path) == []


@pytest.mark.parametrize("taken_offset", [0, 6], ids=["first port taken", "port taken after start began"])
def test_a_port_in_use_fails_cleanly(tmp_path: Path, taken_offset: int) -> None:
    # Occupy one port of a free run: at offset 0 before anything starts, at offset 6 once etcd and
    # the API servers already run (the controller-manager's port), which must then be stopped again.
    base = free_port_run(12)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base + taken_offset))
        busy.listen()
        directory = tmp_path / "sb"
        result = kokpit(
            "sandbox",
            "up",
            "--members",
            "1",
            "--nodes",
            "1",
            "--base-port",
            str(base),
            "--dir",
            str(directory),
        )
    assert_one_line_error(result, f"port 127.0.0.1:{base + taken_offset} is already in use")
    assert processes_mentioning(directory) == []
    assert read_state(directory) is None
