"""The agent process: one manager next to a Pull member, dialling out to the hub and never dialled in.

    agent = build_agent(AgentOptions(hub_kubeconfig=..., member_kubeconfig=..., cluster="edge1"))
    await agent.run(handle_signals=True)      # `kokpit agent`; tests call it in a thread and stop()

It registers two clients (the hub, with the agent's certificate; the member, with its kubeconfig), and
on them:

- the execution reconciler, the very one the hub runs for Push members, in its agent driver
  (`propagation.wiring.setup_agent_execution`): the Works of this cluster's execution namespace,
  applied to the member, their status written back;
- the member status reconciler (`member_status`): version, APIs, summaries and `Healthy` on its Cluster;
- the Lease (`lease`): renewed through leader election, so only the holder of two agents works.

Everything reaches the hub through informers and retrying clients, so a hub that goes away and comes
back is re-listed and converged to without a restart, and the execution reconciler's record of what it
applied keeps it from applying anything twice. Beside the manager run the agent's certificate
renewal (`agent.certificates.keep_certificate_fresh`; after each renewal the agent swaps the hub
client's TLS identity in place) and its tunnel to the hub (`agent.tunnel_client.run_tunnel`), each
restarted with backoff if it fails; either is left out when its module is not installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import yaml
from lightkube import ApiError
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from kokpit.agent.lease import DEFAULT_LEASE_DURATION, agent_lease
from kokpit.agent.local_member import LocalMember
from kokpit.agent.manifests import KUBECONFIG_KEY
from kokpit.agent.member_status import MemberStatusOptions, MemberStatusReconciler
from kokpit.errors import KokpitError
from kokpit.fleet.names import member_client_name
from kokpit.propagation.execution_controller import ExecutionReconciler
from kokpit.propagation.wiring import setup_agent_execution
from kokpit.runtime import Manager
from kokpit.runtime._tasks import cancel_and_wait
from kokpit.runtime.reflector import Backoff

log = logging.getLogger("kokpit.agent")

HUB = "hub"
COMPONENT = "kokpit-agent"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class AgentOptions:
    """What `kokpit agent` was told."""

    hub_kubeconfig: Path
    """The agent's credentials for the hub (`kokpit register` writes them); renewed in place."""
    member_kubeconfig: Path | None
    """The member's kubeconfig; None inside the member (its service account)."""
    cluster: str
    lease_duration: float = DEFAULT_LEASE_DURATION
    identity: str | None = None
    """The Lease holder identity (default: the host name)."""
    status: MemberStatusOptions = field(default_factory=MemberStatusOptions)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    qps: float = 50.0
    burst: int = 100
    renew_certificate: bool = True
    """Run the certificate renewal beside the manager (when `agent.certificates` is installed)."""
    renew_fraction: float = 0.7
    """Renew the certificate once it has lived this fraction of its validity."""
    tunnel: bool = True
    """Carry the hub's tunnel to the member (when `agent.tunnel_client` is installed)."""
    old_identity_grace: float = 60.0
    """Seconds requests in flight may go on with a certificate just renewed away before its
    connections close (open watches then resume with the new one)."""
    credentials_secret: tuple[str, str] | None = None
    """(namespace, name) of a member Secret to write each renewed hub kubeconfig back to, so an
    agent run as a Deployment restarts with valid credentials (`manifests`)."""


def in_cluster_kubeconfig(directory: Path, service_account: Path = SERVICE_ACCOUNT_DIR) -> Path:
    """`in_cluster_kubeconfig` writes a kubeconfig for the member the agent runs in (its service
    account, the `KUBERNETES_SERVICE_*` address) to `directory` and returns its path: one kind of
    member credentials for the agent's client and its tunnel alike."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    token = service_account / "token"
    if not host or not token.exists():
        raise KokpitError("not running inside a cluster: pass --kubeconfig of the member")
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "member",
                "cluster": {"server": server, "certificate-authority": str(service_account / "ca.crt")},
            }
        ],
        "users": [{"name": "agent", "user": {"token": token.read_text().strip()}}],
        "contexts": [{"name": "member", "context": {"cluster": "member", "user": "agent"}}],
        "current-context": "member",
    }
    path = directory / "member.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def _optional(module: str, name: str) -> Callable[..., Awaitable[None]] | None:
    """The coroutine function `module.name`, or None when that module is not part of this install."""
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name == module:
            return None
        raise
    function: Callable[..., Awaitable[None]] | None = getattr(found, name, None)
    return function


class Agent:
    """The agent's manager and the tasks beside it; see the module docstring."""

    def __init__(self, options: AgentOptions, member_kubeconfig: Path) -> None:
        self.options = options
        self.cluster = options.cluster
        self.member_kubeconfig = member_kubeconfig
        self.manager = Manager(
            qps=options.qps,
            burst=options.burst,
            metrics_host=options.metrics_host,
            metrics_port=options.metrics_port,
            leader_election=agent_lease(
                options.cluster, duration=options.lease_duration, identity=options.identity, hub=HUB
            ),
        )
        self.manager.add_cluster(HUB, options.hub_kubeconfig)
        self.manager.add_cluster(member_client_name(options.cluster), member_kubeconfig)
        self.member = LocalMember(self.manager, options.cluster, hub=HUB)
        self.execution: ExecutionReconciler = setup_agent_execution(
            self.manager, self.member, cluster=options.cluster, hub=HUB, component=COMPONENT
        )
        self.status = MemberStatusReconciler(
            self.manager, self.member, cluster=options.cluster, hub=HUB, options=options.status
        )
        self.status.setup()
        self._retired: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        """`stop` asks `run()` to return (what SIGTERM and Ctrl-C do to `kokpit agent`)."""
        self.manager.stop()

    async def reload_hub_identity(self) -> None:
        """Makes the hub client present the certificate now in `hub_kubeconfig` (just renewed); the old
        connections serve what they carry for `old_identity_grace` more seconds, then close."""
        old = self.manager.clients.reload_identity(HUB, self.options.hub_kubeconfig)
        log.info("the hub client now presents the renewed certificate")
        task = asyncio.create_task(self._close_later(old), name="close the old hub connections")
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)
        if self.options.credentials_secret is not None:
            await self._save_credentials(*self.options.credentials_secret)

    async def _save_credentials(self, namespace: str, name: str) -> None:
        """Writes the renewed hub kubeconfig into the member Secret it was first read from."""
        client = await self.member.client(self.cluster)
        body = {"stringData": {KUBECONFIG_KEY: self.options.hub_kubeconfig.read_text()}}
        try:
            await client.patch(Secret, name, body, namespace=namespace, patch_type=PatchType.MERGE)
        except ApiError as error:
            log.warning(
                "could not save the renewed credentials in %s/%s: %s", namespace, name, error.status.message
            )

    async def _close_later(self, transport: httpx2.AsyncBaseTransport) -> None:
        await asyncio.sleep(self.options.old_identity_grace)
        with contextlib.suppress(Exception):
            await transport.aclose()

    def _side_tasks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """What runs beside the manager, by name, when its module is installed."""
        tasks: dict[str, Callable[[], Awaitable[None]]] = {}
        keep_fresh = _optional("kokpit.agent.certificates", "keep_certificate_fresh")
        if self.options.renew_certificate and keep_fresh is not None:
            renew = keep_fresh
            tasks["certificate renewal"] = lambda: renew(
                self.options.hub_kubeconfig,
                cluster=self.cluster,
                renew_fraction=self.options.renew_fraction,
                on_renewed=self.reload_hub_identity,
            )
        elif self.options.renew_certificate:
            log.warning("this kokpit has no certificate renewal: the agent's certificate will not be renewed")
        tunnel = _optional("kokpit.agent.tunnel_client", "run_tunnel")
        if self.options.tunnel and tunnel is not None:
            carry = tunnel
            tasks["tunnel"] = lambda: carry(self.cluster, self.options.hub_kubeconfig, self.member_kubeconfig)
        elif self.options.tunnel:
            log.warning("this kokpit has no tunnel client: the hub cannot proxy into %s", self.cluster)
        return tasks

    async def run(self, *, handle_signals: bool = False) -> None:
        """Runs until `stop()` (or SIGTERM/SIGINT with `handle_signals`); everything is stopped and
        closed on the way out, also when cancelled."""
        log.info("agent of cluster %s starting", self.cluster)
        side = [
            asyncio.create_task(_supervise(name, start), name=f"agent {name}")
            for name, start in self._side_tasks().items()
        ]
        try:
            await self.manager.run(handle_signals=handle_signals)
        finally:
            for task in [*side, *self._retired]:
                await cancel_and_wait(task)
            log.info("agent of cluster %s stopped", self.cluster)


async def _supervise(name: str, start: Callable[[], Awaitable[None]]) -> None:
    """Runs `start()` forever: restarted with capped backoff whenever it fails or returns."""
    backoff = Backoff(initial=1.0, maximum=60.0)
    while True:
        try:
            await start()
            log.warning("%s ended; starting it again", name)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("%s failed: %s: %s", name, type(error).__name__, error)
        await asyncio.sleep(backoff.next())


def build_agent(options: AgentOptions, *, work_dir: Path | None = None) -> Agent:
    """`build_agent` makes the agent of `options.cluster`, ready to `run()`. Without a member
    kubeconfig, one for the service account it runs as is written to `work_dir` (a temporary
    directory by default)."""
    member = options.member_kubeconfig
    if member is None:
        member = in_cluster_kubeconfig(work_dir or Path(tempfile.mkdtemp(prefix="kokpit-agent-")))
    return Agent(options, member)


async def run_agent(options: AgentOptions, *, handle_signals: bool = False) -> None:
    """`run_agent` builds the agent and runs it until stopped (`kokpit agent`)."""
    await build_agent(options).run(handle_signals=handle_signals)


__all__ = ["Agent", "AgentOptions", "build_agent", "in_cluster_kubeconfig", "run_agent"]
