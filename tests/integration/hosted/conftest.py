"""Hosted-cluster integration tests: real control-plane binaries run by the process runtime, HostedClusters
in the session sandbox's hub, the etcd, fleet and hosted controllers running in-process.

`KOKPIT_SANDBOX_DIR=/tmp/dir pytest tests/integration/hosted` reuses a sandbox started with
`kokpit sandbox up --dir /tmp/dir` instead of starting the session's own.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

from kokpit.binaries import build_binaries
from kokpit.controlplane import processes
from kokpit.etcd import EtcdSettings, add_etcd_controllers
from kokpit.etcd.resources import EtcdClusterResource
from kokpit.fleet import setup_fleet
from kokpit.hosted import HostedClusterResource, HostedSettings, setup_hosted
from kokpit.hosted.plan import RestartPolicy
from kokpit.hosted.versions import SupportedVersions, load_supported
from kokpit.hub.install import install
from kokpit.runtime import Manager, get_condition
from kokpit.runtime.clients import make_client
from tests.support import SandboxHandle

SUPPORTED = load_supported()
CURRENT = SUPPORTED.versions[0].version
PREVIOUS = SUPPORTED.versions[1].version


@pytest.fixture(scope="session")
def previous_version() -> str:
    """Builds the previous minor the upgrade tests start from (several minutes the first time)."""
    build_binaries(PREVIOUS)
    return PREVIOUS


@pytest.fixture(scope="session")
def hosted_sandbox(sandbox: SandboxHandle) -> SandboxHandle:
    """The session sandbox (or the one named by $KOKPIT_SANDBOX_DIR, see tests/conftest.py)."""
    return sandbox


@dataclass
class HostedEnv:
    """A hub namespace with the etcd, fleet and hosted-cluster controllers running against it."""

    manager: Manager
    client: AsyncClient
    namespace: str
    root: Path
    sandbox: SandboxHandle
    supported: SupportedVersions = SUPPORTED
    """What the hosted controller takes as supported versions, read on every pass: a test may swap in
    a test-only versions file (`load_supported(path)`)."""

    @property
    def hub_kubeconfig(self) -> Path:
        return self.sandbox.kubeconfig("hub")

    async def create(self, name: str, spec: dict[str, Any], *, labels: dict[str, str] | None = None) -> None:
        body = {
            "apiVersion": "cluster.kokpit.io/v1alpha1",
            "kind": "HostedCluster",
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels or {}},
            "spec": spec,
        }
        await self.client.create(HostedClusterResource.from_dict(body))

    async def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        await self.client.patch(
            HostedClusterResource, name, {"spec": spec}, namespace=self.namespace, patch_type=PatchType.MERGE
        )

    async def get(self, name: str) -> Any:
        return await self.client.get(HostedClusterResource, name, namespace=self.namespace)

    async def status(self, name: str) -> dict[str, Any]:
        return dict((await self.get(name)).get("status") or {})

    async def wait(
        self, what: str, predicate: Callable[[dict[str, Any]], bool], name: str, *, timeout: float = 120.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = await self.status(name)
            if predicate(status):
                return status
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; last status: {json.dumps(status)[:3000]}")

    async def wait_ready(
        self, name: str, *, version: str | None = None, timeout: float = 120.0
    ) -> dict[str, Any]:
        return await self.wait(
            f"{name} Ready",
            lambda s: is_true(s, "Ready") and (version is None or s.get("version") == version),
            name,
            timeout=timeout,
        )

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Runs the hosted-cluster commands as a user would, in a subprocess."""
        return subprocess.run(
            [sys.executable, "-m", "kokpit.cli.hosted", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "KOKPIT_KUBECONFIG": str(self.hub_kubeconfig)},
        )

    async def acli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(self.cli, *args, timeout=timeout)


def is_true(status: dict[str, Any], type_: str) -> bool:
    condition = get_condition(status.get("conditions"), type_)
    return condition is not None and condition.get("status") == "True"


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return get_condition(status.get("conditions"), type_) or {}


@pytest.fixture
async def hosted_env(hosted_sandbox: SandboxHandle, tmp_path: Path) -> AsyncIterator[HostedEnv]:
    manager = Manager(sync_timeout=30)
    manager.add_cluster("hub", hosted_sandbox.kubeconfig("hub"))
    client = manager.clients.get("hub")
    await install(client)
    namespace = f"hosted-{uuid.uuid4().hex[:8]}"
    await client.create(Namespace(metadata=ObjectMeta(name=namespace)))
    etcd_settings = EtcdSettings(
        process_root=tmp_path / "etcd",
        backup_root=tmp_path / "backups",
        resync_seconds=0.5,
        busy_seconds=0.2,
        tie_to_parent=True,
    )
    etcd = add_etcd_controllers(manager, etcd_settings)
    setup_fleet(manager, hub="hub")
    settings = HostedSettings(
        process_root=tmp_path / "cp",
        resync_seconds=0.5,
        busy_seconds=0.2,
        tie_to_parent=True,
        restart=RestartPolicy(max_restarts=3, window=60.0, backoff=5.0),
        upgrade_timeout=60.0,
    )
    env = HostedEnv(manager, client, namespace, settings.process_root, hosted_sandbox)
    settings.versions = lambda: env.supported
    _, reconciler = setup_hosted(manager, settings)
    run = asyncio.create_task(manager.run())
    try:
        yield env
    finally:
        try:
            async for obj in client.list(HostedClusterResource, namespace=namespace):
                await client.delete(HostedClusterResource, str(obj.metadata.name), namespace=namespace)
            for _ in range(240):
                if not [o async for o in client.list(HostedClusterResource, namespace=namespace)]:
                    break
                await asyncio.sleep(0.25)
            for _ in range(120):
                if not [o async for o in client.list(EtcdClusterResource, namespace=namespace)]:
                    break
                await asyncio.sleep(0.25)
        finally:
            manager.stop()
            await asyncio.wait_for(run, 60)
            await reconciler.aclose()
            await etcd.cluster_reconciler.aclose()
            _stop_leftovers(settings.process_root)
            _stop_leftovers(etcd_settings.process_root)
            cleanup = make_client("hub", hosted_sandbox.kubeconfig("hub"))
            try:
                await _delete_namespace(cleanup, namespace)
            finally:
                await cleanup.close()


async def _delete_namespace(client: AsyncClient, namespace: str) -> None:
    try:
        for resource in (HostedClusterResource, EtcdClusterResource):
            async for obj in client.list(resource, namespace=namespace):
                await client.patch(
                    resource,
                    str(obj["metadata"]["name"]),
                    {"metadata": {"finalizers": []}},
                    namespace=namespace,
                    patch_type=PatchType.MERGE,
                )
        await client.delete(Namespace, namespace)
    except ApiError:
        pass


def _stop_leftovers(root: Path) -> None:
    """Stops any component a failed test left behind (each has a state.json with its pid)."""
    for state in root.glob("*/*/*/state.json"):
        try:
            record = json.loads(state.read_text())
        except (OSError, ValueError):
            continue
        processes.stop([(int(record.get("pid", 0)), record.get("argv0"))], grace_seconds=5)
