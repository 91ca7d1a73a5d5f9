"""Turn pydantic models into Kubernetes *structural* OpenAPI v3 schemas, the form CRDs require.

pydantic writes JSON Schema 2020-12; the API server wants a stricter dialect: no `$ref`, every node
typed, `Optional` expressed by leaving a field out of `required` rather than by `anyOf [.., null]`,
boolean `exclusiveMinimum`, and no keywords outside `JSONSchemaProps`. `structural_schema` does that
translation and refuses what cannot be translated, so a bad model fails at generation time, not at
`kubectl apply` time.

Kubernetes extensions are declared on the models themselves through `json_schema_extra`
(`kokpit.api.meta.list_map`, `kokpit.api.meta.validations`) and pass through untouched.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel

Schema = dict[str, Any]

_KEPT = (
    "type",
    "format",
    "description",
    "enum",
    "default",
    "nullable",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "required",
    "properties",
    "additionalProperties",
    "items",
)
_COMBINATORS = ("anyOf", "oneOf", "allOf")


class SchemaError(ValueError):
    """A model uses something a structural schema cannot express."""


def structural_schema(model: type[BaseModel]) -> Schema:
    """`structural_schema` returns the structural OpenAPI v3 schema of `model`, camelCase names, refs inlined.

    Mappings: `int` -> integer/int64, `float` -> number, `bool` -> boolean, `datetime` -> string/date-time,
    enums and `Literal` -> `enum`, `dict[str, X]` -> object with `additionalProperties`, `dict[str, Any]`
    and `Any` -> `x-kubernetes-preserve-unknown-fields`, `int | str` -> `x-kubernetes-int-or-string`,
    `set[X]` -> array with `x-kubernetes-list-type: set`. `X | None` drops the null and the field from
    `required`. Raises `SchemaError` for other unions and for recursive models.
    """
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, Schema] = raw.pop("$defs", {})
    return _convert(raw, defs, path=model.__name__, resolving=())


def _convert(node: Schema, defs: dict[str, Schema], *, path: str, resolving: tuple[str, ...]) -> Schema:
    node = dict(node)
    node, resolving = _inline(node, defs, path=path, resolving=resolving)
    node = _collapse_combinators(node, defs, path=path, resolving=resolving)

    if "const" in node:
        node.setdefault("enum", [node.pop("const")])
    if "enum" in node and "type" not in node:
        node["type"] = _enum_type(node["enum"], path=path)

    out: Schema = {key: node[key] for key in _KEPT if key in node}
    out.update((k, v) for k, v in node.items() if k.startswith("x-kubernetes-"))
    if isinstance(out.get("description"), str):
        out["description"] = _clean_description(out["description"])
    if "default" in out and out["default"] in (None, [], {}):
        del out["default"]

    kind = out.get("type")
    if kind is None and not _untyped_allowed(out):
        # `Any` in pydantic: a value of any shape, kept as sent.
        out["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "integer":
        out.setdefault("format", "int64")
    elif kind == "object":
        _convert_object(out, defs, path=path, resolving=resolving)
    elif kind == "array":
        items = out.get("items")
        if items is None:
            raise SchemaError(f"{path}: a list needs an item type")
        out["items"] = _convert(items, defs, path=f"{path}[]", resolving=resolving)
        if node.get("uniqueItems"):
            out.setdefault("x-kubernetes-list-type", "set")

    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        value = out.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out["minimum" if bound == "exclusiveMinimum" else "maximum"] = value
            out[bound] = True
    return _ordered(out)


def _ordered(node: Schema) -> Schema:
    """Known keywords in a fixed order (type first, children last), then the Kubernetes extensions."""
    out = {key: node[key] for key in _KEPT if key in node}
    out.update(sorted((k, v) for k, v in node.items() if k not in out))
    return out


def _convert_object(out: Schema, defs: dict[str, Schema], *, path: str, resolving: tuple[str, ...]) -> None:
    properties: dict[str, Schema] = out.get("properties", {})
    required = set(out.get("required", []))
    converted: dict[str, Schema] = {}
    for name, prop in properties.items():
        if _admits_null(prop):
            required.discard(name)
        converted[name] = _convert(prop, defs, path=f"{path}.{name}", resolving=resolving)
    if converted:
        out["properties"] = converted
    else:
        out.pop("properties", None)
    if required:
        out["required"] = [name for name in properties if name in required]
    else:
        out.pop("required", None)

    extra = out.pop("additionalProperties", None)
    if extra is True or extra == {}:
        out["x-kubernetes-preserve-unknown-fields"] = True
    elif isinstance(extra, dict):
        if converted:
            raise SchemaError(f"{path}: an object cannot have both fields and additional properties")
        out["additionalProperties"] = _convert(extra, defs, path=f"{path}{{}}", resolving=resolving)
    elif extra is None and not converted:
        # `dict` without a value type, or a model with no fields: keep whatever is sent.
        out["x-kubernetes-preserve-unknown-fields"] = True
    # `extra is False` (closed object) is what structural schemas do anyway.


def _inline(
    node: Schema, defs: dict[str, Schema], *, path: str, resolving: tuple[str, ...]
) -> tuple[Schema, tuple[str, ...]]:
    """Replaces a `$ref` (or a one-element `allOf` around one) by its target; siblings win."""
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        node = {**all_of[0], **{k: v for k, v in node.items() if k != "allOf"}}
    while "$ref" in node:
        ref: str = node.pop("$ref")
        name = ref.rsplit("/", 1)[-1]
        if name not in defs:
            raise SchemaError(f"{path}: unknown reference {ref}")
        if name in resolving:
            raise SchemaError(f"{path}: recursive model {name} cannot be a structural schema")
        resolving = (*resolving, name)
        node = {**defs[name], **node}
    return node, resolving


def _collapse_combinators(
    node: Schema, defs: dict[str, Schema], *, path: str, resolving: tuple[str, ...]
) -> Schema:
    for keyword in _COMBINATORS:
        branches = node.pop(keyword, None)
        if branches is None:
            continue
        resolved = [_inline(dict(branch), defs, path=path, resolving=resolving)[0] for branch in branches]
        concrete = [branch for branch in resolved if branch.get("type") != "null"]
        if len(concrete) == 1:
            # `X | None`: the field is X, optional; the node's own keys (description, extensions) win.
            merged = {**concrete[0], **node}
            return _collapse_combinators(merged, defs, path=path, resolving=resolving)
        types = {branch.get("type") for branch in concrete}
        if types == {"integer", "string"} and len(concrete) == 2:
            node["x-kubernetes-int-or-string"] = True
            return node
        raise SchemaError(f"{path}: a union of {sorted(str(t) for t in types)} is not a structural schema")
    return node


def _clean_description(text: str) -> str:
    """Joins wrapped docstring lines; blank lines still separate paragraphs."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines() if line.strip()) for p in paragraphs)


def _admits_null(node: Schema) -> bool:
    if node.get("type") == "null":
        return True
    return any(
        branch.get("type") == "null"
        for keyword in _COMBINATORS
        for branch in node.get(keyword, [])
        if isinstance(branch, dict)
    )


def _enum_type(values: list[Any], *, path: str) -> str:
    kinds = {type(value) for value in values}
    if kinds <= {str}:
        return "string"
    if kinds <= {int}:
        return "integer"
    if kinds <= {int, float}:
        return "number"
    if kinds <= {bool}:
        return "boolean"
    raise SchemaError(
        f"{path}: an enum mixing {sorted(k.__name__ for k in kinds)} is not a structural schema"
    )


def _untyped_allowed(node: Schema) -> bool:
    return bool(node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-int-or-string"))


def iter_schema_nodes(schema: Schema, path: str = "") -> list[tuple[str, Schema]]:
    """`iter_schema_nodes` lists every (path, node) of a structural schema, root first."""
    nodes = [(path or ".", schema)]
    for name, prop in schema.get("properties", {}).items():
        nodes += iter_schema_nodes(prop, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        nodes += iter_schema_nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        nodes += iter_schema_nodes(schema["additionalProperties"], f"{path}{{}}")
    return nodes
