"""HostedCluster workers: what the spec accepts, and the MachineSet that asks for the machines."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kokpit.api import crd_manifest
from kokpit.api.hostedcluster import HOSTED_CLUSTER, HostedClusterSpec, WorkersSpec
from kokpit.api.machine import MachineSet
from kokpit.hosted import names, workers
from kokpit.machines.catalogue import DEFAULT_COMPONENTS, builtin_components

OWNER = {
    "apiVersion": "cluster.kokpit.io/v1alpha1",
    "kind": "HostedCluster",
    "name": "prod",
    "uid": "u-1",
    "controller": True,
}
EXPOSED = {"kubernetesVersion": "v1.36.5", "exposure": {"address": "10.77.0.1"}}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kubernetesVersion": "v1.36.5", "workers": {"replicas": 2}}, "nodes' network"),
        ({**EXPOSED, "exposure": {"address": "127.0.0.2"}, "workers": {}}, "nodes' network"),
        (
            {
                "kubernetesVersion": "v1.36.5",
                "runtime": "kubernetes",
                "metaCluster": "m",
                "join": False,
                "workers": {},
            },
            "cannot take machines",
        ),
    ],
    ids=["default loopback exposure", "another loopback address", "kubernetes runtime"],
)
def test_workers_nodes_cannot_reach_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HostedClusterSpec.model_validate(spec)


def test_workers_on_the_node_network_or_none_at_all_are_accepted() -> None:
    spec = HostedClusterSpec.model_validate({**EXPOSED, "workers": {"replicas": 2}})
    assert spec.workers == WorkersSpec(replicas=2)
    # Zero machines need no reachable address (a cluster scaled to none).
    HostedClusterSpec.model_validate({"kubernetesVersion": "v1.36.5", "workers": {"replicas": 0}})


def test_crd_carries_the_same_refusals() -> None:
    crd = crd_manifest(HOSTED_CLUSTER)
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    by_path = {r.get("fieldPath"): r for r in spec["x-kubernetes-validations"]}
    assert "nodes' network" in by_path[".exposure.address"]["message"]
    assert by_path[".workers"]["reason"] == "FieldValueForbidden"


@pytest.mark.parametrize("version", ["v1.36.5", "v1.35.4"])
def test_the_default_node_runs_kubelet_and_kube_proxy_at_the_cluster_version(version: str) -> None:
    got = workers.default_components(builtin_components(), version, cluster_domain="corp.local")
    assert tuple(c["name"] for c in got) == DEFAULT_COMPONENTS
    assert set(DEFAULT_COMPONENTS) == {"runc", "cni-plugins", "containerd", "kubelet", "kube-proxy"}
    by_name = {c["name"]: c for c in got}
    assert by_name["kubelet"]["version"] == by_name["kube-proxy"]["version"] == version
    assert by_name["kubelet"]["parameters"] == {"clusterDomain": "corp.local"}
    assert by_name["containerd"]["version"] == "v2.4.2"


def test_a_version_the_catalogue_lacks_is_an_error_naming_it() -> None:
    with pytest.raises(workers.WorkersError, match=r"kubelet offers .* not v1\.99\.0"):
        workers.default_components(builtin_components(), "v1.99.0", cluster_domain="cluster.local")
    with pytest.raises(workers.WorkersError, match="runc is missing"):
        workers.default_components(
            [m for m in builtin_components() if m["metadata"]["name"] != "runc"],
            "v1.36.5",
            cluster_domain="x",
        )


def test_the_machine_set_is_owned_labelled_and_valid() -> None:
    spec = WorkersSpec.model_validate(
        {
            "replicas": 3,
            "hostSelector": {"matchLabels": {"pool": "a"}},
            "labels": {"tier": "web"},
            "taints": [{"key": "example.com/dedicated", "value": "web", "effect": "NoSchedule"}],
            "strategy": {"canary": 1},
        }
    )
    components = workers.default_components(builtin_components(), "v1.36.5", cluster_domain="cluster.local")
    manifest = workers.machine_set(
        namespace="ns", cluster="prod", owner=OWNER, workers=spec, components=components
    )
    assert manifest["metadata"]["name"] == names.workers_machine_set_name("prod") == "prod-workers"
    assert manifest["metadata"]["ownerReferences"] == [OWNER]
    assert manifest["metadata"]["labels"][names.CLUSTER_LABEL] == "prod"
    assert manifest["spec"]["template"]["metadata"]["labels"] == {names.CLUSTER_LABEL: "prod"}
    template = manifest["spec"]["template"]["spec"]
    assert template["clusterRef"] == {"kind": "HostedCluster", "name": "prod"}
    assert template["labels"] == {"tier": "web"}
    assert manifest["spec"]["hostSelector"] == {"matchLabels": {"pool": "a"}}
    parsed = MachineSet.model_validate(manifest)
    assert parsed.spec.replicas == 3
    assert parsed.spec.strategy is not None and parsed.spec.strategy.canary == 1
    assert [c.name for c in parsed.spec.template.spec.components or []][-1] == "kube-proxy"


def test_listed_components_are_taken_as_they_are() -> None:
    spec = WorkersSpec.model_validate({"components": [{"name": "kubelet", "version": "v1.35.4"}]})
    assert workers.components_of(spec) == [{"name": "kubelet", "version": "v1.35.4"}]
    assert workers.components_of(WorkersSpec()) is None
