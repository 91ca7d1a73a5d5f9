"""Writing files that may hold secrets: atomically, with their mode from creation on, never chmod after.

Keys, kubeconfigs and etcd snapshots (which hold every Secret of their cluster) go through
`write_private`: 0600 files in 0700 directories, so no reader ever sees half a file or a moment
where the file is readable by others.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """`private_dir` creates `path` (and missing parents) as 0700 directories; returns it."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    return path


def write_private(path: Path, data: bytes, *, mode: int = PRIVATE_FILE, unchanged_ok: bool = False) -> None:
    """`write_private` writes `data` to `path` atomically, the file having `mode` from its creation
    on; missing parent directories are made 0700. With `unchanged_ok`, a file that already holds
    `data` is left alone (no new inode, no mtime change)."""
    if unchanged_ok:
        with contextlib.suppress(FileNotFoundError):
            if path.read_bytes() == data:
                return
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # created 0600
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
