"""Rendering addons into Kubernetes objects, and what to prune when they change.

Pure: a definition, the user's parameters over its defaults and the cluster's facts in, labelled
objects out. Every object carries `ADDON_LABEL` (the addon's name) and `VERSION_LABEL`, so what an
addon installed can be listed with a selector and what it no longer renders can be pruned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.exceptions
import yaml

from kokpit.controlplane.templates import SANDBOXED_TEMPLATES
from kokpit.hosted.addons.catalog import AddonDefinition, AddonError, Catalog

ADDON_LABEL = "addons.kokpit.io/name"
VERSION_LABEL = "addons.kokpit.io/version"
MANAGED_BY = ("app.kubernetes.io/managed-by", "kokpit")


@dataclass(frozen=True)
class ClusterFacts:
    """What templates may read of the cluster, as `cluster.<name>`."""

    name: str
    version: str
    endpoint: str
    service_cidr: str
    pod_cidr: str
    cluster_domain: str
    dns_ip: str

    def context(self) -> dict[str, str]:
        return {
            "name": self.name,
            "version": self.version,
            "endpoint": self.endpoint,
            "serviceCIDR": self.service_cidr,
            "podCIDR": self.pod_cidr,
            "clusterDomain": self.cluster_domain,
            "dnsIP": self.dns_ip,
        }


@dataclass(frozen=True)
class RenderedAddon:
    """One addon rendered: its resolved version and objects."""

    name: str
    version: str
    objects: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class AddonRequest:
    """One wanted addon: name, optional version, parameters."""

    name: str
    version: str | None = None
    parameters: Mapping[str, Any] | None = None


def merge(defaults: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """`merge` lays `overrides` over `defaults`, recursing into mappings present in both."""
    out: dict[str, Any] = dict(defaults)
    for key, value in (overrides or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _render_text(text: str, context: Mapping[str, Any], *, where: str) -> str:
    try:
        return SANDBOXED_TEMPLATES.from_string(text).render(**context)
    except jinja2.exceptions.SecurityError as error:
        raise AddonError(f"{where}: refused by the template sandbox: {error}") from None
    except jinja2.TemplateError as error:
        raise AddonError(f"{where}: {type(error).__name__}: {error}") from None


def resolve_version(definition: AddonDefinition, facts: ClusterFacts) -> str:
    """`resolve_version` renders a templated version (`{{ cluster.version }}`)."""
    return _render_text(definition.version, {"cluster": facts.context()}, where=f"{definition.name} version")


def render(
    definition: AddonDefinition, facts: ClusterFacts, parameters: Mapping[str, Any] | None = None
) -> RenderedAddon:
    """`render` renders every template of `definition` into labelled objects.

    Raises `AddonError` (naming the addon and template) on an undefined variable, bad Jinja2 or YAML,
    or a document that is not a Kubernetes object (apiVersion, kind, metadata.name).
    """
    version = resolve_version(definition, facts)
    params = merge(definition.defaults, parameters)
    context = {
        "cluster": facts.context(),
        "params": params,
        "addon": {"name": definition.name, "version": version},
    }
    objects: list[dict[str, Any]] = []
    for file_name, text in definition.templates.items():
        where = f"addon {definition.name} {file_name}"
        rendered = _render_text(text, context, where=where)
        try:
            documents = list(yaml.safe_load_all(rendered))
        except yaml.YAMLError as error:
            raise AddonError(f"{where}: invalid YAML after rendering: {error}") from None
        for document in documents:
            if document is None:
                continue
            if not (
                isinstance(document, dict)
                and document.get("apiVersion")
                and document.get("kind")
                and isinstance(document.get("metadata"), dict)
                and document["metadata"].get("name")
            ):
                raise AddonError(f"{where}: every document needs apiVersion, kind and metadata.name")
            labels = dict(document["metadata"].get("labels") or {})
            labels[ADDON_LABEL] = definition.name
            labels[VERSION_LABEL] = _label_value(version)
            labels[MANAGED_BY[0]] = MANAGED_BY[1]
            document["metadata"]["labels"] = labels
            objects.append(document)
    return RenderedAddon(definition.name, version, tuple(objects))


def _label_value(value: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in value)[:63]
    return cleaned.strip("-_.") or "x"


def select(
    catalog: Catalog, requests: Sequence[AddonRequest], facts: ClusterFacts
) -> tuple[list[tuple[AddonDefinition, AddonRequest]], list[str]]:
    """`select` finds the definition of each request; returns (found, one problem line per miss).

    Without a version the catalog's newest one is taken; with one, the definition whose (resolved)
    version equals it.
    """
    found: list[tuple[AddonDefinition, AddonRequest]] = []
    problems: list[str] = []
    for request in requests:
        candidates = catalog.versions(request.name)
        if not candidates:
            problems.append(f"unknown addon {request.name!r} (known: {', '.join(catalog.names())})")
            continue
        if request.version is None:
            found.append((candidates[-1], request))
            continue
        match = [d for d in candidates if resolve_version(d, facts) == request.version]
        if not match:
            have = ", ".join(resolve_version(d, facts) for d in candidates)
            problems.append(f"addon {request.name} has no version {request.version} (have: {have})")
            continue
        found.append((match[-1], request))
    return found, problems


def object_ref(obj: Mapping[str, Any]) -> str:
    """`object_ref` is `apiVersion/kind/namespace/name` (namespace empty for cluster-scoped objects)."""
    meta = obj.get("metadata") or {}
    return f"{obj['apiVersion']}|{obj['kind']}|{meta.get('namespace') or ''}|{meta['name']}"


def parse_ref(ref: str) -> tuple[str, str, str | None, str]:
    """`parse_ref` reads `object_ref`'s output: (apiVersion, kind, namespace or None, name)."""
    api_version, kind, namespace, name = ref.split("|", 3)
    return api_version, kind, namespace or None, name


def to_prune(previous: Iterable[str], current: Iterable[str]) -> list[str]:
    """`to_prune` lists refs installed before and not rendered now, in reverse install order."""
    keep = set(current)
    return [ref for ref in reversed(list(previous)) if ref not in keep]
