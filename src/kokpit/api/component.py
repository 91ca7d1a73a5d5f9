"""Components (`apps.kokpit.io`): a small application spec that kokpit renders into workloads.

A `Component` names a service by a few fields (workload type, language, run type, image, port);
the Deployments, Services, Ingresses, HPAs and PDBs come from `ComponentTemplate`s the platform team
owns. The kind is served in two versions:

- `v1alpha1`, the original flat spec: `developLanguage`, `port`, `svc.type` (`ClusterIP`, `NodePort`
  or `external-lb`), `host`.
- `v1beta1`, the storage and hub version (the only one served until kokpit registers its
  conversion webhook on the CRD, see `COMPONENT`): what a service exposes is grouped under `exposure`
  (`port`, `service`, `ingress`), `developLanguage` is `language`, and the old `svc.type: external-lb`
  is a Service of type `LoadBalancer` with `loadBalancerClass: kokpit.io/l4`, which v1beta1 can also
  set to other classes. `kokpit.components.conversion` converts both ways without loss.

`ComponentTemplate` (cluster-scoped, `v1alpha1`) holds a sandboxed Jinja2 manifest stream, the
selector that decides which Components (and clusters) it serves, and a JSON Schema for the `config`
values a Component passes to it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from kokpit.api.crd import PrinterColumn, ResourceType, ServedVersion
from kokpit.api.meta import (
    DNS_LABEL_PATTERN,
    Conditions,
    KokpitModel,
    ObjectMeta,
    cel,
    list_map,
    validations,
)
from kokpit.api.policy import LabelSelector

GROUP = "apps.kokpit.io"
V1ALPHA1 = "v1alpha1"
V1BETA1 = "v1beta1"
STORAGE_VERSION = V1BETA1
API_VERSION_V1ALPHA1 = f"{GROUP}/{V1ALPHA1}"
API_VERSION_V1BETA1 = f"{GROUP}/{V1BETA1}"
TEMPLATE_VERSION = V1ALPHA1
TEMPLATE_API_VERSION = f"{GROUP}/{TEMPLATE_VERSION}"

LEGACY_LOAD_BALANCER = "external-lb"
"""v1alpha1's `svc.type` for a cloud load balancer in front of the Service."""
DEFAULT_LOAD_BALANCER_CLASS = "kokpit.io/l4"
"""The v1beta1 `loadBalancerClass` that v1alpha1's `external-lb` becomes."""

TOKEN_PATTERN = r"^[a-z][a-z0-9-]*$"
"""Languages and run types: lower-case words, so templates can name them in selectors."""
Token = Annotated[str, Field(min_length=1, max_length=63, pattern=TOKEN_PATTERN)]
Port = Annotated[int, Field(ge=1, le=65535)]
ClusterName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
Image = Annotated[str, Field(min_length=1, max_length=1024)]
Host = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    ),
]


class WorkloadType(StrEnum):
    """The workload kind a Component runs as."""

    DEPLOYMENT = "Deployment"
    STATEFUL_SET = "StatefulSet"


class EnvVar(KokpitModel):
    """One environment variable given to the Component's container."""

    name: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")]
    """The variable's name."""
    value: Annotated[str, Field(max_length=32768)] = ""
    """The variable's value."""


class ClusterPlacement(KokpitModel):
    """One cluster the Component runs on, with what differs there."""

    name: ClusterName
    """The member cluster's name."""
    replicas: Annotated[int, Field(ge=0, le=10000)] | None = None
    """Replicas on this cluster; the Component's `replicas` when unset."""
    image: Image | None = None
    """The image on this cluster; the Component's `image` when unset."""
    env: Annotated[list[EnvVar], Field(max_length=128, json_schema_extra=list_map("name"))] | None = None
    """Environment variables added (or replaced by name) on this cluster."""


class Placement(KokpitModel):
    """The clusters a Component runs on: named ones, or every cluster a selector matches."""

    clusters: (
        Annotated[list[ClusterPlacement], Field(max_length=1024, json_schema_extra=list_map("name"))] | None
    ) = None
    """Clusters named one by one, each with its replicas, image and environment overrides."""
    cluster_selector: LabelSelector | None = None
    """Clusters chosen by their labels, in addition to those named."""


class Autoscaling(KokpitModel):
    """A HorizontalPodAutoscaler for the workload."""

    min_replicas: Annotated[int, Field(ge=1, le=10000)] = 1
    """The fewest replicas the autoscaler keeps."""
    max_replicas: Annotated[int, Field(ge=1, le=10000)]
    """The most replicas the autoscaler may run."""
    target_cpu_utilization_percentage: Annotated[int, Field(ge=1, le=100)] = 80
    """Average CPU utilisation the autoscaler aims at."""


Config = dict[str, Any]
"""Free-form values for the selected template, validated against its `parametersSchema`."""


# ---------------------------------------------------------------------------------------------- v1alpha1


class SvcTypeV1Alpha1(StrEnum):
    """How the v1alpha1 Service is reached."""

    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    EXTERNAL_LB = LEGACY_LOAD_BALANCER


class SvcV1Alpha1(KokpitModel):
    """The v1alpha1 Service."""

    type: SvcTypeV1Alpha1 | None = None
    """ClusterIP (the default), NodePort, or external-lb for a cloud load balancer."""
    port: Port | None = None
    """The Service port; the container port when unset."""


class ComponentSpecV1Alpha1(KokpitModel):
    """The original Component spec."""

    workload_type: WorkloadType
    """Deployment or StatefulSet."""
    develop_language: Token
    """The language the service is written in (python, java, go, node, or any a template serves)."""
    run_type: Token
    """How the service runs, e.g. server, worker or cron."""
    image: Image
    """The container image."""
    port: Port | None = None
    """The port the container listens on."""
    replicas: Annotated[int, Field(ge=0, le=10000)] | None = None
    """Replicas on every placed cluster that does not set its own."""
    svc: SvcV1Alpha1 | None = None
    """The Service in front of the workload."""
    host: Host | None = None
    """An Ingress host; no Ingress without one."""
    autoscaling: Autoscaling | None = None
    """A HorizontalPodAutoscaler, when set."""
    config: Config | None = None
    """Values for the selected template."""
    placement: Placement | None = None
    """The clusters the Component runs on."""


# ----------------------------------------------------------------------------------------------- v1beta1


class ServiceType(StrEnum):
    """The Kubernetes Service type rendered."""

    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"


class ServiceExposure(KokpitModel):
    """The Service in front of the workload."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.loadBalancerClass) || (has(self.type) && self.type == 'LoadBalancer')",
                "loadBalancerClass is for Services of type LoadBalancer",
                field_path=".loadBalancerClass",
            ),
        )
    )

    type: ServiceType | None = None
    """ClusterIP (the default), NodePort or LoadBalancer."""
    port: Port | None = None
    """The Service port; the container port when unset."""
    load_balancer_class: (
        Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[a-z0-9.-]+/[A-Za-z0-9._-]+$")] | None
    ) = None
    """The Service's `loadBalancerClass` (type LoadBalancer only), e.g. `kokpit.io/l4`."""

    @model_validator(mode="after")
    def _class_needs_load_balancer(self) -> Self:
        if self.load_balancer_class is not None and self.type is not ServiceType.LOAD_BALANCER:
            raise ValueError("loadBalancerClass is for Services of type LoadBalancer")
        return self


class IngressExposure(KokpitModel):
    """An Ingress for the Service."""

    host: Host
    """The host name the Ingress serves."""
    path: Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^/")] | None = None
    """The path prefix routed to the Service; `/` when unset."""
    class_name: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    """The Ingress's `ingressClassName`."""


class Exposure(KokpitModel):
    """What the Component exposes and how it is reached."""

    port: Port | None = None
    """The port the container listens on."""
    service: ServiceExposure | None = None
    """The Service in front of the workload."""
    ingress: IngressExposure | None = None
    """An Ingress, when set."""


class ComponentSpecV1Beta1(KokpitModel):
    """The Component spec: what runs, what it exposes, where it runs."""

    workload_type: WorkloadType
    """Deployment or StatefulSet."""
    language: Token
    """The language the service is written in (python, java, go, node, or any a template serves)."""
    run_type: Token
    """How the service runs, e.g. server, worker or cron."""
    image: Image
    """The container image."""
    replicas: Annotated[int, Field(ge=0, le=10000)] | None = None
    """Replicas on every placed cluster that does not set its own."""
    exposure: Exposure | None = None
    """Ports, Service and Ingress."""
    autoscaling: Autoscaling | None = None
    """A HorizontalPodAutoscaler, when set."""
    config: Config | None = None
    """Values for the selected template."""
    placement: Placement | None = None
    """The clusters the Component runs on."""


class ClusterComponentStatus(KokpitModel):
    """How the Component is doing on one cluster."""

    name: ClusterName
    """The member cluster."""
    template: str | None = None
    """The ComponentTemplate rendered for this cluster."""
    rendered: bool | None = None
    """Whether the manifests for this cluster were rendered."""
    applied: bool | None = None
    """Whether the member applied them."""
    replicas: int | None = None
    """Replicas wanted on this cluster."""
    ready_replicas: int | None = None
    """Ready replicas on this cluster."""
    available_replicas: int | None = None
    """Available replicas on this cluster."""
    image: str | None = None
    """The image running on this cluster."""


class ComponentStatus(KokpitModel):
    """Per-cluster and aggregated state; the same in both versions."""

    observed_generation: int | None = None
    """The generation this status was computed from."""
    replicas: int | None = None
    """Replicas wanted on every cluster together."""
    ready_replicas: int | None = None
    """Ready replicas on every cluster together."""
    available_replicas: int | None = None
    """Available replicas on every cluster together."""
    clusters: (
        Annotated[list[ClusterComponentStatus], Field(max_length=1024, json_schema_extra=list_map("name"))]
        | None
    ) = None
    """One entry per placed cluster."""
    conditions: Conditions | None = None
    """Rendered, Applied, Available, Progressing."""


class ComponentV1Alpha1(KokpitModel):
    """A Component as written in v1alpha1."""

    api_version: Literal["apps.kokpit.io/v1alpha1"] = "apps.kokpit.io/v1alpha1"
    kind: Literal["Component"] = "Component"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ComponentSpecV1Alpha1
    status: ComponentStatus | None = None


class Component(KokpitModel):
    """A Component in the storage version, v1beta1."""

    api_version: Literal["apps.kokpit.io/v1beta1"] = "apps.kokpit.io/v1beta1"
    kind: Literal["Component"] = "Component"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ComponentSpecV1Beta1
    status: ComponentStatus | None = None


# ------------------------------------------------------------------------------------- ComponentTemplate


class TemplateSelector(KokpitModel):
    """Which Components and clusters a template serves; an unset dimension matches anything.

    Among the templates matching a Component on a cluster the most specific wins: see
    `kokpit.components.selection` for the exact order.
    """

    workload_types: Annotated[list[WorkloadType], Field(max_length=2)] | None = None
    """Workload types served."""
    languages: Annotated[list[Token], Field(max_length=64)] | None = None
    """Languages served."""
    run_types: Annotated[list[Token], Field(max_length=64)] | None = None
    """Run types served."""
    cluster_selector: LabelSelector | None = None
    """Clusters whose labels match; a non-empty selector makes the template more specific."""


class ComponentTemplateSpec(KokpitModel):
    """A manifest template and what it serves."""

    selector: TemplateSelector = Field(default_factory=TemplateSelector)
    """The Components and clusters it serves."""
    parameters_schema: dict[str, Any] | None = None
    """A JSON Schema (draft 2020-12) that a Component's `config`, merged over `defaults`, must satisfy."""
    defaults: dict[str, Any] | None = None
    """Values under a Component's `config`, merged key by key (the Component's values win)."""
    template: Annotated[str, Field(min_length=1, max_length=262144)]
    """A Jinja2 template rendering a YAML stream of manifests (`---` between them), sandboxed, with
    `component`, `config` and `cluster` as variables; unknown variables are errors."""


class ComponentTemplateStatus(KokpitModel):
    """Whether kokpit accepted the template."""

    conditions: Conditions | None = None
    """Accepted, with the reason a template is refused."""


class ComponentTemplate(KokpitModel):
    """A template the platform team owns, rendering Components into manifests."""

    api_version: Literal["apps.kokpit.io/v1alpha1"] = "apps.kokpit.io/v1alpha1"
    kind: Literal["ComponentTemplate"] = "ComponentTemplate"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ComponentTemplateSpec
    status: ComponentTemplateStatus | None = None


_COMMON_COLUMNS = (
    PrinterColumn(name="Workload", type="string", json_path=".spec.workloadType"),
    PrinterColumn(name="Image", type="string", json_path=".spec.image", priority=1),
    PrinterColumn(name="Ready", type="integer", json_path=".status.readyReplicas"),
    PrinterColumn(
        name="Available", type="string", json_path='.status.conditions[?(@.type=="Available")].status'
    ),
)

COMPONENT = ResourceType(
    group=GROUP,
    version=STORAGE_VERSION,
    kind="Component",
    plural="components",
    short_names=("comp",),
    description=(
        "Component is a service in a few fields; kokpit renders its workloads from ComponentTemplates "
        "and delivers them to the clusters it is placed on."
    ),
    spec=ComponentSpecV1Beta1,
    status=ComponentStatus,
    printer_columns=(
        PrinterColumn(name="Language", type="string", json_path=".spec.language"),
        *_COMMON_COLUMNS,
    ),
    other_versions=(
        ServedVersion(
            name=V1ALPHA1,
            needs_conversion=True,
            spec=ComponentSpecV1Alpha1,
            status=ComponentStatus,
            printer_columns=(
                PrinterColumn(name="Language", type="string", json_path=".spec.developLanguage"),
                *_COMMON_COLUMNS,
            ),
        ),
    ),
)
"""The declaration of the Component resource type: v1beta1 stored and served. v1alpha1 is served only
while the CRD names kokpit's conversion webhook (the serving hub replica registers it): with
conversion `None` the API server would store a v1alpha1 object under the v1beta1 schema and prune
`developLanguage`, `port`, `svc` and `host` (the conversion itself is `kokpit.components.conversion`)."""

COMPONENT_TEMPLATE = ResourceType(
    group=GROUP,
    version=TEMPLATE_VERSION,
    kind="ComponentTemplate",
    plural="componenttemplates",
    scope="Cluster",
    short_names=("ctpl",),
    description=(
        "ComponentTemplate renders Components into manifests: a sandboxed Jinja2 YAML stream, the "
        "workload types, languages, run types and clusters it serves, and a JSON Schema for config."
    ),
    spec=ComponentTemplateSpec,
    status=ComponentTemplateStatus,
    printer_columns=(
        PrinterColumn(name="Workloads", type="string", json_path=".spec.selector.workloadTypes"),
        PrinterColumn(name="Languages", type="string", json_path=".spec.selector.languages"),
        PrinterColumn(name="Run-Types", type="string", json_path=".spec.selector.runTypes"),
        PrinterColumn(
            name="Accepted", type="string", json_path='.status.conditions[?(@.type=="Accepted")].status'
        ),
    ),
)
"""The declaration of the ComponentTemplate resource type."""
