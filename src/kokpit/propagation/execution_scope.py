"""Which Works an execution reconciler applies: the hub's driver serves Push members, an agent's its own.

There is one execution reconciler (`execution_controller`) and it runs in two places. In the hub it
reaches Push members with their kubeconfigs and must leave Pull members' Works alone, since it cannot
reach those members and their agent applies them; in a kokpit agent it reaches its one member and
serves only that member's Works. `ExecutionScope` is that difference, as data plus one pure decision,
so neither driver needs a copy of the pipeline.

A Work whose Cluster does not exist (yet, or any more) stays with the hub: it reports
`ClusterNotFound`, and it releases the finalizer of a Work whose Cluster is gone, which no agent
could do any more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kokpit.api.cluster import SyncMode
from kokpit.propagation import names


def sync_mode(cluster: Mapping[str, Any]) -> str:
    """The Cluster's `spec.syncMode` (Push when unset)."""
    return str((cluster.get("spec") or {}).get("syncMode") or SyncMode.PUSH)


@dataclass(frozen=True)
class ExecutionScope:
    """The Works one execution reconciler serves: of every Push member (`cluster` None, the hub) or
    of the one Pull member `cluster` (its agent)."""

    cluster: str | None = None

    @property
    def namespace(self) -> str | None:
        """The namespace of the Works to watch: the member's execution namespace for an agent (the
        only one it may read), every namespace for the hub."""
        return None if self.cluster is None else names.execution_namespace(self.cluster)

    def serves(self, cluster: str, obj: Mapping[str, Any] | None) -> bool:
        """`serves` says whether the Works of member `cluster`, whose Cluster object is `obj` (None
        when the hub has none), are this reconciler's to apply, report and clean up."""
        if self.cluster is None:
            return obj is None or sync_mode(obj) != SyncMode.PULL
        return cluster == self.cluster and obj is not None and sync_mode(obj) == SyncMode.PULL


HUB_SCOPE = ExecutionScope()
"""The hub's driver: every Push member, and Works whose Cluster is missing."""


def agent_scope(cluster: str) -> ExecutionScope:
    """`agent_scope("edge1")` is the scope of edge1's agent: edge1's Works while edge1 is Pull."""
    return ExecutionScope(cluster)


__all__ = ["HUB_SCOPE", "ExecutionScope", "agent_scope", "sync_mode"]
