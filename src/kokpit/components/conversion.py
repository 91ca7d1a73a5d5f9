"""Convert Component objects between v1alpha1 and v1beta1 without losing anything.

Objects are plain dicts as the API server sends them in a `ConversionReview`; only `apiVersion`,
`spec` and one annotation change, never other metadata (the API server refuses a conversion that
touches it). The mapping:

| v1alpha1                   | v1beta1                                                        |
|----------------------------|----------------------------------------------------------------|
| `developLanguage`          | `language`                                                     |
| `port`                     | `exposure.port`                                                |
| `svc.type: ClusterIP`      | `exposure.service.type: ClusterIP` (also `NodePort`)           |
| `svc.type: external-lb`    | `exposure.service.type: LoadBalancer`, `loadBalancerClass: kokpit.io/l4` |
| `svc.port`                 | `exposure.service.port`                                        |
| `host`                     | `exposure.ingress.host`                                        |

Every v1alpha1 spec has a v1beta1 equivalent. The reverse is not so: an Ingress path or class, a
load balancer class other than `kokpit.io/l4`, a LoadBalancer without a class, an empty `exposure`.
When a v1beta1 spec cannot be recovered from its v1alpha1 form, the whole v1beta1 spec is kept as JSON
in the annotation `apps.kokpit.io/conversion-data` of the v1alpha1 object, and converting back
restores from it what v1alpha1 cannot say, while the fields v1alpha1 does say win (a client that
edited the v1alpha1 object is obeyed). An empty `metadata.annotations` map is treated as absent, as
the API server does when it stores an object.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from kokpit.api.component import (
    API_VERSION_V1ALPHA1,
    API_VERSION_V1BETA1,
    DEFAULT_LOAD_BALANCER_CLASS,
    LEGACY_LOAD_BALANCER,
)

CONVERSION_ANNOTATION = "apps.kokpit.io/conversion-data"
"""On v1alpha1 objects: the v1beta1 spec, when v1alpha1 cannot hold all of it."""

_SHARED_FIELDS = ("workloadType", "runType", "image", "replicas", "autoscaling", "config", "placement")
"""Spec fields with the same name and shape in both versions."""

_ALPHA_TYPES = {"ClusterIP": "ClusterIP", "NodePort": "NodePort", LEGACY_LOAD_BALANCER: "LoadBalancer"}
_BETA_TYPES = {"ClusterIP": "ClusterIP", "NodePort": "NodePort", "LoadBalancer": LEGACY_LOAD_BALANCER}


class ConversionError(ValueError):
    """An object that cannot be converted: not a Component, or an unknown version."""


def spec_to_v1beta1(alpha: Mapping[str, Any]) -> dict[str, Any]:
    """`spec_to_v1beta1` maps a v1alpha1 spec to v1beta1; it never loses anything."""
    beta: dict[str, Any] = {}
    for key, value in alpha.items():
        if key in _SHARED_FIELDS:
            beta[key] = copy.deepcopy(value)
    if "developLanguage" in alpha:
        beta["language"] = alpha["developLanguage"]
    exposure: dict[str, Any] = {}
    if "port" in alpha:
        exposure["port"] = alpha["port"]
    if "svc" in alpha:
        svc = alpha["svc"]
        service: dict[str, Any] = {}
        if "type" in svc:
            service["type"] = _ALPHA_TYPES.get(svc["type"], svc["type"])
            if svc["type"] == LEGACY_LOAD_BALANCER:
                service["loadBalancerClass"] = DEFAULT_LOAD_BALANCER_CLASS
        if "port" in svc:
            service["port"] = svc["port"]
        exposure["service"] = service
    if "host" in alpha:
        exposure["ingress"] = {"host": alpha["host"]}
    if exposure:
        beta["exposure"] = exposure
    return beta


def spec_to_v1alpha1(beta: Mapping[str, Any]) -> dict[str, Any]:
    """`spec_to_v1alpha1` maps a v1beta1 spec to what v1alpha1 can hold; `spec_to_v1beta1` of the result
    may differ from `beta` (see `lossless_to_v1alpha1` for the annotation that covers the difference)."""
    alpha: dict[str, Any] = {}
    for key, value in beta.items():
        if key in _SHARED_FIELDS:
            alpha[key] = copy.deepcopy(value)
    if "language" in beta:
        alpha["developLanguage"] = beta["language"]
    exposure = beta.get("exposure") or {}
    if "port" in exposure:
        alpha["port"] = exposure["port"]
    if "service" in exposure:
        service = exposure["service"]
        svc: dict[str, Any] = {}
        if "type" in service:
            svc["type"] = _BETA_TYPES.get(service["type"], service["type"])
        if "port" in service:
            svc["port"] = service["port"]
        alpha["svc"] = svc
    if "ingress" in exposure and "host" in exposure["ingress"]:
        alpha["host"] = exposure["ingress"]["host"]
    return alpha


def _merge_part(
    base: Mapping[str, Any] | None, stored: Mapping[str, Any] | None, own: tuple[str, ...]
) -> Any:
    """`_merge_part` is `stored` with the keys v1alpha1 can say (`own`) taken from `base`; None when
    v1alpha1 no longer has the part."""
    if base is None:
        return None
    if stored is None:
        return copy.deepcopy(dict(base))
    out = copy.deepcopy(dict(stored))
    for key in own:
        if key in base:
            out[key] = copy.deepcopy(base[key])
        else:
            out.pop(key, None)
    return out


def _restore(base: dict[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """`_restore` merges `base` (the v1beta1 spec from the v1alpha1 fields) with `stored` (the v1beta1
    spec kept in the annotation): what v1alpha1 says comes from `base`, what only v1beta1 can say from
    `stored`. A `loadBalancerClass` is kept while the Service stays a LoadBalancer."""
    out = {k: v for k, v in copy.deepcopy(base).items() if k != "exposure"}
    exposure = base.get("exposure") or {}
    stored_exposure = stored.get("exposure")
    merged: dict[str, Any] = {}
    if isinstance(stored_exposure, Mapping):
        merged = {
            k: copy.deepcopy(v) for k, v in stored_exposure.items() if k not in ("port", "service", "ingress")
        }
    else:
        stored_exposure = {}
    if "port" in exposure:
        merged["port"] = exposure["port"]
    service = _merge_part(exposure.get("service"), stored_exposure.get("service"), ("type", "port"))
    if service is not None:
        stored_service = stored_exposure.get("service") or {}
        if service.get("type") != stored_service.get("type") or service.get("type") != "LoadBalancer":
            service.pop("loadBalancerClass", None)
            base_class = exposure["service"].get("loadBalancerClass")
            if base_class is not None:
                service["loadBalancerClass"] = base_class
        merged["service"] = service
    ingress = _merge_part(exposure.get("ingress"), stored_exposure.get("ingress"), ("host",))
    if ingress is not None:
        merged["ingress"] = ingress
    if merged or ("exposure" in stored and stored_exposure == {}):
        out["exposure"] = merged
    return out


def to_v1beta1(obj: Mapping[str, Any]) -> dict[str, Any]:
    """`to_v1beta1` returns the v1beta1 form of a Component object of either version."""
    version = obj.get("apiVersion")
    if version == API_VERSION_V1BETA1:
        return copy.deepcopy(dict(obj))
    if version != API_VERSION_V1ALPHA1:
        raise ConversionError(f"cannot convert {version!r}: not a version of Component")
    out = copy.deepcopy(dict(obj))
    out["apiVersion"] = API_VERSION_V1BETA1
    metadata = out.setdefault("metadata", {})
    annotations = metadata.get("annotations") or {}
    stored_text = annotations.pop(CONVERSION_ANNOTATION, None)
    if "annotations" in metadata:
        if annotations:
            metadata["annotations"] = annotations
        else:
            del metadata["annotations"]
    if "spec" in out:
        spec = spec_to_v1beta1(out["spec"])
        if stored_text is not None:
            try:
                stored = json.loads(stored_text)
            except ValueError as error:
                raise ConversionError(f"annotation {CONVERSION_ANNOTATION} is not JSON: {error}") from error
            if isinstance(stored, dict):
                spec = _restore(spec, stored)
        out["spec"] = spec
    return out


def to_v1alpha1(obj: Mapping[str, Any]) -> dict[str, Any]:
    """`to_v1alpha1` returns the v1alpha1 form of a Component object of either version, with the
    v1beta1 spec in `apps.kokpit.io/conversion-data` when v1alpha1 cannot hold all of it."""
    version = obj.get("apiVersion")
    if version == API_VERSION_V1ALPHA1:
        return copy.deepcopy(dict(obj))
    if version != API_VERSION_V1BETA1:
        raise ConversionError(f"cannot convert {version!r}: not a version of Component")
    out = copy.deepcopy(dict(obj))
    out["apiVersion"] = API_VERSION_V1ALPHA1
    if "spec" in out:
        beta = out["spec"]
        alpha = spec_to_v1alpha1(beta)
        out["spec"] = alpha
        if spec_to_v1beta1(alpha) != beta:
            metadata = out.setdefault("metadata", {})
            annotations = dict(metadata.get("annotations") or {})
            annotations[CONVERSION_ANNOTATION] = json.dumps(beta, sort_keys=True, separators=(",", ":"))
            metadata["annotations"] = annotations
    return out


def convert(obj: Mapping[str, Any], desired_api_version: str) -> dict[str, Any]:
    """`convert` returns `obj` in `desired_api_version` (`apps.kokpit.io/v1alpha1` or `/v1beta1`)."""
    if desired_api_version == API_VERSION_V1BETA1:
        return to_v1beta1(obj)
    if desired_api_version == API_VERSION_V1ALPHA1:
        return to_v1alpha1(obj)
    raise ConversionError(f"cannot convert to {desired_api_version!r}: not a version of Component")
