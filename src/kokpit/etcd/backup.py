"""Backups: when the next scheduled snapshot is due, which old snapshots retention removes, and
taking one snapshot to a directory.

Schedules are intervals ("10m", "1h30m", units s/m/h/d), not cron expressions: an interval needs no
time zone, and "every N from the last success" is what a cluster that was down for a while wants.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kokpit.etcd.client import EtcdClient
from kokpit.etcd.names import SNAPSHOT_SUFFIX, snapshot_file_name, snapshot_prefix
from kokpit.runtime import format_time

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"([0-9]+)([smhd])")


def parse_interval(text: str) -> timedelta:
    """`parse_interval` reads "10m", "1h30m", "45s", "1d"; raises ValueError for anything else or zero."""
    if not text or _PART.sub("", text):
        raise ValueError(f"not an interval: {text!r} (use e.g. 10m, 1h or 1h30m)")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"interval must be positive: {text!r}")
    return timedelta(seconds=seconds)


def next_due(last: datetime | None, interval: timedelta, *, created: datetime | None = None) -> datetime:
    """`next_due` is when the next scheduled snapshot is due: `interval` after the last one; the first
    one is due at once (`created`, or the epoch)."""
    if last is None:
        return created or datetime.fromtimestamp(0, UTC)
    return last + interval


def expired(files: Sequence[str], *, prefix: str, keep: int) -> list[str]:
    """`expired` lists the snapshot file names beyond the newest `keep` among those starting with
    `prefix` and a time stamp (names sort by time); other files, such as tagged one-off snapshots
    (`...-manual.db`), are never touched."""
    stamped = re.compile(re.escape(prefix) + r"[0-9]{8}T[0-9]{6}Z" + re.escape(SNAPSHOT_SUFFIX) + "$")
    ours = sorted(name for name in files if stamped.match(name))
    return ours[: max(0, len(ours) - keep)]


@dataclass(frozen=True)
class Snapshot:
    """A snapshot written."""

    path: Path
    sha256: str
    size: int
    time: datetime

    def record(self) -> dict[str, object]:
        """`record` is the status form (BackupRecord)."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
            "time": format_time(self.time),
        }


async def take_snapshot(
    client: EtcdClient,
    endpoint: str,
    directory: Path,
    *,
    namespace: str,
    cluster: str,
    tag: str = "",
    now: datetime | None = None,
) -> Snapshot:
    """`take_snapshot` saves a snapshot of `endpoint` as `<directory>/<namespace>-<cluster>-<time>.db`."""
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    path = directory / snapshot_file_name(namespace, cluster, moment, tag=tag)
    sha, size = await client.snapshot(endpoint, path)
    return Snapshot(path=path, sha256=sha, size=size, time=moment)


def enforce_retention(directory: Path, *, namespace: str, cluster: str, keep: int) -> list[Path]:
    """`enforce_retention` deletes the cluster's scheduled snapshots beyond the newest `keep`."""
    if not directory.is_dir():
        return []
    prefix = snapshot_prefix(namespace, cluster)
    names = [p.name for p in directory.iterdir() if p.is_file()]
    removed = []
    for name in expired(names, prefix=prefix, keep=keep):
        (directory / name).unlink(missing_ok=True)
        removed.append(directory / name)
    return removed
