"""Bad input is rejected by the schema or reported as a condition; nothing healthy is harmed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lightkube import ApiError

from kokpit.etcd.resources import EtcdClusterResource
from tests.integration.etcd.conftest import NEW_ETCD, EtcdEnv, status_true

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("size", [0, 8])
async def test_sizes_outside_one_to_seven_are_rejected(etcd_env: EtcdEnv, size: int) -> None:
    with pytest.raises(ApiError) as caught:
        await etcd_env.create("golf", {"size": size, "version": NEW_ETCD})
    assert caught.value.status.code == 422
    assert "spec.size" in str(caught.value.status.message)


async def test_an_unknown_version_is_a_condition_and_starts_nothing(etcd_env: EtcdEnv) -> None:
    await etcd_env.create("hotel", {"size": 1, "version": "v3.99.0"})
    condition = None
    for _ in range(80):
        condition = await etcd_env.condition("hotel", "VersionAvailable")
        if condition is not None:
            break
        await asyncio.sleep(0.25)
    assert condition is not None and condition["status"] == "False"
    assert condition["reason"] == "VersionUnavailable"
    progressing = await etcd_env.condition("hotel", "Progressing")
    assert progressing is not None and progressing["reason"] == "VersionUnavailable"
    assert not (etcd_env.root / etcd_env.namespace / "hotel").exists()


async def test_bad_updates_leave_a_healthy_cluster_alone(etcd_env: EtcdEnv) -> None:
    await etcd_env.create("india", {"size": 3, "version": NEW_ETCD})
    before = await etcd_env.wait_healthy("india", 3)
    ids = sorted(m["id"] for m in before["members"])

    with pytest.raises(ApiError):
        await etcd_env.patch_spec("india", {"size": 8})
    with pytest.raises(ApiError):
        await etcd_env.patch_spec("india", {"runtime": "kubernetes", "metaCluster": "member1"})
    await etcd_env.patch_spec("india", {"version": "v3.99.0"})

    status = await etcd_env.wait(
        "the unknown version reported",
        lambda s: any(
            c["type"] == "VersionAvailable" and c["status"] == "False" for c in s.get("conditions") or []
        ),
        "india",
    )
    await asyncio.sleep(2)
    status = await etcd_env.status("india")
    assert status_true(status, "Available") and status_true(status, "Healthy")
    assert sorted(m["id"] for m in status["members"]) == ids
    assert all(m["version"] == NEW_ETCD.lstrip("v") for m in status["members"])
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "VersionUnavailable")


@pytest.mark.parametrize("kind", ["missing", "corrupt"])
async def test_restoring_from_a_bad_snapshot_starts_nothing(
    etcd_env: EtcdEnv, tmp_path: Path, kind: str
) -> None:
    snapshot = tmp_path / "snapshot.db"
    if kind == "corrupt":
        snapshot.write_bytes(b"\0" * 4096 * 4 + b"x" * 32)
    await etcd_env.create("juliet", {"size": 3, "version": NEW_ETCD, "restoreFrom": {"path": str(snapshot)}})
    status = await etcd_env.wait(
        "the bad snapshot reported",
        lambda s: any(
            c["type"] == "Progressing" and c["reason"] == "SnapshotInvalid" for c in s.get("conditions") or []
        ),
        "juliet",
        timeout=30,
    )
    message = next(c["message"] for c in status["conditions"] if c["type"] == "Progressing")
    assert ("does not exist" if kind == "missing" else "corrupt") in message
    assert status["phase"] == "Failed"
    assert not (etcd_env.root / etcd_env.namespace / "juliet").exists()


async def test_a_data_dir_root_outside_the_hub_root_is_refused_and_never_deleted(
    etcd_env: EtcdEnv, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    keep = outside / etcd_env.namespace / "kilo" / "keep"
    keep.parent.mkdir(parents=True)
    keep.write_text("not kokpit's")
    await etcd_env.create("kilo", {"size": 1, "version": NEW_ETCD, "storage": {"dataDirRoot": str(outside)}})
    status = await etcd_env.wait(
        "the data directory refused",
        lambda s: any(
            c["type"] == "Ready" and c["reason"] == "DataDirOutsideRoot" for c in s.get("conditions") or []
        ),
        "kilo",
        timeout=30,
    )
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and "outside the hub's etcd root" in ready["message"]
    assert sorted(p.name for p in outside.rglob("*")) == sorted([etcd_env.namespace, "kilo", "keep"])
    assert not (etcd_env.root / etcd_env.namespace / "kilo").exists()

    await etcd_env.client.delete(EtcdClusterResource, "kilo", namespace=etcd_env.namespace)
    for _ in range(120):
        if not [o async for o in etcd_env.client.list(EtcdClusterResource, namespace=etcd_env.namespace)]:
            break
        await asyncio.sleep(0.25)
    else:
        raise AssertionError("kilo was not deleted")
    assert keep.read_text() == "not kokpit's"  # deletion removed nothing outside the root


async def test_restoring_from_dev_zero_is_refused_without_stalling_other_clusters(etcd_env: EtcdEnv) -> None:
    await etcd_env.create("lima", {"size": 1, "version": NEW_ETCD, "restoreFrom": {"path": "/dev/zero"}})
    await etcd_env.create("mike", {"size": 1, "version": NEW_ETCD})
    status = await etcd_env.wait(
        "/dev/zero refused",
        lambda s: any(
            c["type"] == "Progressing" and c["reason"] == "SnapshotInvalid" for c in s.get("conditions") or []
        ),
        "lima",
        timeout=30,
    )
    message = next(c["message"] for c in status["conditions"] if c["type"] == "Progressing")
    assert "not a regular file" in message
    await etcd_env.wait_healthy("mike", 1)  # the other cluster reconciled meanwhile
    assert not (etcd_env.root / etcd_env.namespace / "lima").exists()
