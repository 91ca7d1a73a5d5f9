"""The fleet: which member clusters the hub knows, how to reach them, and how they are doing."""

from kokpit.fleet.cluster_controller import ClusterController, ClusterControllerOptions, setup_fleet
from kokpit.fleet.health import TAINT_NOT_READY, TAINT_UNREACHABLE, Thresholds
from kokpit.fleet.members import MemberClients, MemberUnavailable

__all__ = [
    "TAINT_NOT_READY",
    "TAINT_UNREACHABLE",
    "ClusterController",
    "ClusterControllerOptions",
    "MemberClients",
    "MemberUnavailable",
    "Thresholds",
    "setup_fleet",
]
