"""The cluster reconciler: probes every member on a period and keeps its Cluster honest.

For each Push Cluster it probes the member (`probe.observe`), decides `Ready` and the health taints
(`health.decide_health`), and writes status (conditions, version, API enablements, node and
resource summaries, last probe time) and taints back to the hub, with an Event whenever `Ready`
changes. A finalizer lets it drop the member's client and probe history when the Cluster goes.

A Pull Cluster is not probed: the hub cannot reach it. Its agent writes the version, APIs, summaries
and its own probe (the `Healthy` condition) as `kokpit-agent`, and renews a Lease; this reconciler
judges that Lease and report (`lease_health.judge_agent`) into the same `Ready` decision and taints,
and writes only `Ready` (and the taints), never the fields the agent owns.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError
from lightkube.resources.coordination_v1 import Lease

from kokpit.api.cluster import CLUSTER
from kokpit.fleet.health import (
    HEALTH_TAINT_KEYS,
    HealthDecision,
    Probe,
    ProbeHistory,
    ProbeOutcome,
    Thresholds,
    decide_health,
)
from kokpit.fleet.lease_health import (
    AGENT_CONDITION,
    AgentJudgement,
    LeaseSighting,
    judge_agent,
    revived,
    sight,
)
from kokpit.fleet.members import ClusterResource, MemberClients, MemberUnavailable, member_clients
from kokpit.fleet.names import (
    AGENT_LEASE_NAME,
    CLUSTER_FINALIZER,
    HEALTH_FIELD_MANAGER,
    cluster_from_execution_namespace,
    execution_namespace,
)
from kokpit.fleet.probe import Observation, observe
from kokpit.runtime import (
    Condition,
    Controller,
    EventRecorder,
    Handler,
    Key,
    Manager,
    Result,
    apply,
    ensure_finalizer,
    format_time,
    get_condition,
    parse_time,
    remove_finalizer,
    status_writer,
)
from kokpit.runtime.changes import beyond_status
from kokpit.runtime.leader import record_of

log = logging.getLogger("kokpit.fleet.cluster_controller")

CONTROLLER_NAME = "cluster"

_SUMMARY_FIELDS = ("kubernetesVersion", "apiEnablements", "nodeSummary", "resourceSummary")


def _worth_a_probe(old: Any, new: Any) -> bool:
    """Whether a change of a Cluster calls for a probe before its period is up: anything but a status
    write to a Push member, which is this controller's own (each would otherwise be followed by another
    probe at once, and the period would shrink to a probe's duration). A Pull member's status is its
    agent's report, judged as it changes."""
    return (new.get("spec") or {}).get("syncMode") == "Pull" or beyond_status(old, new)


@dataclass(frozen=True)
class ClusterReconcilerOptions:
    period: float = 10.0
    """Seconds between probes of one member."""
    thresholds: Thresholds = field(default_factory=Thresholds)
    probe_timeout: float = 5.0
    summary_period: float = 30.0
    """Seconds between refreshes of version, APIs, nodes and capacity (readiness is every probe)."""


class ClusterReconciler:
    """Reconciles `Cluster` objects of the hub; see the module docstring."""

    def __init__(
        self,
        manager: Manager,
        members: MemberClients,
        *,
        hub: str = "hub",
        options: ClusterReconcilerOptions | None = None,
    ) -> None:
        self.manager = manager
        self.members = members
        self.hub = hub
        self.options = options or ClusterReconcilerOptions()
        self.history: dict[str, ProbeHistory] = {}
        self._summarised_at: dict[str, float] = {}
        self._recorder: EventRecorder | None = None
        self.leases = manager.informer(hub, Lease, fields={"metadata.name": AGENT_LEASE_NAME})
        """Every agent's Lease (one per Pull member, in its execution namespace)."""
        self._sightings: dict[str, LeaseSighting] = {}
        self._expired: set[str] = set()
        self._controller: Controller | None = None

    def setup(self) -> None:
        """Registers the controller with the manager and routes Secret changes to their Cluster, and
        agent Leases appearing, going, changing hands or coming back after expiry to theirs."""
        controller = self.manager.controller(CONTROLLER_NAME, self, workers=4)
        controller.watch(self.members.clusters, relevant=_worth_a_probe)
        controller.watch(self.members.secrets, mapper=self._clusters_of_secret)
        self.leases.add_handler(
            Handler(add=self._lease_event, update=self._lease_update, delete=self._lease_event)
        )
        self._controller = controller

    def _cluster_of_lease(self, lease: Any) -> str | None:
        return cluster_from_execution_namespace(str(lease.metadata.namespace or ""))

    def _lease_event(self, lease: Any) -> None:
        cluster = self._cluster_of_lease(lease)
        if cluster is not None and self._controller is not None:
            self._controller.enqueue(Key(self.hub, None, cluster))

    def _lease_update(self, old: Any, new: Any) -> None:
        cluster = self._cluster_of_lease(new)
        if cluster is None or self._controller is None:
            return
        if cluster in self._expired or revived(record_of(old), record_of(new)):
            self._controller.enqueue(Key(self.hub, None, cluster))

    def _clusters_of_secret(self, secret: Any) -> list[Key]:
        namespace, name = secret.metadata.namespace, secret.metadata.name
        return [
            Key(self.hub, None, cluster["metadata"]["name"])
            for cluster in self.members.clusters.list()
            if self.members.secret_of(cluster) == (namespace, name)
        ]

    @property
    def recorder(self) -> EventRecorder:
        if self._recorder is None:
            self._recorder = EventRecorder(
                self.manager.clients.get(self.hub), component="kokpit-cluster-controller"
            )
        return self._recorder

    async def reconcile(self, key: Key) -> Result:
        hub = self.manager.clients.get(self.hub)
        cluster = self.members.clusters.get(key.name)
        if cluster is None:
            await self._forget(key.name)
            return Result()
        if cluster["metadata"].get("deletionTimestamp"):
            await self._forget(key.name)
            await remove_finalizer(hub, cluster, CLUSTER_FINALIZER)
            return Result()
        cluster = await ensure_finalizer(hub, cluster, CLUSTER_FINALIZER)

        now = datetime.now(UTC)
        status = cluster.get("status") or {}
        pull = (cluster.get("spec") or {}).get("syncMode") == "Pull"
        judgement = self._judge(key.name, status, now) if pull else None
        observation = Observation(judgement.probe) if judgement is not None else await self._observe(key.name)
        history = self.history.setdefault(key.name, ProbeHistory())
        history.record(observation.probe.outcome)
        current = get_condition(status.get("conditions") or [], "Ready")
        thresholds = self.options.thresholds
        decision = decide_health(
            current=Condition.of(current) if current else None,
            current_since=parse_time(current.get("lastTransitionTime")) if current else None,
            history=history,
            probe=observation.probe,
            now=now,
            thresholds=judgement.thresholds(thresholds) if judgement is not None else thresholds,
        )
        await self._write(cluster, status, observation, decision, now, pull=pull)
        if current is None or current["status"] != decision.ready.status:
            await self._record_transition(cluster, decision)
        requeue = self.options.period
        for after in (decision.recheck_after, judgement.recheck_after if judgement else None):
            if after is not None:
                requeue = min(requeue, max(after.total_seconds(), 0.1))
        return Result(requeue_after=requeue)

    def _judge(self, name: str, status: dict[str, Any], now: datetime) -> AgentJudgement:
        """Judges Pull member `name` by its agent's Lease (sighted on the hub's clock) and report."""
        lease = self.leases.get(AGENT_LEASE_NAME, execution_namespace(name))
        monotonic = time.monotonic()
        sighting = None
        if lease is not None:
            sighting = sight(self._sightings.get(name), record_of(lease), monotonic=monotonic, wall=now)
            self._sightings[name] = sighting
        else:
            self._sightings.pop(name, None)
        found = get_condition(status.get("conditions") or [], AGENT_CONDITION)
        judgement = judge_agent(name, sighting, Condition.of(found) if found else None, monotonic=monotonic)
        if judgement.decisive:
            self._expired.add(name)
        else:
            self._expired.discard(name)
        return judgement

    async def _observe(self, name: str) -> Observation:
        try:
            client = await self.members.client(name)
        except MemberUnavailable as error:
            return Observation(Probe(ProbeOutcome.UNREACHABLE, str(error)))
        now = time.monotonic()
        due = now - self._summarised_at.get(name, -math.inf) >= self.options.summary_period
        observation = await observe(client, timeout=self.options.probe_timeout, details=due)
        if observation.node_summary is not None:
            self._summarised_at[name] = now
        return observation

    async def _write(
        self,
        cluster: Any,
        status: dict[str, Any],
        observation: Observation,
        decision: HealthDecision,
        now: datetime,
        *,
        pull: bool = False,
    ) -> None:
        """Writes the observed status and the taints; the status is written even when the taint
        step raises, so `Ready` and `lastProbeTime` never lag behind a failed reconcile. Of a Pull
        Cluster only `Ready` is the hub's: the rest is its agent's to write."""
        hub = self.manager.clients.get(self.hub)
        async with status_writer(hub, ClusterResource, cluster, owned=("Ready",), now=now) as patch:
            if pull:
                patch.set(decision.ready)
                await self._write_taints(cluster, decision)
                return
            patch.fields.update(patch.current_fields(*_SUMMARY_FIELDS))
            fresh = {
                "kubernetesVersion": observation.kubernetes_version,
                "apiEnablements": observation.api_enablements,
                "nodeSummary": observation.node_summary,
                "resourceSummary": observation.resource_summary,
            }
            patch.fields.update({name: value for name, value in fresh.items() if value is not None})
            patch.fields["lastProbeTime"] = format_time(now)
            patch.set(decision.ready)
            await self._write_taints(cluster, decision)

    async def _write_taints(self, cluster: Any, decision: HealthDecision) -> None:
        """Applies kokpit's health taints as their own field manager: others' taints stay."""
        name = cluster["metadata"]["name"]
        ours = sorted(
            (t for t in (cluster.get("spec") or {}).get("taints") or [] if _is_health_taint(t)),
            key=lambda t: (t["key"], t["effect"]),
        )
        wanted = sorted(decision.taints, key=lambda t: (t["key"], t["effect"]))
        if [(t["key"], t["effect"]) for t in ours] == [(t["key"], t["effect"]) for t in wanted]:
            return
        body = ClusterResource.from_dict(
            {
                "apiVersion": CLUSTER.api_version,
                "kind": CLUSTER.kind,
                "metadata": {"name": name},
                "spec": {"taints": wanted},
            }
        )
        try:
            await apply(
                self.manager.clients.get(self.hub), body, field_manager=HEALTH_FIELD_MANAGER, force=True
            )
        except ApiError as error:
            log.warning("could not update taints of cluster %s: %s", name, error)
            raise

    async def _record_transition(self, cluster: Any, decision: HealthDecision) -> None:
        ready = decision.ready
        message = ready.message or ready.reason
        if ready.status == "True":
            await self.recorder.normal(cluster, ready.reason, message, action="Probe")
        else:
            await self.recorder.warning(cluster, ready.reason, message, action="Probe")

    async def _forget(self, name: str) -> None:
        self.history.pop(name, None)
        self._summarised_at.pop(name, None)
        self._sightings.pop(name, None)
        self._expired.discard(name)
        await self.members.forget(name)


def _is_health_taint(taint: dict[str, Any]) -> bool:
    return taint.get("key") in HEALTH_TAINT_KEYS


def setup_fleet(
    manager: Manager,
    *,
    hub: str = "hub",
    options: ClusterReconcilerOptions | None = None,
    allow_exec_credentials: bool = False,
) -> MemberClients:
    """Adds the fleet's controllers to `manager`; returns the member clients other domains share.

    Whether member kubeconfigs may run credential plugins is a property of the shared
    `MemberClients`, set here once, so every domain that reaches members obeys the hub's flag."""
    members = member_clients(manager, hub=hub)
    members.allow_exec_credentials = allow_exec_credentials
    ClusterReconciler(manager, members, hub=hub, options=options).setup()
    return members
