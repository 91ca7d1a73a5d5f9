"""Which kinds of the hub may be templates, and how the hub serves them (its discovery).

Policies name kinds by apiVersion and kind (`apps/v1 Deployment`, a CRD's kind, `rbac.authorization.k8s.io/v1
ClusterRole`). A kind is resolved through the hub's discovery (`/api/v1`, `/apis/<group>/<version>`): its
plural, its scope, and whether it can be listed and watched (`discover_kind`, a `ServedKind`).

Never templates: kokpit's own kinds (the groups of `kokpit.api.ALL_RESOURCES`), Events, Leases, and
kinds that cannot be listed and watched (reviews, bindings of the API server).

Used by the controllers (`kokpit.propagation.kind_watches`) and by `kokpit plan`; it starts nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient

from kokpit.api.registry import ALL_RESOURCES
from kokpit.errors import KokpitError
from kokpit.runtime.raw import get_raw
from kokpit.runtime.resources import ServedKind

KOKPIT_GROUPS = frozenset(resource.group for resource in ALL_RESOURCES)
"""kokpit's own API groups: their objects are its machinery, never templates (users' CRDs in other
`*.kokpit.io` groups are ordinary kinds)."""
RESERVED_KINDS = frozenset(
    {
        ("v1", "Event"),
        ("events.k8s.io/v1", "Event"),
        ("coordination.k8s.io/v1", "Lease"),
        ("v1", "ComponentStatus"),
    }
)
REQUIRED_VERBS = frozenset({"list", "watch"})


class KindError(KokpitError):
    """A kind cannot be a template; `reason` is the policy condition reason."""

    reason = "UnsupportedKind"


class UnknownKind(KindError):
    """The hub serves no such kind (a CRD not installed yet, a typo)."""

    reason = "UnknownKind"


def reserved_kind(api_version: str, kind: str) -> str | None:
    """`reserved_kind` says why `api_version` `kind` is never a template, or None when it may be."""
    group = api_version.rpartition("/")[0]
    if group in KOKPIT_GROUPS:
        return f"{kind}.{api_version} is one of kokpit's own kinds"
    if (api_version, kind) in RESERVED_KINDS:
        return f"{kind}.{api_version} is never propagated"
    return None


def kind_from_discovery(api_version: str, kind: str, document: Mapping[str, Any]) -> ServedKind:
    """`kind_from_discovery` finds `kind` in an APIResourceList (the body of `/apis/<group>/<version>`).
    Raises `UnknownKind` when absent, `KindError` when it cannot be listed and watched."""
    for resource in document.get("resources") or ():
        name = str(resource.get("name", ""))
        if resource.get("kind") != kind or "/" in name:
            continue
        verbs = set(resource.get("verbs") or ())
        if not verbs >= REQUIRED_VERBS:
            raise KindError(f"{kind}.{api_version} cannot be listed and watched")
        return ServedKind.of(api_version, kind, name, namespaced=bool(resource.get("namespaced")))
    raise UnknownKind(f"the hub serves no kind {kind} in {api_version}")


async def api_resources(client: AsyncClient, api_version: str) -> dict[str, Any] | None:
    """`api_resources` is the APIResourceList the API server serves for `api_version` (`v1`, `apps/v1`),
    or None when it serves no such group version."""
    path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    response = await get_raw(client, path, accept="application/json")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


async def discover_kind(client: AsyncClient, api_version: str, kind: str) -> ServedKind:
    """`discover_kind` asks the API server of `client` about `api_version` `kind` (`kind_from_discovery`)."""
    document = await api_resources(client, api_version)
    if document is None:
        raise UnknownKind(f"the hub serves no API {api_version}")
    return kind_from_discovery(api_version, kind, document)
