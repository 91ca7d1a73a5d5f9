"""The inspectable steps of delivery (`work.kokpit.io/v1alpha1`): `ResourceBinding` and `Work`.

A template selected by a propagation policy gets a `ResourceBinding` (or a `ClusterResourceBinding` for a
cluster-scoped template) next to it: the placement copied from the policy, the scheduling decision
(which clusters, how many replicas each, and why every other cluster was left out) and, in its status,
what each member reported back. For each chosen cluster the binding becomes one `Work` in that cluster's
execution namespace `kokpit-es-<cluster>` on the hub: the exact manifests to apply, overrides included.
The hub applies the Works of Push-mode clusters; Pull-mode clusters fetch and apply their own.

Field names follow Karmada's `work.karmada.io` where they mean the same.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from kokpit.api.crd import PrinterColumn, ResourceType
from kokpit.api.meta import Conditions, KokpitModel, ObjectMeta, list_map
from kokpit.api.policy import ConflictResolution, Placement, PurgeMode

GROUP = "work.kokpit.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

SCHEDULED = "Scheduled"
"""Binding condition: the scheduler placed the resource (reason NoClusterFit, ... when it could not)."""
FULLY_APPLIED = "FullyApplied"
"""Binding condition: every chosen cluster applied its Work."""
APPLIED = "Applied"
"""Work condition: the manifests were applied to the member."""
AVAILABLE = "Available"
"""Work condition: the applied objects exist and are healthy in the member."""

FreeForm = dict[str, Any]
"""Any JSON object, kept as sent (`x-kubernetes-preserve-unknown-fields`)."""

Manifest = Annotated[dict[str, Any], Field(json_schema_extra={"x-kubernetes-embedded-resource": True})]
"""A whole Kubernetes object (apiVersion, kind, metadata, ...)."""


class Health(StrEnum):
    """How a member judged an applied object."""

    HEALTHY = "Healthy"
    UNHEALTHY = "Unhealthy"
    UNKNOWN = "Unknown"


class ObjectReference(KokpitModel):
    """The resource template a binding is for."""

    api_version: Annotated[str, Field(min_length=1)]
    """The template's apiVersion."""
    kind: Annotated[str, Field(min_length=1)]
    """The template's kind."""
    namespace: str | None = None
    """The template's namespace; unset for cluster-scoped templates."""
    name: Annotated[str, Field(min_length=1)]
    """The template's name."""
    uid: str | None = None
    """The template's uid, to tell a recreated template from the old one."""
    resource_version: str | None = None
    """The template's resourceVersion the binding was last synced from."""


class PolicyReference(KokpitModel):
    """The propagation policy that claimed the template."""

    kind: Literal["PropagationPolicy", "ClusterPropagationPolicy"]
    """PropagationPolicy or ClusterPropagationPolicy."""
    namespace: str | None = None
    """The policy's namespace; unset for ClusterPropagationPolicy."""
    name: Annotated[str, Field(min_length=1)]
    """The policy's name."""


class TargetCluster(KokpitModel):
    """A cluster the resource goes to."""

    name: Annotated[str, Field(min_length=1)]
    """The cluster's name."""
    replicas: Annotated[int, Field(ge=0, json_schema_extra={"format": "int32"})] = 0
    """The replicas it runs; 0 for resources without replicas."""


class ClusterDecision(KokpitModel):
    """Why the scheduler did or did not choose one cluster."""

    cluster: Annotated[str, Field(min_length=1)]
    """The cluster's name."""
    selected: bool
    """Whether the resource goes to it."""
    replicas: Annotated[int, Field(ge=0, json_schema_extra={"format": "int32"})] = 0
    """The replicas it runs."""
    reason: str
    """Why, for example "selected" or "region us-east not in [eu-west]"."""


class BindingSnapshot(KokpitModel):
    """A binding that needs the resource of an attached binding, and where it is placed (Karmada's
    BindingSnapshot)."""

    namespace: str | None = None
    """The namespace of the binding; unset for a ClusterResourceBinding."""
    name: Annotated[str, Field(min_length=1)]
    """The name of the binding."""
    clusters: Annotated[list[TargetCluster], Field(max_length=1024)] | None = None
    """The clusters the binding's resource is scheduled to."""


class GracefulEvictionTask(KokpitModel):
    """A cluster the resource is being evicted from, kept until its copy there may go (Karmada's
    GracefulEvictionTask). Written by kokpit (`kokpit.propagation.failover`); removing a task by hand
    releases the copy it keeps."""

    from_cluster: Annotated[str, Field(min_length=1)]
    """The cluster the resource is evicted from."""
    purge_mode: PurgeMode = PurgeMode.GRACIOUSLY
    """Graciously: the copy goes once the replacement is healthy or at the deadline; Never: it stays
    until the task is removed."""
    replicas: Annotated[int, Field(ge=0, json_schema_extra={"format": "int32"})] | None = None
    """The replicas the cluster ran when it was evicted."""
    reason: Annotated[str, Field(min_length=1, max_length=32)]
    """TaintUntolerated or ApplicationFailure."""
    message: Annotated[str, Field(max_length=1024)] | None = None
    """What happened, for a human."""
    producer: Annotated[str, Field(min_length=1)]
    """Which part of kokpit evicted it."""
    grace_period_seconds: Annotated[int, Field(ge=0, json_schema_extra={"format": "int32"})] | None = None
    """With Graciously: the longest wait for the replacement, from creationTimestamp."""
    suppress_deletion: bool | None = None
    """true (purgeMode Never): the copy is kept while the task exists."""
    creation_timestamp: datetime | None = None
    """When the eviction started."""
    deadline: datetime | None = None
    """With Graciously: when the copy is removed even if the replacement is not healthy yet."""


class ResourceBindingSpec(KokpitModel):
    """A template, the policy that claimed it, and the scheduling decision."""

    resource: ObjectReference
    """The template."""
    replicas: Annotated[int, Field(ge=0, json_schema_extra={"format": "int32"})] | None = None
    """The template's replicas; unset for resources without replicas."""
    placement: Placement | None = None
    """The placement of the policy, copied so a policy change is a binding change."""
    policy_ref: PolicyReference | None = None
    """The policy that claimed the template."""
    conflict_resolution: ConflictResolution = ConflictResolution.ABORT
    """What to do when the resource already exists in a member and kokpit did not create it."""
    preserve_resources_on_deletion: bool | None = None
    """Keep the propagated copies in the members when the template is deleted."""
    clusters: (
        Annotated[list[TargetCluster], Field(max_length=1024, json_schema_extra=list_map("name"))] | None
    ) = None
    """The scheduling decision: the clusters the resource goes to and their replicas."""
    decisions: (
        Annotated[list[ClusterDecision], Field(max_length=1024, json_schema_extra=list_map("cluster"))] | None
    ) = None
    """Why each known cluster was or was not chosen."""
    graceful_eviction_tasks: (
        Annotated[
            list[GracefulEvictionTask], Field(max_length=1024, json_schema_extra=list_map("fromCluster"))
        ]
        | None
    ) = None
    """The clusters the resource is being evicted from, whose copies are kept for now; the scheduler
    chooses none of them while its task lasts."""
    propagate_deps: bool | None = None
    """Copied from the policy: the pod template's dependencies follow this resource to its clusters."""
    required_by: Annotated[list[BindingSnapshot], Field(max_length=1024)] | None = None
    """The bindings (with propagateDeps) whose workloads reference this resource: it also goes to their
    clusters, and leaves a cluster when none of them is there any more. Written by the dependencies
    controller (`kokpit-dependencies`); a binding with it is an attached binding."""


class AggregatedStatusItem(KokpitModel):
    """What one member reported about its copy of the resource."""

    cluster_name: Annotated[str, Field(min_length=1)]
    """The member's name."""
    applied: bool | None = None
    """Whether the member applied the resource."""
    health: Health = Health.UNKNOWN
    """Healthy, Unhealthy or Unknown."""
    status: FreeForm | None = None
    """The status of the member's copy, as the member has it."""
    applied_message: str | None = None
    """Why applying failed, when it did."""


class ResourceBindingStatus(KokpitModel):
    """Scheduling and application progress of a binding."""

    conditions: Conditions | None = None
    """Scheduled and FullyApplied."""
    aggregated_status: (
        Annotated[list[AggregatedStatusItem], Field(json_schema_extra=list_map("clusterName"))] | None
    ) = None
    """What each chosen member reported."""
    scheduler_observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The binding generation the scheduling decision was made for."""
    scheduler_observed_affinity_name: str | None = None
    """The clusterAffinities group the decision used, when the placement has groups."""


class ResourceBinding(KokpitModel):
    """The binding of a namespaced template."""

    api_version: Literal["work.kokpit.io/v1alpha1"] = "work.kokpit.io/v1alpha1"
    kind: Literal["ResourceBinding"] = "ResourceBinding"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ResourceBindingSpec
    status: ResourceBindingStatus | None = None


class ClusterResourceBinding(KokpitModel):
    """The binding of a cluster-scoped template."""

    api_version: Literal["work.kokpit.io/v1alpha1"] = "work.kokpit.io/v1alpha1"
    kind: Literal["ClusterResourceBinding"] = "ClusterResourceBinding"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ResourceBindingSpec
    status: ResourceBindingStatus | None = None


class WorkloadTemplate(KokpitModel):
    """The manifests of a Work."""

    manifests: Annotated[list[Manifest], Field(max_length=1024)] | None = None
    """Whole objects to apply to the member, overrides already applied."""


class WorkSpec(KokpitModel):
    """What to apply to one member."""

    workload: WorkloadTemplate = Field(default_factory=WorkloadTemplate)
    """The manifests."""
    suspend_dispatching: bool | None = None
    """Stop applying changes to the member until unset."""
    preserve_resources_on_deletion: bool | None = None
    """Keep the applied objects in the member when the Work is deleted."""
    conflict_resolution: ConflictResolution | None = None
    """What to do when an object already exists in the member and kokpit did not create it."""


class ResourceIdentifier(KokpitModel):
    """Which manifest of a Work a status is about."""

    ordinal: Annotated[int, Field(ge=0, json_schema_extra={"format": "int32"})]
    """The manifest's index in spec.workload.manifests."""
    group: str = ""
    """The API group; empty for the core group."""
    version: Annotated[str, Field(min_length=1)]
    """The API version."""
    kind: Annotated[str, Field(min_length=1)]
    """The kind."""
    namespace: str | None = None
    """The namespace; unset for cluster-scoped objects."""
    name: Annotated[str, Field(min_length=1)]
    """The name."""


class ManifestStatus(KokpitModel):
    """The state of one applied manifest in the member."""

    identifier: ResourceIdentifier
    """Which manifest."""
    status: FreeForm | None = None
    """The status of the object in the member."""
    health: Health = Health.UNKNOWN
    """Healthy, Unhealthy or Unknown."""


class WorkStatus(KokpitModel):
    """Application progress of a Work."""

    conditions: Conditions | None = None
    """Applied and Available."""
    manifest_statuses: Annotated[list[ManifestStatus], Field(max_length=1024)] | None = None
    """The state of each manifest in the member."""


class Work(KokpitModel):
    """The manifests for one member, in its execution namespace on the hub."""

    api_version: Literal["work.kokpit.io/v1alpha1"] = "work.kokpit.io/v1alpha1"
    kind: Literal["Work"] = "Work"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: WorkSpec = Field(default_factory=WorkSpec)
    status: WorkStatus | None = None


_BINDING_COLUMNS = (
    PrinterColumn(
        "Scheduled",
        "string",
        '.status.conditions[?(@.type=="Scheduled")].status',
        "Whether the resource was placed.",
    ),
    PrinterColumn(
        "FullyApplied",
        "string",
        '.status.conditions[?(@.type=="FullyApplied")].status',
        "Whether every chosen member applied it.",
    ),
    PrinterColumn("Kind", "string", ".spec.resource.kind", "The template's kind.", priority=1),
    PrinterColumn("Resource", "string", ".spec.resource.name", "The template's name.", priority=1),
    PrinterColumn("Policy", "string", ".spec.policyRef.name", "The claiming policy.", priority=1),
)

RESOURCE_BINDING = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="ResourceBinding",
    plural="resourcebindings",
    short_names=("rb",),
    description=(
        "ResourceBinding ties a namespaced resource template to the clusters it is propagated to: the "
        "placement, the scheduling decision and why, and what each member reported back."
    ),
    spec=ResourceBindingSpec,
    status=ResourceBindingStatus,
    printer_columns=_BINDING_COLUMNS,
)
"""The declaration of the ResourceBinding resource type."""

CLUSTER_RESOURCE_BINDING = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="ClusterResourceBinding",
    plural="clusterresourcebindings",
    scope="Cluster",
    short_names=("crb",),
    description=(
        "ClusterResourceBinding ties a cluster-scoped resource template to the clusters it is propagated "
        "to: the placement, the scheduling decision and why, and what each member reported back."
    ),
    spec=ResourceBindingSpec,
    status=ResourceBindingStatus,
    printer_columns=_BINDING_COLUMNS,
)
"""The declaration of the ClusterResourceBinding resource type."""

WORK = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="Work",
    plural="works",
    short_names=("kw",),
    description=(
        "Work holds the manifests to apply to one member cluster; it lives in the member's execution "
        "namespace kokpit-es-<cluster> on the hub."
    ),
    spec=WorkSpec,
    status=WorkStatus,
    spec_required=False,
    printer_columns=(
        PrinterColumn(
            "Kind", "string", ".spec.workload.manifests[0].kind", "The kind of the first manifest."
        ),
        PrinterColumn(
            "Applied",
            "string",
            '.status.conditions[?(@.type=="Applied")].status',
            "Whether the manifests were applied to the member.",
        ),
        PrinterColumn(
            "Available",
            "string",
            '.status.conditions[?(@.type=="Available")].status',
            "Whether the applied objects are healthy in the member.",
        ),
        PrinterColumn(
            "Suspended", "boolean", ".spec.suspendDispatching", "Whether dispatching is paused.", priority=1
        ),
    ),
)
"""The declaration of the Work resource type."""
