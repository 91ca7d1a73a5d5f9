"""Declare a kokpit resource type once, get its CustomResourceDefinition from `crd_manifest`.

A `ResourceType` names the type (group, version, kind, plural, scope, short names, printer columns) and
points at the pydantic models of its spec and status; the OpenAPI schema comes from those models via
`kokpit.api.schema`, so the CRD can never drift from the code that reads and writes the objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from kokpit.api.schema import Schema, structural_schema

CATEGORY = "kokpit"
"""Every kokpit resource is in this category: `kubectl get kokpit` lists them all."""

Scope = Literal["Namespaced", "Cluster"]
ColumnType = Literal["string", "integer", "number", "boolean", "date"]


@dataclass(frozen=True)
class PrinterColumn:
    """One column of `kubectl get`; `json_path` is evaluated against each object (`.spec.syncMode`)."""

    name: str
    type: ColumnType
    json_path: str
    description: str = ""
    priority: int = 0
    """0 shows the column always, 1 and above only with `-o wide`."""
    format: str | None = None

    def manifest(self) -> dict[str, Any]:
        """`manifest` returns the column as an `additionalPrinterColumns` entry."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            out["description"] = self.description
        if self.priority:
            out["priority"] = self.priority
        if self.format:
            out["format"] = self.format
        return out


AGE = PrinterColumn(
    name="Age",
    type="date",
    json_path=".metadata.creationTimestamp",
    description="Time since the object was created.",
)


@dataclass(frozen=True)
class ServedVersion:
    """A version served besides the storage one: its name, models and columns.

    The API server converts between versions with the CRD's conversion strategy. Without a
    `ConversionWebhook`, `crd_manifest` writes `None` (only `apiVersion` is rewritten, which is right
    only for versions of the same shape), so a version of another shape is declared with
    `needs_conversion=True`: it is served only while the CRD names kokpit's conversion webhook, and
    refused otherwise rather than stored under the storage version's schema, which would prune the
    fields it does not know.
    """

    name: str
    spec: type[BaseModel]
    status: type[BaseModel] | None = None
    printer_columns: tuple[PrinterColumn, ...] = ()
    needs_conversion: bool = False
    """Served only with kokpit's conversion webhook (the shape differs from the storage version's)."""


@dataclass(frozen=True)
class ConversionWebhook:
    """Where the API server sends a CRD's ConversionReviews: an https URL and the CA it trusts."""

    url: str
    ca_bundle: str
    """The CA certificate, PEM-encoded then base64 (`caBundle` as the CRD holds it)."""


@dataclass(frozen=True)
class ResourceType:
    """The declaration of one kokpit resource type, served at one version with a status subresource.

    `spec` and `status` are `kokpit.api.meta.KokpitModel` subclasses; `status` may be None for types
    without one. The status subresource is always on; the `kokpit` category and an Age column are
    always added.
    """

    group: str
    version: str
    kind: str
    plural: str
    spec: type[BaseModel]
    status: type[BaseModel] | None = None
    scope: Scope = "Namespaced"
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    printer_columns: tuple[PrinterColumn, ...] = ()
    description: str = ""
    spec_required: bool | None = None
    """Whether objects must carry a spec; None means "when the spec model has required fields"."""
    extra_rules: tuple[dict[str, Any], ...] = field(default=(), hash=False)
    """CEL rules on the whole object (`kokpit.api.meta.cel`), for checks that span spec and metadata.
    Left out of the hash (dicts do not hash), so a type with rules can still key a cache."""
    other_versions: tuple[ServedVersion, ...] = ()
    """Versions served besides `version`, which stays the storage version."""

    @property
    def api_version(self) -> str:
        """`api_version` is `group/version`, the `apiVersion` of the objects."""
        return f"{self.group}/{self.version}"

    @property
    def crd_name(self) -> str:
        """`crd_name` is the CRD's `metadata.name`: `plural.group`."""
        return f"{self.plural}.{self.group}"

    @property
    def singular_name(self) -> str:
        """`singular_name` is `singular`, or the lower-cased kind."""
        return self.singular or self.kind.lower()

    @property
    def all_categories(self) -> list[str]:
        """`all_categories` is `categories` with `kokpit` first, without duplicates."""
        return list(dict.fromkeys((CATEGORY, *self.categories)))


def object_schema(resource: ResourceType, served: ServedVersion | None = None) -> Schema:
    """`object_schema` returns the structural schema of a whole object: apiVersion, kind, metadata, spec,
    status. Metadata is only `type: object`; the API server validates it itself. `served` picks one of
    `other_versions` instead of the storage version's models."""
    spec_model = served.spec if served is not None else resource.spec
    status_model = served.status if served is not None else resource.status
    spec = structural_schema(spec_model)
    properties: dict[str, Schema] = {
        "apiVersion": {
            "type": "string",
            "description": "The versioned schema of this representation of an object.",
        },
        "kind": {"type": "string", "description": "The REST resource this object represents."},
        "metadata": {"type": "object"},
        "spec": spec,
    }
    if status_model is not None:
        properties["status"] = structural_schema(status_model)
    schema: Schema = {"type": "object"}
    if resource.description:
        schema["description"] = resource.description
    schema["properties"] = properties
    spec_required = resource.spec_required
    if spec_required is None:
        spec_required = bool(spec.get("required"))
    if spec_required:
        schema["required"] = ["spec"]
    if resource.extra_rules:
        schema["x-kubernetes-validations"] = list(resource.extra_rules)
    return schema


def needs_conversion(resource: ResourceType) -> bool:
    """`needs_conversion` tells whether a version of `resource` is served only with a conversion webhook."""
    return any(v.needs_conversion for v in resource.other_versions)


def crd_manifest(resource: ResourceType, conversion: ConversionWebhook | None = None) -> dict[str, Any]:
    """`crd_manifest` returns the `apiextensions.k8s.io/v1` CustomResourceDefinition of `resource`
    as a plain dict, ready for server-side apply or `yaml.safe_dump`; with `conversion`, converting
    through that webhook and serving every version (see `ServedVersion`)."""
    names: dict[str, Any] = {
        "kind": resource.kind,
        "listKind": f"{resource.kind}List",
        "plural": resource.plural,
        "singular": resource.singular_name,
        "categories": resource.all_categories,
    }
    if resource.short_names:
        names["shortNames"] = list(resource.short_names)
    columns = [column.manifest() for column in (*resource.printer_columns, AGE)]
    version: dict[str, Any] = {
        "name": resource.version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": object_schema(resource)},
        "subresources": {"status": {}},
        "additionalPrinterColumns": columns,
    }
    versions = [version]
    for served in resource.other_versions:
        versions.append(
            {
                "name": served.name,
                "served": conversion is not None or not served.needs_conversion,
                "storage": False,
                "schema": {"openAPIV3Schema": object_schema(resource, served)},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [c.manifest() for c in (*served.printer_columns, AGE)],
            }
        )
    spec: dict[str, Any] = {
        "group": resource.group,
        "names": names,
        "scope": resource.scope,
        "versions": versions,
    }
    if conversion is not None:
        spec["conversion"] = {
            "strategy": "Webhook",
            "webhook": {
                "conversionReviewVersions": ["v1"],
                "clientConfig": {"url": conversion.url, "caBundle": conversion.ca_bundle},
            },
        }
    elif resource.other_versions:
        spec["conversion"] = {"strategy": "None"}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": resource.crd_name,
            "labels": {"app.kubernetes.io/part-of": "kokpit", "app.kubernetes.io/managed-by": "kokpit"},
        },
        "spec": spec,
    }
