"""What the hub records about a member's size: nodes, capacity, and the APIs it serves.

Pure: the controller lists nodes, pods and discovery from the member and hands the plain objects
here. The summaries feed scheduling (dynamic replica division by available capacity, choosing an
API version a member actually serves) and `kokpit get clusters`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from kokpit.quantity import format_quantity, parse_quantity

SUMMARISED_RESOURCES = ("cpu", "memory", "pods")


def node_summary(nodes: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """`{"totalNum": n, "readyNum": r}`: a node counts as ready when its Ready condition is True."""
    total = ready = 0
    for node in nodes:
        total += 1
        conditions = (node.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            ready += 1
    return {"totalNum": total, "readyNum": ready}


def resource_summary(nodes: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Allocatable (sum over ready, schedulable nodes) and allocated (requests of running pods).

    Pods that finished (Succeeded/Failed) hold nothing; each pod counts one `pods` slot. Quantities
    come back in canonical form ("96", "750m", "768Gi").
    """
    allocatable = dict.fromkeys(SUMMARISED_RESOURCES, Decimal(0))
    for node in nodes:
        if (node.get("spec") or {}).get("unschedulable"):
            continue
        conditions = (node.get("status") or {}).get("conditions") or []
        if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            continue
        for name, value in ((node.get("status") or {}).get("allocatable") or {}).items():
            if name in allocatable:
                allocatable[name] += parse_quantity(str(value))
    allocated = dict.fromkeys(SUMMARISED_RESOURCES, Decimal(0))
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        if not (pod.get("spec") or {}).get("nodeName"):
            continue
        allocated["pods"] += 1
        for name, value in pod_requests(pod).items():
            if name in allocated and name != "pods":
                allocated[name] += value
    return {
        "allocatable": {name: format_quantity(value) for name, value in allocatable.items()},
        "allocated": {name: format_quantity(value) for name, value in allocated.items()},
    }


def pod_requests(pod: Mapping[str, Any]) -> dict[str, Decimal]:
    """A pod's effective requests: the sum over containers, or the largest init container if bigger."""
    spec = pod.get("spec") or {}
    total: dict[str, Decimal] = {}
    for container in spec.get("containers") or []:
        for name, value in ((container.get("resources") or {}).get("requests") or {}).items():
            total[name] = total.get(name, Decimal(0)) + parse_quantity(str(value))
    for container in spec.get("initContainers") or []:
        for name, value in ((container.get("resources") or {}).get("requests") or {}).items():
            total[name] = max(total.get(name, Decimal(0)), parse_quantity(str(value)))
    return total


def api_enablements(core: Mapping[str, Any], groups: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The served group/versions and their resources, from aggregated discovery (v2).

    `core` is the answer of `/api`, `groups` of `/apis`, both requested as
    `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`. Subresources are left
    out; the list is sorted so the status does not churn.
    """
    enablements: list[dict[str, Any]] = []
    for discovery in (core, groups):
        for group in discovery.get("items") or []:
            group_name = (group.get("metadata") or {}).get("name", "")
            for version in group.get("versions") or []:
                group_version = f"{group_name}/{version['version']}" if group_name else version["version"]
                resources = sorted(
                    (
                        {
                            "name": resource["resource"],
                            "kind": (resource.get("responseKind") or {}).get("kind", ""),
                            "namespaced": resource.get("scope") == "Namespaced",
                        }
                        for resource in version.get("resources") or []
                    ),
                    key=lambda item: item["name"],
                )
                enablements.append({"groupVersion": group_version, "resources": resources})
    return sorted(enablements, key=lambda item: item["groupVersion"])
