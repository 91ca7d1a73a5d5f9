"""The fleet: which member clusters the hub knows, how to reach them, and how they are doing."""

from datetime import timedelta

from kokpit.fleet.cluster_controller import ClusterReconciler, ClusterReconcilerOptions, setup_fleet
from kokpit.fleet.health import TAINT_NOT_READY, TAINT_UNREACHABLE, Thresholds
from kokpit.fleet.members import MemberClients, MemberUnavailable, member_clients
from kokpit.runtime import Manager
from kokpit.settings import HubSettings


def setup(manager: Manager, settings: HubSettings) -> None:
    """`setup` adds the fleet's controllers (health, taints, summaries) to the hub's `manager`."""
    options = ClusterReconcilerOptions(
        period=settings.probe_period,
        probe_timeout=settings.probe_timeout,
        summary_period=settings.summary_period,
        thresholds=Thresholds(
            failure_threshold=settings.failure_threshold,
            success_threshold=settings.success_threshold,
            no_execute_grace=timedelta(seconds=settings.no_execute_grace),
        ),
    )
    setup_fleet(
        manager,
        hub=settings.hub,
        options=options,
        allow_exec_credentials=settings.allow_exec_credentials,
    )


__all__ = [
    "TAINT_NOT_READY",
    "TAINT_UNREACHABLE",
    "ClusterReconciler",
    "ClusterReconcilerOptions",
    "MemberClients",
    "MemberUnavailable",
    "Thresholds",
    "member_clients",
    "setup",
    "setup_fleet",
]
