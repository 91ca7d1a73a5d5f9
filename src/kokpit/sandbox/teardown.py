"""What sandbox hosts leave behind, and how `hosts down` removes it: processes, mounts, cgroups.

A host runs whatever the operator installs on it (containerd, kubelet, shims, containers), so
`down` cannot know the processes by pid. It finds them the way the kernel groups them: every
process in the host's network namespace, and every process in the host's cgroup subtree (where a
kubelet puts its pods, whose containers live in network namespaces of their own). Mounts that
kubelet and containerd make below the host's directory (tmpfs for secrets, overlay for rootfs)
are read from `/proc/self/mountinfo` and lazily unmounted deepest first; nothing below the
directory is deleted while something is still mounted there, so a bind mount can never make
`down` delete what it points at.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from kokpit.errors import KokpitError

MNT_DETACH = 2
CGROUP_FS = Path("/sys/fs/cgroup")


class TeardownError(KokpitError):
    """Something of a host could not be removed; the message says what is left."""


# --- mounts --------------------------------------------------------------------------------------


def _unescape(field: str) -> str:
    r"""Mount points in mountinfo escape space, tab, newline and backslash as octal (`\040`)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and len(digits := field[i + 1 : i + 4]) == 3 and set(digits) <= set("01234567"):
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points(mountinfo: str) -> list[str]:
    """`mount_points` lists the mount points of a `/proc/self/mountinfo` text (field 5), in order."""
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.append(_unescape(fields[4]))
    return points


def mounts_below(points: Iterable[str], root: Path) -> list[str]:
    """`mounts_below` is the mount points at or below `root`, deepest first (the order to unmount
    them in), each once."""
    prefix = str(root).rstrip("/")
    found = {point for point in points if point == prefix or point.startswith(prefix + "/")}
    return sorted(found, key=lambda point: (-point.count("/"), point))


def current_mounts_below(root: Path) -> list[str]:
    return mounts_below(mount_points(Path("/proc/self/mountinfo").read_text()), root)


def unmount_below(root: Path, *, attempts: int = 5) -> list[str]:
    """Lazily unmounts everything at or below `root`, deepest first; returns what was mounted.

    Raises `TeardownError` when mounts remain (the caller must not delete `root` then).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    unmounted: list[str] = []
    for _ in range(attempts):
        points = current_mounts_below(root)
        if not points:
            return unmounted
        for point in points:
            if libc.umount2(point.encode(), MNT_DETACH) == 0:
                unmounted.append(point)
    left = current_mounts_below(root)
    if left:
        raise TeardownError(f"still mounted below {root}: {', '.join(left[:5])}")
    return unmounted


# --- processes -----------------------------------------------------------------------------------


def pids_in_cgroup(cgroup_root: str) -> list[int]:
    """Every process in `cgroup_root` or below it, in any cgroup hierarchy of the machine."""
    found: set[int] = set()
    for tree in _cgroup_trees(cgroup_root):
        for procs in tree.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                found.update(int(pid) for pid in procs.read_text().split())
    return sorted(found)


def _cgroup_trees(cgroup_root: str) -> list[Path]:
    relative = cgroup_root.strip("/")
    if not relative:
        return []  # never the machine's root cgroup
    hierarchies = [CGROUP_FS] if (CGROUP_FS / "cgroup.procs").exists() else []
    with contextlib.suppress(OSError):
        hierarchies += [path for path in CGROUP_FS.iterdir() if path.is_dir() and not path.is_symlink()]
    return [tree for hierarchy in hierarchies if (tree := hierarchy / relative).is_dir()]


def remove_cgroups(cgroup_root: str) -> list[str]:
    """Removes `cgroup_root` and its children (deepest first) in every hierarchy; returns what is
    left (a cgroup with a process in it cannot be removed)."""
    left = []
    for tree in _cgroup_trees(cgroup_root):
        directories = sorted((path for path in tree.rglob("*") if path.is_dir()), key=lambda p: -len(p.parts))
        for directory in [*directories, tree]:
            try:
                directory.rmdir()
            except FileNotFoundError:
                continue
            except OSError:
                left.append(str(directory))
    return left


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in {"Z", "X"}


def _signal(pid: int, sig: signal.Signals) -> None:
    """Signals `pid`'s process group when it leads one of its own (not ours), and `pid` itself."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        pgid = os.getpgid(pid)
        if pgid == pid and pgid != os.getpgrp():
            os.killpg(pgid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def kill_all(find: Callable[[], list[int]], *, grace_seconds: float = 5.0, timeout: float = 15.0) -> int:
    """Stops every process `find` returns, including ones that appear meanwhile (a supervisor
    restarting its child): SIGTERM to each and its group, SIGKILL after `grace_seconds`, until
    `find` returns nothing. Returns how many processes were signalled; raises `TeardownError`
    naming the survivors after `timeout`."""
    own = os.getpid()
    signalled: set[int] = set()
    started = time.monotonic()
    while True:
        pids = [pid for pid in find() if pid != own and _alive(pid)]
        if not pids:
            return len(signalled)
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            raise TeardownError(f"processes survived SIGKILL: {', '.join(map(str, pids[:10]))}")
        sig = signal.SIGTERM if elapsed < grace_seconds else signal.SIGKILL
        for pid in pids:
            if sig == signal.SIGKILL or pid not in signalled:
                _signal(pid, sig)
            signalled.add(pid)
        time.sleep(0.05)
