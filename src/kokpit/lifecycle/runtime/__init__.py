"""Lifecycle runtimes: run the components of hosted control planes (etcd members, ...) somewhere.

`ComponentRuntime` is the contract; `ProcessRuntime` runs supervised local processes (one machine,
edge, demos, tests) and `KubernetesRuntime` renders Pods, a headless Service, PVCs and Secrets into
a meta cluster. Operators above them hold the same logic for both.
"""

from kokpit.lifecycle.runtime.interface import (
    Addresses,
    ComponentRuntime,
    ComponentSpec,
    ComponentState,
    Group,
    Layout,
)
from kokpit.lifecycle.runtime.kubernetes import KubernetesRuntime, UnsupportedError
from kokpit.lifecycle.runtime.process import InitFailedError, ProcessRuntime

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
