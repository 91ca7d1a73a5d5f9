"""Member-owned fields: what `retain` leaves to the member, decided from its copy's field owners."""

from __future__ import annotations

from typing import Any

import pytest

from kokpit.propagation.retain import (
    KARMADA_RETAIN_REPLICAS_LABEL,
    RETAIN_REPLICAS_LABEL,
    hpa_targets,
    owned_by,
    retain,
    targeted,
    wants_retained_replicas,
)


def managed(
    manager: str, fields: dict[str, Any], *, operation: str = "Apply", **extra: Any
) -> dict[str, Any]:
    return {"manager": manager, "operation": operation, "fieldsType": "FieldsV1", "fieldsV1": fields, **extra}


def deployment(
    replicas: int, *entries: dict[str, Any], labels: dict[str, str] | None = None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "web", "namespace": "shop", "managedFields": list(entries)}
    if labels:
        metadata["labels"] = labels
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "web", "image": "a"}]}}},
    }


KOKPIT_OWNS_REPLICAS = managed("kokpit", {"f:spec": {"f:replicas": {}, "f:template": {}}})
KOKPIT_OWNS_TEMPLATE = managed("kokpit", {"f:spec": {"f:template": {}}})
HPA_OWNS_REPLICAS = managed(
    "kube-controller-manager", {"f:spec": {"f:replicas": {}}}, operation="Update", subresource="scale"
)


@pytest.mark.parametrize(
    ("observed", "retain_replicas", "replicas", "kept"),
    [
        pytest.param(None, True, 2, (), id="no copy in the member yet: the template's replicas are sent"),
        pytest.param(
            deployment(5, KOKPIT_OWNS_TEMPLATE, HPA_OWNS_REPLICAS),
            True,
            None,
            ("spec.replicas",),
            id="an HPA scaled the copy to 5 and owns replicas: they are left out of the apply",
        ),
        pytest.param(
            deployment(2, KOKPIT_OWNS_REPLICAS),
            True,
            2,
            (),
            id="kokpit still owns replicas at the same value: sent unchanged",
        ),
        pytest.param(
            deployment(3, KOKPIT_OWNS_REPLICAS),
            True,
            3,
            ("spec.replicas",),
            id="kokpit still owns replicas but the template asks to retain them: the member's value is sent",
        ),
        pytest.param(
            deployment(5, KOKPIT_OWNS_TEMPLATE, HPA_OWNS_REPLICAS),
            False,
            2,
            (),
            id="replicas not retained (no HPA, no label): a hand scale is drift and the template wins",
        ),
    ],
)
def test_replicas(
    observed: dict[str, Any] | None, retain_replicas: bool, replicas: int | None, kept: tuple[str, ...]
) -> None:
    result = retain(deployment(2), observed, retain_replicas=retain_replicas)
    assert result.body["spec"].get("replicas") == replicas
    assert result.fields == kept
    assert result.body["spec"]["template"] == deployment(2)["spec"]["template"]


def service(*entries: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop", "managedFields": list(entries)},
        "spec": spec,
    }


PORT_KEY = 'k:{"port":80,"protocol":"TCP"}'


@pytest.mark.parametrize(
    ("desired", "observed", "expected_spec", "kept"),
    [
        pytest.param(
            service(type="NodePort", ports=[{"port": 80, "nodePort": 30080}]),
            service(
                managed("kokpit", {"f:spec": {"f:ports": {PORT_KEY: {"f:port": {}}}}}),
                type="NodePort",
                clusterIP="10.0.0.7",
                ports=[{"port": 80, "protocol": "TCP", "nodePort": 31111}],
            ),
            {"type": "NodePort", "ports": [{"port": 80}]},
            ("spec.ports[80/TCP].nodePort",),
            id="a node port the member allocated stays the member's",
        ),
        pytest.param(
            service(type="NodePort", ports=[{"port": 80, "nodePort": 30080}]),
            service(
                managed("kokpit", {"f:spec": {"f:ports": {PORT_KEY: {"f:port": {}, "f:nodePort": {}}}}}),
                type="NodePort",
                ports=[{"port": 80, "protocol": "TCP", "nodePort": 30080}],
            ),
            {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]},
            (),
            id="a node port kokpit set from the template stays kokpit's",
        ),
        pytest.param(
            service(type="ClusterIP", clusterIP="10.96.0.5", clusterIPs=["10.96.0.5"]),
            service(type="ClusterIP", clusterIP="10.0.0.7", clusterIPs=["10.0.0.7"]),
            {"type": "ClusterIP"},
            ("spec.clusterIP", "spec.clusterIPs"),
            id="cluster IPs the member allocated are never sent",
        ),
        pytest.param(
            service(type="ClusterIP", clusterIP="None"),
            service(managed("kokpit", {"f:spec": {"f:clusterIP": {}}}), type="ClusterIP", clusterIP="None"),
            {"type": "ClusterIP", "clusterIP": "None"},
            (),
            id="a headless Service stays headless (kokpit owns clusterIP None)",
        ),
    ],
)
def test_service(
    desired: dict[str, Any], observed: dict[str, Any], expected_spec: dict[str, Any], kept: tuple[str, ...]
) -> None:
    result = retain(desired, observed)
    assert result.body["spec"] == expected_spec
    assert result.fields == kept


def test_a_bound_claim_keeps_its_volume_name() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"volumeName": ""},
    }
    observed = {**desired, "spec": {"volumeName": "pv-7"}}
    result = retain(desired, observed)
    assert "volumeName" not in result.body["spec"]
    assert result.fields == ("spec.volumeName",)


def test_a_service_account_keeps_the_token_secrets_of_the_member() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "app"},
        "secrets": [{"name": "app-token-abcde"}, {"name": "pull"}],
    }
    observed = {
        **desired,
        "metadata": {
            "name": "app",
            "managedFields": [managed("kokpit", {"f:secrets": {'k:{"name":"pull"}': {}}})],
        },
    }
    result = retain(desired, observed)
    assert result.body["secrets"] == [{"name": "pull"}]
    assert result.fields == ("secrets[app-token-abcde]",)


def test_the_desired_body_is_not_modified() -> None:
    desired = deployment(2)
    retain(desired, deployment(5, HPA_OWNS_REPLICAS), retain_replicas=True)
    assert desired["spec"]["replicas"] == 2


@pytest.mark.parametrize(
    ("labels", "wanted"),
    [
        pytest.param({RETAIN_REPLICAS_LABEL: "true"}, True, id="kokpit's label true"),
        pytest.param({KARMADA_RETAIN_REPLICAS_LABEL: "true"}, True, id="Karmada's label true"),
        pytest.param({RETAIN_REPLICAS_LABEL: "false"}, False, id="label false"),
        pytest.param({}, False, id="no label"),
    ],
)
def test_the_retain_replicas_label(labels: dict[str, str], wanted: bool) -> None:
    assert wants_retained_replicas(deployment(2, labels=labels)) is wanted


def test_an_hpa_targets_its_scale_target_in_its_namespace_only() -> None:
    hpa = {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}},
    }
    targets = hpa_targets([hpa])
    assert targeted(deployment(2), targets, namespace="shop")
    assert not targeted(deployment(2), targets, namespace="other")
    statefulset = {**deployment(2), "kind": "StatefulSet"}
    assert not targeted(statefulset, targets, namespace="shop")


def test_ownership_reads_associative_list_keys() -> None:
    obj = service(managed("kokpit", {"f:spec": {"f:ports": {PORT_KEY: {"f:nodePort": {}}}}}))
    assert owned_by(obj, ("spec", "ports", {"port": 80, "protocol": "TCP"}, "nodePort"))
    assert not owned_by(obj, ("spec", "ports", {"port": 443, "protocol": "TCP"}, "nodePort"))
    assert not owned_by(obj, ("spec", "ports", {"port": 80, "protocol": "TCP"}, "nodePort"), manager="other")
