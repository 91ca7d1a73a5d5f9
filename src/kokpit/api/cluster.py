"""`Cluster`: a member of the fleet, as the hub knows it (`cluster.kokpit.io/v1alpha1`).

Field names follow Karmada's `cluster.karmada.io/v1alpha1` Cluster where they mean the same, so
people who know one can read the other. The spec says how to reach the member (Push: the hub dials
`apiEndpoint` with the kubeconfig in `secretRef`; Pull: an agent next to the member dials the hub) and
how to schedule onto it (provider/region/zone, taints); the status is what the hub last observed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from kokpit.api.crd import PrinterColumn, ResourceType
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

GROUP = "cluster.kokpit.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
SECRET_NAMESPACE = "kokpit-system"
"""Where the kubeconfig Secrets of Push-mode clusters live by default."""

TOPOLOGY_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
HTTPS_URL_PATTERN = r"^https://[^\s/?#]+(/[^\s?#]*)?$"
QUALIFIED_NAME_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"

TopologyName = Annotated[str, Field(min_length=1, max_length=63, pattern=TOPOLOGY_PATTERN)]
Quantity = str
"""A Kubernetes quantity in its canonical string form: "4", "500m", "16Gi"."""


class SyncMode(StrEnum):
    """How the hub and a member exchange objects."""

    PUSH = "Push"
    """The hub connects to the member's API server with a kubeconfig it holds."""
    PULL = "Pull"
    """An agent in the member connects to the hub and applies its own Work."""


class TaintEffect(StrEnum):
    """What a taint does to workloads that do not tolerate it (the values of core/v1 TaintEffect)."""

    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class SecretReference(KokpitModel):
    """A Secret in the hub holding a kubeconfig for the member under the key `kubeconfig`.

    The hub watches Secrets in kokpit-system only, so `namespace` may name no other: anything else is
    refused (here and by the API server) rather than silently never read.
    """

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                f"!has(self.namespace) || self.namespace == '{SECRET_NAMESPACE}'",
                f"secretRef.namespace must be {SECRET_NAMESPACE}: the hub reads kubeconfig Secrets "
                "from no other namespace",
                field_path=".namespace",
                reason="FieldValueInvalid",
            ),
        )
    )

    namespace: Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)] = (
        SECRET_NAMESPACE
    )
    """Namespace of the Secret; only kokpit-system is supported (the one the hub watches)."""
    name: Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
    """Name of the Secret."""

    @model_validator(mode="after")
    def _only_the_watched_namespace(self) -> Self:
        if self.namespace != SECRET_NAMESPACE:
            raise ValueError(
                f"secretRef.namespace must be {SECRET_NAMESPACE}: the hub reads kubeconfig Secrets "
                "from no other namespace"
            )
        return self


class Taint(KokpitModel):
    """Repels workloads that do not tolerate it from being propagated to the cluster."""

    key: Annotated[str, Field(min_length=1, max_length=316, pattern=QUALIFIED_NAME_PATTERN)]
    """The taint key, a qualified name such as example.com/maintenance."""
    value: Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)] | None = None
    """The taint value."""
    effect: TaintEffect
    """What happens to workloads that do not tolerate the taint."""
    time_added: datetime | None = None
    """When the taint was added; set for NoExecute taints."""


class ClusterSpec(KokpitModel):
    """How to reach a member cluster and how to place workloads on it."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.syncMode != 'Push' || has(self.apiEndpoint)",
                "apiEndpoint is required when syncMode is Push",
                field_path=".apiEndpoint",
                reason="FieldValueRequired",
            ),
            cel(
                "self.syncMode != 'Push' || has(self.secretRef)",
                "secretRef is required when syncMode is Push",
                field_path=".secretRef",
                reason="FieldValueRequired",
            ),
        )
    )

    sync_mode: SyncMode
    """Push: the hub connects to the member with the kubeconfig in secretRef. Pull: an agent in the member
    connects to the hub."""
    api_endpoint: Annotated[str, Field(max_length=2048, pattern=HTTPS_URL_PATTERN)] | None = None
    """The https URL of the member's API server; required in Push mode."""
    secret_ref: SecretReference | None = None
    """The Secret holding the member's kubeconfig; required in Push mode."""
    provider: TopologyName | None = None
    """The cloud or infrastructure provider running the cluster, for placement."""
    region: TopologyName | None = None
    """The region the cluster runs in, for placement."""
    zone: TopologyName | None = None
    """The zone the cluster runs in, for placement."""
    taints: (
        Annotated[list[Taint], Field(max_length=64, json_schema_extra=list_map("key", "effect"))] | None
    ) = None
    """Taints on the cluster; workloads must tolerate them to be placed here."""

    @model_validator(mode="after")
    def _push_needs_credentials(self) -> Self:
        if self.sync_mode is SyncMode.PUSH:
            missing = [
                name
                for name, value in (("apiEndpoint", self.api_endpoint), ("secretRef", self.secret_ref))
                if value is None
            ]
            if missing:
                raise ValueError(f"{' and '.join(missing)} required when syncMode is Push")
        return self


class APIResource(KokpitModel):
    """One resource a member's API server serves."""

    name: Annotated[str, Field(min_length=1)]
    """The plural resource name, for example deployments."""
    kind: Annotated[str, Field(min_length=1)]
    """The kind, for example Deployment."""
    namespaced: bool | None = None
    """Whether objects of this resource live in namespaces."""


class APIEnablement(KokpitModel):
    """The resources a member serves in one group/version."""

    group_version: Annotated[str, Field(min_length=1)]
    """The group/version, for example apps/v1 (or v1 for the core group)."""
    resources: Annotated[list[APIResource], Field(json_schema_extra=list_map("name"))] | None = None
    """The resources served in this group/version."""


class NodeSummary(KokpitModel):
    """How many nodes a member has."""

    total_num: Annotated[int, Field(ge=0, json_schema_extra={"format": "int32"})] | None = None
    """Number of nodes in the cluster."""
    ready_num: Annotated[int, Field(ge=0, json_schema_extra={"format": "int32"})] | None = None
    """Number of nodes whose Ready condition is True."""


class ResourceSummary(KokpitModel):
    """Capacity of a member, per resource name (cpu, memory, pods, ...), as quantities."""

    allocatable: dict[str, Quantity] | None = None
    """What the nodes can hold in total."""
    allocated: dict[str, Quantity] | None = None
    """Requested by pods already scheduled."""


class ClusterStatus(KokpitModel):
    """What the hub last observed of a member cluster."""

    conditions: Conditions | None = None
    """Current state of the cluster; Ready says whether the hub can reach a healthy API server."""
    kubernetes_version: str | None = None
    """The member's Kubernetes version, for example v1.36.5."""
    api_enablements: (
        Annotated[list[APIEnablement], Field(json_schema_extra=list_map("groupVersion"))] | None
    ) = None
    """The group/versions and resources the member serves."""
    node_summary: NodeSummary | None = None
    """Node counts."""
    resource_summary: ResourceSummary | None = None
    """Capacity and usage."""
    last_probe_time: datetime | None = None
    """When the hub last probed the member."""


class Cluster(KokpitModel):
    """A member cluster object, as read from or written to the hub."""

    api_version: Literal["cluster.kokpit.io/v1alpha1"] = "cluster.kokpit.io/v1alpha1"
    kind: Literal["Cluster"] = "Cluster"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ClusterSpec
    status: ClusterStatus | None = None


CLUSTER = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="Cluster",
    plural="clusters",
    scope="Cluster",
    short_names=("kcl", "kcluster"),
    description=(
        "Cluster is a member of the kokpit fleet: how the hub reaches it (spec) and what the hub last "
        "observed of it (status)."
    ),
    spec=ClusterSpec,
    status=ClusterStatus,
    printer_columns=(
        PrinterColumn("Mode", "string", ".spec.syncMode", "How the hub and the member exchange objects."),
        PrinterColumn(
            "Ready",
            "string",
            '.status.conditions[?(@.type=="Ready")].status',
            "Whether the hub reaches a healthy API server.",
        ),
        PrinterColumn("Version", "string", ".status.kubernetesVersion", "The member's Kubernetes version."),
        PrinterColumn("Region", "string", ".spec.region", "The region the cluster runs in."),
        PrinterColumn("Zone", "string", ".spec.zone", "The zone the cluster runs in."),
        PrinterColumn("Nodes", "integer", ".status.nodeSummary.readyNum", "Number of ready nodes."),
        PrinterColumn("Provider", "string", ".spec.provider", "The infrastructure provider.", priority=1),
        PrinterColumn("Endpoint", "string", ".spec.apiEndpoint", "The member's API server.", priority=1),
    ),
)
"""The declaration of the Cluster resource type, from which its CRD is generated."""
