"""Delivery: propagating any resource of the hub to member clusters by policy.

The pure core lives here: which policy claims a template (`select_policy`), where it goes and with how
many replicas (`schedule`), how its copy changes per cluster (`apply_overrides`), and every derived name
(`kokpit.propagation.names`). Controllers build the inputs from their cache and write the results into
`ResourceBinding` and `Work` objects (`kokpit.api.work`).
"""

from kokpit.propagation import names
from kokpit.propagation.clusters import (
    ClusterInfo,
    ClusterTaint,
    QuantityError,
    ResourceRequest,
    affinity_mismatch,
    available_replicas,
    cluster_info_from_object,
    matches_affinity,
    parse_quantity,
)
from kokpit.propagation.overrides import OverrideError, apply_overrides
from kokpit.propagation.replicas import resource_request, with_replicas, workload_replicas
from kokpit.propagation.scheduler import (
    Decision,
    InsufficientCapacityError,
    NoClusterFitError,
    ScheduleResult,
    SchedulingError,
    SpreadConstraintError,
    TargetCluster,
    aggregate,
    divide_by_weights,
    scale_down,
    scale_down_aggregated,
    scale_static,
    scale_up,
    scale_up_aggregated,
    schedule,
)
from kokpit.propagation.selectors import label_selector_matches, matches, select_overrides, select_policy
from kokpit.runtime import Manager
from kokpit.settings import HubSettings


def setup(manager: Manager, settings: HubSettings) -> None:
    """`setup` adds delivery's controllers to the hub's `manager` (see `kokpit.propagation.wiring`)."""
    from kokpit.propagation import wiring  # the controllers import this package's pure core

    wiring.setup(manager, settings)


__all__ = [
    "ClusterInfo",
    "ClusterTaint",
    "Decision",
    "InsufficientCapacityError",
    "NoClusterFitError",
    "OverrideError",
    "QuantityError",
    "ResourceRequest",
    "ScheduleResult",
    "SchedulingError",
    "SpreadConstraintError",
    "TargetCluster",
    "affinity_mismatch",
    "aggregate",
    "apply_overrides",
    "available_replicas",
    "cluster_info_from_object",
    "divide_by_weights",
    "label_selector_matches",
    "matches",
    "matches_affinity",
    "names",
    "parse_quantity",
    "resource_request",
    "scale_down",
    "scale_down_aggregated",
    "scale_static",
    "scale_up",
    "scale_up_aggregated",
    "schedule",
    "select_overrides",
    "select_policy",
    "setup",
    "with_replicas",
    "workload_replicas",
]
