"""The agent against the session sandbox: a Pull Cluster whose member is member3's API server.

`pull_cluster` registers a Pull Cluster of its own name on the hub, its execution namespace and the
agent's RBAC exactly as registration grants it (`kokpit.fleet.registration.rbac.agent_rbac`: its
Works, their status, its Lease, Events, its own Cluster by name, CSRs), and an agent certificate
signed by the hub's CA (CN `system:kokpit:agent:<name>`,
O `kokpit:agents`), so the agent runs with exactly the rights it gets in production. Its member is
member3, which the session fleet also knows as a Push member: the tests use namespaces of their own.
`AgentThread` runs `kokpit.agent.run.Agent` in a thread of the test process, stopped like SIGTERM.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from kokpit.agent.member_status import MemberStatusOptions
from kokpit.agent.run import Agent, AgentOptions, build_agent
from kokpit.controlplane import pki
from kokpit.fleet.members import ClusterResource
from kokpit.fleet.names import AGENTS_GROUP, agent_user, execution_namespace
from kokpit.fleet.registration.rbac import agent_rbac
from kokpit.settings import HubSettings
from tests.support import HubThread, SandboxHandle, kubectl

MEMBER = "member3"
LEASE_DURATION = 6.0
PROBE_PERIOD = 1.0


class AgentThread:
    """One agent running in a thread with its own event loop, like `kokpit agent` in a process."""

    def __init__(self, options: AgentOptions) -> None:
        self.agent: Agent | None = None
        self.options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name=f"agent-{options.cluster}", daemon=True)
        self._error: BaseException | None = None
        self._built = threading.Event()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self.agent = build_agent(self.options)
            self._built.set()
            loop.run_until_complete(self.agent.run())
        except BaseException as error:  # surfaced by stop()
            self._error = error
        finally:
            self._built.set()
            loop.close()

    def start(self) -> AgentThread:
        self._thread.start()
        self._built.wait(30)
        return self

    def stop(self) -> None:
        if self._loop is not None and self.agent is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.agent.stop)
        self._thread.join(timeout=30)
        if self._error is not None and not isinstance(self._error, asyncio.CancelledError):
            raise self._error


@dataclass
class PullCluster:
    """A Pull Cluster on the hub served by an agent with a real agent certificate."""

    name: str
    hub: Path
    """The hub's admin kubeconfig (for the tests' own reads and writes)."""
    agent_kubeconfig: Path
    member_kubeconfig: Path

    @property
    def namespace(self) -> str:
        return execution_namespace(self.name)

    def options(self, **overrides: Any) -> AgentOptions:
        values: dict[str, Any] = {
            "hub_kubeconfig": self.agent_kubeconfig,
            "member_kubeconfig": self.member_kubeconfig,
            "cluster": self.name,
            "lease_duration": LEASE_DURATION,
            "identity": f"test-{self.name}",
            "status": MemberStatusOptions(period=PROBE_PERIOD, summary_period=2.0),
            "renew_certificate": False,
            "tunnel": False,
        }
        values.update(overrides)
        return AgentOptions(**values)

    def agent(self, **overrides: Any) -> AgentThread:
        return AgentThread(self.options(**overrides)).start()


def apply_on(kubeconfig: Path, directory: Path, *docs: dict[str, Any]) -> None:
    path = directory / f"{uuid.uuid4().hex}.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    kubectl(kubeconfig, "apply", "-f", str(path))


def agent_kubeconfig(sandbox: SandboxHandle, cluster: str, path: Path) -> Path:
    """A hub kubeconfig with an agent certificate of `cluster`, signed by the hub's CA."""
    hub_pki = pki.read_cluster_pki(sandbox.dir / "clusters" / "hub" / "pki")
    credentials = pki.issue(
        hub_pki.ca,
        common_name=agent_user(cluster),
        organizations=[AGENTS_GROUP],
        client=True,
        validity=timedelta(hours=2),
    )
    config = pki.kubeconfig(
        cluster="hub",
        server=sandbox.state.clusters["hub"].endpoint,
        ca_pem=hub_pki.ca.cert_pem,
        user=agent_user(cluster),
        credentials=credentials,
    )
    pki.write_kubeconfig(config, path)
    return path


@pytest.fixture(scope="module")
def hub(fleet: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    """The hub controllers with quick probes and a short NoExecute grace, for this module."""
    settings = HubSettings(
        state_dir=tmp_path_factory.mktemp("hub-state"), probe_period=PROBE_PERIOD, no_execute_grace=5.0
    )
    thread = HubThread(fleet.kubeconfig("hub"), settings=settings).start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def pull_cluster(
    fleet: SandboxHandle, hub: HubThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PullCluster]:
    """A Pull Cluster with its namespace, its agent's RBAC and credentials; removed after the module
    while the hub controllers still run (they release its finalizers; the garbage collector takes the
    RBAC the Cluster owns)."""
    directory = tmp_path_factory.mktemp("pull")
    name = f"agent-{uuid.uuid4().hex[:6]}"
    admin = fleet.kubeconfig("hub")
    apply_on(
        admin,
        directory,
        {
            "apiVersion": "cluster.kokpit.io/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": name},
            "spec": {"syncMode": "Pull", "provider": "kwok", "region": "edge", "zone": "edge-a"},
        },
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": execution_namespace(name)}},
    )
    client = fleet.client("hub")
    uid = client.get(ClusterResource, name).metadata.uid
    for obj in agent_rbac(name, namespace=execution_namespace(name), cluster_uid=uid):
        client.apply(obj, force=True)
    cluster = PullCluster(
        name=name,
        hub=admin,
        agent_kubeconfig=agent_kubeconfig(fleet, name, directory / "hub.kubeconfig"),
        member_kubeconfig=fleet.kubeconfig(MEMBER),
    )
    try:
        yield cluster
    finally:
        kubectl(
            admin,
            "delete",
            "clusters.cluster.kokpit.io",
            name,
            "--ignore-not-found",
            "--timeout=60s",
            check=False,
        )
        kubectl(
            admin,
            "delete",
            "namespace",
            execution_namespace(name),
            "--ignore-not-found",
            "--timeout=60s",
            check=False,
        )
        kubectl(
            admin,
            "delete",
            "clusterrole,clusterrolebinding",
            f"kokpit-agent:{name}",
            "--ignore-not-found",
            check=False,
        )
