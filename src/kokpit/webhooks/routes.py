"""Which handler answers which URL path; pure.

One server serves every webhook of kokpit, each at its own path, so a conversion webhook
(`ConversionReview`) is one more entry beside the admission ones. A route takes the decoded JSON
body and returns the JSON answer; a body its route cannot read is a `ReviewError`, answered 400.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kokpit.webhooks.review import AdmissionRequest, ReviewError, Verdict, answer, decode

Route = Callable[[Any], dict[str, Any]]
"""A webhook: the decoded JSON body in, the JSON answer out; raises `ReviewError` on a bad body."""


def conversion(handler: Callable[[Mapping[str, Any]], dict[str, Any]]) -> Route:
    """`conversion` turns an answer to one ConversionReview (a JSON object) into a route."""

    def route(body: Any) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise ReviewError("the body is not a JSON object")
        return handler(body)

    return route


def admission(handler: Callable[[AdmissionRequest], Verdict]) -> Route:
    """`admission` turns a decision over one admission request into a route answering AdmissionReviews."""

    def route(body: Any) -> dict[str, Any]:
        request = decode(body)
        return answer(request.uid, handler(request))

    return route


@dataclass(frozen=True)
class Reply:
    """What the server sends: an HTTP status and a JSON body."""

    status: int
    body: dict[str, Any]


def dispatch(routes: Mapping[str, Route], path: str, body: Any) -> Reply:
    """`dispatch` answers `body` posted to `path`: 404 for a path with no route, 400 for a body its
    route cannot read, else 200 with the route's answer."""
    route = routes.get(path)
    if route is None:
        return Reply(404, {"error": f"no webhook at {path}"})
    try:
        return Reply(200, route(body))
    except ReviewError as error:
        return Reply(400, {"error": str(error)})
