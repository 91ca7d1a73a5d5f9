"""Building blocks shared by every kokpit resource model: the base class, object metadata, conditions.

Models here mirror Kubernetes' `metav1` types closely enough that an object read from the API server
validates into them and dumps back unchanged (`model_dump(by_alias=True, exclude_none=True)`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""An RFC 1123 label: most Kubernetes object names."""
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""An RFC 1123 subdomain: dotted labels (names of most kinds, cluster domains)."""


class KokpitModel(BaseModel):
    """Base of every kokpit model: camelCase JSON names, Python names accepted too, docs from docstrings."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
        use_enum_values=False,
    )

    def to_dict(self) -> dict[str, Any]:
        """`to_dict` returns the object as Kubernetes JSON: camelCase keys, unset fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def list_map(*keys: str) -> JsonDict:
    """`list_map` marks a list field as a map keyed by `keys` (`x-kubernetes-list-type: map`).

    Use as `Field(json_schema_extra=list_map("type"))`; every key must be a required field of the items.
    Server-side apply then merges such lists item by item instead of replacing them whole.
    """
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


def cel(
    rule: str,
    message: str,
    *,
    field_path: str | None = None,
    reason: str | None = None,
) -> JsonDict:
    """`cel` builds one `x-kubernetes-validations` rule, evaluated by the API server on every write.

    `field_path` (for example `.secretRef`) says which field the error names; `reason` is one of
    `FieldValueInvalid`, `FieldValueRequired`, `FieldValueForbidden`, `FieldValueDuplicate`.
    """
    out: JsonDict = {"rule": rule, "message": message}
    if field_path is not None:
        out["fieldPath"] = field_path
    if reason is not None:
        out["reason"] = reason
    return out


def validations(*rules: JsonDict) -> JsonDict:
    """`validations` is the `json_schema_extra` carrying CEL `rules` on a model:
    `model_config = ConfigDict(json_schema_extra=validations(cel(...), ...))`."""
    return {"x-kubernetes-validations": list(rules)}


class OwnerReference(KokpitModel):
    """An object this one depends on; garbage-collected with its owner."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(KokpitModel):
    """The subset of `metav1.ObjectMeta` kokpit reads; other fields the server sends are kept as they are."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: list[str] | None = None
    owner_references: list[OwnerReference] | None = None


class ConditionStatus(StrEnum):
    """Whether a condition holds."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Condition(KokpitModel):
    """One aspect of an object's current state (the shape of `metav1.Condition`)."""

    type: Annotated[str, Field(max_length=316, pattern=CONDITION_TYPE_PATTERN)]
    """Type of condition in CamelCase, for example Ready."""
    status: ConditionStatus
    """Status of the condition: True, False or Unknown."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation the condition was computed from."""
    last_transition_time: datetime
    """When the condition last changed from one status to another."""
    reason: Annotated[str, Field(min_length=1, max_length=1024, pattern=CONDITION_REASON_PATTERN)]
    """A programmatic identifier in CamelCase for the condition's last transition."""
    message: Annotated[str, Field(max_length=32768)]
    """A human-readable message about the transition; may be empty."""


Conditions = Annotated[list[Condition], Field(max_length=32, json_schema_extra=list_map("type"))]
"""A list of conditions, merged by type under server-side apply."""
