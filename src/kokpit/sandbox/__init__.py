"""Real Kubernetes clusters on one machine: the hub API server and kwok-backed members (some of
them, Pull members, behind a firewall with their agent), and sandbox hosts (network namespaces
with sshd) for real nodes."""

from kokpit.sandbox.hosts import HostsError, Inventory, hosts_down, hosts_status, hosts_up, load_inventory
from kokpit.sandbox.sandbox import AGENT as AGENT_COMPONENT
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
    set_link,
    status,
    up,
)
from kokpit.sandbox.state import ClusterState, ComponentState, PullLink, SandboxState

__all__ = [
    "AGENT_COMPONENT",
    "COMPONENTS",
    "ClusterState",
    "ComponentState",
    "ComponentStatus",
    "HostsError",
    "Inventory",
    "PullLink",
    "SandboxError",
    "SandboxState",
    "UpOptions",
    "default_dir",
    "down",
    "hosts_down",
    "hosts_status",
    "hosts_up",
    "kill",
    "load",
    "load_inventory",
    "restart",
    "set_link",
    "status",
    "up",
]
