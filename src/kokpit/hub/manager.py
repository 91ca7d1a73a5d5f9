"""The hub's controller process: every kokpit domain in one manager, against the hub API server.

`kokpit hub run` builds it; replicas compete for one Lease and only the holder reconciles. With
`--shards`, replicas also share delivery's work: each is a shard under a Lease of its own, writing
the members and handling the templates that fall to it (`kokpit.runtime.shards`), while the
leader keeps the rest. With `--controller-id ID` it is a Component controller group instead: only
the Components labelled with that id, under a Lease of its own, so groups share the Components
out. Each domain exposes `setup(manager, settings)`; they are called in a loop, and none depends on another
having been set up first (shared services such as the member clients come from `manager.shared`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition

from kokpit import components, etcd, fleet, hosted, machines, propagation
from kokpit.api.cluster import CLUSTER, SECRET_NAMESPACE
from kokpit.errors import KokpitError
from kokpit.fleet import registration
from kokpit.hub import proxy, webhooks
from kokpit.propagation import names as delivery_names
from kokpit.runtime import LeaderElection, Manager, Sharding
from kokpit.runtime.clients import RateLimit
from kokpit.settings import HubSettings

HUB = "hub"
LEASE_NAME = "kokpit-hub"


def setup_registration(manager: Manager, settings: HubSettings) -> None:
    """Pull-mode registration (a fleet controller), told how delivery names execution namespaces:
    the fleet may not import delivery, which builds on it."""
    namespaces = registration.ExecutionNamespaces(
        delivery_names.execution_namespace, delivery_names.execution_namespace_metadata
    )
    registration.setup(manager, settings, namespaces=namespaces)


DOMAINS: tuple[Callable[[Manager, HubSettings], None], ...] = (
    fleet.setup,
    setup_registration,
    propagation.setup,
    etcd.setup,
    hosted.setup,
    machines.setup,
    components.setup,
    proxy.setup,
    webhooks.setup,
)
"""Every domain the hub runs, by its `setup`."""

GROUP_DOMAINS: tuple[Callable[[Manager, HubSettings], None], ...] = (components.setup,)
"""What a controller group (`HubSettings.controller_id`) runs: its share of the Components."""


def domains_of(settings: HubSettings) -> tuple[Callable[[Manager, HubSettings], None], ...]:
    """`domains_of` is every domain for the default group, the Components alone for another."""
    return DOMAINS if settings.controller_id is None else GROUP_DOMAINS


def lease_of(options: HubOptions) -> str:
    """`lease_of` is the Lease a replica competes for: one per controller group."""
    group = options.settings.controller_id
    return options.lease_name if group is None else f"{options.lease_name}-{group}"


@dataclass(frozen=True)
class HubOptions:
    kubeconfig: Path
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 8080
    leader_elect: bool = True
    lease_name: str = LEASE_NAME
    lease_duration: float = 15.0
    qps: float = 200.0
    """Client-side request rate to each member cluster."""
    burst: int = 400
    hub_qps: float = 1000.0
    """Client-side request rate to the hub API server, kokpit's own: at 200 a second the hub's
    client was what bounded delivery (bench/RESULTS.md, 2026-12-04); the API server's own priority
    and fairness still protects it."""
    hub_burst: int = 2000
    identity: str | None = None
    sharded: bool = False
    """Share delivery's work with the other sharded replicas (Leases `<lease>-shard-*`)."""
    settings: HubSettings = field(default_factory=HubSettings)
    """What every domain's `setup` reads."""


async def check_installed(client: AsyncClient) -> None:
    """Fails with the fix when kokpit's CRDs are not in the hub (every informer would 404)."""
    try:
        await client.get(CustomResourceDefinition, CLUSTER.crd_name)
    except ApiError as error:
        if error.status.code == 404:
            raise KokpitError("kokpit is not installed in the hub: run kokpit install first") from None
        raise KokpitError(f"the hub refused to answer: {error.status.message}") from None


def build_manager(options: HubOptions) -> Manager:
    """A manager with every domain's controllers registered, ready to `run()`."""
    # client-go's proportions (15 s / 10 s / 2 s), for the leader Lease and the shards' alike.
    leases: dict[str, Any] = {
        "namespace": SECRET_NAMESPACE,
        "lease_duration": options.lease_duration,
        "renew_deadline": options.lease_duration * 2 / 3,
        "retry_period": max(options.lease_duration / 7.5, 0.5),
        "identity": options.identity,
    }
    election = LeaderElection(lease_of(options), **leases) if options.leader_elect else None
    sharding = Sharding(lease_of(options), **leases) if options.sharded else None
    manager = Manager(
        qps=options.qps,
        burst=options.burst,
        metrics_host=options.metrics_host,
        metrics_port=options.metrics_port,
        leader_election=election,
        sharding=sharding,
    )
    manager.add_cluster(
        options.settings.hub, options.kubeconfig, limit=RateLimit(options.hub_qps, options.hub_burst)
    )
    for setup in domains_of(options.settings):
        setup(manager, options.settings)
    return manager


async def run_hub(options: HubOptions) -> None:
    manager = build_manager(options)
    await check_installed(manager.clients.get(options.settings.hub))
    await manager.run(handle_signals=True)
