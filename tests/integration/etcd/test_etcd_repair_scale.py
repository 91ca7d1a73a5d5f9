"""Repair and scaling keep the cluster writable and lose no acknowledged write."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from typing import Any

import pytest

from tests.integration.etcd.conftest import NEW_ETCD, EtcdEnv, Writer

pytestmark = pytest.mark.integration


async def test_a_killed_member_with_its_data_deleted_is_replaced_while_writes_go_on(
    etcd_env: EtcdEnv,
) -> None:
    await etcd_env.create("bravo", {"size": 3, "version": NEW_ETCD})
    status = await etcd_env.wait_healthy("bravo", 3)
    victim = status["leader"]
    old_id = next(m["id"] for m in status["members"] if m["name"] == victim)

    async with await etcd_env.etcd("bravo") as etcd:
        writer = Writer(etcd, status["clientEndpoints"])
        writer.start()
        follow = asyncio.create_task(writer.follow(etcd_env, "bravo"))
        await asyncio.sleep(1.0)

        member_dir = etcd_env.root / etcd_env.namespace / "bravo" / victim
        pid = int(json.loads((member_dir / "state.json").read_text())["pid"])
        os.killpg(pid, signal.SIGKILL)
        shutil.rmtree(member_dir / "data")
        killed = time.monotonic()

        def replaced(s: dict[str, Any]) -> bool:
            members = [m for m in s.get("members") or [] if isinstance(m, dict)]
            fresh = [m for m in members if m.get("name") == victim and m.get("id") not in (None, old_id)]
            voting = [m for m in members if m.get("id") and not m.get("isLearner")]
            return bool(fresh) and len(voting) == 3 and all(m.get("healthy") for m in voting)

        await etcd_env.wait("the killed member replaced", replaced, "bravo", timeout=90)
        recovery = time.monotonic() - killed
        await asyncio.sleep(1.0)
        await writer.stop()
        await follow
        await writer.verify(lambda: writer.endpoints[0])
    print(
        f"\nRECOVERY member={victim} (leader) seconds={recovery:.2f} writes={len(writer.acked)} "
        f"failed_attempts={writer.failures} longest_write_gap={writer.longest_gap:.2f}s"
    )
    assert writer.longest_gap < 10.0, "writes stalled for longer than a leader election"
    assert len(writer.acked) > 20


async def test_scale_three_to_five_to_three_with_a_writer(etcd_env: EtcdEnv) -> None:
    await etcd_env.create("charlie", {"size": 3, "version": NEW_ETCD})
    status = await etcd_env.wait_healthy("charlie", 3)
    async with await etcd_env.etcd("charlie") as etcd:
        writer = Writer(etcd, status["clientEndpoints"])
        writer.start()
        follow = asyncio.create_task(writer.follow(etcd_env, "charlie"))
        await asyncio.sleep(0.5)

        started = time.monotonic()
        await etcd_env.patch_spec("charlie", {"size": 5})
        status = await etcd_env.wait_healthy("charlie", 5, timeout=120)
        up = time.monotonic() - started
        assert sorted(m["name"] for m in status["members"]) == [f"charlie-{i}" for i in range(5)]

        started = time.monotonic()
        await etcd_env.patch_spec("charlie", {"size": 3})
        status = await etcd_env.wait_healthy("charlie", 3, timeout=120)
        down = time.monotonic() - started
        assert len(status["members"]) == 3
        assert status["leader"] in {m["name"] for m in status["members"]}

        await asyncio.sleep(0.5)
        await writer.stop()
        await follow
        await writer.verify(lambda: status["clientEndpoints"][0])
    print(
        f"\nSCALE 3->5 seconds={up:.2f} 5->3 seconds={down:.2f} writes={len(writer.acked)} "
        f"longest_write_gap={writer.longest_gap:.2f}s"
    )
    assert writer.longest_gap < 10.0
