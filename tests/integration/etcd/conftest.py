"""etcd operator integration tests: real etcd binaries run by the process runtime, EtcdClusters in the
session sandbox's hub, the controllers running in-process as asyncio tasks.

`KOKPIT_SANDBOX_DIR=/tmp/dir pytest tests/integration/etcd` reuses a sandbox started with
`kokpit sandbox up --dir /tmp/dir` instead of starting the session's own.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret
from lightkube.types import PatchType

from kokpit.binaries import DEFAULT_ETCD_VERSION, build_binaries
from kokpit.controlplane import processes
from kokpit.etcd import EtcdClient, EtcdSettings, add_etcd_controllers
from kokpit.etcd.client import ClientTLS, EtcdError
from kokpit.etcd.names import client_secret_name
from kokpit.etcd.resources import EtcdClusterResource
from kokpit.fleet import member_clients
from kokpit.hub.install import install
from kokpit.runtime import Manager, get_condition
from tests.support import SandboxHandle

OLD_ETCD = "v3.5.35"
NEW_ETCD = DEFAULT_ETCD_VERSION


@pytest.fixture(scope="session")
def etcd_versions() -> tuple[str, str]:
    """Builds the older etcd the upgrade test starts from (the default one comes with the test setup)."""
    build_binaries(etcd_version=OLD_ETCD)
    return OLD_ETCD, NEW_ETCD


@pytest.fixture(scope="session")
def etcd_sandbox(sandbox: SandboxHandle) -> SandboxHandle:
    """The session sandbox (or the one named by $KOKPIT_SANDBOX_DIR, see tests/conftest.py)."""
    return sandbox


@dataclass
class EtcdEnv:
    """A hub namespace with the etcd controllers running against it."""

    manager: Manager
    client: AsyncClient
    namespace: str
    root: Path
    backups: Path
    sandbox: SandboxHandle

    async def create(self, name: str, spec: dict[str, Any]) -> None:
        body = {
            "apiVersion": "etcd.kokpit.io/v1alpha1",
            "kind": "EtcdCluster",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        }
        await self.client.create(EtcdClusterResource.from_dict(body))

    async def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        await self.client.patch(
            EtcdClusterResource, name, {"spec": spec}, namespace=self.namespace, patch_type=PatchType.MERGE
        )

    async def get(self, name: str) -> Any:
        return await self.client.get(EtcdClusterResource, name, namespace=self.namespace)

    async def status(self, name: str) -> dict[str, Any]:
        return dict((await self.get(name)).get("status") or {})

    async def condition(self, name: str, type_: str) -> dict[str, Any] | None:
        return get_condition((await self.status(name)).get("conditions"), type_)

    async def wait(
        self, what: str, predicate: Callable[[dict[str, Any]], bool], name: str, *, timeout: float = 120.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = await self.status(name)
            if predicate(status):
                return status
            await asyncio.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}; last status: {status}")

    async def wait_healthy(
        self, name: str, size: int, *, version: str | None = None, timeout: float = 120.0
    ) -> dict[str, Any]:
        def ok(status: dict[str, Any]) -> bool:
            members = status.get("members") or []
            voting = [m for m in members if m.get("id") and not m.get("isLearner")]
            return (
                status_true(status, "Available")
                and status_true(status, "Healthy")
                and len(voting) == size
                and all(m.get("healthy") for m in voting)
                and (version is None or all(m.get("version") == version.lstrip("v") for m in voting))
            )

        return await self.wait(f"{name}: {size} healthy members", ok, name, timeout=timeout)

    async def client_tls(self, name: str) -> ClientTLS:
        secret = await self.client.get(Secret, client_secret_name(name), namespace=self.namespace)
        data = secret.data or {}
        return ClientTLS(
            ca_pem=base64.b64decode(data["ca.crt"]),
            cert_pem=base64.b64decode(data["tls.crt"]),
            key_pem=base64.b64decode(data["tls.key"]),
        )

    async def etcd(self, name: str) -> EtcdClient:
        return EtcdClient(await self.client_tls(name), timeout=5.0)


def status_true(status: dict[str, Any], type_: str) -> bool:
    condition = get_condition(status.get("conditions"), type_)
    return condition is not None and condition.get("status") == "True"


@pytest.fixture
async def etcd_env(
    etcd_sandbox: SandboxHandle, etcd_versions: tuple[str, str], tmp_path: Path
) -> AsyncIterator[EtcdEnv]:
    manager = Manager(sync_timeout=30)
    manager.add_cluster("hub", etcd_sandbox.kubeconfig("hub"))
    client = manager.clients.get("hub")
    await install(client)
    namespace = f"etcd-{uuid.uuid4().hex[:8]}"
    await client.create(Namespace(metadata=ObjectMeta(name=namespace)))

    async def meta_clients(name: str) -> AsyncClient | None:
        """Meta clusters a test registered on the manager directly (as the kubernetes runtime test does
        with a sandbox member), else the fleet's member clients."""
        if name in manager.clients:
            return manager.clients.get(name)
        return await member_clients(manager).client_or_none(name)

    settings = EtcdSettings(
        process_root=tmp_path / "members",
        meta_clients=meta_clients,
        backup_root=tmp_path / "backups",
        replace_after=15.0,
        resync_seconds=0.5,
        busy_seconds=0.3,
        tie_to_parent=True,
    )
    controllers = add_etcd_controllers(manager, settings)
    run = asyncio.create_task(manager.run())
    env = EtcdEnv(manager, client, namespace, settings.process_root, settings.backup_root, etcd_sandbox)
    try:
        yield env
    finally:
        try:
            async for obj in client.list(EtcdClusterResource, namespace=namespace):
                await client.delete(EtcdClusterResource, _name(obj), namespace=namespace)
            for _ in range(240):
                if not [o async for o in client.list(EtcdClusterResource, namespace=namespace)]:
                    break
                await asyncio.sleep(0.25)
        finally:
            manager.stop()
            await asyncio.wait_for(run, 60)
            await controllers.cluster_reconciler.aclose()
            _stop_leftovers(settings.process_root)
            await _delete_namespace(etcd_sandbox, namespace)


async def _delete_namespace(sandbox: SandboxHandle, namespace: str) -> None:
    manager = Manager()
    manager.add_cluster("hub", sandbox.kubeconfig("hub"))
    client = manager.clients.get("hub")
    try:
        async for obj in client.list(EtcdClusterResource, namespace=namespace):
            await client.patch(
                EtcdClusterResource,
                _name(obj),
                {"metadata": {"finalizers": []}},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        await client.delete(Namespace, namespace)
    except ApiError:
        pass
    finally:
        await manager.clients.aclose()


def _name(obj: Any) -> str:
    return str(obj.metadata.name)


def _stop_leftovers(root: Path) -> None:
    """Stops any member process a failed test left behind (each has a state.json with its pid)."""
    for state in root.glob("*/*/*/state.json"):
        try:
            record = json.loads(state.read_text())
        except (OSError, ValueError):
            continue
        processes.stop([(int(record.get("pid", 0)), record.get("argv0"))], grace_seconds=5)


class Writer:
    """Writes `/w/<n>` keys one after the other to the cluster's current endpoints, remembering every
    acknowledged write and the longest time between two acknowledged writes."""

    def __init__(self, etcd: EtcdClient, endpoints: list[str]) -> None:
        self.etcd = etcd
        self.endpoints = list(endpoints)
        self.acked: dict[str, str] = {}
        self.failures = 0
        self.longest_gap = 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        index, turn = 0, 0
        last_ok = time.monotonic()
        while not self._stop.is_set():
            key, value = f"/w/{index:06d}", f"value-{index}"
            endpoint = self.endpoints[turn % len(self.endpoints)]
            try:
                await self.etcd.put(endpoint, key, value)
            except EtcdError:
                self.failures += 1
                turn += 1
                await asyncio.sleep(0.05)
                continue
            now = time.monotonic()
            self.longest_gap = max(self.longest_gap, now - last_ok)
            last_ok = now
            self.acked[key] = value
            index += 1
            await asyncio.sleep(0.01)

    async def follow(self, env: EtcdEnv, name: str) -> None:
        """Keeps `endpoints` equal to the cluster's client endpoints until stopped."""
        while not self._stop.is_set():
            endpoints = (await env.status(name)).get("clientEndpoints") or []
            if endpoints:
                self.endpoints = list(endpoints)
            await asyncio.sleep(0.5)

    async def verify(self, endpoint_of: Callable[[], str]) -> None:
        """Every acknowledged write is readable, with its value."""
        found = await self.etcd.get_prefix(endpoint_of(), "/w/")
        missing = [k for k, v in self.acked.items() if found.get(k) != v]
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
