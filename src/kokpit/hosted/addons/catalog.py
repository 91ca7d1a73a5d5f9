"""Addon definitions: where they come from and what they hold.

An addon is a directory: `addon.yaml` (`name`, `version`, `description`, `defaults`) and one or more
`*.yaml.j2` Jinja2 templates of Kubernetes objects. The built-in ones (coredns, kube-proxy and
kokpit-access, the access kokpit itself needs) are packaged beside this module; more are imported
into the hub with `kokpit addons import DIR`, as ConfigMaps in kokpit-system labelled
`DEFINITION_LABEL`, so every controller replica sees the same catalog. A version may itself be a
template (`"{{ cluster.version }}"`: kube-proxy follows the cluster).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kokpit.errors import KokpitError

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
DEFINITION_FILE = "addon.yaml"
TEMPLATE_SUFFIX = ".yaml.j2"
DEFINITION_LABEL = "addons.kokpit.io/definition"
"""On hub ConfigMaps holding an imported addon definition."""
ALWAYS_INSTALLED = ("kokpit-access",)
DEFAULT_ADDONS = ("coredns", "kube-proxy")
"""Installed when a HostedCluster does not list its addons."""

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


class AddonError(KokpitError):
    """An addon definition is malformed, missing, or does not render."""


@dataclass(frozen=True)
class AddonDefinition:
    """One addon at one version."""

    name: str
    version: str
    templates: Mapping[str, str]
    """File name -> template text, rendered in name order."""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


def parse_definition(files: Mapping[str, str], *, source: str) -> AddonDefinition:
    """`parse_definition` builds a definition from its files (name -> text): `addon.yaml` and templates.

    Raises `AddonError` naming `source` when `addon.yaml` is missing or malformed or no template is there.
    """
    if DEFINITION_FILE not in files:
        raise AddonError(f"{source}: no {DEFINITION_FILE}")
    try:
        meta = yaml.safe_load(files[DEFINITION_FILE])
    except yaml.YAMLError as error:
        raise AddonError(f"{source}/{DEFINITION_FILE}: {error}") from None
    if not isinstance(meta, Mapping):
        raise AddonError(f"{source}/{DEFINITION_FILE}: expected a mapping")
    name, version = str(meta.get("name") or ""), str(meta.get("version") or "")
    if not _NAME.match(name):
        raise AddonError(f"{source}/{DEFINITION_FILE}: name {name!r} must be a DNS label")
    if not version:
        raise AddonError(f"{source}/{DEFINITION_FILE}: version is required")
    defaults = meta.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise AddonError(f"{source}/{DEFINITION_FILE}: defaults must be a mapping")
    templates = {k: v for k, v in files.items() if k.endswith(TEMPLATE_SUFFIX)}
    if not templates:
        raise AddonError(f"{source}: no *{TEMPLATE_SUFFIX} template")
    return AddonDefinition(
        name=name,
        version=version,
        templates=dict(sorted(templates.items())),
        defaults=dict(defaults),
        description=str(meta.get("description") or ""),
    )


def load_dir(directory: Path) -> AddonDefinition:
    """`load_dir` reads one addon directory."""
    if not directory.is_dir():
        raise AddonError(f"{directory} is not a directory")
    files = {
        p.name: p.read_text()
        for p in directory.iterdir()
        if p.is_file() and (p.name == DEFINITION_FILE or p.name.endswith(TEMPLATE_SUFFIX))
    }
    return parse_definition(files, source=str(directory))


def load_set(directory: Path) -> list[AddonDefinition]:
    """`load_set` reads an addon directory, or a directory of addon directories; sorted by name."""
    if (directory / DEFINITION_FILE).is_file():
        return [load_dir(directory)]
    if not directory.is_dir():
        raise AddonError(f"{directory} is not a directory")
    found = [load_dir(child) for child in sorted(directory.iterdir()) if (child / DEFINITION_FILE).is_file()]
    if not found:
        raise AddonError(f"{directory} holds no addon (no */{DEFINITION_FILE})")
    return found


def builtin() -> list[AddonDefinition]:
    """`builtin` is the packaged addons."""
    return load_set(BUILTIN_DIR)


def configmap_name(definition: AddonDefinition) -> str:
    """`configmap_name` is the hub ConfigMap of an imported definition: `addon-<name>-<version>`."""
    version = re.sub(r"[^a-z0-9-]+", "-", definition.version.lower()).strip("-") or "x"
    return f"addon-{definition.name}-{version}"[:253]


def configmap_data(definition: AddonDefinition) -> dict[str, str]:
    """`configmap_data` is the `data` of that ConfigMap: `addon.yaml` and the templates."""
    meta = {
        "name": definition.name,
        "version": definition.version,
        "description": definition.description,
        "defaults": dict(definition.defaults),
    }
    data = {DEFINITION_FILE: yaml.safe_dump(meta, sort_keys=False)}
    for name, text in definition.templates.items():
        if not _KEY.match(name):
            raise AddonError(f"template file name {name!r} cannot be a ConfigMap key")
        data[name] = text
    return data


def from_configmap(
    data: Mapping[str, str] | None, binary: Mapping[str, str] | None, *, source: str
) -> AddonDefinition:
    """`from_configmap` reads a definition back from a ConfigMap's `data` (and `binaryData`)."""
    files = dict(data or {})
    for key, value in (binary or {}).items():
        files[key] = base64.b64decode(value).decode()
    return parse_definition(files, source=source)


@dataclass(frozen=True)
class Catalog:
    """Every known addon definition, by name, several versions each."""

    definitions: tuple[AddonDefinition, ...]

    @classmethod
    def of(cls, *sources: Iterable[AddonDefinition]) -> Catalog:
        """Later sources win for the same (name, version)."""
        merged: dict[tuple[str, str], AddonDefinition] = {}
        for source in sources:
            for definition in source:
                merged[(definition.name, definition.version)] = definition
        return cls(tuple(merged[k] for k in sorted(merged)))

    def versions(self, name: str) -> list[AddonDefinition]:
        """`versions` lists the definitions of `name`, the last one being the default."""
        return sorted((d for d in self.definitions if d.name == name), key=lambda d: _version_key(d.version))

    def names(self) -> list[str]:
        return sorted({d.name for d in self.definitions})


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[.\-+]", version.lstrip("v")))
