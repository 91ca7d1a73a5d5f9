"""Every kokpit resource type, in install order; `kokpit install` and the docs iterate it.

A new resource type is added here and nowhere else: its CRD follows from its declaration.
"""

from __future__ import annotations

from kokpit.api.cluster import CLUSTER
from kokpit.api.component import COMPONENT, COMPONENT_TEMPLATE
from kokpit.api.crd import ResourceType
from kokpit.api.etcd import ETCD_BACKUP, ETCD_CLUSTER
from kokpit.api.hostedcluster import HOSTED_CLUSTER
from kokpit.api.interpreter import RESOURCE_INTERPRETER
from kokpit.api.machine import HOST, MACHINE, MACHINE_HEALTH_CHECK, MACHINE_SET, NODE_COMPONENT
from kokpit.api.override import CLUSTER_OVERRIDE_POLICY, OVERRIDE_POLICY
from kokpit.api.policy import CLUSTER_PROPAGATION_POLICY, PROPAGATION_POLICY
from kokpit.api.work import CLUSTER_RESOURCE_BINDING, RESOURCE_BINDING, WORK

ALL_RESOURCES: tuple[ResourceType, ...] = (
    CLUSTER,
    PROPAGATION_POLICY,
    CLUSTER_PROPAGATION_POLICY,
    OVERRIDE_POLICY,
    CLUSTER_OVERRIDE_POLICY,
    RESOURCE_BINDING,
    CLUSTER_RESOURCE_BINDING,
    WORK,
    RESOURCE_INTERPRETER,
    ETCD_CLUSTER,
    ETCD_BACKUP,
    HOSTED_CLUSTER,
    NODE_COMPONENT,
    HOST,
    MACHINE,
    MACHINE_SET,
    MACHINE_HEALTH_CHECK,
    COMPONENT_TEMPLATE,
    COMPONENT,
)
