"""`HostedCluster` (`cluster.kokpit.io/v1alpha1`): a new Kubernetes cluster whose control plane kokpit runs.

One object asks for a whole cluster: a Kubernetes version (from the supported list, which is data,
see `kokpit.hosted.versions`), where its control plane runs (local processes, or Pods in a
meta cluster: Kube-on-Kube), its etcd (a dedicated `EtcdCluster` of 1 or 3 members, or a key prefix
in a shared one), its networks, how long its certificates live, its addons and, for tests and demos,
a number of kwok nodes. The status says how far the cluster got, per component, and where its admin
kubeconfig is.

The schema rejects what is wrong on its face (bad or overlapping CIDRs, both a dedicated and a
shared etcd). Whether a version is supported, or an upgrade skips a minor, depends on data and on
what runs now: the controller refuses those with a condition and leaves the running cluster as it is.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from kokpit.api.crd import PrinterColumn, ResourceType
from kokpit.api.machine import MachineComponent, NodeTaint, RolloutStrategy
from kokpit.api.meta import (
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    Conditions,
    KokpitModel,
    ObjectMeta,
    cel,
    list_map,
    validations,
)
from kokpit.api.policy import LabelSelector

GROUP = "cluster.kokpit.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

KUBERNETES_VERSION_PATTERN = r"^v1\.[0-9]+\.[0-9]+$"
DURATION_PATTERN = r"^([0-9]+(d|h|m|s))+$"
"""A duration as number+unit pairs, units d, h, m, s: "8760h", "30d", "1h30m", "5m"."""
ETCD_PREFIX_PATTERN = r"^/[A-Za-z0-9_./-]*$"

MAX_NODES = 500
MIN_SERVICE_PREFIX = {4: 12, 6: 108}
"""kube-apiserver refuses a service range larger than 2^20 addresses."""


class HostedRuntime(StrEnum):
    """Where the control plane runs."""

    PROCESS = "process"
    """Supervised local processes on the machine running the controller (one machine, edge, demos)."""
    KUBERNETES = "kubernetes"
    """Deployments, a Service and Secrets in a meta cluster (a member chosen to host control planes)."""


class HostedPhase(StrEnum):
    """A one-word summary of a HostedCluster; the conditions carry the detail."""

    PROVISIONING = "Provisioning"
    READY = "Ready"
    UPGRADING = "Upgrading"
    NOT_READY = "NotReady"
    DELETING = "Deleting"


class ControlPlaneSpec(KokpitModel):
    """The control-plane components."""

    replicas: Annotated[int, Field(ge=1, le=3)] = 1
    """Replicas of kube-apiserver, kube-controller-manager and kube-scheduler (kubernetes runtime: the
    controller-manager and scheduler elect a leader; the process runtime runs one of each and refuses
    more)."""


class SharedEtcd(KokpitModel):
    """A key prefix in an existing EtcdCluster of the same namespace."""

    name: Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
    """Name of the EtcdCluster."""
    prefix: Annotated[str, Field(min_length=2, max_length=256, pattern=ETCD_PREFIX_PATTERN)] | None = None
    """The key prefix of this cluster's objects; /<namespace>/<name> when unset."""


class EtcdSpec(KokpitModel):
    """The etcd the cluster stores its objects in: a dedicated EtcdCluster (size 1 or 3), or a shared one."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!(has(self.size) && has(self.shared))",
                "set either size (a dedicated etcd) or shared, not both",
                reason="FieldValueForbidden",
            ),
        )
    )

    size: Literal[1, 3] | None = None
    """Members of the dedicated EtcdCluster kokpit creates and owns: 1 or 3 (1 when unset)."""
    shared: SharedEtcd | None = None
    """Use a key prefix in an existing EtcdCluster instead of a dedicated one."""

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if self.size is not None and self.shared is not None:
            raise ValueError("set either size (a dedicated etcd) or shared, not both")
        return self


def _cidr_problem(field: str, value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        return f"{field} {value!r} is not a valid CIDR: {error}"
    return None


class NetworkingSpec(KokpitModel):
    """The cluster's address ranges and DNS domain."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "isCIDR(self.serviceCIDR)",
                "serviceCIDR must be a valid CIDR such as 10.96.0.0/16",
                field_path=".serviceCIDR",
                reason="FieldValueInvalid",
            ),
            cel(
                "isCIDR(self.podCIDR)",
                "podCIDR must be a valid CIDR such as 10.244.0.0/16",
                field_path=".podCIDR",
                reason="FieldValueInvalid",
            ),
            cel(
                "!isCIDR(self.serviceCIDR) || !isCIDR(self.podCIDR) || "
                "(!cidr(self.serviceCIDR).containsCIDR(cidr(self.podCIDR)) && "
                "!cidr(self.podCIDR).containsCIDR(cidr(self.serviceCIDR)))",
                "serviceCIDR and podCIDR must not overlap",
                field_path=".podCIDR",
                reason="FieldValueInvalid",
            ),
        )
    )

    service_cidr: Annotated[str, Field(alias="serviceCIDR", min_length=1, max_length=64)] = "10.96.0.0/16"
    """Range of Service cluster IPs; its first address is the `kubernetes` Service."""
    pod_cidr: Annotated[str, Field(alias="podCIDR", min_length=1, max_length=64)] = "10.244.0.0/16"
    """Range of Pod IPs."""
    cluster_domain: Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)] = (
        "cluster.local"
    )
    """The DNS domain of Services."""

    @model_validator(mode="after")
    def _valid_ranges(self) -> Self:
        problem = networking_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self


def networking_problem(networking: NetworkingSpec) -> str | None:
    """`networking_problem` says in one line what is wrong with the ranges, or None when they are fine:
    each a valid CIDR (host bits zero), the service range at most 2^20 addresses, no overlap."""
    for field, value in (("serviceCIDR", networking.service_cidr), ("podCIDR", networking.pod_cidr)):
        problem = _cidr_problem(field, value)
        if problem is not None:
            return problem
    service = ipaddress.ip_network(networking.service_cidr)
    pod = ipaddress.ip_network(networking.pod_cidr)
    if service.prefixlen < MIN_SERVICE_PREFIX[service.version]:
        return (
            f"serviceCIDR {service} is too large: at most /{MIN_SERVICE_PREFIX[service.version]} "
            f"(2^20 addresses)"
        )
    if service.version == pod.version and service.overlaps(pod):  # type: ignore[arg-type]
        return f"serviceCIDR {service} and podCIDR {pod} overlap"
    return None


class ExposureType(StrEnum):
    """How the API server's Service is exposed (kubernetes runtime)."""

    LOAD_BALANCER = "LoadBalancer"
    NODE_PORT = "NodePort"
    CLUSTER_IP = "ClusterIP"


class ExposureSpec(KokpitModel):
    """Where the API server is reached."""

    type: ExposureType | None = None
    """Kubernetes runtime: the type of the API server's Service in the meta cluster (default
    LoadBalancer)."""
    address: Annotated[str, Field(min_length=1, max_length=64)] = "127.0.0.1"
    """Process runtime: the IP address of this machine the control plane listens on and advertises,
    named in the API server's certificate. Real nodes (Machines) must reach it: the default loopback
    address serves kokpit alone; an address on the nodes' network (e.g. 10.77.0.1, the sandbox hosts'
    bridge) serves nodes too. Kubernetes runtime: the node address of a NodePort Service."""
    port: Annotated[int, Field(ge=1024, le=65535)] | None = None
    """Process runtime: the port; a free one on `address` is chosen once and kept (nodes keep the URL),
    never one another component under the same root has recorded."""


class CertificatesSpec(KokpitModel):
    """Lifetimes of the cluster's leaf certificates (the CAs live ten years)."""

    validity: Annotated[str, Field(max_length=32, pattern=DURATION_PATTERN)] = "8760h"
    """How long a leaf certificate is valid, e.g. 8760h (a year) or 10m."""
    renew_before: Annotated[str, Field(max_length=32, pattern=DURATION_PATTERN)] = "720h"
    """Renew leaf certificates (and the admin kubeconfig) this long before they expire."""


class AddonSpec(KokpitModel):
    """One addon installed in the cluster."""

    name: Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
    """The addon: a built-in one (coredns, kube-proxy) or one imported with `kokpit addons import`."""
    version: Annotated[str, Field(max_length=64)] | None = None
    """The addon's version; its default version when unset."""
    parameters: dict[str, Any] | None = None
    """Values for the addon's templates, over its defaults."""


class WorkersSpec(KokpitModel):
    """Real worker nodes: a MachineSet of Machines on free Hosts of the same namespace, each joined to
    the cluster by TLS bootstrap (the kwok nodes of `nodes` are simulations; these run containers)."""

    replicas: Annotated[int, Field(ge=0, le=MAX_NODES)] = 1
    """How many machine-backed nodes."""
    host_selector: LabelSelector | None = None
    """Labels of the Hosts the machines may claim; any Available Host of the namespace when unset."""
    components: (
        Annotated[list[MachineComponent], Field(max_length=64, json_schema_extra=list_map("name"))] | None
    ) = None
    """The NodeComponents each machine runs; when unset, the built-in node: runc, cni-plugins,
    containerd, and kubelet and kube-proxy at the version the control plane runs (so an upgrade
    rolls the nodes after the control plane)."""
    labels: dict[str, str] | None = None
    """Labels the Nodes register with."""
    taints: (
        Annotated[list[NodeTaint], Field(max_length=64, json_schema_extra=list_map("key", "effect"))] | None
    ) = None
    """Taints the Nodes register with."""
    strategy: RolloutStrategy | None = None
    """How a change of the components reaches the machines (maxUnavailable, canary)."""


REPLICAS_MESSAGE = "the process runtime runs one replica of each component: controlPlane.replicas must be 1"
KUBERNETES_ADDONS_MESSAGE = (
    "the kubernetes runtime cannot install addons yet (its control plane has no nodes): "
    "leave addons unset or empty"
)
KUBERNETES_NODES_MESSAGE = "the kubernetes runtime cannot run kwok nodes yet: nodes must be 0"
KUBERNETES_WORKERS_MESSAGE = "the kubernetes runtime cannot take machines yet: leave workers unset"
WORKERS_LOOPBACK_MESSAGE = (
    "workers need the API server on the nodes' network: set exposure.address to an address they "
    "reach (e.g. 10.77.0.1, the sandbox hosts' bridge); a loopback address is the node itself"
)
KUBERNETES_JOIN_MESSAGE = (
    "the kubernetes runtime cannot join the fleet yet (the hub cannot reach its API server): set join: false"
)


class HostedClusterSpec(KokpitModel):
    """The cluster wanted."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.runtime != 'kubernetes' || has(self.metaCluster)",
                "metaCluster is required when runtime is kubernetes",
                field_path=".metaCluster",
                reason="FieldValueRequired",
            ),
            cel(
                "self.runtime == oldSelf.runtime",
                "runtime cannot be changed",
                field_path=".runtime",
                reason="FieldValueForbidden",
            ),
            cel(
                "self.runtime == 'kubernetes' || !has(self.controlPlane) || "
                "!has(self.controlPlane.replicas) || self.controlPlane.replicas == 1",
                REPLICAS_MESSAGE,
                field_path=".controlPlane.replicas",
                reason="FieldValueForbidden",
            ),
            cel(
                "self.runtime != 'kubernetes' || !has(self.addons) || size(self.addons) == 0",
                KUBERNETES_ADDONS_MESSAGE,
                field_path=".addons",
                reason="FieldValueForbidden",
            ),
            cel(
                "self.runtime != 'kubernetes' || !has(self.nodes) || self.nodes == 0",
                KUBERNETES_NODES_MESSAGE,
                field_path=".nodes",
                reason="FieldValueForbidden",
            ),
            cel(
                "self.runtime != 'kubernetes' || !has(self.workers)",
                KUBERNETES_WORKERS_MESSAGE,
                field_path=".workers",
                reason="FieldValueForbidden",
            ),
            cel(
                "self.runtime == 'kubernetes' || !has(self.workers) || self.workers.replicas == 0 || "
                "(has(self.exposure) && has(self.exposure.address) && "
                "!self.exposure.address.startsWith('127.') && self.exposure.address != '::1')",
                WORKERS_LOOPBACK_MESSAGE,
                field_path=".exposure.address",
                reason="FieldValueInvalid",
            ),
            cel(
                "self.runtime != 'kubernetes' || (has(self.join) && !self.join)",
                KUBERNETES_JOIN_MESSAGE,
                field_path=".join",
                reason="FieldValueForbidden",
            ),
        )
    )

    kubernetes_version: Annotated[str, Field(max_length=32, pattern=KUBERNETES_VERSION_PATTERN)]
    """The Kubernetes version, one of the supported versions. Raising it by one minor upgrades the
    control plane (kube-apiserver first); skipping a minor or going down is refused."""
    runtime: HostedRuntime = HostedRuntime.PROCESS
    """Where the control plane runs: process or kubernetes."""
    meta_cluster: Annotated[str, Field(max_length=63, pattern=DNS_LABEL_PATTERN)] | None = None
    """The member cluster hosting the control plane (kubernetes runtime)."""
    control_plane: ControlPlaneSpec | None = None
    """The control-plane components."""
    etcd: EtcdSpec | None = None
    """The etcd the cluster uses; a dedicated single member when unset."""
    networking: NetworkingSpec | None = None
    """Address ranges and DNS domain."""
    exposure: ExposureSpec | None = None
    """Where the API server is reached."""
    certificates: CertificatesSpec | None = None
    """Certificate lifetimes."""
    addons: Annotated[list[AddonSpec], Field(max_length=64, json_schema_extra=list_map("name"))] | None = None
    """Addons to install; coredns and kube-proxy when unset, none when empty (the kubernetes runtime
    installs none yet and refuses a non-empty list). With workers, none when unset: their nodes run
    kube-proxy as a NodeComponent, and coredns's image is on a registry the nodes may not reach."""
    nodes: Annotated[int, Field(ge=0, le=MAX_NODES)] = 0
    """Number of kwok nodes (simulated nodes that run pods without containers)."""
    workers: WorkersSpec | None = None
    """Real worker nodes (Machines of a MachineSet `<name>-workers`); the API server must serve on
    their network (`exposure.address`). Process runtime only."""
    join: bool = True
    """Join the cluster to the fleet (a Cluster of the same name) once it is Ready. The kubernetes
    runtime cannot join yet: it needs `join: false`."""

    @model_validator(mode="after")
    def _supported_by_runtime(self) -> Self:
        problem = runtime_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self


def runtime_problem(spec: HostedClusterSpec) -> str | None:
    """`runtime_problem` names, in one line, a field `spec.runtime` cannot honour (the same checks as
    the CRD's CEL rules), or None. Refused rather than ignored, so the spec never claims what does not
    run."""
    if spec.runtime is HostedRuntime.PROCESS:
        if spec.control_plane is not None and spec.control_plane.replicas != 1:
            return REPLICAS_MESSAGE
        if spec.workers is not None and spec.workers.replicas > 0:
            address = spec.exposure.address if spec.exposure else "127.0.0.1"
            if address.startswith("127.") or address == "::1":
                return WORKERS_LOOPBACK_MESSAGE
        return None
    if spec.workers is not None:
        return KUBERNETES_WORKERS_MESSAGE
    if spec.addons:
        return KUBERNETES_ADDONS_MESSAGE
    if spec.nodes:
        return KUBERNETES_NODES_MESSAGE
    if spec.join:
        return KUBERNETES_JOIN_MESSAGE
    return None


class SecretKeyRef(KokpitModel):
    """A key in a Secret of the same namespace."""

    name: Annotated[str, Field(min_length=1)]
    """Name of the Secret."""
    key: Annotated[str, Field(min_length=1)]
    """Key holding the value."""


class ComponentStatus(KokpitModel):
    """One control-plane component as last observed."""

    name: Annotated[str, Field(min_length=1)]
    """kube-apiserver, kube-controller-manager, kube-scheduler or kwok."""
    version: str | None = None
    """The version it runs."""
    ready: bool = False
    """Whether it answered its health check."""
    restarts: Annotated[int, Field(ge=0)] = 0
    """How many times kokpit restarted it after it died."""
    last_restart: datetime | None = None
    """When kokpit last restarted it."""
    message: str | None = None
    """Why it is not ready, when it is not."""


class CertificatesStatus(KokpitModel):
    """The cluster's certificates."""

    not_after: datetime | None = None
    """When the first leaf certificate expires."""
    renewal_time: datetime | None = None
    """When the leaf certificates will be renewed."""
    last_renewed: datetime | None = None
    """When they were last issued."""


class AddonStatus(KokpitModel):
    """One installed addon."""

    name: Annotated[str, Field(min_length=1)]
    """The addon."""
    version: str | None = None
    """The version installed."""
    objects: Annotated[int, Field(ge=0)] = 0
    """How many objects it consists of."""


class HostedClusterStatus(KokpitModel):
    """What the controller last observed of the cluster."""

    phase: HostedPhase | None = None
    """A one-word summary."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation this status was computed from."""
    version: str | None = None
    """The Kubernetes version every component runs (the old one until an upgrade completes)."""
    endpoint: str | None = None
    """The API server's URL."""
    admin_kubeconfig_secret_ref: SecretKeyRef | None = None
    """The Secret holding the admin kubeconfig."""
    certificates: CertificatesStatus | None = None
    """Certificate expiry and renewal."""
    components: Annotated[list[ComponentStatus], Field(json_schema_extra=list_map("name"))] | None = None
    """Every control-plane component."""
    addons: Annotated[list[AddonStatus], Field(json_schema_extra=list_map("name"))] | None = None
    """Installed addons."""
    ready_nodes: Annotated[int, Field(ge=0)] | None = None
    """Nodes whose Ready condition is True."""
    conditions: Conditions | None = None
    """Ready, EtcdReady, CertificatesReady, APIServerAvailable, ControllerManagerReady, SchedulerReady,
    AddonsReady, VersionAccepted, Joined, each with reason and message."""


class HostedCluster(KokpitModel):
    """A HostedCluster object as read from or written to the hub."""

    api_version: Literal["cluster.kokpit.io/v1alpha1"] = "cluster.kokpit.io/v1alpha1"
    kind: Literal["HostedCluster"] = "HostedCluster"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: HostedClusterSpec
    status: HostedClusterStatus | None = None


HOSTED_CLUSTER = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="HostedCluster",
    plural="hostedclusters",
    scope="Namespaced",
    short_names=("hc", "hcl"),
    description=(
        "HostedCluster is a Kubernetes cluster whose control plane kokpit runs: version, runtime, etcd, "
        "networks, certificates, addons."
    ),
    spec=HostedClusterSpec,
    status=HostedClusterStatus,
    spec_required=True,
    printer_columns=(
        PrinterColumn("Version", "string", ".status.version", "The version every component runs."),
        PrinterColumn("Phase", "string", ".status.phase", "One-word summary."),
        PrinterColumn(
            "Ready",
            "string",
            '.status.conditions[?(@.type=="Ready")].status',
            "Whether the cluster is Ready.",
        ),
        PrinterColumn("Endpoint", "string", ".status.endpoint", "The API server's URL."),
        PrinterColumn("Nodes", "integer", ".status.readyNodes", "Ready nodes."),
        PrinterColumn("Desired", "string", ".spec.kubernetesVersion", "The version asked for.", priority=1),
        PrinterColumn("Runtime", "string", ".spec.runtime", "Where the control plane runs.", priority=1),
        PrinterColumn(
            "CertsExpire", "date", ".status.certificates.notAfter", "First leaf expiry.", priority=1
        ),
    ),
)
"""The declaration of the HostedCluster resource type."""
