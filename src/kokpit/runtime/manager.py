"""The manager: one process's clients, shared informers, controllers, metrics endpoint and leadership.

Informers run on every replica (so a new leader starts with warm caches); controllers run only
on the replica holding the lease. With `sharding`, the sharded controllers (those given a
`shard_key`) run on every replica instead, each reconciling its share (`kokpit.runtime.shards`),
and leader election keeps the rest. Clusters can join and leave while the manager runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from lightkube.resources.coordination_v1 import Lease
from prometheus_client import CollectorRegistry

from ._tasks import cancel_and_wait
from .clients import DEFAULT_BURST, DEFAULT_QPS, ClusterClients, Kubeconfig, RateLimit
from .controller import Controller, Reconciler
from .informer import Informer
from .keys import Key
from .leader import LeaderElector, default_identity
from .metrics import Metrics, MetricsServer, serve_metrics
from .shards import Sharding, ShardKey, Shards

T = TypeVar("T")

log = logging.getLogger("kokpit.runtime.manager")

InformerKey = tuple[str, type[Any], str | None, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class LeaderElection:
    """Where and how the manager competes for leadership (client-go's default timings)."""

    name: str
    namespace: str = "kube-system"
    cluster: str = "hub"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str | None = None
    release_on_cancel: bool = True


async def _run_after(previous: asyncio.Task[None] | None, controller: Controller) -> None:
    if previous is not None:
        await asyncio.wait([previous])
    await controller.run()


class Manager:
    """`Manager` owns everything a controller process needs and runs it with `run()`.

    Build it, register clusters (`add_cluster`), create informers (`informer`) and controllers
    (`controller` / `add`), then `await run()`. `run()` starts the informers, waits for them to
    sync (at most `sync_timeout` seconds, then logs and goes on), and runs controllers only while
    this process leads (always, when `leader_election` is None). It returns after `stop()` or
    SIGTERM/SIGINT (with `handle_signals=True`) and raises CancelledError when cancelled; either
    way controllers, informers, the metrics server and the clients are stopped and closed.
    """

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        qps: float | None = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        metrics_host: str = "127.0.0.1",
        metrics_port: int | None = None,
        leader_election: LeaderElection | None = None,
        sharding: Sharding | None = None,
        idle_timeout: float = 120.0,
        sync_timeout: float | None = 60.0,
    ) -> None:
        self.metrics = Metrics(registry)
        self.registry = self.metrics.registry
        self.clients = ClusterClients(metrics=self.metrics, qps=qps, burst=burst)
        self.leader_election = leader_election
        self.sharding = sharding
        self.shards: Shards | None = None
        """This replica's share of the sharded work, made when `run()` starts (with `sharding`)."""
        self.shard_members: Callable[[], list[str]] = list
        """The members shards divide among themselves (the fleet's setup names them)."""
        self.idle_timeout = idle_timeout
        self.sync_timeout = sync_timeout
        self._metrics_host = metrics_host
        self._metrics_port = metrics_port
        self._metrics_server: MetricsServer | None = None
        self._informers: dict[InformerKey, Informer] = {}
        self._controllers: list[Controller] = []
        self._controller_tasks: dict[str, asyncio.Task[None]] = {}
        self._running = False
        self._leading = False
        self._stop = asyncio.Event()
        self.elector: LeaderElector | None = None
        self._shared: dict[str, Any] = {}

    def shared(self, name: str, make: Callable[[], T]) -> T:
        """`shared` returns the object registered under `name`, made by `make` on first use.

        Domains that need the same service (the member clients, say) ask for it by name, so the
        first to ask builds it and none depends on another having been set up first.
        """
        if name not in self._shared:
            self._shared[name] = make()
        return cast(T, self._shared[name])

    # -- clusters and informers ---------------------------------------------------------------

    def add_cluster(
        self,
        name: str,
        kubeconfig: Kubeconfig,
        *,
        context: str | None = None,
        limit: RateLimit | None = None,
    ) -> None:
        """`add_cluster` registers a cluster's API client (with its own rate `limit`, or the
        manager's); informers for it may follow at any time."""
        self.clients.add(name, kubeconfig, context=context, limit=limit)

    async def remove_cluster(self, name: str) -> None:
        """`remove_cluster` stops the cluster's informers, detaches them, closes its client."""
        for key in [k for k in self._informers if k[0] == name]:
            informer = self._informers.pop(key)
            await informer.stop()
        for controller in self._controllers:
            controller.unwatch_cluster(name)
        await self.clients.remove(name)

    def informer(
        self,
        cluster: str,
        resource: type[Any],
        *,
        namespace: str | None = None,
        fields: dict[str, str] | None = None,
    ) -> Informer:
        """`informer` returns the shared informer of `resource` in `cluster`, creating it on first use.

        `fields` narrows it with a field selector (`{"metadata.name": "edge1"}`), for clients allowed
        to see only some objects of a kind; informers of different selectors are distinct.
        Created after `run()` began, it starts at once; `await informer.wait_synced()` to read it.
        """
        key: InformerKey = (cluster, resource, namespace, tuple(sorted((fields or {}).items())))
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(
                cluster,
                resource,
                self.clients.get(cluster),
                namespace=namespace,
                fields=fields,
                idle_timeout=self.idle_timeout,
                metrics=self.metrics,
            )
            self._informers[key] = informer
            if self._running:
                informer.start()
        return informer

    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    # -- controllers ----------------------------------------------------------------------------

    def controller(
        self,
        name: str,
        reconciler: Reconciler,
        *,
        workers: int = 2,
        shard_key: Callable[[Key], ShardKey] | None = None,
        on_disowned: Callable[[Key], None] | None = None,
    ) -> Controller:
        """`controller` creates a controller reporting to this manager's metrics and adds it; with
        `shard_key` it is sharded (see `Controller`)."""
        controller = Controller(
            name,
            reconciler,
            workers=workers,
            metrics=self.metrics,
            shard_key=shard_key,
            on_disowned=on_disowned,
        )
        return self.add(controller)

    def add(self, controller: Controller) -> Controller:
        if any(c.name == controller.name for c in self._controllers):
            raise ValueError(f"a controller named {controller.name!r} already exists")
        if controller.metrics is None:
            controller.metrics = self.metrics
        self._controllers.append(controller)
        if self._sharded(controller):
            if self.shards is not None:
                self._share(controller, self.shards)
                self._start_controller(controller)
        elif self._leading:
            self._start_controller(controller)
        return controller

    def _sharded(self, controller: Controller) -> bool:
        """A sharded controller runs on every replica when the manager shares the work."""
        return self.sharding is not None and controller.shard_key is not None

    @staticmethod
    def _share(controller: Controller, shards: Shards) -> None:
        controller.owns = shards.owns
        shards.attach(controller)

    @property
    def leading(self) -> bool:
        """`leading` is true while this manager's controllers run."""
        return self._leading

    def _start_controller(self, controller: Controller) -> None:
        """Start `controller`, or, when its previous run is still being cancelled (leadership lost
        and won back within its current step), start it again once that run has ended."""
        previous = self._controller_tasks.get(controller.name)
        if previous is not None and not previous.done() and not previous.cancelling():
            return  # running
        self._controller_tasks[controller.name] = asyncio.create_task(
            _run_after(previous, controller), name=f"controller {controller.name}"
        )

    def _start_controllers(self) -> None:
        self._leading = True
        for controller in self._controllers:
            if not self._sharded(controller):
                self._start_controller(controller)

    def _stop_controllers(self) -> None:
        """Stop the singletons at once: cancel their tasks (they finish within the current step)."""
        self._leading = False
        for controller in self._controllers:
            task = self._controller_tasks.get(controller.name)
            if task is not None and not self._sharded(controller):
                task.cancel()

    def _start_shards(self, sharding: Sharding) -> asyncio.Task[None]:
        """Every sharded controller starts now, on this replica, owning what `Shards` grants it."""
        shards = Shards(
            self.clients.get(sharding.cluster),
            self.informer(sharding.cluster, Lease, namespace=sharding.namespace),
            sharding,
            identity=sharding.identity or default_identity(),
            metrics=self.metrics,
        )
        shards.members = self.shard_members
        self.shards = shards
        for controller in self._controllers:
            if self._sharded(controller):
                self._share(controller, shards)
                self._start_controller(controller)
        return asyncio.create_task(shards.run(), name="shards")

    async def _wait_controllers(self) -> None:
        tasks, self._controller_tasks = list(self._controller_tasks.values()), {}
        for task in tasks:
            await cancel_and_wait(task)

    # -- running ------------------------------------------------------------------------------

    @property
    def metrics_port(self) -> int | None:
        return None if self._metrics_server is None else self._metrics_server.port

    def stop(self) -> None:
        """`stop` asks `run()` to shut down and return."""
        self._stop.set()

    def healthy(self) -> bool:
        return self._running

    async def run(self, *, handle_signals: bool = False) -> None:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self.stop)
        body = asyncio.create_task(self._run(), name="manager")
        stop = asyncio.create_task(self._stop.wait(), name="manager stop")
        try:
            await asyncio.wait([body, stop], return_when=asyncio.FIRST_COMPLETED)
            if body.done():
                body.result()  # raise what ended it
        finally:
            await cancel_and_wait(stop)
            await cancel_and_wait(body)
            for sig in signals:
                loop.remove_signal_handler(sig)

    async def _run(self) -> None:
        self._running = True
        shards: asyncio.Task[None] | None = None
        try:
            if self._metrics_port is not None:
                self._metrics_server = await serve_metrics(
                    self.registry, self._metrics_host, self._metrics_port, healthy=self.healthy
                )
                log.info("serving metrics on %s:%d", self._metrics_host, self._metrics_server.port)
            if self.sharding is not None:
                self.informer(self.sharding.cluster, Lease, namespace=self.sharding.namespace)
            for informer in self.informers():
                informer.start()
            await self._wait_synced()
            if self.sharding is not None:
                shards = self._start_shards(self.sharding)
            if self.leader_election is None:
                self._start_controllers()
                await asyncio.Event().wait()
            else:
                le = self.leader_election
                self.elector = LeaderElector(
                    self.clients.get(le.cluster),
                    name=le.name,
                    namespace=le.namespace,
                    identity=le.identity,
                    lease_duration=le.lease_duration,
                    renew_deadline=le.renew_deadline,
                    retry_period=le.retry_period,
                    on_started_leading=self._start_controllers,
                    on_stopped_leading=self._stop_controllers,
                    release_on_cancel=le.release_on_cancel,
                    metrics=self.metrics,
                )
                await self.elector.run()
        finally:
            self._stop_controllers()
            await self._wait_controllers()  # the sharded ones too: none writes once shards leave
            if shards is not None:
                await cancel_and_wait(shards)
            await self._shutdown()

    async def _wait_synced(self) -> None:
        pending = [i for i in self.informers() if not i.has_synced()]
        if not pending:
            return
        try:
            async with asyncio.timeout(self.sync_timeout):
                await asyncio.gather(*(i.wait_synced() for i in pending))
        except TimeoutError:
            late = [f"{i.cluster}/{i.resource_name}" for i in pending if not i.has_synced()]
            log.warning("informers not synced after %ss, starting anyway: %s", self.sync_timeout, late)

    async def _shutdown(self) -> None:
        self._stop_controllers()
        await self._wait_controllers()
        for informer in self.informers():
            await informer.stop()
        if self._metrics_server is not None:
            await self._metrics_server.aclose()
            self._metrics_server = None
        with contextlib.suppress(Exception):
            await self.clients.aclose()
        self._running = False
        log.info("manager stopped")
