"""Fault tests: they kill, restart or partition real processes (`pytest tests/faults`).

They use the session `sandbox` of tests/conftest.py or sandboxes of their own; this file adds
what they share on top of it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from kokpit.runtime import ClusterClients
from tests.support import SandboxHandle


@pytest.fixture
async def namespace(sandbox: SandboxHandle) -> AsyncIterator[str]:
    """A fresh namespace in the hub, deleted after the test."""
    clients = ClusterClients()
    client = clients.add("hub", sandbox.kubeconfig("hub"))
    name = f"fault-{uuid.uuid4().hex[:8]}"
    await client.create(Namespace(metadata=ObjectMeta(name=name)))
    try:
        yield name
    finally:
        await client.delete(Namespace, name)
        await clients.aclose()
