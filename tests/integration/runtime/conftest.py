"""Runtime integration tests run against the session sandbox, or an already running one.

`KOKPIT_SANDBOX_DIR=/tmp/dir pytest tests/integration/runtime` reuses a sandbox started with
`kokpit sandbox up --dir /tmp/dir` instead of starting the session's own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from kokpit.runtime import ClusterClients
from tests.support import SandboxHandle


@pytest.fixture(scope="session")
def rt_sandbox(sandbox: SandboxHandle) -> SandboxHandle:
    """The session sandbox (or the one named by $KOKPIT_SANDBOX_DIR, see tests/conftest.py)."""
    return sandbox


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
