"""Clusters joining and leaving a running manager."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace

from kokpit.runtime import Key, Manager, Result
from tests.support import SandboxHandle, eventually

pytestmark = pytest.mark.integration


class Recorder:
    def __init__(self) -> None:
        self.keys: list[Key] = []

    async def reconcile(self, key: Key) -> Result:
        self.keys.append(key)
        return Result()


async def test_a_member_added_while_running_is_watched_and_removing_it_stops_its_informer(
    rt_sandbox: SandboxHandle,
) -> None:
    if not rt_sandbox.members:
        pytest.skip("the sandbox has no member cluster")
    member = rt_sandbox.members[0]
    manager = Manager()
    manager.add_cluster("hub", rt_sandbox.kubeconfig("hub"))
    recorder = Recorder()
    controller = manager.controller("members", recorder)
    controller.watch(manager.informer("hub", Namespace))
    run = asyncio.create_task(manager.run())
    ns = f"rt-{uuid.uuid4().hex[:8]}"
    try:
        await eventually("hub namespaces reconciled", lambda: any(k.cluster == "hub" for k in recorder.keys))

        manager.add_cluster(member, rt_sandbox.kubeconfig(member))
        member_client = manager.clients.get(member)
        await member_client.create(Namespace(metadata=ObjectMeta(name=ns)))
        configmaps = manager.informer(member, ConfigMap, namespace=ns)
        controller.watch(configmaps)
        await asyncio.wait_for(configmaps.wait_synced(), 30)
        await member_client.create(ConfigMap(metadata=ObjectMeta(name="joined", namespace=ns)))
        await eventually("member object reconciled", lambda: Key(member, ns, "joined") in recorder.keys)

        await manager.remove_cluster(member)
        assert not configmaps.running
        assert member not in manager.clients.names()
        assert all(i.cluster != member for i in manager.informers())
    finally:
        manager.stop()
        await asyncio.wait_for(run, 30)
        cleanup = Manager()
        cleanup.add_cluster(member, rt_sandbox.kubeconfig(member))
        await cleanup.clients.get(member).delete(Namespace, ns)
        await cleanup.clients.aclose()
