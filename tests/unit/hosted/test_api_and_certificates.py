"""The HostedCluster model and CRD, and the PKI kept in Secrets and renewed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from pydantic import ValidationError

from kokpit.api import crd_manifest
from kokpit.api.hostedcluster import HOSTED_CLUSTER, HostedClusterSpec, NetworkingSpec
from kokpit.api.registry import ALL_RESOURCES
from kokpit.hosted import certificates

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_registered_with_printer_columns() -> None:
    assert HOSTED_CLUSTER in ALL_RESOURCES
    crd = crd_manifest(HOSTED_CLUSTER)
    assert crd["metadata"]["name"] == "hostedclusters.cluster.kokpit.io"
    columns = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns[:5] == ["Version", "Phase", "Ready", "Endpoint", "Nodes"]
    networking = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "networking"
    ]
    rules = [r["rule"] for r in networking["x-kubernetes-validations"]]
    assert any("containsCIDR" in rule for rule in rules)


def test_defaults() -> None:
    spec = HostedClusterSpec.model_validate({"kubernetesVersion": "v1.36.5"})
    assert spec.nodes == 0 and spec.join and spec.addons is None and spec.runtime.value == "process"


@pytest.mark.parametrize(
    ("networking", "message"),
    [
        ({"serviceCIDR": "10.96.0.0/16", "podCIDR": "10.96.0.0/12"}, "overlap"),
        ({"serviceCIDR": "10.96.0.1/16"}, "not a valid CIDR"),
        ({"podCIDR": "300.1.0.0/16"}, "not a valid CIDR"),
        ({"serviceCIDR": "10.0.0.0/8"}, "too large"),
    ],
    ids=["overlap", "host bits set", "bad address", "service range too large"],
)
def test_bad_networks(networking: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NetworkingSpec.model_validate(networking)


@pytest.mark.parametrize(
    "spec",
    [
        {"kubernetesVersion": "1.36.5"},
        {"kubernetesVersion": "v1.36.5", "etcd": {"size": 2}},
        {"kubernetesVersion": "v1.36.5", "etcd": {"size": 1, "shared": {"name": "e"}}},
        {"kubernetesVersion": "v1.36.5", "controlPlane": {"replicas": 4}},
        {"kubernetesVersion": "v1.36.5", "certificates": {"validity": "1 year"}},
    ],
    ids=["version without v", "even etcd", "dedicated and shared", "four replicas", "bad duration"],
)
def test_bad_specs(spec: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        HostedClusterSpec.model_validate(spec)


KUBE = {"kubernetesVersion": "v1.36.5", "runtime": "kubernetes", "metaCluster": "m", "join": False}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"kubernetesVersion": "v1.36.5", "controlPlane": {"replicas": 2}},
            "process runtime runs one replica",
        ),
        ({**KUBE, "addons": [{"name": "coredns"}]}, "cannot install addons"),
        ({**KUBE, "nodes": 2}, "cannot run kwok nodes"),
        ({**KUBE, "join": True}, "cannot join the fleet"),
        ({k: v for k, v in KUBE.items() if k != "join"}, "cannot join the fleet"),
    ],
    ids=[
        "process with 2 replicas",
        "kubernetes with addons",
        "kubernetes with nodes",
        "kubernetes joining",
        "kubernetes joining by default",
    ],
)
def test_fields_the_runtime_cannot_honour_are_refused(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HostedClusterSpec.model_validate(spec)


def test_what_each_runtime_honours_is_accepted() -> None:
    HostedClusterSpec.model_validate({**KUBE, "controlPlane": {"replicas": 3}, "addons": []})
    HostedClusterSpec.model_validate({"kubernetesVersion": "v1.36.5", "nodes": 3, "addons": []})


def test_crd_refuses_what_the_runtime_cannot_honour() -> None:
    """The same refusals as CEL rules, so the API server answers `kubectl apply` with the message."""
    crd = crd_manifest(HOSTED_CLUSTER)
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    by_path = {r.get("fieldPath"): r for r in spec["x-kubernetes-validations"]}
    for path in (".controlPlane.replicas", ".addons", ".nodes", ".join"):
        assert path in by_path and by_path[path]["reason"] == "FieldValueForbidden"
    assert "set join: false" in by_path[".join"]["message"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("8760h", 8760 * 3600), ("30d", 30 * 86400), ("1h30m", 5400), ("90s", 90)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert certificates.parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1y", "h", "10m5", "0s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        certificates.parse_duration(text)


def test_renew_before_is_kept_below_validity() -> None:
    assert certificates.effective_renew_before(timedelta(hours=1), timedelta(minutes=10)) == timedelta(
        minutes=10
    )
    assert certificates.effective_renew_before(timedelta(minutes=10), timedelta(hours=1)) == timedelta(
        minutes=5
    )


PARAMS = certificates.PKIParameters(
    cluster="demo",
    apiserver_ips=("127.0.0.1",),
    apiserver_dns_names=(),
    service_ip=certificates.service_ip("10.100.0.0/16"),
    cluster_domain="cluster.local",
    validity=timedelta(minutes=10),
)


def test_secret_round_trip_and_renewal_keeps_cas() -> None:
    first = certificates.new_pki(PARAMS, now=NOW)
    assert certificates.from_secret_data(certificates.secret_data(first)) == first
    assert not certificates.needs_renewal(first, timedelta(minutes=5), now=NOW)
    later = NOW + timedelta(minutes=6)
    assert certificates.needs_renewal(first, timedelta(minutes=5), now=later)
    renewed = certificates.renew_leaves(first, PARAMS, now=later)
    assert renewed.ca == first.ca and renewed.front_proxy_ca == first.front_proxy_ca
    assert renewed.service_account_key == first.service_account_key
    assert certificates.first_expiry(renewed) == later + timedelta(minutes=10)
    for name in certificates.RENEWED_LEAVES:
        old, new = getattr(first, name).certificate, getattr(renewed, name).certificate
        assert old.subject == new.subject and old.issuer == new.issuer
        assert old.extensions.get_extension_for_oid(
            x509.ObjectIdentifier("2.5.29.37")
        ) == new.extensions.get_extension_for_oid(x509.ObjectIdentifier("2.5.29.37"))
    assert "10.100.0.1" in [str(ip) for ip in certificates._sans(renewed.apiserver.certificate, dns=False)]


def test_a_new_address_needs_new_leaves() -> None:
    first = certificates.new_pki(PARAMS, now=NOW)
    assert certificates.matches(first, PARAMS)
    moved = certificates.PKIParameters(**{**PARAMS.__dict__, "apiserver_ips": ("127.0.0.5",)})
    assert not certificates.matches(first, moved)
