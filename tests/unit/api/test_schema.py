"""`structural_schema`: each Python type maps to the structural OpenAPI form Kubernetes accepts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import pytest
from pydantic import ConfigDict, Field

from kokpit.api.meta import KokpitModel, cel, list_map, validations
from kokpit.api.schema import Schema, SchemaError, iter_schema_nodes, structural_schema


class Colour(StrEnum):
    RED = "Red"
    BLUE = "Blue"


class Item(KokpitModel):
    """An item of a keyed list."""

    item_name: str
    weight: int | None = None


class Sample(KokpitModel):
    """A model using every mapping once."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("self.count >= 0", "count must not be negative", field_path=".count")
        )
    )

    plain_string: str
    """A documented string."""
    count: int
    ratio: float
    enabled: bool
    created_at: datetime
    colour: Colour
    mode: Literal["Fast", "Slow"]
    only: Literal["One"]
    labels: dict[str, str]
    free_form: dict[str, Any]
    anything: Any
    int_or_string: int | str
    optional_string: str | None = None
    optional_item: Item | None = Field(default=None, description="An item, perhaps.")
    items: Annotated[list[Item], Field(json_schema_extra=list_map("itemName"))]
    tags: set[str]
    bounded: Annotated[int, Field(ge=1, le=10)]
    exclusive: Annotated[float, Field(gt=0, lt=1)]
    sized: Annotated[str, Field(min_length=2, max_length=5, pattern=r"^[a-z]+$")]
    few: Annotated[list[str], Field(min_length=1, max_length=3)]
    small: Annotated[int, Field(json_schema_extra={"format": "int32"})] = 3
    with_default: str = "hello"


SCHEMA = structural_schema(Sample)
PROPS: dict[str, Schema] = SCHEMA["properties"]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        pytest.param("plainString", {"type": "string", "description": "A documented string."}, id="str"),
        pytest.param("count", {"type": "integer", "format": "int64"}, id="int -> int64"),
        pytest.param("ratio", {"type": "number"}, id="float"),
        pytest.param("enabled", {"type": "boolean"}, id="bool"),
        pytest.param("createdAt", {"type": "string", "format": "date-time"}, id="datetime"),
        pytest.param("colour", {"type": "string", "enum": ["Red", "Blue"]}, id="StrEnum"),
        pytest.param("mode", {"type": "string", "enum": ["Fast", "Slow"]}, id="Literal"),
        pytest.param("only", {"type": "string", "enum": ["One"]}, id="single Literal"),
        pytest.param(
            "labels", {"type": "object", "additionalProperties": {"type": "string"}}, id="dict[str, str]"
        ),
        pytest.param(
            "freeForm", {"type": "object", "x-kubernetes-preserve-unknown-fields": True}, id="dict[str, Any]"
        ),
        pytest.param("anything", {"x-kubernetes-preserve-unknown-fields": True}, id="Any"),
        pytest.param("intOrString", {"x-kubernetes-int-or-string": True}, id="int | str"),
        pytest.param("optionalString", {"type": "string"}, id="str | None"),
        pytest.param(
            "optionalItem",
            {
                "type": "object",
                "description": "An item, perhaps.",
                "required": ["itemName"],
                "properties": {
                    "itemName": {"type": "string"},
                    "weight": {"type": "integer", "format": "int64"},
                },
            },
            id="model | None, field description wins",
        ),
        pytest.param(
            "items",
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "description": "An item of a keyed list.",
                    "required": ["itemName"],
                    "properties": {
                        "itemName": {"type": "string"},
                        "weight": {"type": "integer", "format": "int64"},
                    },
                },
                "x-kubernetes-list-map-keys": ["itemName"],
                "x-kubernetes-list-type": "map",
            },
            id="list of models as a map",
        ),
        pytest.param(
            "tags",
            {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            id="set -> list-type set",
        ),
        pytest.param(
            "bounded", {"type": "integer", "format": "int64", "minimum": 1, "maximum": 10}, id="ge/le"
        ),
        pytest.param(
            "exclusive",
            {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "exclusiveMinimum": True,
                "exclusiveMaximum": True,
            },
            id="gt/lt -> boolean exclusive bounds",
        ),
        pytest.param(
            "sized",
            {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
            id="string constraints",
        ),
        pytest.param(
            "few",
            {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "string"}},
            id="list bounds",
        ),
        pytest.param("small", {"type": "integer", "format": "int32", "default": 3}, id="explicit int32"),
        pytest.param("withDefault", {"type": "string", "default": "hello"}, id="scalar default kept"),
    ],
)
def test_type_mapping(field: str, expected: Schema) -> None:
    assert PROPS[field] == expected


def test_required_lists_fields_without_default_and_not_nullable() -> None:
    assert SCHEMA["required"] == [
        "plainString",
        "count",
        "ratio",
        "enabled",
        "createdAt",
        "colour",
        "mode",
        "only",
        "labels",
        "freeForm",
        "anything",
        "intOrString",
        "items",
        "tags",
        "bounded",
        "exclusive",
        "sized",
        "few",
    ]


def test_model_level_cel_rules_and_description_survive() -> None:
    assert SCHEMA["type"] == "object"
    assert SCHEMA["description"] == "A model using every mapping once."
    assert SCHEMA["x-kubernetes-validations"] == [
        {"rule": "self.count >= 0", "message": "count must not be negative", "fieldPath": ".count"}
    ]


FORBIDDEN = {"$ref", "$defs", "anyOf", "allOf", "oneOf", "not", "title", "const", "uniqueItems", "examples"}


def test_nothing_structural_schemas_forbid_is_left() -> None:
    for path, node in iter_schema_nodes(SCHEMA):
        assert not FORBIDDEN & node.keys(), path
        assert node.get("default", "set") is not None, path
        assert (
            "type" in node
            or node.get("x-kubernetes-preserve-unknown-fields")
            or node.get("x-kubernetes-int-or-string")
        ), path
        if "properties" in node:
            assert "additionalProperties" not in node, path


class Node(KokpitModel):
    children: list[Node] = []


class Mixed(KokpitModel):
    value: int | bool


class Wide(KokpitModel):
    model_config = ConfigDict(extra="allow")

    name: str


@pytest.mark.parametrize(
    ("model", "message"),
    [
        pytest.param(Node, "recursive model Node", id="recursive"),
        pytest.param(Mixed, "union of", id="int | bool"),
    ],
)
def test_untranslatable_models_are_refused(model: type[KokpitModel], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        structural_schema(model)


def test_open_model_keeps_unknown_fields() -> None:
    assert structural_schema(Wide) == {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}},
        "x-kubernetes-preserve-unknown-fields": True,
    }
