"""Machines (`machines.kokpit.io/v1alpha1`): real worker nodes, prepared, joined and kept consistent.

- `NodeComponent` (cluster-scoped, the catalogue): a named, versioned piece of on-host software with
  templated scripts (`install`, `configure`, `check`, `repair`, `remove`) and files, one variant per
  OS/distribution/architecture, a JSON Schema for its parameters and the components it needs first.
  New OSes, architectures or packages are new objects, never code changes.
- `Host`: an address and SSH credentials of a machine kokpit may use (the inventory), with its pinned
  host key.
- `Machine`: a Host claimed for a target cluster (a `HostedCluster` or a fleet `Cluster`), the
  components and versions it must run, and the labels and taints of its Node.
- `MachineSet`: replicas of a Machine template claiming free Hosts, rolled with `maxUnavailable` and a
  canary count that pauses the set until it is promoted.
- `MachineHealthCheck`: which Machines count as unhealthy, and a `maxUnhealthy` guard.

The schema refuses what is wrong on its face (relative paths or `..`, modes that are not octal,
empty version lists, host keys that are not OpenSSH public keys, bad CIDRs); what depends on other
objects (an unknown component or version, no variant for the host, a dependency cycle) is refused by
the controller with a condition naming the cause. The pydantic validators repeat the schema's rules so
objects built in Python fail the same way.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from kokpit.api.cluster import LABEL_VALUE_PATTERN, QUALIFIED_NAME_PATTERN, TaintEffect
from kokpit.api.crd import PrinterColumn, ResourceType
from kokpit.api.meta import (
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    Conditions,
    ConditionStatus,
    KokpitModel,
    ObjectMeta,
    cel,
    list_map,
    validations,
)
from kokpit.api.policy import LabelSelector

GROUP = "machines.kokpit.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

MODE_PATTERN = r"^0[0-7]{3}$"
"""A file mode as an octal string: "0755", "0644", "0600"."""
SHA256_PATTERN = r"^[a-f0-9]{64}$"
SOURCE_PATTERN = r"^(file|https)://.+$"
"""Where an artifact is fetched from: a file on the operator's machine, or an HTTPS URL."""
HOST_KEY_PATTERN = (
    r"^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) "
    r"[A-Za-z0-9+/]+={0,3}( [^\n]*)?$"
)
"""One OpenSSH public key line: algorithm, base64 key, optional comment."""
USER_PATTERN = r"^[a-z_][a-z0-9_-]*$"
TIMEOUT_PATTERN = r"^([0-9]+(h|m|s))+$"
"""A duration as number+unit pairs, units h, m, s: "30s", "5m", "1h30m"."""
PERCENT_PATTERN = r"^(100|[1-9]?[0-9])%$"
OS_PATTERN = r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$"
"""An OS, distribution or architecture name as `uname`/os-release spell them, lower-cased: linux,
debian, amd64."""

PROMOTED_REVISION_ANNOTATION = f"{GROUP}/promoted-revision"
"""On a MachineSet: the revision `kokpit machines promote` let past the canary."""

STEPS = ("install", "configure", "check", "repair", "remove")
"""A variant's scripts, in the order of a component's life."""
MAX_SCRIPT = 65536
MAX_CONTENT = 262144

Name = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
ComponentName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
PlatformName = Annotated[str, Field(min_length=1, max_length=63, pattern=OS_PATTERN)]
VERSION_PATTERN = r"^[A-Za-z0-9][-A-Za-z0-9_.+]*$"
"""A component version as its project spells it: v1.36.5, 2.4.2, 1.1.5+ds1-1."""
ComponentVersion = Annotated[str, Field(min_length=1, max_length=64, pattern=VERSION_PATTERN)]
Script = Annotated[str, Field(max_length=MAX_SCRIPT)]

ABSOLUTE_PATH_MESSAGE = "must be an absolute path without '..'"


def absolute_path_problem(path: str) -> str | None:
    """`absolute_path_problem` says what is wrong with `path` as an absolute path without `..`, or None."""
    if not path.startswith("/") or ".." in path.split("/"):
        return f"{path!r} {ABSOLUTE_PATH_MESSAGE}"
    return None


def _absolute(path: str) -> str:
    problem = absolute_path_problem(path)
    if problem is not None:
        raise ValueError(problem)
    return path


AbsolutePath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=4096,
        json_schema_extra=validations(
            cel(
                "self.startsWith('/') && !self.contains('/../') && !self.endsWith('/..')",
                ABSOLUTE_PATH_MESSAGE,
                reason="FieldValueInvalid",
            )
        ),
    ),
    AfterValidator(_absolute),
]
"""An absolute path without `..` segments (checked by the API server and by the model)."""


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"{value!r} is not a valid CIDR: {error}") from None
    return value


def _int_or_percent(value: int | str) -> int | str:
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must be 0 or more")
    elif not re.match(PERCENT_PATTERN, value):
        raise ValueError(f"{value!r} must be a count or a percentage such as 40%")
    return value


class LocalRef(KokpitModel):
    """An object of a known kind in the same namespace."""

    name: Name
    """Its name."""


# --- NodeComponent ---------------------------------------------------------------------------------------


class Artifact(KokpitModel):
    """A file fetched onto the host as it is (a binary, an archive), checked against its sha256."""

    source: Annotated[str, Field(min_length=1, max_length=4096, pattern=SOURCE_PATTERN)]
    """Where it comes from: `file://` (on the operator's machine; `{{ binaries }}` is kokpit's binary
    cache) or `https://`. A template."""
    path: AbsolutePath
    """Where it goes on the host, below the Host's prefix. A template."""
    mode: Annotated[str, Field(pattern=MODE_PATTERN)] = "0755"
    """Its file mode, an octal string."""
    sha256: Annotated[str, Field(pattern=SHA256_PATTERN)] | None = None
    """Its expected sha256 (hex); required in practice for `https://` sources, computed for `file://`."""


class ComponentFile(KokpitModel):
    """A file written on the host from a template (configuration, kubeconfigs, unit files)."""

    path: AbsolutePath
    """Where it goes on the host, below the Host's prefix. A template."""
    mode: Annotated[str, Field(pattern=MODE_PATTERN)] = "0644"
    """Its file mode, an octal string."""
    content: Annotated[str, Field(max_length=MAX_CONTENT)]
    """Its content, a Jinja2 template."""


class Variant(KokpitModel):
    """How the component is installed on one OS, optionally some distributions, and some architectures.

    Scripts run as `sh -eu` over SSH with cwd `/`; each is a Jinja2 template. A missing script is a step
    with nothing to do (a missing `check` means "healthy when installed")."""

    os: PlatformName = "linux"
    """The OS (`uname -s`, lower-cased): linux."""
    distributions: Annotated[list[PlatformName], Field(max_length=32)] | None = None
    """Distributions (os-release ID: debian, ubuntu); empty or unset means any."""
    architectures: Annotated[list[PlatformName], Field(min_length=1, max_length=16)]
    """Architectures, as Go and Kubernetes name them: amd64, arm64."""
    artifacts: Annotated[list[Artifact], Field(max_length=64, json_schema_extra=list_map("path"))] | None = (
        None
    )
    """Files fetched onto the host as they are."""
    files: Annotated[list[ComponentFile], Field(max_length=64, json_schema_extra=list_map("path"))] | None = (
        None
    )
    """Files rendered from templates."""
    install: Script | None = None
    """Puts the component in place after its artifacts and files are written (creates directories,
    users); run again on every new version or digest."""
    configure: Script | None = None
    """Applies a changed configuration (restarts the daemon); run after install and after any change."""
    check: Script | None = None
    """Exits 0 when the component is healthy (its daemon runs and answers)."""
    repair: Script | None = None
    """Brings an unhealthy component back (restarts its daemon); the first remediation step."""
    remove: Script | None = None
    """Stops and removes the component; run before the Host is freed."""


class NodeComponentSpec(KokpitModel):
    """A piece of on-host software kokpit can install, in the versions it offers."""

    description: Annotated[str, Field(max_length=1024)] | None = None
    """What the component is, for people."""
    versions: Annotated[
        list[ComponentVersion],
        Field(min_length=1, max_length=64, json_schema_extra={"x-kubernetes-list-type": "set"}),
    ]
    """The versions offered; a Machine asking for another gets the condition UnknownComponentVersion."""
    depends_on: (
        Annotated[
            list[ComponentName], Field(max_length=32, json_schema_extra={"x-kubernetes-list-type": "set"})
        ]
        | None
    ) = None
    """Components installed before this one (the Machine must list them too); cycles are refused."""
    parameters: dict[str, Any] | None = None
    """A JSON Schema (Draft 2020-12, type object) for the parameters a Machine may give; `default`s of
    its properties fill what is not given."""
    variants: Annotated[list[Variant], Field(min_length=1, max_length=32)]
    """Per OS/distribution/architecture: a variant naming the host's distribution wins over one for any
    distribution, then the first listed."""


class NodeComponentStatus(KokpitModel):
    """What the controller found of the definition."""

    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation this status was computed from."""
    conditions: Conditions | None = None
    """Accepted (the parameter schema is valid and the dependencies exist without cycles)."""


class NodeComponent(KokpitModel):
    """A NodeComponent object as read from or written to the hub."""

    api_version: Literal["machines.kokpit.io/v1alpha1"] = "machines.kokpit.io/v1alpha1"
    kind: Literal["NodeComponent"] = "NodeComponent"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NodeComponentSpec
    status: NodeComponentStatus | None = None


# --- Host ------------------------------------------------------------------------------------------------


class HostPhase(StrEnum):
    """Whether a Host is free."""

    AVAILABLE = "Available"
    CLAIMED = "Claimed"


class HostSpec(KokpitModel):
    """A machine reachable by SSH that kokpit may prepare and join."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.podCIDR) || isCIDR(self.podCIDR)",
                "podCIDR must be a valid CIDR such as 10.78.1.0/24",
                field_path=".podCIDR",
                reason="FieldValueInvalid",
            ),
            cel(
                "isIP(self.address) || self.address.matches(r'" + DNS_SUBDOMAIN_PATTERN + "')",
                "address must be an IP address or a DNS name",
                field_path=".address",
                reason="FieldValueInvalid",
            ),
        )
    )

    address: Annotated[str, Field(min_length=1, max_length=253)]
    """The IP address or DNS name sshd listens on."""
    port: Annotated[int, Field(ge=1, le=65535)] = 22
    """The SSH port."""
    user: Annotated[str, Field(min_length=1, max_length=32, pattern=USER_PATTERN)] = "root"
    """The user kokpit logs in as (it needs root's rights: root, or a user whose scripts use sudo)."""
    credentials_secret_ref: LocalRef
    """A Secret of type kubernetes.io/ssh-auth in the same namespace; key `ssh-privatekey`."""
    host_key: Annotated[str, Field(max_length=16384, pattern=HOST_KEY_PATTERN)]
    """The host's OpenSSH public host key (`ssh-ed25519 AAAA...`), pinned: any other key is refused."""
    prefix: AbsolutePath = "/"
    """The directory under which kokpit keeps everything it writes on this host; `/` for a whole machine."""
    cgroup_root: AbsolutePath = "/"
    """The parent cgroup of kubelet and pods; distinct per host when hosts share a kernel."""
    pod_cidr: Annotated[
        Annotated[str, Field(max_length=64), AfterValidator(_cidr)] | None, Field(alias="podCIDR")
    ] = None
    """The pod subnet of this host when the CNI is the plain bridge plugin."""

    @model_validator(mode="after")
    def _address(self) -> Self:
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            if not re.match(DNS_SUBDOMAIN_PATTERN, self.address):
                raise ValueError("address must be an IP address or a DNS name") from None
        return self


class HostStatus(KokpitModel):
    """What kokpit found of the host."""

    phase: HostPhase | None = None
    """Available or Claimed."""
    machine_ref: LocalRef | None = None
    """The Machine that claimed it."""
    os: str | None = None
    """`uname -s`, lower-cased."""
    distribution: str | None = None
    """The os-release ID."""
    architecture: str | None = None
    """The architecture as Go names it (amd64, arm64)."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation this status was computed from."""
    conditions: Conditions | None = None
    """Reachable (SSH answered with the pinned host key and the credentials were accepted)."""


class Host(KokpitModel):
    """A Host object as read from or written to the hub."""

    api_version: Literal["machines.kokpit.io/v1alpha1"] = "machines.kokpit.io/v1alpha1"
    kind: Literal["Host"] = "Host"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: HostSpec
    status: HostStatus | None = None


# --- Machine ---------------------------------------------------------------------------------------------


class ClusterKind(StrEnum):
    """The kinds of cluster a Machine joins."""

    HOSTED_CLUSTER = "HostedCluster"
    """A HostedCluster whose control plane kokpit runs (namespaced)."""
    CLUSTER = "Cluster"
    """A fleet member Cluster (cluster-scoped)."""


class ClusterRef(KokpitModel):
    """The cluster a Machine's node joins."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.kind != 'Cluster' || !has(self.namespace)",
                "namespace must be unset for kind Cluster (a cluster-scoped fleet member)",
                field_path=".namespace",
                reason="FieldValueForbidden",
            ),
        )
    )

    kind: ClusterKind
    """HostedCluster or Cluster."""
    name: Name
    """The cluster's name."""
    namespace: Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)] | None = None
    """The HostedCluster's namespace; the Machine's when unset."""

    @model_validator(mode="after")
    def _namespace_only_for_hosted(self) -> Self:
        if self.kind is ClusterKind.CLUSTER and self.namespace is not None:
            raise ValueError("namespace must be unset for kind Cluster (a cluster-scoped fleet member)")
        return self


class MachineComponent(KokpitModel):
    """One component a Machine runs."""

    name: ComponentName
    """The NodeComponent."""
    version: ComponentVersion
    """One of its versions."""
    parameters: dict[str, Any] | None = None
    """Values checked against the component's parameter schema, over its defaults."""


class NodeTaint(KokpitModel):
    """A taint the Node registers with."""

    key: Annotated[str, Field(min_length=1, max_length=316, pattern=QUALIFIED_NAME_PATTERN)]
    """The taint key, a qualified name such as example.com/dedicated."""
    value: Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)] | None = None
    """The taint value."""
    effect: TaintEffect
    """NoSchedule, PreferNoSchedule or NoExecute."""


class MachineTemplateSpec(KokpitModel):
    """What a Machine runs, without the Host it runs on (the part a MachineSet stamps out)."""

    cluster_ref: ClusterRef
    """The cluster the node joins."""
    components: (
        Annotated[list[MachineComponent], Field(max_length=64, json_schema_extra=list_map("name"))] | None
    ) = None
    """The components and versions; installed in dependsOn order."""
    labels: dict[str, str] | None = None
    """Labels the Node registers with."""
    taints: (
        Annotated[list[NodeTaint], Field(max_length=64, json_schema_extra=list_map("key", "effect"))] | None
    ) = None
    """Taints the Node registers with."""


class MachineSpec(MachineTemplateSpec):
    """A Host claimed for a cluster, and what it runs."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.hostRef == oldSelf.hostRef",
                "hostRef cannot be changed",
                field_path=".hostRef",
                reason="FieldValueForbidden",
            ),
            cel(
                "self.clusterRef == oldSelf.clusterRef",
                "clusterRef cannot be changed",
                field_path=".clusterRef",
                reason="FieldValueForbidden",
            ),
            cel(
                "has(self.nodeName) == has(oldSelf.nodeName) && "
                "(!has(self.nodeName) || self.nodeName == oldSelf.nodeName)",
                "nodeName cannot be changed",
                field_path=".nodeName",
                reason="FieldValueForbidden",
            ),
        )
    )

    host_ref: LocalRef
    """The Host, in the same namespace."""
    node_name: Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_SUBDOMAIN_PATTERN)] | None = None
    """The Node's name; the Host's name when unset."""


class MachinePhase(StrEnum):
    """A one-word summary of a Machine; the conditions carry the detail."""

    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    JOINING = "Joining"
    READY = "Ready"
    REPAIRING = "Repairing"
    DRAINING = "Draining"
    DELETING = "Deleting"
    FAILED = "Failed"


class ComponentState(KokpitModel):
    """One component as last found on the host."""

    name: Annotated[str, Field(min_length=1)]
    """The NodeComponent."""
    version: str | None = None
    """The version installed."""
    digest: str | None = None
    """The config digest installed: sha256 over its rendered files and artifacts."""
    healthy: bool = False
    """Whether its check passed."""
    message: str | None = None
    """Why it is not healthy, with the tail of the failing step's output."""


class MachineStatus(KokpitModel):
    """What the controller last observed of the machine."""

    phase: MachinePhase | None = None
    """A one-word summary."""
    components: Annotated[list[ComponentState], Field(json_schema_extra=list_map("name"))] | None = None
    """Every component: version, digest, health."""
    node_ref: LocalRef | None = None
    """The Node in the target cluster."""
    host_ref: LocalRef | None = None
    """The Host this machine holds."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation this status was computed from."""
    conditions: Conditions | None = None
    """Ready, HostReachable, ComponentsReady, NodeJoined, NodeHealthy; a failing step is named in the
    reason and message with the tail of its output."""


class Machine(KokpitModel):
    """A Machine object as read from or written to the hub."""

    api_version: Literal["machines.kokpit.io/v1alpha1"] = "machines.kokpit.io/v1alpha1"
    kind: Literal["Machine"] = "Machine"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: MachineSpec
    status: MachineStatus | None = None


# --- MachineSet ------------------------------------------------------------------------------------------


class TemplateMetadata(KokpitModel):
    """The metadata every Machine of a set gets."""

    labels: dict[str, str] | None = None
    """Labels of the Machines (MachineHealthChecks select on them)."""


class MachineTemplate(KokpitModel):
    """The Machines a MachineSet makes."""

    metadata: TemplateMetadata | None = None
    """Their labels."""
    spec: MachineTemplateSpec
    """Their spec, without hostRef and nodeName (the set claims a Host for each)."""


class RolloutStrategy(KokpitModel):
    """How a changed template reaches the Machines."""

    max_unavailable: Annotated[int, Field(ge=1, le=1000)] = 1
    """How many Machines may be updating at once."""
    canary: Annotated[int, Field(ge=0, le=1000)] = 0
    """How many Machines get a new revision first; the set then pauses until the revision is promoted
    (`kokpit machines promote`). 0 rolls every Machine at once, maxUnavailable at a time."""


class MachineSetSpec(KokpitModel):
    """Replicas of a Machine template on Hosts it claims."""

    replicas: Annotated[int, Field(ge=0, le=1000)] = 1
    """How many Machines."""
    host_selector: LabelSelector | None = None
    """Labels of the Hosts it may claim; any Available Host in the namespace when unset."""
    template: MachineTemplate
    """The Machines it makes."""
    strategy: RolloutStrategy | None = None
    """How changes roll out; one Machine at a time without a canary when unset."""


class MachineSetStatus(KokpitModel):
    """What the controller last observed of the set."""

    replicas: Annotated[int, Field(ge=0)] | None = None
    """Machines that exist."""
    ready_replicas: Annotated[int, Field(ge=0)] | None = None
    """Machines that are Ready."""
    updated_replicas: Annotated[int, Field(ge=0)] | None = None
    """Machines on the current revision."""
    revision: str | None = None
    """The current revision of the template."""
    paused: bool | None = None
    """Whether the rollout waits for the canary to be promoted."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation this status was computed from."""
    conditions: Conditions | None = None
    """Ready, Scaled (enough free Hosts), MachinesReady, UpToDate and Paused, each with reason and message."""


class MachineSet(KokpitModel):
    """A MachineSet object as read from or written to the hub."""

    api_version: Literal["machines.kokpit.io/v1alpha1"] = "machines.kokpit.io/v1alpha1"
    kind: Literal["MachineSet"] = "MachineSet"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: MachineSetSpec
    status: MachineSetStatus | None = None


# --- MachineHealthCheck ----------------------------------------------------------------------------------


class UnhealthyCondition(KokpitModel):
    """A Node condition that makes its Machine unhealthy once it has held for `timeout`."""

    type: Annotated[str, Field(min_length=1, max_length=316)]
    """The Node condition type, e.g. Ready."""
    status: ConditionStatus
    """The status that is unhealthy: False or Unknown (True for conditions such as MemoryPressure)."""
    timeout: Annotated[str, Field(max_length=32, pattern=TIMEOUT_PATTERN)]
    """How long it must hold, e.g. 30s or 5m."""


class MachineHealthCheckSpec(KokpitModel):
    """Which Machines are unhealthy, and how many may be remediated at once."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.maxUnhealthy) || (type(self.maxUnhealthy) == int ? self.maxUnhealthy >= 0 : "
                "string(self.maxUnhealthy).matches(r'" + PERCENT_PATTERN + "'))",
                "maxUnhealthy must be a count or a percentage such as 40%",
                field_path=".maxUnhealthy",
                reason="FieldValueInvalid",
            ),
        )
    )

    selector: LabelSelector
    """Labels of the Machines checked, in the same namespace."""
    unhealthy_conditions: (
        Annotated[
            list[UnhealthyCondition], Field(max_length=16, json_schema_extra=list_map("type", "status"))
        ]
        | None
    ) = None
    """Node conditions that make a Machine unhealthy."""
    check_components: bool = True
    """Whether a failing component `check` makes the Machine unhealthy."""
    max_unhealthy: Annotated[int | str, AfterValidator(_int_or_percent)] = "100%"
    """Remediate only while at most this many (or this share) of the selected Machines are unhealthy;
    beyond it nothing is remediated and a condition says why. Remediation goes repair, then reinstall,
    then replace the Host."""


class MachineHealthCheckStatus(KokpitModel):
    """What the controller last observed."""

    expected_machines: Annotated[int, Field(ge=0)] | None = None
    """Machines selected."""
    current_healthy: Annotated[int, Field(ge=0)] | None = None
    """Of those, the healthy ones."""
    remediations_allowed: Annotated[int, Field(ge=0)] | None = None
    """How many more may be remediated now under maxUnhealthy."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation this status was computed from."""
    conditions: Conditions | None = None
    """RemediationAllowed (False when maxUnhealthy is exceeded, saying so)."""


class MachineHealthCheck(KokpitModel):
    """A MachineHealthCheck object as read from or written to the hub."""

    api_version: Literal["machines.kokpit.io/v1alpha1"] = "machines.kokpit.io/v1alpha1"
    kind: Literal["MachineHealthCheck"] = "MachineHealthCheck"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: MachineHealthCheckSpec
    status: MachineHealthCheckStatus | None = None


# --- declarations ----------------------------------------------------------------------------------------


def _ready(description: str) -> PrinterColumn:
    return PrinterColumn("Ready", "string", '.status.conditions[?(@.type=="Ready")].status', description)


NODE_COMPONENT = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="NodeComponent",
    plural="nodecomponents",
    scope="Cluster",
    short_names=("nc", "ncomp"),
    description=(
        "NodeComponent is a versioned piece of on-host software: templated install, configure, check, "
        "repair and remove scripts and files per OS and architecture, parameters with a schema, "
        "dependencies."
    ),
    spec=NodeComponentSpec,
    status=NodeComponentStatus,
    spec_required=True,
    extra_rules=(
        cel(
            "!has(self.spec.dependsOn) || !(self.metadata.name in self.spec.dependsOn)",
            "a component cannot depend on itself",
            field_path=".spec.dependsOn",
            reason="FieldValueInvalid",
        ),
    ),
    printer_columns=(
        PrinterColumn("Versions", "string", ".spec.versions", "The versions offered."),
        PrinterColumn("DependsOn", "string", ".spec.dependsOn", "Components installed first."),
        PrinterColumn(
            "Accepted",
            "string",
            '.status.conditions[?(@.type=="Accepted")].status',
            "Whether the definition is usable.",
        ),
    ),
)
"""The declaration of the NodeComponent resource type."""

HOST = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="Host",
    plural="hosts",
    scope="Namespaced",
    short_names=("kho", "khost"),
    description="Host is a machine reachable by SSH that kokpit may prepare and join as a node.",
    spec=HostSpec,
    status=HostStatus,
    spec_required=True,
    printer_columns=(
        PrinterColumn("Address", "string", ".spec.address", "Where sshd listens."),
        PrinterColumn("Phase", "string", ".status.phase", "Available or Claimed."),
        PrinterColumn("Machine", "string", ".status.machineRef.name", "The Machine holding it."),
        PrinterColumn(
            "Reachable",
            "string",
            '.status.conditions[?(@.type=="Reachable")].status',
            "Whether SSH answered with the pinned key.",
        ),
        PrinterColumn("OS", "string", ".status.distribution", "The os-release ID.", priority=1),
        PrinterColumn("Arch", "string", ".status.architecture", "The architecture.", priority=1),
    ),
)
"""The declaration of the Host resource type."""

MACHINE = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="Machine",
    plural="machines",
    scope="Namespaced",
    short_names=("kma", "kmachine"),
    description=(
        "Machine is a Host claimed for a cluster: the components and versions it runs, its Node's "
        "labels and taints."
    ),
    spec=MachineSpec,
    status=MachineStatus,
    spec_required=True,
    printer_columns=(
        PrinterColumn("Host", "string", ".spec.hostRef.name", "The Host it runs on."),
        PrinterColumn("Cluster", "string", ".spec.clusterRef.name", "The cluster its node joins."),
        PrinterColumn("Node", "string", ".status.nodeRef.name", "Its Node."),
        PrinterColumn("Phase", "string", ".status.phase", "One-word summary."),
        _ready("Whether the node is Ready with every component healthy."),
        PrinterColumn("Kind", "string", ".spec.clusterRef.kind", "The kind of cluster.", priority=1),
    ),
)
"""The declaration of the Machine resource type."""

MACHINE_SET = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="MachineSet",
    plural="machinesets",
    scope="Namespaced",
    short_names=("kms", "kmachineset"),
    description=(
        "MachineSet keeps replicas of a Machine template on Hosts it claims, rolling changes with "
        "maxUnavailable and a canary."
    ),
    spec=MachineSetSpec,
    status=MachineSetStatus,
    spec_required=True,
    printer_columns=(
        PrinterColumn("Replicas", "integer", ".spec.replicas", "Machines wanted."),
        PrinterColumn("Ready", "integer", ".status.readyReplicas", "Machines Ready."),
        PrinterColumn("Updated", "integer", ".status.updatedReplicas", "Machines on the current revision."),
        PrinterColumn("Paused", "boolean", ".status.paused", "Waiting for the canary to be promoted."),
        PrinterColumn("Revision", "string", ".status.revision", "The current revision.", priority=1),
    ),
)
"""The declaration of the MachineSet resource type."""

MACHINE_HEALTH_CHECK = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="MachineHealthCheck",
    plural="machinehealthchecks",
    scope="Namespaced",
    short_names=("kmhc",),
    description=(
        "MachineHealthCheck says which Machines are unhealthy and remediates them (repair, reinstall, "
        "replace) within a maxUnhealthy guard."
    ),
    spec=MachineHealthCheckSpec,
    status=MachineHealthCheckStatus,
    spec_required=True,
    printer_columns=(
        PrinterColumn("Expected", "integer", ".status.expectedMachines", "Machines selected."),
        PrinterColumn("Healthy", "integer", ".status.currentHealthy", "Machines healthy."),
        PrinterColumn("Allowed", "integer", ".status.remediationsAllowed", "Remediations allowed now."),
        PrinterColumn("MaxUnhealthy", "string", ".spec.maxUnhealthy", "The guard.", priority=1),
    ),
)
"""The declaration of the MachineHealthCheck resource type."""

MACHINE_RESOURCES = (NODE_COMPONENT, HOST, MACHINE, MACHINE_SET, MACHINE_HEALTH_CHECK)
"""The machines group's types, in install order."""
