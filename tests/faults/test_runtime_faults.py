"""Runtime under faults: informers across a restart of the API server they watch.

Restarts a component of the session sandbox, so it lives with the other fault tests
(`pytest tests/faults`), apart from the suites that expect a steady sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap

from kokpit.runtime import ClusterClients, Informer
from kokpit.runtime.metrics import Metrics
from tests.support import SandboxHandle, data_of, eventually

pytestmark = pytest.mark.integration


async def test_watch_resumes_after_the_apiserver_restarts(sandbox: SandboxHandle, namespace: str) -> None:
    metrics = Metrics()
    clients = ClusterClients(metrics=metrics)
    client = clients.add("hub", sandbox.kubeconfig("hub"))
    informer = Informer("hub", ConfigMap, client, namespace=namespace, metrics=metrics)
    # Reconnect slowly so the edit below lands while this informer is not watching.
    informer.reflector.backoff.initial = 2.0
    informer.start()
    try:
        await asyncio.wait_for(informer.wait_synced(), 30)
        await client.create(
            ConfigMap(metadata=ObjectMeta(name="survivor", namespace=namespace), data={"v": "1"})
        )
        await eventually("created", lambda: data_of(informer.get("survivor", namespace)) == {"v": "1"})

        await asyncio.to_thread(sandbox.restart, "hub", "kube-apiserver")

        other = ClusterClients()
        try:
            writer = other.add("hub", sandbox.kubeconfig("hub"))
            for _ in range(50):
                with contextlib.suppress(Exception):
                    await writer.patch(ConfigMap, "survivor", {"data": {"v": "2"}}, namespace=namespace)
                    break
                await asyncio.sleep(0.2)
        finally:
            await other.aclose()

        await eventually(
            "the edit made while the watch was down",
            lambda: data_of(informer.get("survivor", namespace)) == {"v": "2"},
            within=60,
        )
        restarts = sum(
            metrics.registry.get_sample_value(
                "kokpit_watch_restarts_total", {"cluster": "hub", "resource": "configmaps", "reason": reason}
            )
            or 0.0
            for reason in ("error", "gone", "idle")
        )
        assert restarts >= 1
        # The first list, the first watch and the watch resumed after the restart all reached the
        # API server and were counted as answered requests.
        answered = metrics.registry.get_sample_value(
            "kokpit_api_requests_total", {"cluster": "hub", "method": "GET", "code": "200"}
        )
        assert answered is not None and answered >= 3
    finally:
        await informer.stop()
        await clients.aclose()
