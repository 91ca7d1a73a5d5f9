"""`AdmissionReview` v1: decoding the API server's request and building the answer; pure.

The API server posts `{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request":
{...}}` and expects the same apiVersion and kind back with `response.uid` equal to `request.uid`;
anything else is a failed call (and then `failurePolicy` decides). A denial carries
`status.message`, which kubectl prints to the user as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"


class ReviewError(ValueError):
    """A body that is not an AdmissionReview v1 request; the message says what is wrong."""


@dataclass(frozen=True)
class AdmissionRequest:
    """The parts of an admission request kokpit's handlers decide on."""

    uid: str
    operation: str
    """CREATE, UPDATE, DELETE or CONNECT."""
    group: str = ""
    version: str = ""
    resource: str = ""
    name: str = ""
    namespace: str = ""
    object: Mapping[str, Any] | None = None
    old_object: Mapping[str, Any] | None = None
    dry_run: bool = False
    user: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


def decode(body: Any) -> AdmissionRequest:
    """`decode` reads an AdmissionReview v1 request; `ReviewError` for any other body (v1beta1 is not
    served: kokpit registers v1 only)."""
    if not isinstance(body, Mapping):
        raise ReviewError("the body is not a JSON object")
    if body.get("apiVersion") != API_VERSION or body.get("kind") != KIND:
        raise ReviewError(
            f"expected {API_VERSION} {KIND}, got {body.get('apiVersion')!r} {body.get('kind')!r}"
        )
    request = body.get("request")
    if not isinstance(request, Mapping):
        raise ReviewError("the AdmissionReview has no request")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise ReviewError("the AdmissionReview request has no uid")
    operation = request.get("operation")
    if not isinstance(operation, str) or not operation:
        raise ReviewError("the AdmissionReview request has no operation")
    resource = request.get("resource") or {}
    user = request.get("userInfo") or {}
    obj, old = request.get("object"), request.get("oldObject")
    return AdmissionRequest(
        uid=uid,
        operation=operation,
        group=str(resource.get("group") or ""),
        version=str(resource.get("version") or ""),
        resource=str(resource.get("resource") or ""),
        name=str(request.get("name") or ""),
        namespace=str(request.get("namespace") or ""),
        object=obj if isinstance(obj, Mapping) else None,
        old_object=old if isinstance(old, Mapping) else None,
        dry_run=bool(request.get("dryRun")),
        user=str(user.get("username") or "") if isinstance(user, Mapping) else "",
    )


@dataclass(frozen=True)
class Verdict:
    """A handler's decision: allowed, or refused with a message (and an HTTP-like code)."""

    allowed: bool
    message: str = ""
    code: int = 200

    @classmethod
    def allow(cls) -> Verdict:
        return cls(allowed=True)

    @classmethod
    def deny(cls, message: str, *, code: int = 422) -> Verdict:
        """422 (Invalid) is what the API server itself answers for an object that fails validation."""
        return cls(allowed=False, message=message, code=code)


def answer(uid: str, verdict: Verdict) -> dict[str, Any]:
    """`answer` is the AdmissionReview v1 the API server expects back for request `uid`."""
    response: dict[str, Any] = {"uid": uid, "allowed": verdict.allowed}
    if not verdict.allowed:
        response["status"] = {"code": verdict.code, "reason": "Invalid", "message": verdict.message}
    return {"apiVersion": API_VERSION, "kind": KIND, "response": response}
