"""Tests for kokpit.controlplane.pki: what each certificate of a cluster says, and who signed it."""

from __future__ import annotations

import base64
import ipaddress
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kokpit.controlplane.pki import (
    CertKey,
    ClusterPKI,
    expires_within,
    generate_cluster_pki,
    issue,
    kubeconfig,
    kubeconfig_yaml,
    new_ca,
    new_signing_key,
    pki_paths,
    read_cluster_pki,
    write_cluster_pki,
    write_kubeconfig,
)

T = TypeVar("T", bound=x509.ExtensionType)

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
LEAF_VALIDITY = timedelta(days=90)
CA_VALIDITY = timedelta(days=1000)
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH

LEAVES = [
    "apiserver",
    "apiserver_etcd_client",
    "apiserver_kubelet_client",
    "front_proxy_client",
    "etcd_server",
    "etcd_peer",
    "etcd_healthcheck_client",
    "admin",
    "controller_manager",
    "scheduler",
]
CAS = ["ca", "front_proxy_ca", "etcd_ca"]
ISSUER_OF = {
    "apiserver": "ca",
    "apiserver_etcd_client": "etcd_ca",
    "apiserver_kubelet_client": "ca",
    "front_proxy_client": "front_proxy_ca",
    "etcd_server": "etcd_ca",
    "etcd_peer": "etcd_ca",
    "etcd_healthcheck_client": "etcd_ca",
    "admin": "ca",
    "controller_manager": "ca",
    "scheduler": "ca",
}


@pytest.fixture(scope="module")
def pki() -> ClusterPKI:
    return generate_cluster_pki(
        "east",
        apiserver_ips=("127.0.0.1", "127.0.5.7"),
        apiserver_dns_names=("api.east.example",),
        service_cluster_ip="10.100.0.1",
        cluster_domain="east.local",
        etcd_ips=("127.0.0.9",),
        etcd_dns_names=("etcd-0.etcd",),
        validity=LEAF_VALIDITY,
        ca_validity=CA_VALIDITY,
        now=NOW,
    )


def cert_of(pki: ClusterPKI, name: str) -> x509.Certificate:
    cert_key: CertKey = getattr(pki, name)
    return cert_key.certificate


def ext(cert: x509.Certificate, kind: type[T]) -> x509.Extension[T]:
    return cert.extensions.get_extension_for_class(kind)


def dns_names(cert: x509.Certificate) -> list[str]:
    return ext(cert, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


def ip_addresses(cert: x509.Certificate) -> list[str]:
    values = ext(cert, x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)
    return [str(ip) for ip in values]


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer`'s public key verifies `cert`'s signature (names are not compared)."""
    public_key = issuer.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert cert.signature_hash_algorithm is not None
    try:
        public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    except InvalidSignature:
        return False
    return True


# --- apiserver serving certificate ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.east.local",
        "localhost",
        "api.east.example",
    ],
)
def test_apiserver_dns_names(pki: ClusterPKI, name: str) -> None:
    assert name in dns_names(pki.apiserver.certificate)


@pytest.mark.parametrize(
    "ip",
    [
        pytest.param("127.0.0.1", id="loopback"),
        pytest.param("10.100.0.1", id="service cluster IP"),
        pytest.param("127.0.5.7", id="custom apiserver IP"),
    ],
)
def test_apiserver_ip_addresses(pki: ClusterPKI, ip: str) -> None:
    assert ip in ip_addresses(pki.apiserver.certificate)


def test_apiserver_ip_addresses_are_deduplicated(pki: ClusterPKI) -> None:
    assert ip_addresses(pki.apiserver.certificate) == ["127.0.0.1", "10.100.0.1", "127.0.5.7"]


def test_apiserver_default_cluster_domain_and_service_ip() -> None:
    cert = generate_cluster_pki("plain").apiserver.certificate
    assert "kubernetes.default.svc.cluster.local" in dns_names(cert)
    assert ip_addresses(cert) == ["127.0.0.1", "10.96.0.1"]


@pytest.mark.parametrize("leaf", ["etcd_server", "etcd_peer"])
def test_etcd_alt_names(pki: ClusterPKI, leaf: str) -> None:
    cert = cert_of(pki, leaf)
    assert dns_names(cert) == ["localhost", "etcd-0.etcd"]
    assert ip_addresses(cert) == ["127.0.0.1", "127.0.0.9"]


# --- subjects ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leaf", "common_name", "organizations"),
    [
        ("apiserver", "kube-apiserver", []),
        ("apiserver_etcd_client", "kube-apiserver-etcd-client", []),
        ("apiserver_kubelet_client", "kube-apiserver-kubelet-client", ["system:masters"]),
        ("front_proxy_client", "front-proxy-client", []),
        ("etcd_server", "etcd-server", []),
        ("etcd_peer", "etcd-peer", []),
        ("admin", "kokpit-admin", ["system:masters"]),
        ("controller_manager", "system:kube-controller-manager", []),
        ("scheduler", "system:kube-scheduler", []),
    ],
)
def test_subject(pki: ClusterPKI, leaf: str, common_name: str, organizations: list[str]) -> None:
    subject = cert_of(pki, leaf).subject
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [common_name]
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == organizations


def test_ca_names_carry_the_cluster_and_differ(pki: ClusterPKI) -> None:
    names = [cert_of(pki, ca).subject.rfc4514_string() for ca in CAS]
    assert names == ["CN=kokpit-east-ca", "CN=kokpit-east-front-proxy-ca", "CN=kokpit-east-etcd-ca"]


# --- key usages ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leaf", "extended_usages"),
    [
        ("apiserver", [SERVER_AUTH]),
        ("apiserver_etcd_client", [CLIENT_AUTH]),
        ("apiserver_kubelet_client", [CLIENT_AUTH]),
        ("front_proxy_client", [CLIENT_AUTH]),
        ("etcd_server", [SERVER_AUTH, CLIENT_AUTH]),
        ("etcd_peer", [SERVER_AUTH, CLIENT_AUTH]),
        ("etcd_healthcheck_client", [CLIENT_AUTH]),
        ("admin", [CLIENT_AUTH]),
        ("controller_manager", [CLIENT_AUTH]),
        ("scheduler", [CLIENT_AUTH]),
    ],
)
def test_leaf_usages(pki: ClusterPKI, leaf: str, extended_usages: list[x509.ObjectIdentifier]) -> None:
    cert = cert_of(pki, leaf)
    constraints = ext(cert, x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is False
    usage = ext(cert, x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_cert_sign
    assert not usage.crl_sign
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == extended_usages


@pytest.mark.parametrize("ca", CAS)
def test_ca_usages(pki: ClusterPKI, ca: str) -> None:
    cert = cert_of(pki, ca)
    constraints = ext(cert, x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is True
    usage = ext(cert, x509.KeyUsage).value
    assert (usage.key_cert_sign, usage.crl_sign, usage.digital_signature) == (True, True, True)
    assert cert.issuer == cert.subject
    with pytest.raises(x509.ExtensionNotFound):
        ext(cert, x509.ExtendedKeyUsage)
    expected_ski = x509.SubjectKeyIdentifier.from_public_key(getattr(pki, ca).private_key.public_key())
    assert ext(cert, x509.SubjectKeyIdentifier).value == expected_ski


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaf_key_identifiers(pki: ClusterPKI, leaf: str) -> None:
    cert = cert_of(pki, leaf)
    issuer = cert_of(pki, ISSUER_OF[leaf])
    issuer_ski = ext(issuer, x509.SubjectKeyIdentifier).value
    assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == issuer_ski.digest
    own_ski = x509.SubjectKeyIdentifier.from_public_key(getattr(pki, leaf).private_key.public_key())
    assert ext(cert, x509.SubjectKeyIdentifier).value == own_ski


def test_issue_without_usages_has_no_extended_key_usage() -> None:
    ca = new_ca("test-ca", now=NOW)
    cert = issue(ca, common_name="plain", now=NOW).certificate
    with pytest.raises(x509.ExtensionNotFound):
        ext(cert, x509.ExtendedKeyUsage)
    with pytest.raises(x509.ExtensionNotFound):
        ext(cert, x509.SubjectAlternativeName)


# --- keys, serials -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CAS + LEAVES)
def test_key_is_p256_and_matches_certificate(pki: ClusterPKI, name: str) -> None:
    cert_key: CertKey = getattr(pki, name)
    key = cert_key.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"
    assert key.public_key() == cert_key.certificate.public_key()


def test_serials_and_keys_are_unique(pki: ClusterPKI) -> None:
    names = CAS + LEAVES
    assert len({cert_of(pki, n).serial_number for n in names}) == len(names)
    assert len({getattr(pki, n).key_pem for n in names}) == len(names)


def test_service_account_key_pair_matches() -> None:
    private_pem, public_pem = new_signing_key()
    private = CertKey(cert_pem=b"", key_pem=private_pem).private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert serialization.load_pem_public_key(public_pem) == private.public_key()
    assert b"BEGIN PUBLIC KEY" in public_pem
    assert b"BEGIN PRIVATE KEY" in private_pem


# --- validity ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "validity"),
    [(ca, CA_VALIDITY) for ca in CAS] + [(leaf, LEAF_VALIDITY) for leaf in LEAVES],
)
def test_validity_window(pki: ClusterPKI, name: str, validity: timedelta) -> None:
    cert_key: CertKey = getattr(pki, name)
    assert cert_key.not_after == NOW + validity
    assert cert_key.not_before == NOW - timedelta(minutes=5)
    assert cert_key.certificate.not_valid_before_utc == NOW - timedelta(minutes=5)


def test_leaf_validity_is_cut_at_ca_expiry() -> None:
    ca = new_ca("short-ca", validity=timedelta(days=10), now=NOW)
    leaf = issue(ca, common_name="x", client=True, validity=timedelta(days=365), now=NOW)
    assert leaf.not_after == NOW + timedelta(days=10)


def test_fresh_certificate_is_already_valid() -> None:
    ca = new_ca("now-ca")
    leaf = issue(ca, common_name="x", server=True)
    current = datetime.now(UTC)
    assert leaf.not_before <= current - timedelta(minutes=4) < current < leaf.not_after


@pytest.mark.parametrize(
    ("now", "window", "expected"),
    [
        pytest.param(NOW, timedelta(days=30), False, id="fresh, 30-day window"),
        pytest.param(NOW + timedelta(days=61), timedelta(days=30), True, id="29 days left, 30-day window"),
        pytest.param(NOW + timedelta(days=59), timedelta(days=30), False, id="31 days left, 30-day window"),
        pytest.param(NOW + timedelta(days=91), timedelta(0), True, id="already expired"),
    ],
)
def test_expires_within(pki: ClusterPKI, now: datetime, window: timedelta, expected: bool) -> None:
    assert expires_within(pki.admin, window, now=now) is expected


@pytest.mark.parametrize(
    "bad_call",
    [
        pytest.param(lambda: new_ca("x", now=datetime(2030, 1, 1)), id="naive now"),
        pytest.param(lambda: new_ca("x", validity=timedelta(0)), id="zero validity"),
        pytest.param(
            lambda: issue(issue(new_ca("x"), common_name="leaf"), common_name="grandchild"),
            id="issuer is not a CA",
        ),
        pytest.param(lambda: issue(new_ca("x"), common_name="y", ip_addresses=["not-an-ip"]), id="bad IP"),
    ],
)
def test_invalid_arguments_raise(bad_call: object) -> None:
    assert callable(bad_call)
    with pytest.raises(ValueError):
        bad_call()


# --- chains --------------------------------------------------------------------------------------


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaf_is_signed_by_its_ca(pki: ClusterPKI, leaf: str) -> None:
    cert = cert_of(pki, leaf)
    issuer = cert_of(pki, ISSUER_OF[leaf])
    cert.verify_directly_issued_by(issuer)  # names and signature
    assert signed_by(cert, issuer)


@pytest.mark.parametrize(
    ("leaf", "other_ca"),
    [(leaf, ca) for leaf in LEAVES for ca in CAS if ca != ISSUER_OF[leaf]],
)
def test_leaf_is_not_signed_by_another_ca(pki: ClusterPKI, leaf: str, other_ca: str) -> None:
    cert = cert_of(pki, leaf)
    assert not signed_by(cert, cert_of(pki, other_ca))
    assert cert.issuer != cert_of(pki, other_ca).subject


def test_two_clusters_do_not_trust_each_other(pki: ClusterPKI) -> None:
    other = generate_cluster_pki("west", now=NOW)
    assert not signed_by(pki.admin.certificate, other.ca.certificate)
    assert not signed_by(other.apiserver.certificate, pki.ca.certificate)


@pytest.mark.parametrize("ca", CAS)
def test_ca_is_self_signed(pki: ClusterPKI, ca: str) -> None:
    cert = cert_of(pki, ca)
    cert.verify_directly_issued_by(cert)


# --- kubeconfig ----------------------------------------------------------------------------------


def test_kubeconfig_round_trips(pki: ClusterPKI) -> None:
    config = kubeconfig(
        cluster="east",
        server="https://127.0.5.7:6443",
        ca_pem=pki.ca.cert_pem,
        user="admin",
        credentials=pki.admin,
    )
    loaded = yaml.safe_load(kubeconfig_yaml(config))
    assert loaded == config
    assert loaded["current-context"] == "east"
    [context] = loaded["contexts"]
    assert context == {"name": "east", "context": {"cluster": "east", "user": "admin"}}
    [cluster] = loaded["clusters"]
    assert cluster["name"] == "east"
    assert cluster["cluster"]["server"] == "https://127.0.5.7:6443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == pki.ca.cert_pem
    [user] = loaded["users"]
    assert user["name"] == "admin"
    client_cert = base64.b64decode(user["user"]["client-certificate-data"])
    client_key = base64.b64decode(user["user"]["client-key-data"])
    assert client_cert == pki.admin.cert_pem
    assert client_key == pki.admin.key_pem
    credentials = CertKey(cert_pem=client_cert, key_pem=client_key)
    assert credentials.certificate.subject == pki.admin.certificate.subject
    assert (
        x509.load_pem_x509_certificate(
            base64.b64decode(cluster["cluster"]["certificate-authority-data"])
        ).subject
        == pki.ca.certificate.subject
    )


def test_write_kubeconfig_is_private(tmp_path: Path, pki: ClusterPKI) -> None:
    config = kubeconfig(
        cluster="east",
        server="https://127.0.0.1:6443",
        ca_pem=pki.ca.cert_pem,
        user="admin",
        credentials=pki.admin,
    )
    path = tmp_path / "kube" / "admin.kubeconfig"
    write_kubeconfig(config, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text()) == config


# --- files ---------------------------------------------------------------------------------------

KEY_FILES = [
    "ca.key",
    "front-proxy-ca.key",
    "etcd/ca.key",
    "apiserver.key",
    "apiserver-etcd-client.key",
    "apiserver-kubelet-client.key",
    "front-proxy-client.key",
    "etcd/server.key",
    "etcd/peer.key",
    "etcd/healthcheck-client.key",
    "admin.key",
    "controller-manager.key",
    "scheduler.key",
    "sa.key",
]


@pytest.mark.parametrize("relative", KEY_FILES)
def test_written_keys_are_private(tmp_path: Path, pki: ClusterPKI, relative: str) -> None:
    write_cluster_pki(pki, tmp_path / "pki")
    assert stat.S_IMODE((tmp_path / "pki" / relative).stat().st_mode) == 0o600


def test_written_files_match_paths_and_contents(tmp_path: Path, pki: ClusterPKI) -> None:
    directory = tmp_path / "east" / "pki"
    paths = write_cluster_pki(pki, directory)
    assert paths == pki_paths(directory)
    assert paths.ca_cert == directory / "ca.crt"
    assert paths.etcd_ca_key == directory / "etcd" / "ca.key"
    assert paths.etcd_server_cert == directory / "etcd" / "server.crt"
    assert paths.service_account_pub == directory / "sa.pub"
    assert paths.apiserver_cert.read_bytes() == pki.apiserver.cert_pem
    assert paths.apiserver_key.read_bytes() == pki.apiserver.key_pem
    assert paths.service_account_key.read_bytes() == pki.service_account_key
    assert stat.S_IMODE(paths.ca_cert.stat().st_mode) == 0o644
    written = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
    assert len(written) == 28  # 13 certificates with keys, and the service-account pair
    assert read_cluster_pki(directory) == pki


def test_rewrite_replaces_files(tmp_path: Path, pki: ClusterPKI) -> None:
    write_cluster_pki(generate_cluster_pki("old", now=NOW), tmp_path)
    (tmp_path / "admin.key").chmod(0o644)
    write_cluster_pki(pki, tmp_path)
    assert (tmp_path / "admin.key").read_bytes() == pki.admin.key_pem
    assert stat.S_IMODE((tmp_path / "admin.key").stat().st_mode) == 0o600
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temporary files left behind


# --- speed ---------------------------------------------------------------------------------------


def test_cluster_pki_is_fast() -> None:
    start = time.perf_counter()
    generate_cluster_pki("fast")
    assert time.perf_counter() - start < 0.5


def test_ip_addresses_are_parsed() -> None:
    ca = new_ca("ca", now=NOW)
    cert = issue(
        ca, common_name="v6", ip_addresses=["::1", "0:0:0:0:0:0:0:1"], server=True, now=NOW
    ).certificate
    values = ext(cert, x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)
    assert values == [ipaddress.ip_address("::1")]
