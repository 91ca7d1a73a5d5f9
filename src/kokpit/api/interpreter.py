"""Resource interpreters (`config.kokpit.io/v1alpha1`): how delivery understands a custom kind.

Delivery knows where Deployments, StatefulSets, ReplicaSets and Jobs keep their replicas and how to judge
their health. A `ResourceInterpreter` (cluster-scoped, one per target kind) teaches it the same for any
other kind, with CEL expressions: where the replicas are read (`replicaResource`) and written
(`replicaRevision`), when a member's copy is healthy (`healthInterpretation`), which member status fields
are summed into the template (`statusAggregation`), which objects a copy needs on its cluster
(`dependencyInterpretation`, followed with `propagateDeps: true`), and which fields a member owns
(`retention`).

The layout follows Karmada's `ResourceInterpreterCustomization` (`target`, `customizations`, the same
customization names), but its Lua `luaScript` becomes a CEL `expression`; the kind carries its own name
so a Karmada object is never read as if its Lua were CEL. The API server checks the shape and refuses an
interpreter for a kokpit kind; the expressions are compiled by kokpit
(`kokpit.propagation.interpreter.compile_interpreter`), which reports a bad one as `Accepted=False`,
and `kokpit interpreter check` compiles and evaluates one against a sample object before it is written.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from kokpit.api.crd import PrinterColumn, ResourceType
from kokpit.api.meta import Conditions, KokpitModel, ObjectMeta, cel, validations

GROUP = "config.kokpit.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

KOKPIT_GROUP_SUFFIX = "kokpit.io"
"""Kinds in this API group and below it are kokpit's own; no interpreter may redefine them."""

FIELD_PATH_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"
"""A dotted path to a field below the root: `spec.size`, `status.readyReplicas`."""

Expression = Annotated[str, Field(min_length=1, max_length=4096)]
FieldPath = Annotated[str, Field(min_length=3, max_length=256, pattern=FIELD_PATH_PATTERN)]


def is_kokpit_api_version(api_version: str) -> bool:
    """`is_kokpit_api_version` tells whether `api_version` (`group/version`) is one of kokpit's groups."""
    group = api_version.rpartition("/")[0]
    return group == KOKPIT_GROUP_SUFFIX or group.endswith("." + KOKPIT_GROUP_SUFFIX)


class CustomizationTarget(KokpitModel):
    """The kind an interpreter is for."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                r"!self.apiVersion.matches('^([a-z0-9-]+\\.)*kokpit\\.io/')",
                "kokpit's own kinds cannot be given an interpreter",
                field_path=".apiVersion",
            ),
        )
    )

    api_version: Annotated[str, Field(min_length=3, max_length=316, pattern=r"^[a-z0-9.-]+/[a-z0-9]+$")]
    """`group/version` of the target kind; core kinds (`v1`) have built-in rules and are not allowed."""
    kind: Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[A-Z][A-Za-z0-9]*$")]
    """The target kind, e.g. `Widget`."""

    @model_validator(mode="after")
    def _not_kokpit(self) -> Self:
        if is_kokpit_api_version(self.api_version):
            raise ValueError(
                f"{self.api_version} is kokpit's own group: kokpit kinds cannot be given an interpreter"
            )
        return self


class ExpressionCustomization(KokpitModel):
    """One CEL expression."""

    expression: Expression
    """The CEL expression; the member or template object is the variable `object`."""


class ReplicaRevision(KokpitModel):
    """Where a divided replica count is written into a cluster's copy."""

    path: FieldPath
    """Dotted path of the integer field receiving the count, e.g. `spec.size`."""


class AggregatedField(KokpitModel):
    """One template status field computed from the members' copies."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.path.startsWith('status.')",
                "aggregated fields are written below status",
                field_path=".path",
            ),
        )
    )

    path: FieldPath
    """Dotted path of the template's field, below `status`: `status.readyReplicas`."""
    expression: Expression
    """CEL over `items`, the list of `{clusterName, status}` of every member copy; e.g.
    `sum(items.map(i, has(i.status.readyReplicas) ? i.status.readyReplicas : 0))`."""


class StatusAggregation(KokpitModel):
    """How member statuses become the template's status."""

    fields: Annotated[list[AggregatedField], Field(min_length=1, max_length=64)]
    """The template status fields to write, each from one expression."""


class Retention(KokpitModel):
    """Fields of a member copy that the member owns: kokpit does not write them."""

    paths: Annotated[list[FieldPath], Field(min_length=1, max_length=64)]
    """Dotted paths kokpit leaves to the member, e.g. `spec.paused`."""


class Customizations(KokpitModel):
    """The behaviours taught to kokpit for the target kind; each is optional."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "has(self.replicaResource) == has(self.replicaRevision)",
                "replicaResource and replicaRevision go together: replicas read are also written",
            ),
        )
    )

    replica_resource: ExpressionCustomization | None = None
    """Replicas of an object: an integer expression over `object`, e.g. `object.spec.size`."""
    replica_revision: ReplicaRevision | None = None
    """Where a cluster's share of the replicas is written."""
    health_interpretation: ExpressionCustomization | None = None
    """Whether a member's copy is healthy: a boolean expression over `object`."""
    status_aggregation: StatusAggregation | None = None
    """The template status fields computed from the member copies."""
    retention: Retention | None = None
    """Fields the members own."""
    dependency_interpretation: ExpressionCustomization | None = None
    """What an object needs on its clusters (Karmada's `dependencyInterpretation`): a list expression
    over `object` of `{apiVersion, kind, name, namespace?}` (namespace defaults to the object's; only
    namespaced dependencies in the object's namespace are followed), e.g.
    `[{'apiVersion': 'v1', 'kind': 'ConfigMap', 'name': object.spec.configName}]`. A policy's
    `propagateDeps: true` sends them along."""

    @model_validator(mode="after")
    def _replicas_pair(self) -> Self:
        if (self.replica_resource is None) != (self.replica_revision is None):
            raise ValueError(
                "replicaResource and replicaRevision go together: replicas read are also written"
            )
        return self


class ResourceInterpreterSpec(KokpitModel):
    """The kind and its customizations."""

    target: CustomizationTarget
    """The kind interpreted."""
    customizations: Customizations
    """What kokpit is taught about it."""


class ResourceInterpreterStatus(KokpitModel):
    """Whether kokpit compiled the expressions: `Accepted`, with the compile error as its message."""

    conditions: Conditions | None = None
    """Current state of the interpreter."""


class ResourceInterpreter(KokpitModel):
    """A resource interpreter: how delivery reads replicas, health and status of one custom kind."""

    api_version: Literal["config.kokpit.io/v1alpha1"] = "config.kokpit.io/v1alpha1"
    kind: Literal["ResourceInterpreter"] = "ResourceInterpreter"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ResourceInterpreterSpec
    status: ResourceInterpreterStatus | None = None


RESOURCE_INTERPRETER = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="ResourceInterpreter",
    plural="resourceinterpreters",
    scope="Cluster",
    short_names=("ri",),
    description=(
        "ResourceInterpreter teaches kokpit's delivery a custom kind with CEL expressions: where its "
        "replicas are, when a member copy is healthy, how member status is aggregated into the template, "
        "which objects it depends on."
    ),
    spec=ResourceInterpreterSpec,
    status=ResourceInterpreterStatus,
    printer_columns=(
        PrinterColumn(name="API-Version", type="string", json_path=".spec.target.apiVersion"),
        PrinterColumn(name="Kind", type="string", json_path=".spec.target.kind"),
        PrinterColumn(
            name="Accepted", type="string", json_path='.status.conditions[?(@.type=="Accepted")].status'
        ),
    ),
)
"""The declaration of the ResourceInterpreter resource type."""
