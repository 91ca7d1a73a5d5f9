"""Per-cluster changes to a manifest on its way to a member: `apply_overrides`.

The rules of the matching override policies (in `kokpit.propagation.selectors.select_overrides` order)
are applied one after the other; a rule applies when its targetCluster matches the cluster, decided by
the same `kokpit.propagation.clusters.affinity_mismatch` the scheduler uses. Within a rule the
overriders run in a fixed order: image, command, args, labels, annotations, field, plaintext (Karmada's),
so a plaintext patch sees (and can correct) the result of the others.

Semantics follow Karmada's overriders:

- image: an image reference is `[registry/]repository[:tag][@digest]`, where the first path element is a
  registry when it contains `.` or `:` or is `localhost`. `add` appends the value to the component
  (`Tag` add `-debug`: `app:1.0` -> `app:1.0-debug`), `replace` sets it, `remove` drops it. Without a
  predicate every container and init container of the pod template is changed (Pod, Deployment,
  StatefulSet, DaemonSet, ReplicaSet, Job, CronJob); with `predicate.path` only the image string there.
- command/args: `add` appends the values to the named container's list, `remove` drops every item equal
  to one of them. A container that does not exist is skipped.
- labels/annotations: `add` sets every pair, `replace` changes only keys already present, `remove`
  deletes the keys given.
- field: the string at `fieldPath` (a file in a ConfigMap's data, say) is parsed as JSON or YAML, the
  operations are applied inside it at their `subPath` as plaintext ones are, and it is written back:
  JSON compact with sorted keys, YAML in block style with sorted keys (as Karmada's Go encoders do). A
  field that is missing, not a string or not valid JSON/YAML raises `OverrideError`.
- plaintext: an RFC 6902 JSON-patch operation at an RFC 6901 JSON pointer. A path whose parent does not
  exist, an index out of range, or a missing field to replace or remove raises `OverrideError`.

Only actual changes are reported, one line each ("image registry replaced with registry.eu.example.com on
container web"); an overrider that changes nothing is silent.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import yaml

from kokpit.api.override import (
    CommandArgsOperator,
    CommandArgsOverrider,
    FieldOverrider,
    FieldPatchOperation,
    ImageComponent,
    ImageOverrider,
    LabelAnnotationOverrider,
    OverriderOperator,
    PlaintextOverrider,
    RuleWithCluster,
)
from kokpit.errors import KokpitError
from kokpit.propagation.clusters import ClusterInfo, matches_affinity
from kokpit.propagation.replicas import pod_spec_path


class OverrideError(KokpitError):
    """An override cannot be applied to a manifest; `path` is the JSON pointer involved, if any."""

    reason = "OverrideFailed"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


def apply_overrides(
    manifest: Mapping[str, Any], rules: Sequence[RuleWithCluster], cluster: ClusterInfo
) -> tuple[dict[str, Any], list[str]]:
    """`apply_overrides` returns a new manifest with every rule of `rules` that targets `cluster` applied
    in order, and the changes made, one human-readable line each. `manifest` is never modified. Raises
    `OverrideError` for a plaintext path that cannot be applied or an image predicate path that does not
    lead to a string."""
    out: dict[str, Any] = copy.deepcopy(dict(manifest))
    changes: list[str] = []
    for rule in rules:
        if rule.target_cluster is not None and not matches_affinity(rule.target_cluster, cluster):
            continue
        overriders = rule.overriders
        for image in overriders.image_overrider or ():
            changes += _override_image(out, image)
        for command in overriders.command_overrider or ():
            changes += _override_list(out, command, "command")
        for args in overriders.args_overrider or ():
            changes += _override_list(out, args, "args")
        for labels in overriders.labels_overrider or ():
            changes += _override_map(out, labels, "labels", "label")
        for notes in overriders.annotations_overrider or ():
            changes += _override_map(out, notes, "annotations", "annotation")
        for field in overriders.field_overrider or ():
            changes += _override_field(out, field)
        for patch in overriders.plaintext or ():
            changes += _override_plaintext(out, patch)
    return out, changes


# --- images ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageReference:
    """An image reference split into its components."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}" if self.registry else self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image(image: str) -> ImageReference:
    """`parse_image` splits `[registry/]repository[:tag][@digest]`; the first path element is the
    registry when it contains `.` or `:` or is `localhost` (`nginx` has none, `ghcr.io/x/y` has one)."""
    name, _, digest = image.partition("@")
    tag = ""
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return ImageReference(registry=first, repository=rest, tag=tag, digest=digest)
    return ImageReference(registry="", repository=name, tag=tag, digest=digest)


def override_image(image: str, overrider: ImageOverrider) -> str:
    """`override_image` applies one image overrider to an image reference string."""
    ref = parse_image(image)
    value = overrider.value or ""
    operator = overrider.operator
    if overrider.component is ImageComponent.REGISTRY:
        registry = {"add": ref.registry + value, "replace": value, "remove": ""}[operator.value]
        ref = replace(ref, registry=registry)
    elif overrider.component is ImageComponent.REPOSITORY:
        repository = {"add": ref.repository + value, "replace": value, "remove": ""}[operator.value]
        ref = replace(ref, repository=repository)
    elif operator is OverriderOperator.REMOVE:
        ref = replace(ref, tag="", digest="")
    elif operator is OverriderOperator.REPLACE:
        if value.startswith("sha256:"):
            ref = replace(ref, tag="", digest=value)
        else:
            ref = replace(ref, tag=value, digest="")
    elif ref.digest and not ref.tag:
        ref = replace(ref, digest=ref.digest + value)
    else:
        ref = replace(ref, tag=ref.tag + value)
    return str(ref)


def _describe_image(overrider: ImageOverrider, where: str) -> str:
    component = overrider.component.value.lower()
    if overrider.operator is OverriderOperator.REPLACE:
        return f"image {component} replaced with {overrider.value} {where}"
    if overrider.operator is OverriderOperator.ADD:
        return f"image {component} extended with {overrider.value} {where}"
    return f"image {component} removed {where}"


def _containers(manifest: dict[str, Any], *, init: bool = True) -> list[dict[str, Any]]:
    path = pod_spec_path(manifest)
    if path is None:
        return []
    node: Any = manifest
    for step in path:
        node = node.get(step) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return []
    lists = ("containers", "initContainers") if init else ("containers",)
    return [c for key in lists for c in node.get(key) or () if isinstance(c, dict)]


def _override_image(manifest: dict[str, Any], overrider: ImageOverrider) -> list[str]:
    if overrider.predicate is not None:
        path = overrider.predicate.path
        parent, token = _parent(manifest, path)
        current = _get(parent, token, path)
        if not isinstance(current, str):
            raise OverrideError(f"image predicate {path}: not a string", path=path)
        updated = override_image(current, overrider)
        if updated == current:
            return []
        _set(parent, token, updated, path)
        return [_describe_image(overrider, f"at {path}")]
    changes = []
    for container in _containers(manifest):
        current = container.get("image")
        if not isinstance(current, str):
            continue
        updated = override_image(current, overrider)
        if updated != current:
            container["image"] = updated
            changes.append(_describe_image(overrider, f"on container {container.get('name', '?')}"))
    return changes


# --- command, args, labels, annotations ------------------------------------------------------------------


def _override_list(manifest: dict[str, Any], overrider: CommandArgsOverrider, key: str) -> list[str]:
    values = list(overrider.value or ())
    changes = []
    for container in _containers(manifest):
        if container.get("name") != overrider.container_name:
            continue
        current = [str(item) for item in container.get(key) or ()]
        if overrider.operator is CommandArgsOperator.ADD:
            updated = current + values
        else:
            updated = [item for item in current if item not in values]
        if updated != current:
            container[key] = updated
            verb = "appended" if overrider.operator is CommandArgsOperator.ADD else "removed"
            done = values if verb == "appended" else [item for item in current if item in values]
            changes.append(f"{key} of container {overrider.container_name}: {verb} {json.dumps(done)}")
    return changes


def _override_map(
    manifest: dict[str, Any], overrider: LabelAnnotationOverrider, key: str, noun: str
) -> list[str]:
    metadata = manifest.get("metadata")
    if not isinstance(metadata, dict):
        metadata = manifest["metadata"] = {}
    current = metadata.get(key)
    if not isinstance(current, dict):
        current = {}
    updated = dict(current)
    changes = []
    for name, value in sorted(overrider.value.items()):
        if overrider.operator is OverriderOperator.ADD and current.get(name) != value:
            updated[name] = value
            changes.append(f"{noun} {name}={value} added")
        elif overrider.operator is OverriderOperator.REPLACE and name in current and current[name] != value:
            updated[name] = value
            changes.append(f"{noun} {name} replaced with {value}")
        elif overrider.operator is OverriderOperator.REMOVE and name in current:
            del updated[name]
            changes.append(f"{noun} {name} removed")
    if changes:
        metadata[key] = updated
    return changes


# --- plaintext (JSON patch) ------------------------------------------------------------------------------

_INDEX = re.compile(r"^(0|[1-9][0-9]*)$")


def pointer_tokens(path: str) -> list[str]:
    """`pointer_tokens` splits an RFC 6901 JSON pointer into its unescaped reference tokens
    (`/a~1b/0` -> `["a/b", "0"]`). Raises `OverrideError` when `path` does not start with `/`."""
    if not path.startswith("/"):
        raise OverrideError(f"{path!r} is not a JSON pointer: it must start with /", path=path)
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _prefix(tokens: Sequence[str], count: int) -> str:
    return "/" + "/".join(t.replace("~", "~0").replace("/", "~1") for t in tokens[:count]) if count else "/"


def _index(token: str, size: int, path: str, *, end: bool = False) -> int:
    if end and token == "-":
        return size
    if not _INDEX.match(token):
        raise OverrideError(f"{path}: {token!r} is not an array index", path=path)
    index = int(token)
    if index > size or (index == size and not end):
        raise OverrideError(f"{path}: index {index} is out of range (the array has {size} items)", path=path)
    return index


def _parent(document: Any, path: str) -> tuple[Any, str]:
    """The container holding the target of `path`, and the last token."""
    tokens = pointer_tokens(path)
    node = document
    for depth, token in enumerate(tokens[:-1]):
        where = _prefix(tokens, depth + 1)
        if isinstance(node, dict):
            if token not in node:
                raise OverrideError(f"{path}: {where} does not exist", path=path)
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(token, len(node), path)]
        else:
            raise OverrideError(f"{path}: {_prefix(tokens, depth)} is not an object or array", path=path)
    if not isinstance(node, dict | list):
        raise OverrideError(
            f"{path}: {_prefix(tokens, len(tokens) - 1)} is not an object or array", path=path
        )
    return node, tokens[-1]


def _get(parent: Any, token: str, path: str) -> Any:
    if isinstance(parent, dict):
        if token not in parent:
            raise OverrideError(f"{path}: does not exist", path=path)
        return parent[token]
    return parent[_index(token, len(parent), path)]


def _set(parent: Any, token: str, value: Any, path: str) -> None:
    if isinstance(parent, dict):
        parent[token] = value
    else:
        parent[_index(token, len(parent), path)] = value


def _override_plaintext(manifest: dict[str, Any], patch: PlaintextOverrider) -> list[str]:
    return _patch(
        manifest, patch.path, patch.operator, patch.value, has_value="value" in patch.model_fields_set
    )


def _patch(
    document: Any, path: str, operator: OverriderOperator, value: Any, *, has_value: bool
) -> list[str]:
    """One JSON-patch operation on `document` (changed in place); the change made, if any."""
    parent, token = _parent(document, path)
    shown = json.dumps(value, sort_keys=True)
    if operator is OverriderOperator.REMOVE:
        if isinstance(parent, dict):
            if token not in parent:
                raise OverrideError(f"{path}: cannot remove, does not exist", path=path)
            del parent[token]
        else:
            del parent[_index(token, len(parent), path)]
        return [f"removed {path}"]
    if not has_value:
        raise OverrideError(f"{path}: {operator.value} needs a value", path=path)
    value = copy.deepcopy(value)
    if operator is OverriderOperator.REPLACE:
        if _get(parent, token, path) == value:
            return []
        _set(parent, token, value, path)
        return [f"replaced {path} with {shown}"]
    if isinstance(parent, dict):
        if parent.get(token, object()) == value:
            return []
        parent[token] = value
    else:
        parent.insert(_index(token, len(parent), path, end=True), value)
    return [f"added {path} = {shown}"]


# --- field (JSON or YAML held in a string) ---------------------------------------------------------------


def _override_field(manifest: dict[str, Any], overrider: FieldOverrider) -> list[str]:
    path = overrider.field_path
    parent, token = _parent(manifest, path)
    text = _get(parent, token, path)
    if not isinstance(text, str):
        raise OverrideError(f"{path}: is not a string holding JSON or YAML", path=path)
    operations: Sequence[FieldPatchOperation]
    if overrider.json_ is not None:
        fmt, operations = "JSON", overrider.json_
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise OverrideError(f"{path}: is not valid JSON: {error}", path=path) from None
    else:
        fmt, operations = "YAML", overrider.yaml or []
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise OverrideError(f"{path}: is not valid YAML: {error}", path=path) from None
    changes: list[str] = []
    for operation in operations:
        try:
            done = _patch(
                document,
                operation.sub_path,
                operation.operator,
                operation.value,
                has_value="value" in operation.model_fields_set,
            )
        except OverrideError as error:
            raise OverrideError(f"{path} ({fmt}): {error}", path=path) from None
        changes += [f"{path} ({fmt}): {change}" for change in done]
    if changes:
        _set(parent, token, _dump(document, fmt), path)
    return changes


def _dump(document: Any, fmt: str) -> str:
    if fmt == "JSON":
        return json.dumps(document, sort_keys=True, separators=(",", ":"))
    dumped: str = yaml.safe_dump(document, sort_keys=True, default_flow_style=False, allow_unicode=True)
    return dumped
