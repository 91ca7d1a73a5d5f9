"""Backups (one-off and scheduled), restoring into a new cluster, and a rolling upgrade."""

from __future__ import annotations

import asyncio
import hashlib
import stat
from pathlib import Path
from typing import Any

import pytest

from kokpit.etcd.resources import EtcdBackupResource
from tests.integration.etcd.conftest import NEW_ETCD, OLD_ETCD, EtcdEnv, Writer, status_true

pytestmark = pytest.mark.integration


async def wait_backup(env: EtcdEnv, name: str, timeout: float = 60.0) -> dict[str, Any]:
    for _ in range(int(timeout / 0.25)):
        obj = await env.client.get(EtcdBackupResource, name, namespace=env.namespace)
        status = dict(obj.get("status") or {})
        if status.get("phase") in ("Completed", "Failed"):
            return status
        await asyncio.sleep(0.25)
    raise AssertionError(f"backup {name} did not finish")


async def test_backup_then_restore_into_a_new_cluster(etcd_env: EtcdEnv, tmp_path: Path) -> None:
    scheduled = tmp_path / "scheduled"
    await etcd_env.create(
        "delta",
        {
            "size": 3,
            "version": NEW_ETCD,
            "backup": {"schedule": "1s", "retention": 2, "destination": str(scheduled)},
        },
    )
    status = await etcd_env.wait_healthy("delta", 3)
    endpoint = status["clientEndpoints"][0]
    written = {f"/data/{i:04d}": f"value-{i}" for i in range(300)}
    async with await etcd_env.etcd("delta") as etcd:
        for key, value in written.items():
            await etcd.put(endpoint, key, value)

        destination = tmp_path / "manual"
        await etcd_env.client.create(
            EtcdBackupResource.from_dict(
                {
                    "apiVersion": "etcd.kokpit.io/v1alpha1",
                    "kind": "EtcdBackup",
                    "metadata": {"name": "delta-now", "namespace": etcd_env.namespace},
                    "spec": {"clusterRef": "delta", "destination": str(destination)},
                }
            )
        )
        backup = await wait_backup(etcd_env, "delta-now")
        assert backup["phase"] == "Completed", backup
        snapshot = Path(backup["path"])
        assert snapshot.parent == destination
        # a snapshot holds every Secret of the cluster: 0600 in a 0700 directory
        modes = await asyncio.to_thread(lambda: (snapshot.stat().st_mode, destination.stat().st_mode))
        assert (stat.S_IMODE(modes[0]), stat.S_IMODE(modes[1])) == (0o600, 0o700)
        content = await asyncio.to_thread(snapshot.read_bytes)
        assert hashlib.sha256(content).hexdigest() == backup["sha256"]
        assert len(content) == backup["size"]
        await etcd.put(endpoint, "/data/after-backup", "not in the snapshot")

    # Scheduled snapshots every second, two kept.
    await asyncio.sleep(4)
    status = await etcd_env.status("delta")
    assert status_true(status, "BackupReady"), status.get("conditions")
    assert await asyncio.to_thread(Path(status["lastBackup"]["path"]).exists)
    assert len(await asyncio.to_thread(lambda: list(scheduled.glob("*.db")))) == 2

    await etcd_env.create("echo", {"size": 3, "version": NEW_ETCD, "restoreFrom": {"path": str(snapshot)}})
    restored = await etcd_env.wait_healthy("echo", 3)
    async with await etcd_env.etcd("echo") as etcd:
        found = await etcd.get_prefix(restored["clientEndpoints"][1], "/data/")
    assert found == written


async def test_rolling_upgrade_loses_no_acknowledged_write(etcd_env: EtcdEnv) -> None:
    await etcd_env.create("foxtrot", {"size": 3, "version": OLD_ETCD})
    status = await etcd_env.wait_healthy("foxtrot", 3, version=OLD_ETCD)
    async with await etcd_env.etcd("foxtrot") as etcd:
        writer = Writer(etcd, status["clientEndpoints"])
        writer.start()
        try:
            await asyncio.sleep(0.5)
            await etcd_env.patch_spec("foxtrot", {"version": NEW_ETCD})
            status = await etcd_env.wait_healthy("foxtrot", 3, version=NEW_ETCD, timeout=180)
            await asyncio.sleep(0.5)
        finally:
            await writer.stop()
        await writer.verify(lambda: status["clientEndpoints"][0])
    assert status["currentVersion"] == NEW_ETCD.lstrip("v")
    print(f"\nUPGRADE writes={len(writer.acked)} longest_write_gap={writer.longest_gap:.2f}s")
    assert len(writer.acked) > 20
