"""lightkube resource classes, made in one place: for kokpit's own types and for any kind a cluster serves.

`ServedKind` is a kind as an API server serves it (group, version, kind, plural, scope), what discovery
or a Cluster's `status.apiEnablements` tells; `served_class` is the lightkube class to read and write it.
Controllers, the CLI and tests all need "the lightkube class for Cluster"; `resource_class` derives it
from the `kokpit.api` declaration, keeping group, version, kind, plural and scope in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from lightkube.core import resource as lkr
from lightkube.core.resource_registry import resource_registry
from lightkube.generic_resource import (
    GenericGlobalResource,
    GenericGlobalStatus,
    GenericNamespacedResource,
    GenericNamespacedStatus,
    create_api_info,
)

from kokpit.api.crd import ResourceType


@dataclass(frozen=True)
class ServedKind:
    """A kind as one API server serves it: what to write, and where."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @classmethod
    def of(cls, api_version: str, kind: str, plural: str, *, namespaced: bool) -> ServedKind:
        """`ServedKind.of("apps/v1", "Deployment", "deployments", namespaced=True)`."""
        group, _, version = api_version.rpartition("/")
        return cls(group, version, kind, plural, namespaced)

    @property
    def api_version(self) -> str:
        """`api_version` is `group/version`, or the version alone for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def __str__(self) -> str:
        return f"{self.kind}.{self.api_version}"


@cache
def served_class(kind: ServedKind) -> type[Any]:
    """`served_class` is the lightkube generic class of `kind` (objects are dicts), with a status
    subresource. Its objects always carry apiVersion and kind, which the items of a list response leave
    out.

    The class is *not* put in lightkube's global registry (unlike
    `lightkube.generic_resource.create_*_resource`): for a built-in kind the registry already holds
    lightkube's typed class (`Deployment`), and for any kind two parts of the process may want a class
    for it (a template watch on the hub, an apply to a member in another version); registering would
    either fail or hand one part's class to the other. Every kind gets one class here, cached.
    """
    main: type[Any] = GenericNamespacedResource if kind.namespaced else GenericGlobalResource
    status_base: type[Any] = GenericNamespacedStatus if kind.namespaced else GenericGlobalStatus
    info = create_api_info(kind.group, kind.version, kind.kind, kind.plural)
    status_class = type(
        f"{kind.kind}Status",
        (status_base,),
        {
            "_api_info": lkr.ApiInfo(
                resource=info.resource,
                parent=info.resource,
                plural=kind.plural,
                verbs=["get", "patch", "put"],
                action="status",
            )
        },
    )

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        main.__init__(self, *args, **kwargs)
        self.setdefault("apiVersion", kind.api_version)
        self.setdefault("kind", kind.kind)

    return type(kind.kind, (main,), {"_api_info": info, "Status": status_class, "__init__": __init__})


def kind_of(resource: ResourceType) -> ServedKind:
    """`kind_of` is the `ServedKind` of one of kokpit's own types."""
    return ServedKind(
        resource.group, resource.version, resource.kind, resource.plural, resource.scope != "Cluster"
    )


@cache
def resource_class(resource: ResourceType) -> type[Any]:
    """`resource_class` is the `served_class` of one of kokpit's own types, registered in lightkube's
    global registry (no other class exists for kokpit's kinds) so `lightkube.codecs` reads manifests of
    them."""
    return _registered(kind_of(resource))


def _registered(kind: ServedKind) -> type[Any]:
    cls = served_class(kind)
    if resource_registry.get(kind.api_version, kind.kind) is not cls:
        resource_registry.register(cls)
    return cls


# Nodes read as plain dicts: lightkube's typed model insists on fields that real members may leave
# empty (kwok nodes have no `nodeInfo.bootID`). Registered, so `codecs` also reads Node manifests as
# plain dicts.
PlainNode = _registered(ServedKind("", "v1", "Node", "nodes", False))
