"""Rendering of a hosted control plane into a meta cluster (the kubernetes runtime)."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from kokpit.controlplane import pki
from kokpit.hosted import certificates, names
from kokpit.hosted import kubernetes_runtime as kube
from kokpit.hosted.components import EtcdAccess

ETCD = EtcdAccess(
    endpoints=("https://demo-etcd-0.demo-etcd-peers.team.svc:2379",),
    prefix="/registry",
    ca_pem=b"etcd-ca",
    cert_pem=b"etcd-client-cert",
    key_pem=b"etcd-client-key",
)
ALL = dict.fromkeys(names.CONTROL_PLANE, "v1.36.5")


@pytest.fixture(scope="module")
def cluster_pki() -> pki.ClusterPKI:
    return certificates.new_pki(
        certificates.PKIParameters(
            cluster="demo",
            apiserver_ips=("127.0.0.1",),
            apiserver_dns_names=kube.apiserver_dns_names("kokpit-hosted-team-demo"),
            service_ip="10.96.0.1",
            cluster_domain="cluster.local",
            validity=timedelta(days=1),
        )
    )


def params(**overrides: Any) -> kube.ControlPlaneParameters:
    values: dict[str, Any] = {"cluster": "demo", "hub_namespace": "team", "versions": ALL, "etcd": ETCD}
    values.update(overrides)
    return kube.ControlPlaneParameters(**values)


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


@pytest.mark.parametrize(
    ("namespace", "cluster", "expected"),
    [
        ("team", "demo", "kokpit-hosted-team-demo"),
        ("a" * 40, "b" * 40, None),
    ],
    ids=["short names kept", "long names cut with a hash"],
)
def test_control_plane_namespace(namespace: str, cluster: str, expected: str | None) -> None:
    name = kube.control_plane_namespace(namespace, cluster)
    if expected is not None:
        assert name == expected
    assert len(name) <= 63 and name.startswith("kokpit-hosted-") and not name.endswith("-")
    assert name != kube.control_plane_namespace(namespace, cluster + "x")


@pytest.mark.parametrize(
    ("component", "replicas", "wanted"),
    [
        (names.APISERVER, 1, 1),
        (names.APISERVER, 3, 3),
        (names.CONTROLLER_MANAGER, 3, 3),
        (names.SCHEDULER, 2, 2),
    ],
    ids=["apiserver x1", "apiserver x3", "controller-manager x3 (leader elected)", "scheduler x2"],
)
def test_replicas_and_anti_affinity(
    cluster_pki: pki.ClusterPKI, component: str, replicas: int, wanted: int
) -> None:
    deployment = kube.render_deployment(component, params(replicas=replicas), cluster_pki)
    assert deployment["metadata"]["namespace"] == "kokpit-hosted-team-demo"
    assert deployment["spec"]["replicas"] == wanted
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector == {names.CLUSTER_LABEL: "demo", "kokpit.io/component": component}
    template = deployment["spec"]["template"]
    assert selector.items() <= template["metadata"]["labels"].items()
    terms = template["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert terms[0]["podAffinityTerm"] == {
        "labelSelector": {"matchLabels": selector},
        "topologyKey": "kubernetes.io/hostname",
    }
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


@pytest.mark.parametrize(
    ("component", "port", "readiness", "liveness"),
    [
        (names.APISERVER, 6443, "/readyz", "/livez"),
        (names.CONTROLLER_MANAGER, 10257, "/healthz", "/healthz"),
        (names.SCHEDULER, 10259, "/healthz", "/healthz"),
    ],
    ids=["apiserver readyz/livez", "controller-manager healthz", "scheduler healthz"],
)
def test_probes_and_resources(
    cluster_pki: pki.ClusterPKI, component: str, port: int, readiness: str, liveness: str
) -> None:
    main = container(kube.render_deployment(component, params(), cluster_pki))
    assert main["readinessProbe"]["httpGet"] == {"path": readiness, "port": port, "scheme": "HTTPS"}
    assert main["livenessProbe"]["httpGet"] == {"path": liveness, "port": port, "scheme": "HTTPS"}
    assert main["ports"][0]["containerPort"] == port
    assert main["resources"]["requests"]["cpu"] and main["resources"]["requests"]["memory"]
    assert main["resources"]["limits"]["memory"]


@pytest.mark.parametrize(
    ("component", "version", "expected"),
    [
        (names.APISERVER, "v1.36.5", "registry.k8s.io/kube-apiserver:v1.36.5"),
        (names.CONTROLLER_MANAGER, "v1.35.2", "registry.k8s.io/kube-controller-manager:v1.35.2"),
        (names.SCHEDULER, "v1.34.0", "registry.k8s.io/kube-scheduler:v1.34.0"),
    ],
    ids=["apiserver", "controller-manager", "scheduler"],
)
def test_images_by_version(cluster_pki: pki.ClusterPKI, component: str, version: str, expected: str) -> None:
    deployment = kube.render_deployment(component, params(versions={**ALL, component: version}), cluster_pki)
    assert container(deployment)["image"] == expected
    assert deployment["spec"]["template"]["metadata"]["labels"][kube.VERSION_LABEL] == version
    assert kube.running_version(deployment) == version


@pytest.mark.parametrize("domain", ["cluster.local", "corp.example"])
def test_service_account_issuer_follows_the_cluster_domain(domain: str) -> None:
    argv = kube.component_argv(names.APISERVER, params(cluster_domain=domain))
    assert f"--service-account-issuer=https://kubernetes.default.svc.{domain}" in argv
    assert kube.apiserver_dns_names("ns", cluster_domain=domain)[-1] == f"kube-apiserver.ns.svc.{domain}"


def test_apiserver_args_use_mounted_paths(cluster_pki: pki.ClusterPKI) -> None:
    deployment = kube.render_deployment(names.APISERVER, params(service_cidr="10.100.0.0/16"), cluster_pki)
    main = container(deployment)
    args = main["command"]
    assert args[0] == "kube-apiserver"
    assert "--secure-port=6443" in args
    assert "--bind-address=0.0.0.0" in args
    assert "--advertise-address=$(POD_IP)" in args
    assert main["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert f"--etcd-servers={ETCD.endpoints[0]}" in args
    assert "--service-cluster-ip-range=10.100.0.0/16" in args
    assert "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt" in args
    assert "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt" in args
    assert main["volumeMounts"] == [{"name": "files", "mountPath": "/etc/kubernetes", "readOnly": True}]
    # Every file an argument names is in the mounted Secret.
    volume = deployment["spec"]["template"]["spec"]["volumes"][0]["secret"]
    mounted = {f"/etc/kubernetes/{item['path']}" for item in volume["items"]}
    named = {a.split("=", 1)[1] for a in args if "=/etc/kubernetes/" in a}
    assert named <= mounted
    secret = kube.render_files_secret(names.APISERVER, params(), cluster_pki)
    assert {item["key"] for item in volume["items"]} == set(secret["data"])
    assert base64.b64decode(secret["data"]["pki__etcd__ca.crt"]) == b"etcd-ca"
    assert base64.b64decode(secret["data"]["pki__apiserver-etcd-client.key"]) == b"etcd-client-key"


@pytest.mark.parametrize("component", [names.CONTROLLER_MANAGER, names.SCHEDULER])
def test_controllers_leader_elect_with_a_kubeconfig_to_the_service(
    cluster_pki: pki.ClusterPKI, component: str
) -> None:
    deployment = kube.render_deployment(component, params(), cluster_pki)
    args = container(deployment)["command"]
    assert args[0] == component
    assert "--leader-elect=true" in args
    assert "--kubeconfig=/etc/kubernetes/kubeconfig" in args
    assert "--cert-dir=/var/run/kubernetes" in args
    mounts = {m["name"]: m["mountPath"] for m in container(deployment)["volumeMounts"]}
    assert mounts == {"files": "/etc/kubernetes", "certs": "/var/run/kubernetes"}
    secret = kube.render_files_secret(component, params(), cluster_pki)
    kubeconfig = base64.b64decode(secret["data"]["kubeconfig"]).decode()
    assert "server: https://kube-apiserver.kokpit-hosted-team-demo.svc:6443" in kubeconfig


@pytest.mark.parametrize(
    ("service_type", "service", "node_address", "endpoint"),
    [
        (kube.ServiceType.LOAD_BALANCER, {"status": {}}, None, None),
        (
            kube.ServiceType.LOAD_BALANCER,
            {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}},
            None,
            "https://203.0.113.7:6443",
        ),
        (
            kube.ServiceType.LOAD_BALANCER,
            {"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}},
            None,
            "https://lb.example.com:6443",
        ),
        (kube.ServiceType.NODE_PORT, {"spec": {"ports": [{"port": 6443, "nodePort": 31443}]}}, None, None),
        (
            kube.ServiceType.NODE_PORT,
            {"spec": {"ports": [{"port": 6443, "nodePort": 31443}]}},
            "192.0.2.4",
            "https://192.0.2.4:31443",
        ),
        (kube.ServiceType.CLUSTER_IP, {"spec": {"clusterIP": "10.0.0.12"}}, None, "https://10.0.0.12:6443"),
    ],
    ids=[
        "LoadBalancer pending",
        "LoadBalancer ip",
        "LoadBalancer hostname",
        "NodePort without node address",
        "NodePort",
        "ClusterIP",
    ],
)
def test_service_type_and_endpoint(
    service_type: kube.ServiceType, service: dict[str, Any], node_address: str | None, endpoint: str | None
) -> None:
    rendered = kube.render_service(params(service_type=service_type))
    assert rendered["spec"]["type"] == service_type.value
    assert rendered["spec"]["ports"] == [
        {"name": "https", "port": 6443, "targetPort": 6443, "protocol": "TCP"}
    ]
    assert rendered["spec"]["selector"] == {
        names.CLUSTER_LABEL: "demo",
        "kokpit.io/component": names.APISERVER,
    }
    observed = {**service, "spec": {**rendered["spec"], **service.get("spec", {})}}
    assert kube.service_endpoint(observed, node_address=node_address) == endpoint


def test_service_addresses_feed_the_certificate() -> None:
    service = {
        "spec": {"clusterIP": "10.0.0.12"},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example.com"}]}},
    }
    assert kube.service_addresses(service) == (("10.0.0.12", "203.0.113.7"), ("lb.example.com",))
    assert kube.service_addresses(None) == ((), ())


@pytest.mark.parametrize(
    ("deployment", "status", "reason"),
    [
        (None, False, "NotReady"),
        (
            {"metadata": {"generation": 2}, "spec": {"replicas": 3}, "status": {"observedGeneration": 1}},
            False,
            "NotReady",
        ),
        (
            {
                "metadata": {"generation": 2},
                "spec": {"replicas": 3},
                "status": {
                    "observedGeneration": 2,
                    "replicas": 4,
                    "updatedReplicas": 2,
                    "availableReplicas": 3,
                },
            },
            False,
            "RollingOut",
        ),
        (
            {
                "metadata": {"generation": 1},
                "spec": {"replicas": 3},
                "status": {
                    "observedGeneration": 1,
                    "replicas": 3,
                    "updatedReplicas": 3,
                    "availableReplicas": 2,
                },
            },
            False,
            "NotReady",
        ),
        (
            {
                "metadata": {"generation": 1},
                "spec": {"replicas": 3},
                "status": {
                    "observedGeneration": 1,
                    "replicas": 3,
                    "updatedReplicas": 3,
                    "availableReplicas": 3,
                },
            },
            True,
            "DeploymentAvailable",
        ),
    ],
    ids=["missing", "change not observed", "rolling out", "2 of 3 available", "available"],
)
def test_deployment_condition(deployment: dict[str, Any] | None, status: bool, reason: str) -> None:
    condition = kube.deployment_condition(deployment)
    assert (condition.is_true, condition.reason) == (status, reason)


def test_revision_ignores_renewed_apiserver_certificates_but_not_controller_credentials(
    cluster_pki: pki.ClusterPKI,
) -> None:
    renewed = certificates.renew_leaves(
        cluster_pki,
        certificates.PKIParameters(
            cluster="demo",
            apiserver_ips=("127.0.0.1",),
            apiserver_dns_names=(),
            service_ip="10.96.0.1",
            cluster_domain="cluster.local",
            validity=timedelta(days=1),
        ),
    )
    p = params()
    assert kube.revision(names.APISERVER, p, cluster_pki) == kube.revision(names.APISERVER, p, renewed)
    assert kube.revision(names.SCHEDULER, p, cluster_pki) != kube.revision(names.SCHEDULER, p, renewed)
    upgraded = params(versions={**ALL, names.APISERVER: "v1.37.0"})
    assert kube.revision(names.APISERVER, upgraded, cluster_pki).startswith("v1.37.0/")


def test_render_all_orders_namespace_service_secrets_deployments(cluster_pki: pki.ClusterPKI) -> None:
    objects = kube.render_all(params(), cluster_pki)
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert kinds == [
        ("Namespace", "kokpit-hosted-team-demo"),
        ("Service", "kube-apiserver"),
        ("Secret", "kube-apiserver-files"),
        ("Secret", "kube-controller-manager-files"),
        ("Secret", "kube-scheduler-files"),
        ("Deployment", "kube-apiserver"),
        ("Deployment", "kube-controller-manager"),
        ("Deployment", "kube-scheduler"),
    ]
    for obj in objects:
        assert obj["metadata"]["labels"][names.CLUSTER_LABEL] == "demo"
        assert obj["metadata"]["labels"][kube.HUB_NAMESPACE_LABEL] == "team"


def test_owned_etcd_runs_in_the_same_meta_cluster() -> None:
    from types import SimpleNamespace

    from kokpit.api.hostedcluster import HostedClusterSpec
    from kokpit.hosted.etcd import etcd_manifest

    owner = SimpleNamespace(
        apiVersion="cluster.kokpit.io/v1alpha1",
        kind="HostedCluster",
        metadata=SimpleNamespace(name="demo", namespace="team", uid="u-1"),
    )
    spec = HostedClusterSpec.model_validate(
        {"kubernetesVersion": "v1.36.5", "runtime": "kubernetes", "metaCluster": "member1", "join": False}
    )
    manifest = etcd_manifest(owner, spec, etcd_version="v3.6.5")
    assert manifest["spec"]["runtime"] == "kubernetes"
    assert manifest["spec"]["metaCluster"] == "member1"


@pytest.mark.parametrize(
    ("endpoint", "readyz", "etcd", "status", "in_message"),
    [
        ("https://203.0.113.10:6443", (True, "ok"), ("https://10.0.0.5:2379",), True, "reached"),
        (None, None, ("https://10.0.0.5:2379",), False, "no address reachable from the hub"),
        (
            "https://203.0.113.10:6443",
            (False, "ConnectTimeout"),
            ("https://10.0.0.5:2379",),
            False,
            "ConnectTimeout",
        ),
        (None, None, ("https://127.0.0.1:2379",), False, "loopback addresses of the hub's host"),
    ],
    ids=["readyz answered", "no endpoint", "readyz timed out", "etcd on the hub's loopback"],
)
def test_ready_only_when_kokpit_reached_the_api_server(
    endpoint: str | None,
    readyz: tuple[bool, str] | None,
    etcd: tuple[str, ...],
    status: bool,
    in_message: str,
) -> None:
    condition = kube.reachability_condition(
        meta_cluster="member1", endpoint=endpoint, readyz=readyz, etcd_endpoints=etcd
    )
    assert condition.is_true is status
    assert condition.type == "APIServerAvailable"
    assert condition.reason == ("Reachable" if status else "ControlPlaneUnreachable")
    assert in_message in condition.message


def test_loopback_endpoints() -> None:
    endpoints = [
        "https://127.0.0.1:2379",
        "https://[::1]:2379",
        "https://localhost:1",
        "https://etcd.ns.svc:2379",
    ]
    assert kube.loopback_endpoints(endpoints) == endpoints[:3]
