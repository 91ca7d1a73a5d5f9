"""Runtime integration tests run against the session sandbox, or an already running one.

`KOKPIT_SANDBOX_DIR=/tmp/dir pytest tests/integration/runtime` reuses a sandbox started with
`kokpit sandbox up --dir /tmp/dir` instead of starting the session's own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from kokpit import sandbox as sandboxes
from kokpit.runtime import ClusterClients
from tests.support import SandboxHandle


class ExternalSandbox(SandboxHandle):
    """A sandbox this test process did not start: what it restarts must outlive the tests."""

    def restart(self, cluster: str, component: str) -> None:
        sandboxes.restart(self.dir, cluster, component, tie_to_parent=False)
        self.state = sandboxes.load(self.dir)


@pytest.fixture(scope="session")
def rt_sandbox(request: pytest.FixtureRequest) -> SandboxHandle:
    existing = os.environ.get("KOKPIT_SANDBOX_DIR")
    if existing:
        directory = Path(existing).resolve()
        return ExternalSandbox(dir=directory, state=sandboxes.load(directory))
    handle: SandboxHandle = request.getfixturevalue("sandbox")
    return handle


@pytest.fixture
async def hub(rt_sandbox: SandboxHandle) -> AsyncIterator[ClusterClients]:
    """A client registry holding the hub (its own, closed after the test)."""
    clients = ClusterClients()
    clients.add("hub", rt_sandbox.kubeconfig("hub"))
    try:
        yield clients
    finally:
        await clients.aclose()


@pytest.fixture
async def namespace(hub: ClusterClients) -> AsyncIterator[str]:
    """A fresh namespace in the hub, deleted after the test."""
    name = f"rt-{uuid.uuid4().hex[:8]}"
    client = hub.get("hub")
    await client.create(Namespace(metadata=ObjectMeta(name=name)))
    try:
        yield name
    finally:
        await client.delete(Namespace, name)
