"""Where the etcd operator may touch the hub's disk: member data directories and restore snapshots.

An EtcdCluster names host paths (`spec.storage.dataDirRoot`, `spec.restoreFrom.path`), and the hub
acts on them with its own rights: it creates member directories there, deletes
`<dataDirRoot>/<namespace>/<name>` when the cluster is deleted, and reads the snapshot. So:

- a data directory root must lie under the root the hub process was configured with
  (`HubSettings.etcd_root`), after resolving `..` and symlinks; anything else is refused with
  `DataDirOutsideRoot` and nothing is created or deleted (`confine_data_dir`);
- a restore snapshot must be a regular file of bounded size, checked by `stat` before it is opened
  (a device such as `/dev/zero` or a FIFO would never end or never open), opened non-blocking and
  checked again on the open descriptor, and read in chunks; the controller runs the check in a thread
  so a slow disk cannot stall the event loop (`snapshot_problem`).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

MAX_SNAPSHOT_BYTES = 16 << 30
"""The largest snapshot a restore reads (etcd's own backend quota tops out at 8 GiB)."""
HASH_SIZE = 32
PAGE = 512
_CHUNK = 1 << 20


class DataDirOutsideRoot(ValueError):
    """A requested data directory root is not under the configured root."""


def confine_data_dir(root: Path, requested: str | None) -> Path:
    """`confine_data_dir` is the resolved directory the members of a cluster live under: `root` when
    `requested` is empty, else `requested` resolved (`..` and symlinks followed) when that lies under
    the resolved `root`. Raises `DataDirOutsideRoot` for a relative path or one outside `root`."""
    base = root.resolve()
    if not requested:
        return base
    path = Path(requested)
    if not path.is_absolute():
        raise DataDirOutsideRoot(f"storage.dataDirRoot {requested!r} is not an absolute path")
    resolved = path.resolve()
    if resolved != base and not resolved.is_relative_to(base):
        shown = f" (resolves to {resolved})" if str(resolved) != requested.rstrip("/") else ""
        raise DataDirOutsideRoot(
            f"storage.dataDirRoot {requested}{shown} is outside the hub's etcd root {base}; "
            "nothing was created or deleted"
        )
    return resolved


def snapshot_problem(path: Path, *, max_bytes: int = MAX_SNAPSHOT_BYTES) -> str | None:
    """`snapshot_problem` checks a snapshot file; None when it is sound, else what is wrong with it.

    A snapshot is a bolt database (a multiple of its page size) followed by the sha256 of the
    database, as etcd streams it; the hash must match. Only regular files of at most `max_bytes` are
    read; this blocks on disk I/O, so async callers run it in a thread.
    """
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return f"snapshot {path} does not exist"
    except OSError as error:
        return f"snapshot {path} cannot be read: {error}"
    if not stat.S_ISREG(found.st_mode):
        return f"snapshot {path} is not a regular file"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        return f"snapshot {path} cannot be read: {error}"
    with os.fdopen(fd, "rb") as data:
        opened = os.fstat(data.fileno())
        if not stat.S_ISREG(opened.st_mode):  # replaced between stat and open
            return f"snapshot {path} is not a regular file"
        size = opened.st_size
        if size > max_bytes:
            return f"snapshot {path} is larger than {max_bytes} bytes ({size} bytes)"
        if size <= HASH_SIZE or size % PAGE != HASH_SIZE:
            return f"snapshot {path} is not an etcd snapshot with an integrity hash ({size} bytes)"
        digest = hashlib.sha256()
        left = size - HASH_SIZE
        while left > 0:
            chunk = data.read(min(_CHUNK, left))
            if not chunk:
                return f"snapshot {path} changed while it was read"
            digest.update(chunk)
            left -= len(chunk)
        if data.read(HASH_SIZE + 1) != digest.digest():
            return f"snapshot {path} is corrupt: its sha256 does not match"
    return None
