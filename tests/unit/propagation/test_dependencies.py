"""What a workload's pod template references (`dependencies_of`), who requires a dependency
(`required_by`), where an attached binding's resource goes (`target_clusters`), and the policies that
`propagateDeps` is refused on."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kokpit.api.policy import PROPAGATE_DEPS_WITHOUT_POD_TEMPLATE, PropagationPolicy
from kokpit.propagation.dependencies import (
    Dependent,
    DependentObjectReference,
    dependencies_of,
    has_pod_template,
    parse_dependency_key,
    required_by,
    target_clusters,
)
from kokpit.propagation.scheduler import TargetCluster

NS = "shop"
POD_SPEC: dict[str, Any] = {
    "serviceAccountName": "web-sa",
    "imagePullSecrets": [{"name": "registry"}],
    "initContainers": [{"name": "init", "envFrom": [{"configMapRef": {"name": "init-config"}}]}],
    "containers": [
        {
            "name": "web",
            "envFrom": [{"secretRef": {"name": "web-env"}}],
            "env": [
                {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "web-config", "key": "a"}}},
                {"name": "B", "valueFrom": {"secretKeyRef": {"name": "web-secret", "key": "b"}}},
                {"name": "C", "value": "plain"},
                {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            ],
        }
    ],
    "volumes": [
        {"name": "v1", "configMap": {"name": "files"}},
        {"name": "v2", "secret": {"secretName": "certs"}},
        {
            "name": "v3",
            "projected": {
                "sources": [
                    {"configMap": {"name": "projected-config"}},
                    {"secret": {"name": "projected-secret"}},
                    {"serviceAccountToken": {"path": "token"}},
                ]
            },
        },
        {"name": "v4", "persistentVolumeClaim": {"claimName": "data"}},
        {"name": "v5", "emptyDir": {}},
    ],
}
EXPECTED = [
    DependentObjectReference("ConfigMap", "files", NS),
    DependentObjectReference("ConfigMap", "init-config", NS),
    DependentObjectReference("ConfigMap", "projected-config", NS),
    DependentObjectReference("ConfigMap", "web-config", NS),
    DependentObjectReference("PersistentVolumeClaim", "data", NS),
    DependentObjectReference("Secret", "certs", NS),
    DependentObjectReference("Secret", "projected-secret", NS),
    DependentObjectReference("Secret", "registry", NS),
    DependentObjectReference("Secret", "web-env", NS),
    DependentObjectReference("Secret", "web-secret", NS),
    DependentObjectReference("ServiceAccount", "web-sa", NS),
]


def workload(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "w", "namespace": NS}, "spec": spec}


def templated(pod_spec: dict[str, Any]) -> dict[str, Any]:
    return {"template": {"metadata": {"labels": {"app": "w"}}, "spec": pod_spec}}


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(
            workload("apps/v1", "Deployment", {"replicas": 2, **templated(POD_SPEC)}), id="Deployment"
        ),
        pytest.param(workload("apps/v1", "StatefulSet", templated(POD_SPEC)), id="StatefulSet"),
        pytest.param(workload("apps/v1", "DaemonSet", templated(POD_SPEC)), id="DaemonSet"),
        pytest.param(workload("apps/v1", "ReplicaSet", templated(POD_SPEC)), id="ReplicaSet"),
        pytest.param(workload("batch/v1", "Job", templated(POD_SPEC)), id="Job"),
        pytest.param(
            workload(
                "batch/v1", "CronJob", {"schedule": "* * * * *", "jobTemplate": {"spec": templated(POD_SPEC)}}
            ),
            id="CronJob, through its job template",
        ),
        pytest.param(workload("v1", "Pod", POD_SPEC), id="Pod, its own spec"),
    ],
)
def test_every_workload_kind_references_the_same_objects_through_its_pod_template(
    obj: dict[str, Any],
) -> None:
    assert has_pod_template(obj["apiVersion"], obj["kind"])
    assert dependencies_of(obj) == EXPECTED


def pod(spec: dict[str, Any]) -> dict[str, Any]:
    return workload("v1", "Pod", {"containers": [{"name": "c"}], **spec})


def container(**fields: Any) -> dict[str, Any]:
    return {"containers": [{"name": "c", **fields}]}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({}, [], id="nothing referenced"),
        pytest.param(
            {"serviceAccountName": "default"}, [], id="the default ServiceAccount is every member's own"
        ),
        pytest.param(
            {"serviceAccount": "legacy"}, [("ServiceAccount", "legacy")], id="the older serviceAccount field"
        ),
        pytest.param(
            {"serviceAccountName": "new", "serviceAccount": "old"},
            [("ServiceAccount", "new")],
            id="serviceAccountName wins over serviceAccount",
        ),
        pytest.param(
            container(
                env=[
                    {
                        "name": "A",
                        "valueFrom": {"configMapKeyRef": {"name": "opt", "key": "k", "optional": True}},
                    }
                ]
            ),
            [("ConfigMap", "opt")],
            id="an optional reference still counts",
        ),
        pytest.param(
            {
                "containers": [
                    {"name": "a", "envFrom": [{"configMapRef": {"name": "same"}}]},
                    {"name": "b", "envFrom": [{"configMapRef": {"name": "same"}}]},
                ],
                "volumes": [{"name": "v", "configMap": {"name": "same"}}],
            },
            [("ConfigMap", "same")],
            id="referenced three times, listed once",
        ),
        pytest.param(
            {"ephemeralContainers": [{"name": "debug", "envFrom": [{"secretRef": {"name": "debug-env"}}]}]},
            [("Secret", "debug-env")],
            id="ephemeral containers count",
        ),
        pytest.param(
            {
                "volumes": [
                    {"name": "a", "azureFile": {"secretName": "azure", "shareName": "s"}},
                    {"name": "b", "cephfs": {"monitors": ["m"], "secretRef": {"name": "ceph"}}},
                    {"name": "c", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "csi"}}},
                    {"name": "d", "rbd": {"monitors": ["m"], "image": "i", "secretRef": {"name": "rbd"}}},
                    {
                        "name": "e",
                        "iscsi": {"targetPortal": "t", "iqn": "q", "lun": 0, "secretRef": {"name": "iscsi"}},
                    },
                ]
            },
            [
                ("Secret", "azure"),
                ("Secret", "ceph"),
                ("Secret", "csi"),
                ("Secret", "iscsi"),
                ("Secret", "rbd"),
            ],
            id="volume plugins' Secrets",
        ),
        pytest.param(
            {"volumes": [{"name": "e", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]},
            [],
            id="an ephemeral volume's claim is made on the member",
        ),
        pytest.param(
            container(envFrom=[{"configMapRef": {}}, {"secretRef": {"name": ""}}]),
            [],
            id="empty names are no references",
        ),
    ],
)
def test_references_of_a_pod_spec(spec: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert [(d.kind, d.name) for d in dependencies_of(pod(spec))] == expected


def test_a_statefulsets_claim_templates_are_not_dependencies() -> None:
    obj = workload(
        "apps/v1",
        "StatefulSet",
        {
            "volumeClaimTemplates": [{"metadata": {"name": "data"}}],
            **templated({"containers": [{"name": "c"}]}),
        },
    )
    assert dependencies_of(obj) == []


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(
            workload("v1", "Service", {"selector": {"app": "w"}}), id="a Service has no pod template"
        ),
        pytest.param(workload("v1", "ConfigMap", {}), id="a ConfigMap has none"),
        pytest.param(
            workload("apps/v1beta1", "Deployment", templated(POD_SPEC)), id="an unknown version of a kind"
        ),
        pytest.param(
            workload("apps/v1", "Deployment", {"replicas": 1}), id="a Deployment without its template"
        ),
    ],
)
def test_kinds_and_objects_without_a_pod_template_have_no_dependencies(obj: dict[str, Any]) -> None:
    assert dependencies_of(obj) == []


def test_dependency_keys_round_trip() -> None:
    ref = DependentObjectReference("Secret", "web-env", NS)
    assert parse_dependency_key(ref.key) == ("Secret", "web-env")
    assert parse_dependency_key("Deployment/web") is None
    assert parse_dependency_key("web") is None


# --- requiredBy and target clusters ----------------------------------------------------------------------

CONFIG = DependentObjectReference("ConfigMap", "web-config", NS)


def dependent(name: str, clusters: dict[str, int], *deps: DependentObjectReference) -> Dependent:
    return Dependent(NS, name, [{"name": c, "replicas": r} for c, r in clusters.items()], list(deps))


@pytest.mark.parametrize(
    ("dependents", "expected"),
    [
        pytest.param([], [], id="nobody requires it"),
        pytest.param(
            [dependent("web-deployment", {"member2": 1, "member1": 2}, CONFIG)],
            [
                {
                    "namespace": NS,
                    "name": "web-deployment",
                    "clusters": [{"name": "member1", "replicas": 2}, {"name": "member2", "replicas": 1}],
                }
            ],
            id="one workload, its clusters by name",
        ),
        pytest.param(
            [dependent("web-deployment", {"member1": 1})],
            [],
            id="a workload that does not reference it",
        ),
        pytest.param(
            [dependent("web-deployment", {}, CONFIG)],
            [],
            id="a workload not scheduled anywhere yet",
        ),
        pytest.param(
            [
                dependent("worker-job", {"member3": 0}, CONFIG),
                dependent("api-deployment", {"member1": 3}, CONFIG),
            ],
            [
                {"namespace": NS, "name": "api-deployment", "clusters": [{"name": "member1", "replicas": 3}]},
                {"namespace": NS, "name": "worker-job", "clusters": [{"name": "member3", "replicas": 0}]},
            ],
            id="two workloads, sorted by binding name",
        ),
    ],
)
def test_required_by(dependents: list[Dependent], expected: list[dict[str, Any]]) -> None:
    assert required_by(CONFIG, dependents) == expected


def snapshot(*clusters: str) -> dict[str, Any]:
    return {"namespace": NS, "name": "x", "clusters": [{"name": c, "replicas": 4} for c in clusters]}


@pytest.mark.parametrize(
    ("own", "required", "expected"),
    [
        pytest.param([], None, [], id="neither its own placement nor dependents: nowhere"),
        pytest.param(
            [],
            [snapshot("member2", "member1")],
            [("member1", 0), ("member2", 0)],
            id="only its dependents' clusters",
        ),
        pytest.param(
            [{"name": "member3", "replicas": 0}],
            [snapshot("member1"), snapshot("member1", "member3")],
            [("member3", 0), ("member1", 0)],
            id="the union: its own placement first, each cluster once",
        ),
        pytest.param(
            [{"name": "member1", "replicas": 2}],
            [],
            [("member1", 2)],
            id="its own placement alone keeps its replicas",
        ),
    ],
)
def test_target_clusters(
    own: list[dict[str, Any]], required: list[dict[str, Any]] | None, expected: list[tuple[str, int]]
) -> None:
    assert target_clusters(own, required) == [TargetCluster(n, r) for n, r in expected]


# --- where propagateDeps is refused ------------------------------------------------------------------------


def policy(*kinds: tuple[str, str], deps: bool | None = True) -> dict[str, Any]:
    spec: dict[str, Any] = {"resourceSelectors": [{"apiVersion": a, "kind": k} for a, k in kinds]}
    if deps is not None:
        spec["propagateDeps"] = deps
    return {"metadata": {"name": "p", "namespace": NS}, "spec": spec}


@pytest.mark.parametrize(
    "kinds",
    [
        pytest.param([("v1", "ConfigMap")], id="only ConfigMaps"),
        pytest.param([("v1", "Service"), ("networking.k8s.io/v1", "Ingress")], id="Services and Ingresses"),
        pytest.param([("gateway.networking.k8s.io/v1", "Gateway")], id="a kind of a k8s.io group"),
    ],
)
def test_propagate_deps_is_refused_on_a_policy_selecting_no_kind_with_a_pod_template(
    kinds: list[tuple[str, str]],
) -> None:
    with pytest.raises(ValidationError, match="propagateDeps needs a resourceSelector"):
        PropagationPolicy.model_validate(policy(*kinds))
    assert "v1 Pod" in PROPAGATE_DEPS_WITHOUT_POD_TEMPLATE


@pytest.mark.parametrize(
    ("kinds", "deps"),
    [
        pytest.param([("apps/v1", "Deployment")], True, id="a Deployment"),
        pytest.param([("v1", "ConfigMap"), ("batch/v1", "CronJob")], True, id="ConfigMaps and a CronJob"),
        pytest.param([("example.com/v1", "Widget")], True, id="a custom kind, an interpreter may say"),
        pytest.param([("v1", "ConfigMap")], False, id="false is always fine"),
        pytest.param([("v1", "ConfigMap")], None, id="unset is always fine"),
    ],
)
def test_propagate_deps_is_accepted_with_a_workload_kind(
    kinds: list[tuple[str, str]], deps: bool | None
) -> None:
    assert PropagationPolicy.model_validate(policy(*kinds, deps=deps)).spec.propagate_deps is deps


def test_the_crd_refuses_propagate_deps_the_same_way() -> None:
    from kokpit.api import crd_manifest
    from kokpit.api.policy import CLUSTER_PROPAGATION_POLICY, PROPAGATION_POLICY

    for resource in (PROPAGATION_POLICY, CLUSTER_PROPAGATION_POLICY):
        schema = crd_manifest(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        spec = schema["properties"]["spec"]
        rules = {r["message"]: r for r in spec["x-kubernetes-validations"]}
        rule = rules[PROPAGATE_DEPS_WITHOUT_POD_TEMPLATE]
        assert rule["fieldPath"] == ".propagateDeps"
        assert "s.kind in ['CronJob', 'Job']" in rule["rule"]
        assert "!s.apiVersion.matches('^[^/]*[.]k8s[.]io/')" in rule["rule"]
        assert spec["properties"]["propagateDeps"]["type"] == "boolean"


def test_the_attached_binding_names_the_object_as_resource_and_owner_and_drops_an_empty_required_by() -> None:
    from kokpit.propagation.dependencies_controller import attached_binding

    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web-config", "namespace": NS, "uid": "u-1", "resourceVersion": "7"},
    }
    required = [{"namespace": NS, "name": "web-deployment", "clusters": [{"name": "member1", "replicas": 2}]}]
    body = attached_binding(config, required)
    assert body["metadata"]["name"] == "web-config-configmap"
    assert body["metadata"]["namespace"] == NS
    assert body["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert body["metadata"]["ownerReferences"][0]["controller"] is True
    assert body["spec"] == {
        "resource": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "namespace": NS,
            "name": "web-config",
            "uid": "u-1",
        },
        "requiredBy": required,
    }
    assert "requiredBy" not in attached_binding(config, [])["spec"]


def test_an_attached_binding_delivers_with_its_own_conflict_resolution_and_duplicated() -> None:
    from kokpit.propagation.dependencies import attached_policy

    binding = {
        "metadata": {"name": "web-config-configmap", "namespace": NS},
        "spec": {
            "resource": {"apiVersion": "v1", "kind": "ConfigMap", "name": "web-config", "namespace": NS},
            "conflictResolution": "Overwrite",
            "preserveResourcesOnDeletion": True,
        },
    }
    policy = attached_policy(binding)
    assert policy.spec.conflict_resolution.value == "Overwrite"
    assert policy.spec.preserve_resources_on_deletion is True
    assert policy.spec.placement.replica_scheduling is None
    assert policy.spec.suspension is None
    resource = {"apiVersion": "v1", "kind": "ConfigMap", "name": "web-config", "namespace": NS}
    assert attached_policy({"spec": {"resource": resource}}).spec.conflict_resolution.value == "Abort"
