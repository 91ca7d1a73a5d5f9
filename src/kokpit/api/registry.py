"""Every kokpit resource type, in install order; `kokpit install` and the docs iterate it.

A new resource type is added here and nowhere else: its CRD follows from its declaration.
"""

from __future__ import annotations

from kokpit.api.cluster import CLUSTER
from kokpit.api.crd import ResourceType

ALL_RESOURCES: tuple[ResourceType, ...] = (CLUSTER,)
