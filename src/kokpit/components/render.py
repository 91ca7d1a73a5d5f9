"""Render a Component with a ComponentTemplate into manifests, refusing what a template may not do.

Templates are written by the platform team but run inside the hub, so they are rendered in Jinja2's
`ImmutableSandboxedEnvironment` (no attribute access to internals, no mutation of the values passed
in) with `StrictUndefined` (a misspelt variable is an error, not an empty string). What a template
renders must be a YAML stream of objects whose kinds are in `ALLOWED_KINDS` (namespaced workload
kinds: no RBAC, no Secrets, no cluster-scoped or kokpit kinds), each named after the Component (its
name, or its name and a `-suffix`) and in its namespace. Each failure is a `RenderError` with a
CamelCase reason, ready for a `Rendered=False` condition.

The variables a template sees, every key always present (None when unset):

- `component`: `name`, `namespace`, `labels`, `workloadType`, `language`, `runType`, `image` and
  `replicas` (1 when unset; both as the cluster's placement entry sets them), `env` (the placement
  entry's, a list of `name`, `value`), `port`, `service` (`type`, `port`, `loadBalancerClass`),
  `ingress` (None, or `host`, `path` — `/` when unset —, `className`), `autoscaling` (None, or
  `minReplicas`, `maxReplicas`, `targetCpuUtilizationPercentage`);
- `config`: the template's `defaults` with the Component's `config` merged over them, validated
  against the template's `parametersSchema`;
- `cluster`: `name` and `labels` of the cluster rendered for.

Filters besides Jinja2's: `toyaml` (a value as block YAML, for `| indent`), `quote` (a JSON string,
which YAML reads as the same string).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
import jsonschema
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from kokpit.api.component import ClusterPlacement, Component, ComponentTemplate

ALLOWED_KINDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("v1", "Service"),
        ("v1", "ConfigMap"),
        ("v1", "ServiceAccount"),
        ("networking.k8s.io/v1", "Ingress"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("policy/v1", "PodDisruptionBudget"),
    }
)
"""The `(apiVersion, kind)` pairs a template may render."""

SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it (several times faster), else the pure one."""

COMPONENT_LABEL = "apps.kokpit.io/component"
"""Set on every rendered object: the Component's name."""


class RenderError(Exception):
    """A Component that cannot be rendered, with the reason for its `Rendered` condition."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Rendered:
    """The objects one template rendered for one Component on one cluster."""

    template: str
    objects: list[dict[str, Any]] = field(default_factory=list)


def _toyaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip("\n")


def _quote(value: Any) -> str:
    return json.dumps(str(value))


@functools.lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    """`environment` returns the sandboxed Jinja2 environment every template is rendered in (one,
    shared: nothing changes it once made)."""
    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.filters["toyaml"] = _toyaml
    env.filters["quote"] = _quote
    return env


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> jinja2.Template:
    """A template's source compiled once: a plan renders it for every cluster of every Component."""
    return environment().from_string(source)


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    """The validator of a parametersSchema (given as canonical JSON), checked and built once;
    raises `jsonschema.SchemaError` when it is no JSON Schema."""
    schema = json.loads(schema_json)
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator_class.check_schema(schema)
    return validator_class(schema)


def merge_config(defaults: Mapping[str, Any] | None, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """`merge_config` merges `config` over `defaults`: mappings key by key, anything else replaced."""
    out: dict[str, Any] = copy.deepcopy(dict(defaults or {}))
    for key, value in (config or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_config(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate_config(template: ComponentTemplate, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """`validate_config` returns the merged config, or raises `RenderError(ConfigInvalid)` naming the
    first failing field (or `TemplateInvalid` when the template's own schema is not a JSON Schema)."""
    merged = merge_config(template.spec.defaults, config)
    schema = template.spec.parameters_schema
    if schema is None:
        return merged
    try:
        validator = _validator(json.dumps(schema, sort_keys=True))
    except jsonschema.SchemaError as error:
        raise RenderError(
            "TemplateInvalid", f"parametersSchema is not a JSON Schema: {error.message}"
        ) from error
    errors = sorted(validator.iter_errors(merged), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "config" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in first.absolute_path)
        raise RenderError("ConfigInvalid", f"{where}: {first.message}")
    return merged


def template_problem(template: ComponentTemplate) -> RenderError | None:
    """`template_problem` is what is wrong with `template` before any Component uses it, or None:
    a `parametersSchema` that is no JSON Schema or `defaults` failing it (`TemplateInvalid`,
    `DefaultsInvalid`), or Jinja2 syntax (`TemplateInvalid`, with the line). What only rendering can
    tell (an unknown variable, invalid YAML, a kind it may not create) shows on the Components."""
    try:
        validate_config(template, None)
    except RenderError as error:
        if error.reason == "ConfigInvalid":
            return RenderError("DefaultsInvalid", "defaults" + error.message.removeprefix("config"))
        return error
    try:
        environment().parse(template.spec.template)
    except jinja2.TemplateSyntaxError as error:
        return RenderError("TemplateInvalid", f"line {error.lineno}: {error.message}")
    return None


def component_context(component: Component, placement: ClusterPlacement | None = None) -> dict[str, Any]:
    """`component_context` is the `component` variable of a template, every key present: the spec with
    what `placement` (the entry for the cluster rendered for) sets instead (replicas, image, env)."""
    spec = component.spec
    replicas = (
        placement.replicas if placement is not None and placement.replicas is not None else spec.replicas
    )
    exposure = spec.exposure
    service = exposure.service if exposure is not None else None
    ingress = exposure.ingress if exposure is not None else None
    return {
        "name": component.metadata.name,
        "namespace": component.metadata.namespace or "default",
        "labels": dict(component.metadata.labels or {}),
        "workloadType": str(spec.workload_type),
        "language": spec.language,
        "runType": spec.run_type,
        "image": placement.image if placement is not None and placement.image else spec.image,
        "replicas": 1 if replicas is None else replicas,
        "env": [e.to_dict() for e in (placement.env or [])] if placement is not None else [],
        "port": exposure.port if exposure is not None else None,
        "service": {
            "type": str(service.type) if service is not None and service.type is not None else "ClusterIP",
            "port": service.port if service is not None else None,
            "loadBalancerClass": service.load_balancer_class if service is not None else None,
        },
        "ingress": None
        if ingress is None
        else {"host": ingress.host, "path": ingress.path or "/", "className": ingress.class_name},
        "autoscaling": None if spec.autoscaling is None else spec.autoscaling.to_dict(),
    }


def _check_object(index: int, obj: Any, *, name: str, namespace: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise RenderError("InvalidYAML", f"document {index} is not a mapping")
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if (api_version, kind) not in ALLOWED_KINDS:
        allowed = ", ".join(f"{k} ({v})" for v, k in sorted(ALLOWED_KINDS))
        raise RenderError(
            "KindNotAllowed",
            f"document {index}: templates may not create {kind} ({api_version}); allowed: {allowed}",
        )
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        raise RenderError("InvalidYAML", f"document {index} ({kind}) has no metadata")
    object_name = metadata.get("name")
    if not isinstance(object_name, str) or not (object_name == name or object_name.startswith(name + "-")):
        raise RenderError(
            "NameNotAllowed",
            f"{kind} {object_name!r}: rendered objects are named {name!r} or {name!r}-suffix",
        )
    if metadata.get("namespace", namespace) != namespace:
        raise RenderError(
            "NameNotAllowed",
            f"{kind} {object_name}: rendered objects are in the Component's namespace {namespace!r}, "
            f"not {metadata['namespace']!r}",
        )
    metadata["namespace"] = namespace
    labels = metadata.get("labels") or {}
    if not isinstance(labels, dict):
        raise RenderError("InvalidYAML", f"{kind} {object_name}: metadata.labels is not a mapping")
    metadata["labels"] = {**labels, COMPONENT_LABEL: name}
    return obj


def render(
    template: ComponentTemplate,
    component: Component,
    *,
    cluster_name: str,
    cluster_labels: Mapping[str, str] | None = None,
    placement: ClusterPlacement | None = None,
) -> Rendered:
    """`render` renders `component` with `template` for one cluster (with that cluster's `placement`
    entry, when it has one), or raises `RenderError` with the reason: ConfigInvalid, TemplateInvalid
    (syntax, unknown variable, sandbox refusal), InvalidYAML, KindNotAllowed, NameNotAllowed."""
    config = validate_config(template, component.spec.config)
    context = {
        "component": component_context(component, placement),
        "config": config,
        "cluster": {"name": cluster_name, "labels": dict(cluster_labels or {})},
    }
    try:
        text = _compiled(template.spec.template).render(context)
    except jinja2.TemplateSyntaxError as error:
        raise RenderError("TemplateInvalid", f"line {error.lineno}: {error.message}") from error
    except jinja2.TemplateError as error:
        raise RenderError("TemplateInvalid", str(error)) from error
    try:
        documents = [d for d in yaml.load_all(text, Loader=SAFE_LOADER) if d is not None]
    except yaml.YAMLError as error:
        raise RenderError("InvalidYAML", f"the template rendered invalid YAML: {error}") from error
    name = context["component"]["name"]
    namespace = context["component"]["namespace"]
    objects = [_check_object(i, d, name=name, namespace=namespace) for i, d in enumerate(documents)]
    return Rendered(template=template.metadata.name or "", objects=objects)
