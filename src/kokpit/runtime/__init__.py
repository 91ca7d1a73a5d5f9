"""kokpit's controller runtime: clients, informers, work queues, reconcile, leader election, metrics.

It knows nothing about fleets; every piece is per cluster, so a controller watches a kind in a
member as easily as in the hub, and clusters join and leave while it runs.

    manager = Manager(leader_election=LeaderElection("kokpit-hub"), metrics_port=8080)
    manager.add_cluster("hub", "/path/to/hub.kubeconfig")
    configmaps = manager.informer("hub", ConfigMap)
    manager.controller("example", MyReconciler(configmaps)).watch(configmaps)
    await manager.run()
"""

from .apply import FIELD_MANAGER, apply, ensure_finalizer, patch_status, remove_finalizer
from .cache import Store
from .clients import ClusterClients
from .conditions import (
    Condition,
    StoredCondition,
    condition_view,
    format_time,
    get_condition,
    is_true,
    parse_time,
    ready_first,
    remove_condition,
    set_condition,
)
from .controller import Controller, Mapper, Reconciler, Result, TerminalError
from .errors import delete_if_present, get_or_none, is_not_found
from .events import NORMAL, WARNING, EventRecorder
from .informer import Handler, Informer
from .keys import Key
from .leader import LeaderElector
from .logs import setup_logging, with_fields
from .manager import LeaderElection, Manager
from .metrics import Metrics, MetricsServer, serve_metrics
from .queue import ExponentialBackoff, QueueShutDown, WorkQueue
from .ratelimit import TokenBucket
from .reflector import resource_name
from .shards import EVERY_SHARD, Sharding, ShardKey, Shards, by_hash, by_member
from .status import StatusPatch, status_writer, summarize

__all__ = [
    "EVERY_SHARD",
    "FIELD_MANAGER",
    "NORMAL",
    "WARNING",
    "ClusterClients",
    "Condition",
    "Controller",
    "EventRecorder",
    "ExponentialBackoff",
    "Handler",
    "Informer",
    "Key",
    "LeaderElection",
    "LeaderElector",
    "Manager",
    "Mapper",
    "Metrics",
    "MetricsServer",
    "QueueShutDown",
    "Reconciler",
    "Result",
    "ShardKey",
    "Sharding",
    "Shards",
    "StatusPatch",
    "Store",
    "StoredCondition",
    "TerminalError",
    "TokenBucket",
    "WorkQueue",
    "apply",
    "by_hash",
    "by_member",
    "condition_view",
    "delete_if_present",
    "ensure_finalizer",
    "format_time",
    "get_condition",
    "get_or_none",
    "is_not_found",
    "is_true",
    "parse_time",
    "patch_status",
    "ready_first",
    "remove_condition",
    "remove_finalizer",
    "resource_name",
    "serve_metrics",
    "set_condition",
    "setup_logging",
    "status_writer",
    "summarize",
    "with_fields",
]
