"""The agent's status reconciler: probes its member and writes what it saw to its Cluster on the hub.

The hub cannot probe a Pull member, so the agent does what the hub's cluster reconciler does for a
Push one, with the same probe (`kokpit.fleet.probe.observe`): `/readyz` every period, version, served
APIs, node and resource summaries every `summary_period`. It writes them, `lastProbeTime` and its
`Healthy` condition (`lease_health.agent_report`) as field manager `kokpit-agent`, so they never
collide with the hub's `Ready`. The hub turns `Healthy` and the agent's Lease into `Ready` and taints.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from kokpit.fleet.health import Probe, ProbeOutcome
from kokpit.fleet.lease_health import AGENT_CONDITION, agent_report
from kokpit.fleet.members import ClusterResource, MemberAccess, MemberUnavailable
from kokpit.fleet.names import AGENT_FIELD_MANAGER
from kokpit.fleet.probe import Observation, observe
from kokpit.runtime import Key, Manager, Result, format_time, status_writer

log = logging.getLogger("kokpit.agent.member_status")

CONTROLLER_NAME = "member-status"

SUMMARY_FIELDS = ("kubernetesVersion", "apiEnablements", "nodeSummary", "resourceSummary")


@dataclass(frozen=True)
class MemberStatusOptions:
    period: float = 10.0
    """Seconds between probes of the member."""
    probe_timeout: float = 5.0
    summary_period: float = 30.0
    """Seconds between refreshes of version, APIs, nodes and capacity."""


def status_fields(observation: Observation, current: dict[str, object], now: datetime) -> dict[str, object]:
    """`status_fields` is the Cluster status the agent owns after `observation`: fresh summaries where
    the probe read them, the current ones otherwise (a quick probe reads only `/readyz`), and the
    probe's time. Pure."""
    fields = {name: current[name] for name in SUMMARY_FIELDS if name in current}
    fresh = {
        "kubernetesVersion": observation.kubernetes_version,
        "apiEnablements": observation.api_enablements,
        "nodeSummary": observation.node_summary,
        "resourceSummary": observation.resource_summary,
    }
    fields.update({name: value for name, value in fresh.items() if value is not None})
    fields["lastProbeTime"] = format_time(now)
    return fields


class MemberStatusReconciler:
    """Reconciles the agent's own Cluster: probe the member, write the status; see the module docstring."""

    def __init__(
        self,
        manager: Manager,
        member: MemberAccess,
        *,
        cluster: str,
        hub: str = "hub",
        options: MemberStatusOptions | None = None,
    ) -> None:
        self.manager = manager
        self.member = member
        self.cluster = cluster
        self.hub = hub
        self.options = options or MemberStatusOptions()
        self._summarised_at = -math.inf

    def setup(self) -> None:
        self.manager.controller(CONTROLLER_NAME, self, workers=1).watch(self.member.clusters)

    async def reconcile(self, key: Key) -> Result:
        cluster = self.member.clusters.get(key.name)
        if key.name != self.cluster or cluster is None or cluster["metadata"].get("deletionTimestamp"):
            return Result()
        now = datetime.now(UTC)
        observation = await self._observe()
        status = dict(cluster.get("status") or {})
        hub = self.manager.clients.get(self.hub)
        async with status_writer(
            hub,
            ClusterResource,
            cluster,
            owned=(AGENT_CONDITION,),
            field_manager=AGENT_FIELD_MANAGER,
            now=now,
        ) as patch:
            patch.fields.update(status_fields(observation, status, now))
            patch.set(agent_report(observation.probe))
        return Result(requeue_after=self.options.period)

    async def _observe(self) -> Observation:
        try:
            client = await self.member.client(self.cluster)
        except MemberUnavailable as error:
            return Observation(Probe(ProbeOutcome.UNREACHABLE, str(error)))
        started = time.monotonic()
        due = started - self._summarised_at >= self.options.summary_period
        observation = await observe(client, timeout=self.options.probe_timeout, details=due)
        if observation.node_summary is not None:
            self._summarised_at = started
        return observation


__all__ = ["CONTROLLER_NAME", "MemberStatusOptions", "MemberStatusReconciler", "status_fields"]
