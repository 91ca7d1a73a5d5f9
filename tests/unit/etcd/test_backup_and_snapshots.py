"""Backup schedules, retention and snapshot integrity checks."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kokpit.etcd.backup import expired, next_due, parse_interval
from kokpit.etcd.client import parse_member, parse_status
from kokpit.etcd.names import snapshot_file_name, snapshot_prefix
from kokpit.etcd.storage import snapshot_problem


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m", 600), ("1h30m", 5400), ("45s", 45), ("1d", 86400), ("2h", 7200)],
    ids=lambda v: str(v),
)
def test_parse_interval(text: str, seconds: int) -> None:
    assert parse_interval(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "10", "m", "*/5 * * * *", "0s", "1w", "10m "])
def test_parse_interval_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_interval(text)


def test_next_due() -> None:
    last = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert next_due(last, timedelta(minutes=10)) == datetime(2026, 1, 1, 12, 10, tzinfo=UTC)
    assert next_due(None, timedelta(minutes=10)) == datetime.fromtimestamp(0, UTC)


def test_retention_keeps_the_newest_of_this_cluster_only() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    ours = [snapshot_file_name("ns", "a", t + timedelta(minutes=i)) for i in range(5)]
    others = [
        snapshot_file_name("ns", "a-b", t),  # another cluster sharing the prefix
        snapshot_file_name("ns", "a", t, tag="manual"),  # a one-off backup
        "notes.txt",
    ]
    assert expired([*others, *reversed(ours)], prefix=snapshot_prefix("ns", "a"), keep=2) == ours[:3]
    assert expired(ours, prefix=snapshot_prefix("ns", "a"), keep=10) == []


def _snapshot(db: bytes) -> bytes:
    return db + hashlib.sha256(db).digest()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (_snapshot(b"\1" * 8192), None),
        (_snapshot(b"\1" * 8192)[:-1] + b"\0", "corrupt"),
        (b"\1" * 8192, "not an etcd snapshot"),
        (b"", "not an etcd snapshot"),
        (None, "does not exist"),
    ],
    ids=["sound", "hash mismatch", "no hash", "empty", "missing"],
)
def test_snapshot_problem(tmp_path: Path, content: bytes | None, problem: str | None) -> None:
    path = tmp_path / "s.db"
    if content is not None:
        path.write_bytes(content)
    found = snapshot_problem(path)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
def test_a_restore_source_that_is_not_a_regular_file_is_refused_without_reading_it(
    tmp_path: Path, kind: str
) -> None:
    """`/dev/zero` would never end and a FIFO would never open: both are refused by stat alone."""
    if kind == "device":
        path = Path("/dev/zero")
    elif kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    else:
        path = tmp_path
    found = snapshot_problem(path)
    assert found is not None and "not a regular file" in found


def test_a_restore_source_larger_than_the_bound_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    path.write_bytes(_snapshot(b"\1" * 8192))
    found = snapshot_problem(path, max_bytes=4096)
    assert found is not None and "larger than 4096 bytes" in found
    assert snapshot_problem(path, max_bytes=1 << 20) is None


def test_gateway_json_is_read_with_string_integers() -> None:
    member = parse_member(
        {"ID": "10152022657631960081", "name": "m1", "peerURLs": ["https://p"], "clientURLs": ["https://c"]}
    )
    assert member.id == 10152022657631960081 and member.name == "m1" and not member.learner
    unstarted = parse_member({"ID": "6296526114762452598", "peerURLs": ["https://p2"], "isLearner": True})
    assert unstarted.name == "" and unstarted.client_urls == () and unstarted.learner
    status = parse_status(
        "https://c",
        {
            "header": {"member_id": "7", "raft_term": "2"},
            "version": "3.5.35",
            "dbSize": "20480",
            "leader": "7",
            "raftIndex": "6",
        },
    )
    assert (status.member_id, status.leader, status.db_size, status.version) == (7, 7, 20480, "3.5.35")
