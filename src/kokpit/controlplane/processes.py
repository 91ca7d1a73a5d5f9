"""Launching and stopping control-plane components as local processes.

The sandbox and the `process` runtime of hosted clusters both run etcd, kube-apiserver and friends
as plain processes on this machine. They share this module so that there is one answer to "how is
a component started, where does its log go, how do we know it is still the process we started, and
how is it stopped without leaving orphans".

Every process gets its own session (and so its own process group): stopping it signals the whole
group, which also reaps anything the component forked. A process can additionally be tied to the
launching thread's life (Linux `PR_SET_PDEATHSIG`) so that a test run killed hard still takes its
clusters with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcessSpec:
    """What to run: the command line, where its output goes, and its environment additions."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LaunchedProcess:
    """A process we started: enough to find it again from another command (pid) and to restart it."""

    name: str
    pid: int
    argv: tuple[str, ...]
    log_path: Path
    started_at: float


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the launching thread goes away.

    SIGKILL, not SIGTERM: the parent is gone, so nobody waits for a graceful stop, and a
    kube-apiserver whose etcd went first can hang in its shutdown for good.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# Popen objects of children started by this process, so that their exit status is collected
# (otherwise a dead child stays a zombie and looks alive to `kill(pid, 0)`).
_children: dict[int, subprocess.Popen[bytes]] = {}


def launch(spec: ProcessSpec, *, tie_to_parent: bool = False) -> LaunchedProcess:
    """Starts `spec` in a new session with stdout and stderr appended to its log.

    `tie_to_parent` makes the kernel terminate the process when the calling thread exits; use it
    for processes owned by a test run or a foreground command, never for ones that must outlive
    the command that started them (`kokpit sandbox up`).
    """
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **spec.env}
    with spec.log_path.open("ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(spec.argv)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            list(spec.argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent if tie_to_parent else None,
        )
    _children[process.pid] = process
    return LaunchedProcess(
        name=spec.name,
        pid=process.pid,
        argv=tuple(spec.argv),
        log_path=spec.log_path,
        started_at=time.time(),
    )


def _reap(pid: int) -> None:
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of `/proc/<pid>/stat` after the command name (state first), or None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[-1].split()


def is_ours(*, pid: int, pgid: int, cmdline: Sequence[bytes], argv0: str) -> bool:
    """Whether a live process with this group and command line is the `argv0` we launched as `pid`.

    Our processes lead their own group (`start_new_session`), so `pgid == pid` is stable from the
    fork on. The command line is not: right after `launch` returns, the child may still be inside
    `execve` and `/proc/<pid>/cmdline` reads empty. A live group leader with an empty command line
    is therefore one of ours still exec'ing (kernel threads, the other empty ones, have pgid 0);
    a non-empty one must name `argv0`, which guards against pid reuse after a reboot.
    """
    if pgid != pid:
        return False
    args = [arg for arg in cmdline if arg]
    if not args:
        return True
    return cmdline[0].decode(errors="replace") == argv0


def is_alive(pid: int, *, argv0: str | None = None) -> bool:
    """Whether `pid` is a live (non-zombie) process, and, given `argv0`, still the one we launched.

    Checking identity guards against pid reuse: a sandbox stopped by a reboot must not make `down`
    signal some unrelated process that got the same pid (see `is_ours`).
    """
    if pid <= 0:
        return False
    _reap(pid)
    fields = _stat_fields(pid)
    if fields is None or fields[0] in {"Z", "X"}:
        return False
    if argv0 is None:
        return True
    child = _children.get(pid)
    if child is not None and child.returncode is None:
        return True  # our unreaped child: its pid cannot have been reused
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return is_ours(pid=pid, pgid=int(fields[2]), cmdline=cmdline, argv0=argv0)


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, field 22 of stat): stable for its life."""
    fields = _stat_fields(pid)
    return None if fields is None or fields[0] in {"Z", "X"} else fields[19]


def exit_code(pid: int) -> int | None:
    """The exit status of a child of this process that has ended, if known."""
    child = _children.get(pid)
    return child.poll() if child is not None else None


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Sends `sig` to the process group led by `pid` (our processes lead their own group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def stop(
    processes: Iterable[tuple[int, str | None]],
    *,
    grace_seconds: float = 10.0,
    alive: Callable[[int, str | None], bool] | None = None,
) -> list[int]:
    """Stops processes given as (pid, argv0): SIGTERM to each group, SIGKILL after the grace period.

    Returns the pids that were alive and got signalled. Processes already gone are skipped, so
    calling it twice is harmless. Identity is checked once, when choosing the targets; from then
    on a target is followed by its start time, so a command line that reads empty or changes
    mid-exec cannot make us stop waiting (or skip the SIGKILL) while the process still runs.
    """
    check = alive or (lambda pid, argv0: is_alive(pid, argv0=argv0))
    targets: list[tuple[int, str]] = []
    for pid, argv0 in processes:
        started = _start_time(pid) if pid > 0 else None
        if started is not None and check(pid, argv0):
            targets.append((pid, started))

    def running(pid: int, started: str) -> bool:
        _reap(pid)
        return _start_time(pid) == started

    for pid, _ in targets:
        signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(running(pid, started) for pid, started in targets):
        time.sleep(0.05)
    for pid, started in targets:
        if running(pid, started):
            signal_group(pid, signal.SIGKILL)
    for pid, started in targets:
        kill_deadline = time.monotonic() + 5
        while running(pid, started) and time.monotonic() < kill_deadline:
            time.sleep(0.02)
    return [pid for pid, _ in targets]


def log_tail(path: Path, *, lines: int = 5) -> list[str]:
    """The last non-empty lines of a log, for one-line error messages."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - 16384))
            text = log.read().decode(errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]
