"""Member-owned fields: what a member's own controllers own in a copy stays theirs.

Some fields of a propagated object are the member's to decide: `spec.replicas` of a workload an HPA
on that member scales, a Service's `clusterIP`, `clusterIPs`, `healthCheckNodePort` and `nodePort`s
the member allocated, a PVC's `volumeName` and a PV's `claimRef` its volume controller bound, the
token Secrets listed on a ServiceAccount, a Pod's `nodeName` (Karmada's retain interpreter keeps the
same fields). kokpit writes members with server-side apply, so the way to leave such a field alone is
not to send it: a field kokpit does not apply and does not own is never changed or removed by its
apply, and no field manager fights another.

`retain` makes that decision per field from the member's copy (its value and its `managedFields`):

- the member has a value and kokpit (field manager `kokpit`) does not own the field: the field is
  dropped from the applied body, so the member's value stays;
- kokpit still owns it (it created the object with it): the body keeps kokpit's value, except for
  retained replicas, which take the member's current value, so the HPA that is about to take them
  over finds them where it left them;
- the member has no copy yet: the body is sent as rendered (a new object needs its replicas).

`spec.replicas` is retained only when asked for: by the label `kokpit.io/retain-replicas=true` on the
template (or Karmada's `resourcetemplate.karmada.io/retain-replicas=true`, so Karmada templates keep
their meaning), or when a HorizontalPodAutoscaler in the member targets the object (`hpa_targets`).
Without that, a hand-scaled copy is drift and is set back.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kokpit.propagation import names
from kokpit.propagation.apply_plan import split_api_version
from kokpit.runtime.apply import FIELD_MANAGER

RETAIN_REPLICAS_LABEL = f"{names.PREFIX}retain-replicas"
"""Template label asking that members keep the replicas of their copies (value `true`)."""
KARMADA_RETAIN_REPLICAS_LABEL = "resourcetemplate.karmada.io/retain-replicas"
"""Karmada's label of the same meaning, honoured as is."""

PathElement = str | dict[str, Any]
"""A field name, or the key of an item of an associative list (`{"port": 80, "protocol": "TCP"}`)."""


@dataclass(frozen=True)
class Retained:
    """The body to apply and what was left to the member, one readable path each."""

    body: dict[str, Any]
    fields: tuple[str, ...] = ()


def wants_retained_replicas(manifest: Mapping[str, Any]) -> bool:
    """`wants_retained_replicas` tells whether the template asks members to keep their replicas (the
    label `kokpit.io/retain-replicas` or Karmada's `resourcetemplate.karmada.io/retain-replicas` is
    `true`)."""
    labels = (manifest.get("metadata") or {}).get("labels") or {}
    return any(
        str(labels.get(key, "")).lower() == "true"
        for key in (RETAIN_REPLICAS_LABEL, KARMADA_RETAIN_REPLICAS_LABEL)
    )


def hpa_targets(hpas: Iterable[Mapping[str, Any]]) -> set[tuple[str | None, str, str, str]]:
    """`hpa_targets` is what the HorizontalPodAutoscalers `hpas` scale, as (namespace, group, kind,
    name) of their `spec.scaleTargetRef`."""
    targets: set[tuple[str | None, str, str, str]] = set()
    for hpa in hpas:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        kind, name = ref.get("kind"), ref.get("name")
        if not kind or not name:
            continue
        group, _ = split_api_version(str(ref.get("apiVersion") or ""))
        namespace = (hpa.get("metadata") or {}).get("namespace")
        targets.add((namespace, group, str(kind), str(name)))
    return targets


def targeted(
    obj: Mapping[str, Any], targets: set[tuple[str | None, str, str, str]], *, namespace: str | None
) -> bool:
    """`targeted` tells whether an HPA in `targets` (`hpa_targets`) scales `obj` in `namespace`."""
    group, _ = split_api_version(str(obj.get("apiVersion") or ""))
    name = str((obj.get("metadata") or {}).get("name") or "")
    return (namespace, group, str(obj.get("kind") or ""), name) in targets


# --- field ownership -------------------------------------------------------------------------------------


def _fields_key(element: PathElement) -> str:
    if isinstance(element, str):
        return f"f:{element}"
    return "k:" + json.dumps(element, sort_keys=True, separators=(",", ":"))


def owned_by(obj: Mapping[str, Any], path: Sequence[PathElement], *, manager: str = FIELD_MANAGER) -> bool:
    """`owned_by` tells whether `manager` owns the field at `path` of `obj` according to its
    `metadata.managedFields` (any of its entries, whatever the operation or subresource)."""
    for entry in (obj.get("metadata") or {}).get("managedFields") or ():
        if entry.get("manager") != manager:
            continue
        node: Any = entry.get("fieldsV1") or {}
        for element in path:
            if not isinstance(node, Mapping):
                node = None
                break
            node = node.get(_fields_key(element))
            if node is None:
                break
        if node is not None:
            return True
    return False


def _member_owned(observed: Mapping[str, Any], path: Sequence[PathElement], value: Any, manager: str) -> bool:
    return value not in (None, "", []) and not owned_by(observed, path, manager=manager)


# --- the rules -------------------------------------------------------------------------------------------


def _group_kind(obj: Mapping[str, Any]) -> tuple[str, str]:
    group, _ = split_api_version(str(obj.get("apiVersion") or ""))
    return group, str(obj.get("kind") or "")


def _retain_scalar(
    body: dict[str, Any],
    observed: Mapping[str, Any],
    path: tuple[str, str],
    manager: str,
    kept: list[str],
    *,
    take_observed: bool = False,
) -> None:
    """Leaves the field at `path` (`(section, field)`) to the member when the member owns it."""
    section, field = path
    desired_section = body.get(section)
    if not isinstance(desired_section, dict) or field not in desired_section:
        return
    value = (observed.get(section) or {}).get(field)
    if _member_owned(observed, path, value, manager):
        del desired_section[field]
        kept.append(f"{section}.{field}")
    elif take_observed and value is not None and desired_section[field] != value:
        desired_section[field] = copy.deepcopy(value)
        kept.append(f"{section}.{field}")


def _retain_path(
    body: dict[str, Any], observed: Mapping[str, Any], path: Sequence[str], manager: str, kept: list[str]
) -> None:
    """Leaves the field at the dotted `path` of a custom kind (its interpreter's `retention`) to the
    member when the member owns it."""
    desired_node: Any = body
    observed_node: Any = observed
    for step in path[:-1]:
        desired_node = desired_node.get(step) if isinstance(desired_node, dict) else None
        observed_node = observed_node.get(step) if isinstance(observed_node, Mapping) else None
    if not isinstance(desired_node, dict) or path[-1] not in desired_node:
        return
    value = observed_node.get(path[-1]) if isinstance(observed_node, Mapping) else None
    if _member_owned(observed, tuple(path), value, manager):
        del desired_node[path[-1]]
        kept.append(".".join(path))


def _retain_node_ports(
    body: dict[str, Any], observed: Mapping[str, Any], manager: str, kept: list[str]
) -> None:
    ports = (body.get("spec") or {}).get("ports")
    if not isinstance(ports, list):
        return
    observed_ports = {
        (p.get("port"), p.get("protocol") or "TCP"): p
        for p in (observed.get("spec") or {}).get("ports") or ()
        if isinstance(p, Mapping)
    }
    for port in ports:
        if not isinstance(port, dict) or "nodePort" not in port:
            continue
        key = (port.get("port"), port.get("protocol") or "TCP")
        member = observed_ports.get(key)
        if member is None:
            continue
        path = ("spec", "ports", {"port": key[0], "protocol": key[1]}, "nodePort")
        if _member_owned(observed, path, member.get("nodePort"), manager):
            del port["nodePort"]
            kept.append(f"spec.ports[{key[0]}/{key[1]}].nodePort")


def _retain_secrets(body: dict[str, Any], observed: Mapping[str, Any], manager: str, kept: list[str]) -> None:
    secrets = body.get("secrets")
    if not isinstance(secrets, list):
        return
    members = {str(s.get("name")) for s in observed.get("secrets") or () if isinstance(s, Mapping)}
    keep = []
    for secret in secrets:
        name = str((secret or {}).get("name") or "")
        if name in members and not owned_by(observed, ("secrets", {"name": name}), manager=manager):
            kept.append(f"secrets[{name}]")
            continue
        keep.append(secret)
    if keep:
        body["secrets"] = keep
    else:
        del body["secrets"]


def retain(
    desired: Mapping[str, Any],
    observed: Mapping[str, Any] | None,
    *,
    retain_replicas: bool = False,
    manager: str = FIELD_MANAGER,
    retained_paths: Sequence[Sequence[str]] = (),
) -> Retained:
    """`retain` is `desired` (the body about to be applied) without the fields the member owns in its
    copy `observed` (None: there is no copy yet, nothing is retained); see the module docstring.
    `retain_replicas` says whether `spec.replicas` is the member's (`wants_retained_replicas`, or an
    HPA there targets the object); `retained_paths` are a custom kind's member-owned fields (its
    interpreter's `retention`). `desired` is not modified."""
    body = copy.deepcopy(dict(desired))
    if observed is None:
        return Retained(body)
    kept: list[str] = []
    group, kind = _group_kind(body)
    if retain_replicas:
        _retain_scalar(body, observed, ("spec", "replicas"), manager, kept, take_observed=True)
    if group == "" and kind == "Service":
        for field in ("clusterIP", "clusterIPs", "healthCheckNodePort"):
            _retain_scalar(body, observed, ("spec", field), manager, kept)
        _retain_node_ports(body, observed, manager, kept)
    elif group == "" and kind == "PersistentVolumeClaim":
        _retain_scalar(body, observed, ("spec", "volumeName"), manager, kept)
    elif group == "" and kind == "PersistentVolume":
        _retain_scalar(body, observed, ("spec", "claimRef"), manager, kept)
    elif group == "" and kind == "ServiceAccount":
        _retain_secrets(body, observed, manager, kept)
    elif group == "" and kind == "Pod":
        _retain_scalar(body, observed, ("spec", "nodeName"), manager, kept)
    for path in retained_paths:
        _retain_path(body, observed, path, manager, kept)
    return Retained(body, tuple(kept))


__all__ = [
    "KARMADA_RETAIN_REPLICAS_LABEL",
    "RETAIN_REPLICAS_LABEL",
    "Retained",
    "hpa_targets",
    "owned_by",
    "retain",
    "targeted",
    "wants_retained_replicas",
]
