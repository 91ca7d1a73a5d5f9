"""What the proxy sends where; pure: the path it serves, the verb it authorises, the headers it
passes on, and the heads of requests and answers carried through an agent's tunnel.

`https://<proxy>/clusters/<name>/<path>` is forwarded to `<member API>/<path>` with the caller's
identity as impersonation headers. Whatever the caller sent to claim an identity (Authorization,
Impersonate-*) is dropped first, so the only identity the member sees is the one the hub
authenticated; hop-by-hop headers are dropped as any proxy must (RFC 9110 section 7.6.1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from kokpit.fleet.proxy.identity import Identity

PREFIX = "/clusters/"

Headers = list[tuple[str, str]]

_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
"""Headers that describe one connection, not the request: never passed on. (The length is set
again by whoever writes the body; `host` is the next hop's.)"""

_VERBS = {
    "GET": "get",
    "HEAD": "get",
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


def split_path(path: str) -> tuple[str, str] | None:
    """`split_path("/clusters/m1/api/v1/pods")` is `("m1", "/api/v1/pods")`; None when `path` is not
    under `/clusters/<name>` with a valid cluster name. `/clusters/m1` alone forwards to `/`."""
    if not path.startswith(PREFIX):
        return None
    name, slash, rest = path[len(PREFIX) :].partition("/")
    if not _NAME.fullmatch(name) or len(name) > 253:
        return None
    return name, slash + rest if slash else "/"


def proxy_verb(method: str) -> str | None:
    """The verb of `clusters/proxy` a request needs (as for kube-apiserver's own `pods/proxy`:
    `GET` -> get, `POST` -> create, ...); None for a method the proxy does not forward."""
    return _VERBS.get(method.upper())


def _claims_identity(name: str) -> bool:
    lower = name.lower()
    return lower == "authorization" or lower.startswith("impersonate-")


def impersonation(identity: Identity) -> Headers:
    """The headers that make the member treat a request as `identity` (Kubernetes impersonation:
    `Impersonate-User`, one `Impersonate-Group` per group, `Impersonate-Uid`, and
    `Impersonate-Extra-<key>` with the key percent-encoded)."""
    out: Headers = [("Impersonate-User", identity.user)]
    out += [("Impersonate-Group", group) for group in identity.groups]
    if identity.uid:
        out.append(("Impersonate-Uid", identity.uid))
    for key, values in sorted(identity.extra.items()):
        out += [(f"Impersonate-Extra-{quote(key, safe='')}", value) for value in values]
    return out


def request_headers(incoming: Iterable[tuple[str, str]], identity: Identity) -> Headers:
    """`request_headers` is what goes to the member: the caller's headers without the ones that claim
    an identity or describe the connection, then the impersonation of `identity`."""
    kept = [(k, v) for k, v in incoming if k.lower() not in HOP_BY_HOP and not _claims_identity(k)]
    return kept + impersonation(identity)


def response_headers(incoming: Iterable[tuple[str, str]]) -> Headers:
    """`response_headers` is what goes back to the caller: the member's headers but hop-by-hop ones."""
    return [(k, v) for k, v in incoming if k.lower() not in HOP_BY_HOP]


def wants_upgrade(headers: Mapping[str, str]) -> bool:
    """True for a connection upgrade (exec, attach, port-forward): not carried by the proxy."""
    return "upgrade" in headers.get("Connection", "").lower() or bool(headers.get("Upgrade"))


# -- heads through the tunnel ---------------------------------------------------------------------


@dataclass(frozen=True)
class RequestHead:
    """What the hub asks an agent to send to its member (the HEADERS of a tunnel stream)."""

    method: str
    path: str
    """Path and query string, e.g. `/api/v1/pods?watch=1`."""
    headers: Headers

    def encode(self) -> bytes:
        return json.dumps({"method": self.method, "path": self.path, "headers": self.headers}).encode()

    @classmethod
    def decode(cls, raw: bytes) -> RequestHead:
        """Parses a head; raises `ValueError` when it is not one."""
        data = _json_object(raw)
        method, path, headers = data.get("method"), data.get("path"), _headers(data.get("headers"))
        if not isinstance(method, str) or proxy_verb(method) is None:
            raise ValueError(f"unsupported method {method!r}")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        return cls(method=method, path=path, headers=headers)


@dataclass(frozen=True)
class ResponseHead:
    """What the member answered (the HEADERS an agent sends back), or the agent's own failure."""

    status: int
    headers: Headers

    def encode(self) -> bytes:
        return json.dumps({"status": self.status, "headers": self.headers}).encode()

    @classmethod
    def decode(cls, raw: bytes) -> ResponseHead:
        data = _json_object(raw)
        status = data.get("status")
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"bad status {status!r}")
        return cls(status=status, headers=_headers(data.get("headers")))


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _headers(raw: object) -> Headers:
    if not isinstance(raw, list) or not all(
        isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h) for h in raw
    ):
        raise ValueError("headers must be a list of [name, value] pairs")
    return [(str(k), str(v)) for k, v in raw]


def status_body(code: int, reason: str, message: str) -> bytes:
    """A Kubernetes `Status` object: what kubectl shows as the error when the proxy refuses."""
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
    ).encode()
