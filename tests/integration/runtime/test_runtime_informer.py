"""Informers and controllers against a real hub API server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap
from lightkube.resources.events_v1 import Event

from kokpit.runtime import (
    ClusterClients,
    EventRecorder,
    Handler,
    Informer,
    Key,
    Manager,
    Result,
    apply,
    ensure_finalizer,
    remove_finalizer,
)
from kokpit.runtime.metrics import Metrics
from tests.support import SandboxHandle, data_of, eventually

pytestmark = pytest.mark.integration


async def test_informer_sees_add_update_delete(hub: ClusterClients, namespace: str) -> None:
    client = hub.get("hub")
    seen: list[tuple[str, str, str]] = []

    def record(kind: str) -> Callable[[Any], None]:
        return lambda obj: seen.append((kind, obj.metadata.name, (obj.data or {}).get("v", "")))

    informer = Informer("hub", ConfigMap, client, namespace=namespace)
    informer.add_handler(
        Handler(add=record("add"), update=lambda old, new: record("update")(new), delete=record("delete"))
    )
    informer.start()
    try:
        await asyncio.wait_for(informer.wait_synced(), 30)
        await client.create(ConfigMap(metadata=ObjectMeta(name="one", namespace=namespace), data={"v": "1"}))
        await eventually("add", lambda: ("add", "one", "1") in seen)
        assert data_of(informer.get("one", namespace)) == {"v": "1"}

        await client.patch(ConfigMap, "one", {"data": {"v": "2"}}, namespace=namespace)
        await eventually("update", lambda: ("update", "one", "2") in seen)
        assert data_of(informer.get("one", namespace)) == {"v": "2"}

        await client.delete(ConfigMap, "one", namespace=namespace)
        await eventually("delete", lambda: any(e[0] == "delete" and e[1] == "one" for e in seen))
        assert informer.get("one", namespace) is None
    finally:
        await informer.stop()


class Mirror:
    """Copies each ConfigMap `src-*` into `mirror-*` with server-side apply, reading only the cache."""

    def __init__(self, clients: ClusterClients, informer: Informer, events: EventRecorder) -> None:
        self.clients = clients
        self.informer = informer
        self.events = events
        self.reconciled: list[Key] = []

    async def reconcile(self, key: Key) -> Result:
        self.reconciled.append(key)
        source = self.informer.get(key.name, key.namespace)
        if source is None or not key.name.startswith("src-"):
            return Result()
        mirror = ConfigMap(
            metadata=ObjectMeta(name="mirror-" + key.name[4:], namespace=key.namespace),
            data=dict(source.data or {}),
        )
        await apply(self.clients.get(key.cluster), mirror)
        await self.events.normal(source, "Mirrored", f"copied to {mirror.metadata.name}")  # type: ignore[union-attr]
        return Result()


async def test_controller_reconciles_a_configmap_change(rt_sandbox: SandboxHandle, namespace: str) -> None:
    manager = Manager(metrics_port=0)
    manager.add_cluster("hub", rt_sandbox.kubeconfig("hub"))
    client = manager.clients.get("hub")
    configmaps = manager.informer("hub", ConfigMap, namespace=namespace)
    mirror = Mirror(manager.clients, configmaps, EventRecorder(client))
    manager.controller("mirror", mirror).watch(configmaps)
    run = asyncio.create_task(manager.run())
    try:
        await client.create(
            ConfigMap(metadata=ObjectMeta(name="src-a", namespace=namespace), data={"k": "1"})
        )

        def mirrored(value: str) -> bool:
            return data_of(configmaps.get("mirror-a", namespace)) == {"k": value}

        await eventually("first mirror", lambda: mirrored("1"))
        await client.patch(ConfigMap, "src-a", {"data": {"k": "2"}}, namespace=namespace)
        await eventually("mirror of the change", lambda: mirrored("2"))
        latest = await client.get(ConfigMap, "mirror-a", namespace=namespace)
        managers = {f.manager for f in (latest.metadata.managedFields or [])}  # type: ignore[union-attr]
        assert "kokpit" in managers

        events = [e async for e in client.list(Event, namespace=namespace)]
        mirrored_events = [
            e for e in events if e.reason == "Mirrored" and e.regarding and e.regarding.name == "src-a"
        ]
        assert mirrored_events, "an Event about the source object"
        assert mirrored_events[0].reportingController == "kokpit"

        port = manager.metrics_port
        assert port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        body = (await reader.read()).decode()
        writer.close()
        assert 'kokpit_reconcile_total{controller="mirror",result="success"}' in body
        assert 'kokpit_api_requests_total{cluster="hub",code="201",method="POST"}' in body
    finally:
        manager.stop()
        await asyncio.wait_for(run, 30)


async def test_finalizers_keep_other_owners(hub: ClusterClients, namespace: str) -> None:
    client = hub.get("hub")
    created = await client.create(
        ConfigMap(metadata=ObjectMeta(name="fin", namespace=namespace, finalizers=["example.com/theirs"]))
    )
    with_ours = await ensure_finalizer(client, created, "kokpit.io/cleanup")
    assert with_ours.metadata.finalizers == ["example.com/theirs", "kokpit.io/cleanup"]
    assert await ensure_finalizer(client, with_ours, "kokpit.io/cleanup") is with_ours  # no write

    from lightkube import ApiError

    with pytest.raises(ApiError) as stale:
        await ensure_finalizer(client, created, "kokpit.io/other")  # stale resourceVersion
    assert stale.value.status.code == 409

    without = await remove_finalizer(client, with_ours, "kokpit.io/cleanup")
    assert without.metadata.finalizers == ["example.com/theirs"]
    await client.patch(ConfigMap, "fin", {"metadata": {"finalizers": None}}, namespace=namespace)


async def test_an_idle_watch_is_restarted_and_keeps_delivering(
    rt_sandbox: SandboxHandle, namespace: str
) -> None:
    metrics = Metrics()
    clients = ClusterClients(metrics=metrics)
    client = clients.add("hub", rt_sandbox.kubeconfig("hub"))
    informer = Informer("hub", ConfigMap, client, namespace=namespace, idle_timeout=1.0, metrics=metrics)
    informer.start()

    def idle_restarts() -> float:
        value = metrics.registry.get_sample_value(
            "kokpit_watch_restarts_total", {"cluster": "hub", "resource": "configmaps", "reason": "idle"}
        )
        return value or 0.0

    try:
        await asyncio.wait_for(informer.wait_synced(), 30)
        await eventually("an idle restart", lambda: idle_restarts() >= 2, within=15)
        await client.create(ConfigMap(metadata=ObjectMeta(name="after-idle", namespace=namespace)))
        await eventually(
            "an object created after idle restarts", lambda: informer.get("after-idle", namespace) is not None
        )
    finally:
        await informer.stop()
        await clients.aclose()
