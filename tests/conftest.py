"""Shared fixtures: one real sandbox (hub + 3 members) per test session.

Integration tests never mock the Kubernetes API: they talk to real kube-apiservers started here.
The processes are tied to this test process, so even a test run killed hard takes them along.
`KOKPIT_SANDBOX_DIR=/tmp/dir pytest ...` reuses a sandbox started with `kokpit sandbox up --dir
/tmp/dir` instead (faster when iterating; it is left running).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kokpit import sandbox as sandboxes
from kokpit.sandbox import UpOptions
from kokpit.settings import HubSettings
from tests.support import MEMBERS, NODES, ExternalSandbox, HubThread, SandboxHandle, ensure_joined


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    existing = os.environ.get("KOKPIT_SANDBOX_DIR")
    if existing:
        external = Path(existing).resolve()
        yield ExternalSandbox(dir=external, state=sandboxes.load(external))
        return
    directory = tmp_path_factory.mktemp("sandbox")
    state = sandboxes.up(directory, UpOptions(members=MEMBERS, nodes=NODES, tie_to_parent=True))
    try:
        yield SandboxHandle(dir=directory, state=state)
    finally:
        sandboxes.down(directory)


@pytest.fixture(scope="session")
def fleet(sandbox: SandboxHandle) -> SandboxHandle:
    """The session sandbox with kokpit installed on the hub and every member joined."""
    ensure_joined(sandbox, sandbox.kubeconfig("hub"))
    return sandbox


@pytest.fixture(scope="module")
def hub_controllers(fleet: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    """Every hub controller running in this process for the duration of one test module."""
    hub = HubThread(
        fleet.kubeconfig("hub"), settings=HubSettings(state_dir=tmp_path_factory.mktemp("hub-state"))
    ).start()
    try:
        yield hub
    finally:
        hub.stop()
