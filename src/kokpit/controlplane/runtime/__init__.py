"""Lifecycle runtimes: run the components of hosted control planes (etcd members, ...) somewhere.

`ComponentRuntime` is the contract; `ProcessRuntime` runs supervised local processes (one machine,
edge, demos, tests) and `KubernetesRuntime` renders Pods, a headless Service, PVCs and Secrets into
a meta cluster. Operators above them hold the same logic for both.
"""

from kokpit.controlplane.runtime.interface import (
    Addresses,
    ComponentRuntime,
    ComponentSpec,
    ComponentState,
    Group,
    Layout,
)
from kokpit.controlplane.runtime.kubernetes import KubernetesRuntime, UnsupportedError
from kokpit.controlplane.runtime.process import InitFailedError, ProcessRuntime

__all__ = [
    "Addresses",
    "ComponentRuntime",
    "ComponentSpec",
    "ComponentState",
    "Group",
    "InitFailedError",
    "KubernetesRuntime",
    "Layout",
    "ProcessRuntime",
    "UnsupportedError",
]
