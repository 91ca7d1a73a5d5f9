"""Override policies (`policy.kokpit.io/v1alpha1`): how the copy of a template changes per member cluster.

`OverridePolicy` (namespaced) and `ClusterOverridePolicy` select resource templates like propagation
policies do (`kokpit.api.policy`) and rewrite the copy sent to each cluster their rules target: image
(registry/repository/tag), command, args, labels, annotations, JSON or YAML documents held in a field, and
plaintext JSON patches. Field names follow Karmada's; bad input is rejected by the schema before any
controller sees it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from kokpit.api.crd import ResourceType
from kokpit.api.meta import KokpitModel, ObjectMeta, cel, validations
from kokpit.api.policy import (
    GROUP,
    JSON_POINTER_PATTERN,
    READY_COLUMN,
    VERSION,
    ClusterAffinity,
    PolicyStatus,
    ResourceSelector,
)


class OverriderOperator(StrEnum):
    """What an overrider does."""

    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


class CommandArgsOperator(StrEnum):
    """What a command or args overrider does."""

    ADD = "add"
    REMOVE = "remove"


class ImageComponent(StrEnum):
    """A part of an image reference `registry/repository:tag`."""

    REGISTRY = "Registry"
    REPOSITORY = "Repository"
    TAG = "Tag"


_VALUE_FOR_ADD_AND_REPLACE = cel(
    "self.operator == 'remove' || has(self.value)",
    "value is required when operator is add or replace",
    field_path=".value",
    reason="FieldValueRequired",
)


class ImagePredicate(KokpitModel):
    """Where the image to override is, when not in the containers of a pod template."""

    path: Annotated[str, Field(min_length=2, max_length=1024, pattern=JSON_POINTER_PATTERN)]
    """JSON pointer to the image string, for example /spec/template/spec/containers/0/image."""


class ImageOverrider(KokpitModel):
    """Changes one component of container images. Without predicate it applies to every container and init
    container of the pod template of a Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob.
    add appends value to the component (Karmada's meaning), replace sets it, remove drops it."""

    model_config = ConfigDict(json_schema_extra=validations(_VALUE_FOR_ADD_AND_REPLACE))

    predicate: ImagePredicate | None = None
    """Override only the image at this path."""
    component: ImageComponent
    """Registry, Repository or Tag."""
    operator: OverriderOperator
    """add, replace or remove."""
    value: Annotated[str, Field(max_length=255)] | None = None
    """The value to add or set; required for add and replace."""

    @model_validator(mode="after")
    def _needs_value(self) -> Self:
        if self.operator is not OverriderOperator.REMOVE and self.value is None:
            raise ValueError("value is required when operator is add or replace")
        return self


class CommandArgsOverrider(KokpitModel):
    """Appends items to, or removes items from, the command or args of one container."""

    container_name: Annotated[str, Field(min_length=1, max_length=63)]
    """The container whose command or args change."""
    operator: CommandArgsOperator
    """add appends value; remove drops every item equal to one in value."""
    value: Annotated[list[str], Field(max_length=256)] | None = None
    """The items to append or remove."""


class LabelAnnotationOverrider(KokpitModel):
    """Changes labels or annotations: add sets every pair, replace changes only keys already present,
    remove deletes the keys of value."""

    operator: OverriderOperator
    """add, replace or remove."""
    value: Annotated[dict[str, str], Field(min_length=1)]
    """The pairs to set, or (for remove) the keys to delete."""


class PlaintextOverrider(KokpitModel):
    """A JSON patch operation (RFC 6902) on the manifest: `/spec/replicas` replace 3.

    value may be any JSON, which CEL cannot inspect, so "value is required for add and replace" is checked
    when the policy is read (the policy gets a condition), not by the API server."""

    path: Annotated[str, Field(min_length=2, max_length=1024, pattern=JSON_POINTER_PATTERN)]
    """JSON pointer to the field, starting with /."""
    operator: OverriderOperator
    """add, replace or remove."""
    value: Any = None
    """Any JSON value; required for add and replace."""

    @model_validator(mode="after")
    def _needs_value(self) -> Self:
        if self.operator is not OverriderOperator.REMOVE and "value" not in self.model_fields_set:
            raise ValueError("value is required when operator is add or replace")
        return self


class FieldPatchOperation(KokpitModel):
    """A JSON patch operation (RFC 6902) inside the JSON or YAML document a field holds.

    value may be any JSON, which CEL cannot inspect, so "value is required for add and replace" is checked
    when the policy is read, as for `PlaintextOverrider`."""

    sub_path: Annotated[str, Field(min_length=2, max_length=1024, pattern=JSON_POINTER_PATTERN)]
    """JSON pointer inside the document, starting with /: `/db/host`."""
    operator: OverriderOperator
    """add, replace or remove."""
    value: Any = None
    """Any JSON value; required for add and replace."""

    @model_validator(mode="after")
    def _needs_value(self) -> Self:
        if self.operator is not OverriderOperator.REMOVE and "value" not in self.model_fields_set:
            raise ValueError("value is required when operator is add or replace")
        return self


FIELD_OVERRIDER_ONE_FORMAT = "exactly one of json and yaml must be set"


class FieldOverrider(KokpitModel):
    """Patches the JSON or YAML document held as a string in one field, such as a file in a ConfigMap's
    data (Karmada's fieldOverrider): the string is parsed, patched and written back."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("has(self.json) != has(self.yaml)", FIELD_OVERRIDER_ONE_FORMAT),
        )
    )

    field_path: Annotated[str, Field(min_length=2, max_length=1024, pattern=JSON_POINTER_PATTERN)]
    """JSON pointer to the string field in the manifest: `/data/config.yaml`."""
    json_: Annotated[list[FieldPatchOperation], Field(min_length=1, max_length=64)] | None = Field(
        default=None, alias="json"
    )
    """Operations on the field parsed as JSON; written back as compact JSON with sorted keys."""
    yaml: Annotated[list[FieldPatchOperation], Field(min_length=1, max_length=64)] | None = None
    """Operations on the field parsed as YAML; written back as block YAML with sorted keys."""

    @model_validator(mode="after")
    def _one_format(self) -> Self:
        if (self.json_ is None) == (self.yaml is None):
            raise ValueError(FIELD_OVERRIDER_ONE_FORMAT)
        return self


class Overriders(KokpitModel):
    """The changes of one rule, applied in this order: image, command, args, labels, annotations, field,
    plaintext."""

    plaintext: Annotated[list[PlaintextOverrider], Field(max_length=64)] | None = None
    """JSON patch operations."""
    field_overrider: Annotated[list[FieldOverrider], Field(max_length=64)] | None = None
    """Changes inside JSON or YAML documents held in string fields."""
    image_overrider: Annotated[list[ImageOverrider], Field(max_length=64)] | None = None
    """Image changes."""
    command_overrider: Annotated[list[CommandArgsOverrider], Field(max_length=64)] | None = None
    """Command changes."""
    args_overrider: Annotated[list[CommandArgsOverrider], Field(max_length=64)] | None = None
    """Args changes."""
    labels_overrider: Annotated[list[LabelAnnotationOverrider], Field(max_length=64)] | None = None
    """Label changes."""
    annotations_overrider: Annotated[list[LabelAnnotationOverrider], Field(max_length=64)] | None = None
    """Annotation changes."""


class RuleWithCluster(KokpitModel):
    """Overriders applied to the copies sent to the clusters matching targetCluster."""

    target_cluster: ClusterAffinity | None = None
    """The clusters this rule applies to; unset means every cluster."""
    overriders: Overriders
    """The changes."""


class OverrideSpec(KokpitModel):
    """Which templates to change, and how, per cluster."""

    resource_selectors: Annotated[list[ResourceSelector], Field(min_length=1, max_length=128)]
    """The resource templates this policy applies to."""
    override_rules: Annotated[list[RuleWithCluster], Field(min_length=1, max_length=64)]
    """The rules, applied in order."""


class OverridePolicy(KokpitModel):
    """A namespaced override policy: changes templates of its own namespace."""

    api_version: Literal["policy.kokpit.io/v1alpha1"] = "policy.kokpit.io/v1alpha1"
    kind: Literal["OverridePolicy"] = "OverridePolicy"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: OverrideSpec
    status: PolicyStatus | None = None


class ClusterOverridePolicy(KokpitModel):
    """A cluster-wide override policy: changes templates of any namespace and cluster-scoped ones."""

    api_version: Literal["policy.kokpit.io/v1alpha1"] = "policy.kokpit.io/v1alpha1"
    kind: Literal["ClusterOverridePolicy"] = "ClusterOverridePolicy"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: OverrideSpec
    status: PolicyStatus | None = None


# --- declarations ----------------------------------------------------------------------------------------

_OVERRIDE_DESCRIPTION = "changes the copy of selected resource templates sent to each member cluster."

OVERRIDE_POLICY = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="OverridePolicy",
    plural="overridepolicies",
    short_names=("op",),
    description=f"OverridePolicy {_OVERRIDE_DESCRIPTION} It selects in its own namespace.",
    spec=OverrideSpec,
    status=PolicyStatus,
    printer_columns=(READY_COLUMN,),
)
"""The declaration of the OverridePolicy resource type."""

CLUSTER_OVERRIDE_POLICY = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="ClusterOverridePolicy",
    plural="clusteroverridepolicies",
    scope="Cluster",
    short_names=("cop",),
    description=(
        f"ClusterOverridePolicy {_OVERRIDE_DESCRIPTION} It selects in every namespace and cluster-scoped "
        "resources."
    ),
    spec=OverrideSpec,
    status=PolicyStatus,
    printer_columns=(READY_COLUMN,),
)
"""The declaration of the ClusterOverridePolicy resource type."""

AnyOverridePolicy = OverridePolicy | ClusterOverridePolicy
