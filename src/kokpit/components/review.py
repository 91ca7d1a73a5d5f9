"""Answer an `apiextensions.k8s.io/v1` `ConversionReview` for Components, as a pure function.

The webhook server hands the decoded request body to `answer_conversion_review` and sends back what it
returns. A request that cannot be converted is answered `Failed` with the reason, which the API
server passes on to the client; the review's `uid` is always echoed, as the API server requires.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kokpit.components.conversion import ConversionError, convert

REVIEW_API_VERSION = "apiextensions.k8s.io/v1"
REVIEW_KIND = "ConversionReview"


def _answer(
    uid: str, *, objects: list[dict[str, Any]] | None = None, error: str | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid}
    if error is None:
        response["convertedObjects"] = objects or []
        response["result"] = {"status": "Success"}
    else:
        response["convertedObjects"] = []
        response["result"] = {"status": "Failed", "message": error}
    return {"apiVersion": REVIEW_API_VERSION, "kind": REVIEW_KIND, "response": response}


def answer_conversion_review(review: Mapping[str, Any]) -> dict[str, Any]:
    """`answer_conversion_review` converts every object of `review.request` to its `desiredAPIVersion`
    and returns the ConversionReview response; all objects convert or the answer is `Failed`."""
    request = review.get("request")
    if review.get("apiVersion") != REVIEW_API_VERSION or review.get("kind") != REVIEW_KIND:
        uid = str(request.get("uid", "")) if isinstance(request, Mapping) else ""
        return _answer(uid, error=f"expected a {REVIEW_API_VERSION} {REVIEW_KIND}")
    if not isinstance(request, Mapping):
        return _answer("", error="the ConversionReview has no request")
    uid = str(request.get("uid", ""))
    desired = request.get("desiredAPIVersion")
    objects = request.get("objects") or []
    if not isinstance(desired, str) or not isinstance(objects, list):
        return _answer(uid, error="the request needs desiredAPIVersion and a list of objects")
    converted: list[dict[str, Any]] = []
    for index, obj in enumerate(objects):
        if not isinstance(obj, Mapping) or obj.get("kind") != "Component":
            return _answer(uid, error=f"objects[{index}] is not a Component")
        try:
            converted.append(convert(obj, desired))
        except ConversionError as error:
            name = (obj.get("metadata") or {}).get("name", f"objects[{index}]")
            return _answer(uid, error=f"{name}: {error}")
    return _answer(uid, objects=converted)
