"""Real Kubernetes clusters on one machine: the hub API server and kwok-backed members."""

from kokpit.sandbox.sandbox import (
    COMPONENTS,
    ComponentStatus,
    SandboxError,
    UpOptions,
    default_dir,
    down,
    kill,
    load,
    restart,
    status,
    up,
)
from kokpit.sandbox.state import ClusterState, ComponentState, SandboxState

__all__ = [
    "COMPONENTS",
    "ClusterState",
    "ComponentState",
    "ComponentStatus",
    "SandboxError",
    "SandboxState",
    "UpOptions",
    "default_dir",
    "down",
    "kill",
    "load",
    "restart",
    "status",
    "up",
]
