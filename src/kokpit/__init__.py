"""kokpit: Kubernetes managing fleets of Kubernetes clusters.

The public face of kokpit as a library: the resource models (every kind kokpit serves, as pydantic
models whose CRDs are generated from them), the controller runtime's `Manager`, the hub's settings
and domain wiring, and the CLI entry point. Everything else is an implementation detail that may
change; each domain package (`kokpit.fleet`, `kokpit.propagation`, `kokpit.etcd`, `kokpit.hosted`,
`kokpit.components`)
exports its own few names in its `__all__`.

    from kokpit import Cluster, HubSettings, Manager
"""

from __future__ import annotations

from kokpit.api import ALL_RESOURCES, Cluster
from kokpit.api.component import Component, ComponentTemplate
from kokpit.api.etcd import EtcdBackup, EtcdCluster
from kokpit.api.hostedcluster import HostedCluster
from kokpit.api.interpreter import ResourceInterpreter
from kokpit.api.machine import Host, Machine, MachineHealthCheck, MachineSet, NodeComponent
from kokpit.api.override import ClusterOverridePolicy, OverridePolicy
from kokpit.api.policy import ClusterPropagationPolicy, PropagationPolicy
from kokpit.api.work import ClusterResourceBinding, ResourceBinding, Work
from kokpit.errors import KokpitError
from kokpit.runtime import Manager
from kokpit.settings import HubSettings

__version__ = "0.1.0"


def main() -> None:
    """The `kokpit` command (what the console script runs)."""
    from kokpit.cli.main import main as run  # the CLI imports every domain: load it only when asked

    run()


__all__ = [
    "ALL_RESOURCES",
    "Cluster",
    "ClusterOverridePolicy",
    "ClusterPropagationPolicy",
    "ClusterResourceBinding",
    "Component",
    "ComponentTemplate",
    "EtcdBackup",
    "EtcdCluster",
    "Host",
    "HostedCluster",
    "HubSettings",
    "KokpitError",
    "Machine",
    "MachineHealthCheck",
    "MachineSet",
    "Manager",
    "NodeComponent",
    "OverridePolicy",
    "PropagationPolicy",
    "ResourceBinding",
    "ResourceInterpreter",
    "Work",
    "__version__",
    "main",
]
