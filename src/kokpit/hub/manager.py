"""The hub's controller process: every kokpit controller in one manager, against the hub API server.

`kokpit hub run` builds it; replicas compete for one Lease and only the holder reconciles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lightkube import ApiError, AsyncClient
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition

from kokpit.api.cluster import CLUSTER, SECRET_NAMESPACE
from kokpit.errors import KokpitError
from kokpit.etcd import EtcdSettings, add_etcd_controllers
from kokpit.fleet import ClusterControllerOptions, setup_fleet
from kokpit.fleet.names import member_client_name
from kokpit.hosted import HostedSettings, setup_hosted
from kokpit.propagation.member_setup import setup_execution
from kokpit.propagation.setup import setup_propagation
from kokpit.runtime import LeaderElection, Manager

HUB = "hub"
LEASE_NAME = "kokpit-hub"


@dataclass(frozen=True)
class HubOptions:
    kubeconfig: Path
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 8080
    leader_elect: bool = True
    lease_name: str = LEASE_NAME
    lease_duration: float = 15.0
    qps: float = 200.0
    """Client-side request rate per cluster (the API servers are the hub's own and its members)."""
    burst: int = 400
    identity: str | None = None
    fleet: ClusterControllerOptions = field(default_factory=ClusterControllerOptions)
    state_dir: Path = field(default_factory=lambda: Path.cwd() / ".kokpit" / "hub")
    """Where the process runtime keeps what it runs (etcd members, control planes) and backups."""


async def check_installed(client: AsyncClient) -> None:
    """Fails with the fix when kokpit's CRDs are not in the hub (every informer would 404)."""
    try:
        await client.get(CustomResourceDefinition, CLUSTER.crd_name)
    except ApiError as error:
        if error.status.code == 404:
            raise KokpitError("kokpit is not installed in the hub: run kokpit install first") from None
        raise KokpitError(f"the hub refused to answer: {error.status.message}") from None


def build_manager(options: HubOptions) -> Manager:
    """A manager with every hub controller registered, ready to `run()`."""
    election = (
        LeaderElection(
            options.lease_name,
            namespace=SECRET_NAMESPACE,
            lease_duration=options.lease_duration,
            renew_deadline=options.lease_duration * 2 / 3,
            retry_period=max(options.lease_duration / 7.5, 0.5),
            identity=options.identity,
        )
        if options.leader_elect
        else None
    )
    manager = Manager(
        qps=options.qps,
        burst=options.burst,
        metrics_host=options.metrics_host,
        metrics_port=options.metrics_port,
        leader_election=election,
    )
    manager.add_cluster(HUB, options.kubeconfig)
    members = setup_fleet(manager, hub=HUB, options=options.fleet)
    setup_propagation(manager, members, hub=HUB)
    setup_execution(manager, members, hub=HUB)
    add_etcd_controllers(
        manager,
        EtcdSettings(
            process_root=options.state_dir / "etcd",
            backup_root=options.state_dir / "backups",
            # Process-runtime components live and die with this process: nothing outlives the hub
            # that started it. Production control planes use the kubernetes runtime instead.
            tie_to_parent=True,
            meta_clients=lambda name: _member_client(manager, name),
        ),
        cluster=HUB,
    )
    setup_hosted(
        manager, HostedSettings(process_root=options.state_dir / "controlplanes", tie_to_parent=True)
    )
    return manager


def _member_client(manager: Manager, cluster: str) -> AsyncClient | None:
    name = member_client_name(cluster)
    return manager.clients.get(name) if name in manager.clients else None


async def run_hub(options: HubOptions) -> None:
    manager = build_manager(options)
    await check_installed(manager.clients.get(HUB))
    await manager.run(handle_signals=True)
