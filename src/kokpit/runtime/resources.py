"""lightkube resource classes for kokpit's own types, made once from their declarations.

Controllers, the CLI and tests all need "the lightkube class for Cluster"; deriving it from the
`kokpit.api` declaration keeps group, version, kind, plural and scope in one place.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from lightkube.generic_resource import create_global_resource, create_namespaced_resource

from kokpit.api.crd import ResourceType


@cache
def resource_class(resource: ResourceType) -> type[Any]:
    """The lightkube generic resource class of `resource` (objects behave as dicts)."""
    make = create_global_resource if resource.scope == "Cluster" else create_namespaced_resource
    return make(resource.group, resource.version, resource.kind, resource.plural)  # type: ignore[no-any-return]


# Nodes read as plain dicts: lightkube's typed model insists on fields that real members may leave
# empty (kwok nodes have no `nodeInfo.bootID`). lightkube registers each generic class globally,
# so it is defined here once for everyone.
PlainNode = create_global_resource("", "v1", "Node", "nodes")
