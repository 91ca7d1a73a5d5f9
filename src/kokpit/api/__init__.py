"""kokpit's resource types: pydantic models, their declarations, and the CRDs generated from them.

Pure: nothing here talks to a cluster.
"""

from kokpit.api.cluster import CLUSTER, Cluster, ClusterSpec, ClusterStatus
from kokpit.api.crd import PrinterColumn, ResourceType, crd_manifest
from kokpit.api.meta import Condition, ConditionStatus, KokpitModel, ObjectMeta, cel, list_map, validations
from kokpit.api.registry import ALL_RESOURCES
from kokpit.api.schema import SchemaError, structural_schema

__all__ = [
    "ALL_RESOURCES",
    "CLUSTER",
    "Cluster",
    "ClusterSpec",
    "ClusterStatus",
    "Condition",
    "ConditionStatus",
    "KokpitModel",
    "ObjectMeta",
    "PrinterColumn",
    "ResourceType",
    "SchemaError",
    "cel",
    "crd_manifest",
    "list_map",
    "structural_schema",
    "validations",
]
