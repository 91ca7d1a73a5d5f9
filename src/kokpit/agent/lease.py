"""The agent's Lease: one `coordination.k8s.io` Lease that is both its heartbeat and its leadership.

The agent renews `kokpit-agent` in its cluster's execution namespace through the runtime's leader
election, so the one Lease does two jobs: the hub judges the member's health by its renewals
(`kokpit.fleet.lease_health`), and of two agents started for one cluster (a rolling update, a
mistake) only the holder applies Works and writes status. The identity defaults to the host name, so
an agent restarted on its host (a crash, a SIGKILL) takes its Lease back at once instead of waiting a
full duration for its own stale record. A stopped agent does not release the Lease: a stop and a
death look the same to the hub, and a restart soon after goes unnoticed.
"""

from __future__ import annotations

import socket

from kokpit.fleet.names import AGENT_LEASE_NAME, execution_namespace
from kokpit.runtime import LeaderElection

DEFAULT_LEASE_DURATION = 40.0
"""Seconds without renewal after which the hub reports the member `Ready=Unknown` (Karmada's default)."""


def default_identity() -> str:
    """The agent's holder identity: its host name (a Deployment's pod name)."""
    return socket.gethostname()


def agent_lease(
    cluster: str, *, duration: float = DEFAULT_LEASE_DURATION, identity: str | None = None, hub: str = "hub"
) -> LeaderElection:
    """`agent_lease` is how the agent of `cluster` holds its Lease: renewed every quarter of
    `duration` (four chances before the hub gives up on it), given up by the agent itself when not
    renewed within two thirds of it."""
    if duration < 4:
        raise ValueError(f"a lease duration of {duration:g}s is too short (at least 4s)")
    return LeaderElection(
        AGENT_LEASE_NAME,
        namespace=execution_namespace(cluster),
        cluster=hub,
        lease_duration=duration,
        renew_deadline=duration * 2 / 3,
        retry_period=duration / 4,
        identity=identity or default_identity(),
        release_on_cancel=False,
    )


__all__ = ["DEFAULT_LEASE_DURATION", "agent_lease", "default_identity"]
