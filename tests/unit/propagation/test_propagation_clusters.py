"""Quantities, `ClusterInfo` from Cluster objects, room for replicas, and workload replica helpers."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from kokpit.propagation import (
    ClusterInfo,
    ClusterTaint,
    QuantityError,
    ResourceRequest,
    available_replicas,
    cluster_info_from_object,
    parse_quantity,
    resource_request,
    with_replicas,
    workload_replicas,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("500m", Decimal("0.5"), id="millis"),
        pytest.param("2", Decimal(2), id="plain"),
        pytest.param("1.5", Decimal("1.5"), id="decimal"),
        pytest.param(".5", Decimal("0.5"), id="leading dot"),
        pytest.param("1Ki", Decimal(1024), id="Ki"),
        pytest.param("16Mi", Decimal(16 * 2**20), id="Mi"),
        pytest.param("1.5Gi", Decimal("1.5") * 2**30, id="fractional Gi"),
        pytest.param("2Ti", Decimal(2 * 2**40), id="Ti"),
        pytest.param("3k", Decimal(3000), id="k"),
        pytest.param("4M", Decimal(4 * 10**6), id="M"),
        pytest.param("5G", Decimal(5 * 10**9), id="G"),
        pytest.param("1E", Decimal(10**18), id="E is exa"),
        pytest.param("1e3", Decimal(1000), id="e-notation"),
        pytest.param("12E-1", Decimal("1.2"), id="E-notation negative"),
        pytest.param("+7", Decimal(7), id="plus sign"),
        pytest.param("100n", Decimal("1e-7"), id="nano"),
        pytest.param(3, Decimal(3), id="int passes through"),
        pytest.param(0.25, Decimal("0.25"), id="float passes through"),
    ],
)
def test_parse_quantity(text: str | int | float, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "1 Gi", "1GB", "1.2.3", "Mi", "--1"])
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(QuantityError, match="is not a quantity"):
        parse_quantity(text)


FULL: dict[str, Any] = {
    "apiVersion": "cluster.kokpit.io/v1alpha1",
    "kind": "Cluster",
    "metadata": {"name": "edge-1", "labels": {"env": "prod"}},
    "spec": {
        "syncMode": "Push",
        "provider": "kwok",
        "region": "eu-west-1",
        "zone": "eu-west-1a",
        "taints": [{"key": "kokpit.io/maintenance", "value": "true", "effect": "NoExecute"}],
    },
    "status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ok", "message": ""}],
        "resourceSummary": {
            "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
            "allocated": {"cpu": "2500m", "memory": "4Gi", "pods": "10"},
            "allocating": {"cpu": "500m", "bogus": "??"},
        },
    },
}


def test_cluster_info_from_object() -> None:
    info = cluster_info_from_object(FULL)
    assert info == ClusterInfo(
        name="edge-1",
        labels={"env": "prod"},
        provider="kwok",
        region="eu-west-1",
        zone="eu-west-1a",
        taints=(ClusterTaint("kokpit.io/maintenance", "NoExecute", "true"),),
        ready=True,
        allocatable={"cpu": Decimal(8), "memory": Decimal(16 * 2**30), "pods": Decimal(110)},
        allocated={"cpu": Decimal("2.5"), "memory": Decimal(4 * 2**30), "pods": Decimal(10)},
        allocating={"cpu": Decimal("0.5")},
    )


@pytest.mark.parametrize(
    ("status", "ready"),
    [
        pytest.param({}, False, id="no status"),
        pytest.param({"conditions": [{"type": "Ready", "status": "False"}]}, False, id="Ready False"),
        pytest.param({"conditions": [{"type": "Ready", "status": "Unknown"}]}, False, id="Ready Unknown"),
        pytest.param({"conditions": [{"type": "Other", "status": "True"}]}, False, id="no Ready condition"),
    ],
)
def test_cluster_info_readiness(status: dict[str, Any], ready: bool) -> None:
    obj = copy.deepcopy(FULL)
    obj["status"] = status
    info = cluster_info_from_object(obj)
    assert info.ready is ready
    assert info.allocatable == {}


def test_cluster_info_needs_a_name() -> None:
    with pytest.raises(ValueError, match=r"metadata\.name"):
        cluster_info_from_object({"spec": {}})


EDGE = cluster_info_from_object(FULL)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        pytest.param(None, 100, id="no request: free pods"),
        pytest.param(ResourceRequest(), 100, id="empty request: free pods"),
        pytest.param(ResourceRequest.of(cpu="500m"), 10, id="cpu bound: (8 - 2.5 - 0.5) / 0.5"),
        pytest.param(ResourceRequest.of(memory="1Gi"), 12, id="memory bound"),
        pytest.param(ResourceRequest.of(cpu="100m", memory="5Gi"), 2, id="smallest resource wins"),
        pytest.param(ResourceRequest.of(cpu="10m"), 100, id="pods bound"),
        pytest.param(ResourceRequest.of(**{"nvidia.com/gpu": "1"}), 0, id="resource the cluster lacks"),
    ],
)
def test_available_replicas(request_: ResourceRequest | None, expected: int) -> None:
    assert available_replicas(EDGE, request_) == expected


def test_available_replicas_without_information_is_zero() -> None:
    assert available_replicas(ClusterInfo("bare"), None) == 0
    overcommitted = ClusterInfo("full", allocatable={"pods": Decimal(5)}, allocated={"pods": Decimal(9)})
    assert available_replicas(overcommitted, None) == 0


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        pytest.param(
            {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 4}}, 4, id="Deployment"
        ),
        pytest.param(
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"replicas": 0}}, 0, id="StatefulSet 0"
        ),
        pytest.param(
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {}}, 1, id="unset defaults to 1"
        ),
        pytest.param(
            {"apiVersion": "batch/v1", "kind": "Job", "spec": {"parallelism": 3}}, 3, id="Job parallelism"
        ),
        pytest.param(
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {}}, None, id="DaemonSet has none"
        ),
        pytest.param({"apiVersion": "v1", "kind": "ConfigMap"}, None, id="ConfigMap"),
        pytest.param(
            {"apiVersion": "example.com/v1", "kind": "Deployment", "spec": {"replicas": 2}},
            None,
            id="other group",
        ),
    ],
)
def test_workload_replicas(manifest: dict[str, Any], expected: int | None) -> None:
    assert workload_replicas(manifest) == expected


def test_with_replicas_returns_a_new_manifest() -> None:
    original: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 4},
    }
    changed = with_replicas(original, 2)
    assert changed["spec"]["replicas"] == 2
    assert original["spec"]["replicas"] == 4
    job = with_replicas({"apiVersion": "batch/v1", "kind": "Job"}, 5)
    assert job["spec"] == {"parallelism": 5}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}
    assert with_replicas(config, 3) == config


def test_resource_request_sums_containers_and_respects_init_containers() -> None:
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [
                        {"name": "init", "resources": {"requests": {"cpu": "2", "memory": "64Mi"}}}
                    ],
                    "containers": [
                        {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}}},
                        {"name": "b", "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}},
                        {"name": "c"},
                    ],
                }
            }
        },
    }
    assert resource_request(manifest) == ResourceRequest({"cpu": Decimal(2), "memory": Decimal(384 * 2**20)})
    assert resource_request({"apiVersion": "v1", "kind": "ConfigMap"}) == ResourceRequest()
