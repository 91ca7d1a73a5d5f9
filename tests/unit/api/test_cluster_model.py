"""The Cluster models read objects as the API server returns them and write them back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from kokpit.api import CLUSTER, Cluster, ClusterSpec, ConditionStatus
from kokpit.api.cluster import SyncMode, TaintEffect

FULL: dict[str, Any] = {
    "apiVersion": "cluster.kokpit.io/v1alpha1",
    "kind": "Cluster",
    "metadata": {
        "name": "edge-1",
        "uid": "6f1c2b8e-0000-4000-8000-000000000001",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2025-01-02T03:04:05Z",
        "labels": {"kokpit.io/env": "prod"},
        "managedFields": [{"manager": "kokpit", "operation": "Apply"}],
    },
    "spec": {
        "syncMode": "Push",
        "apiEndpoint": "https://127.0.0.1:6443",
        "secretRef": {"namespace": "kokpit-system", "name": "edge-1-kubeconfig"},
        "provider": "kwok",
        "region": "eu-west-1",
        "zone": "eu-west-1a",
        "taints": [
            {
                "key": "kokpit.io/maintenance",
                "value": "true",
                "effect": "NoExecute",
                "timeAdded": "2025-01-02T03:04:05Z",
            }
        ],
    },
    "status": {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "ClusterReady",
                "message": "the API server answers /readyz",
                "lastTransitionTime": "2025-01-02T03:04:05Z",
                "observedGeneration": 3,
            }
        ],
        "kubernetesVersion": "v1.36.5",
        "apiEnablements": [
            {
                "groupVersion": "apps/v1",
                "resources": [{"name": "deployments", "kind": "Deployment", "namespaced": True}],
            }
        ],
        "nodeSummary": {"totalNum": 3, "readyNum": 2},
        "resourceSummary": {
            "allocatable": {"cpu": "12", "memory": "48Gi", "pods": "330"},
            "allocated": {"cpu": "1500m", "memory": "2Gi", "pods": "12"},
        },
        "lastProbeTime": "2025-01-02T03:05:00Z",
    },
}


def test_round_trip_of_a_full_object() -> None:
    cluster = Cluster.model_validate(FULL)
    assert cluster.spec.sync_mode is SyncMode.PUSH
    assert cluster.spec.taints is not None
    assert cluster.spec.taints[0].effect is TaintEffect.NO_EXECUTE
    assert cluster.status is not None
    assert cluster.status.conditions is not None
    assert cluster.status.conditions[0].status is ConditionStatus.TRUE
    assert cluster.status.last_probe_time == datetime(2025, 1, 2, 3, 5, tzinfo=UTC)
    assert cluster.to_dict() == FULL
    assert cluster.model_dump(mode="json", by_alias=True, exclude_none=True) == FULL


def test_api_version_matches_the_declaration() -> None:
    cluster = Cluster(spec=ClusterSpec(sync_mode=SyncMode.PULL))
    assert (cluster.api_version, cluster.kind) == (CLUSTER.api_version, CLUSTER.kind)
    assert cluster.to_dict() == {
        "apiVersion": "cluster.kokpit.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {},
        "spec": {"syncMode": "Pull"},
    }


def test_secret_namespace_defaults_to_kokpit_system() -> None:
    spec = ClusterSpec.model_validate(
        {"syncMode": "Push", "apiEndpoint": "https://a.example", "secretRef": {"name": "a"}}
    )
    assert spec.secret_ref is not None
    assert spec.secret_ref.namespace == "kokpit-system"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({"syncMode": "Sideways"}, "syncMode", id="unknown syncMode"),
        pytest.param(
            {"syncMode": "Push", "apiEndpoint": "https://a"}, "secretRef required", id="Push, no secret"
        ),
        pytest.param(
            {"syncMode": "Push", "secretRef": {"name": "a"}}, "apiEndpoint required", id="Push, no endpoint"
        ),
        pytest.param(
            {"syncMode": "Pull", "apiEndpoint": "http://a"}, "apiEndpoint", id="plain http endpoint"
        ),
        pytest.param({"syncMode": "Pull", "zone": "z" * 64}, "zone", id="zone too long"),
        pytest.param(
            {"syncMode": "Pull", "taints": [{"key": "k", "effect": "Sometimes"}]},
            "effect",
            id="bad taint effect",
        ),
    ],
)
def test_invalid_specs_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ClusterSpec.model_validate(spec)
