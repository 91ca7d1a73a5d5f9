"""A cluster's certificates, keys and kubeconfigs.

Every Kubernetes control plane kokpit runs needs the same set of credentials: three CAs (cluster,
front proxy, etcd), serving and client certificates for the control-plane components, a service-account
signing key and kubeconfigs for the clients. The sandbox generates them for its local clusters today;
hosted clusters reuse the same functions later, so everything here is a pure function over PEM bytes
and frozen dataclasses, with one thin layer (`write_cluster_pki`, `read_cluster_pki`,
`write_kubeconfig`) that touches the file system using kubeadm's file names.

Keys are ECDSA P-256: generating one takes microseconds (a whole cluster's PKI is a few milliseconds),
and kube-apiserver, etcd, client-go and kubectl accept them everywhere, including ES256
service-account tokens.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kokpit.controlplane.files import write_private

__all__ = [
    "CLOCK_SKEW_ALLOWANCE",
    "CertKey",
    "ClusterPKI",
    "PKIPaths",
    "expires_within",
    "generate_cluster_pki",
    "issue",
    "kubeconfig",
    "kubeconfig_yaml",
    "new_ca",
    "new_signing_key",
    "pki_paths",
    "read_cluster_pki",
    "write_cluster_pki",
    "write_kubeconfig",
]

CLOCK_SKEW_ALLOWANCE = timedelta(minutes=5)
"""How far `not_valid_before` is set before the issuing time (see `new_ca`)."""

SYSTEM_MASTERS = "system:masters"

_SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
"""Keys a CA may have: kokpit makes ECDSA ones; an RSA CA brought from elsewhere signs as well."""

_CURVE = ec.SECP256R1()
_HASH = hashes.SHA256()


@dataclass(frozen=True)
class CertKey:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes

    @cached_property
    def certificate(self) -> x509.Certificate:
        """The parsed certificate."""
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def private_key(self) -> _SigningKey:
        """The parsed private key."""
        return _load_private_key(self.key_pem)

    @property
    def not_after(self) -> datetime:
        """The end of the certificate's validity, timezone-aware UTC."""
        return self.certificate.not_valid_after_utc

    @property
    def not_before(self) -> datetime:
        """The start of the certificate's validity, timezone-aware UTC."""
        return self.certificate.not_valid_before_utc


def new_ca(
    common_name: str, *, validity: timedelta = timedelta(days=3650), now: datetime | None = None
) -> CertKey:
    """`new_ca` creates a self-signed certificate authority with a fresh P-256 key.

    `not_valid_before` is set `CLOCK_SKEW_ALLOWANCE` (5 minutes) before `now`, for this and every
    certificate `issue` signs: the process that verifies a certificate (an apiserver, etcd, kubectl,
    possibly on another machine or in a container whose clock lags) would otherwise reject a
    certificate used within seconds of its creation as "not yet valid" whenever its clock is slightly
    behind the issuer's. `not_valid_after` is `now + validity`, not backdated.

    `now` must be timezone-aware; it defaults to the current time.
    """
    now = _now(now)
    _check_validity(validity)
    key = ec.generate_private_key(_CURVE)
    name = _name(common_name, ())
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW_ALLOWANCE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, _HASH)
    )
    return CertKey(cert_pem=cert.public_bytes(serialization.Encoding.PEM), key_pem=_private_pem(key))


def issue(
    ca: CertKey,
    *,
    common_name: str,
    organizations: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    server: bool = False,
    client: bool = False,
    validity: timedelta = timedelta(days=365),
    now: datetime | None = None,
) -> CertKey:
    """`issue` signs a new leaf certificate (with a fresh P-256 key) by `ca`.

    The subject is CN=`common_name` plus one O= per organization (Kubernetes reads O as the user's
    groups). `server` and `client` select the extended key usages serverAuth and clientAuth; a
    certificate for etcd's server and peer endpoints needs both. DNS names and IP addresses become
    subject alternative names, de-duplicated in order; an invalid IP address raises `ValueError`.

    Validity runs from `now - CLOCK_SKEW_ALLOWANCE` (see `new_ca` for why) to `now + validity`, cut
    short at the CA's own expiry, since no verifier accepts a certificate past its issuer's.
    Raises `ValueError` if `ca` is not a certificate authority.
    """
    now = _now(now)
    _check_validity(validity)
    ca_cert = ca.certificate
    if not _is_ca(ca_cert):
        raise ValueError(f"{ca_cert.subject.rfc4514_string()} is not a certificate authority")
    ca_key = ca.private_key
    key = ec.generate_private_key(_CURVE)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organizations))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW_ALLOWANCE)
        .not_valid_after(min(now + validity, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, cert_sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_authority_key_identifier(ca_cert), critical=False)
    )
    usages: list[x509.ObjectIdentifier] = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    alt_names = _alt_names(dns_names, ip_addresses)
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(ca_key, _HASH)
    return CertKey(cert_pem=cert.public_bytes(serialization.Encoding.PEM), key_pem=_private_pem(key))


def new_signing_key() -> tuple[bytes, bytes]:
    """`new_signing_key` creates a service-account token signing key pair: (private PEM, public PEM).

    kube-apiserver signs tokens with the private key (`--service-account-signing-key-file`, ES256) and
    verifies them with the public one (`--service-account-key-file`).
    """
    key = ec.generate_private_key(_CURVE)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _private_pem(key), public


def expires_within(cert: CertKey, window: timedelta, *, now: datetime | None = None) -> bool:
    """`expires_within` is true if `cert` is expired or expires within `window` of `now`."""
    return cert.not_after - _now(now) <= window


# --- kubeconfigs ---------------------------------------------------------------------------------


def kubeconfig(
    *, cluster: str, server: str, ca_pem: bytes, user: str, credentials: CertKey
) -> dict[str, Any]:
    """`kubeconfig` builds a kubeconfig with one cluster, one user and one context, all data embedded.

    The context is named after the cluster and is the current context; the CA and the client
    certificate and key are embedded base64 (`*-data`), so the file stands alone.
    """
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}},
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(credentials.cert_pem),
                    "client-key-data": _b64(credentials.key_pem),
                },
            },
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
        "preferences": {},
    }


def kubeconfig_yaml(config: dict[str, Any]) -> str:
    """`kubeconfig_yaml` renders a kubeconfig dict as YAML, keys in their given order."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


# --- a cluster's PKI -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterPKI:
    """Every certificate and key one Kubernetes control plane needs."""

    ca: CertKey
    """The cluster CA: signs the apiserver's serving certificate, clients' certificates and CSRs."""
    front_proxy_ca: CertKey
    """Signs the front-proxy client the apiserver uses towards aggregated API servers."""
    etcd_ca: CertKey
    """Signs etcd's serving, peer and client certificates; trusted by etcd alone."""
    apiserver: CertKey
    apiserver_etcd_client: CertKey
    apiserver_kubelet_client: CertKey
    front_proxy_client: CertKey
    etcd_server: CertKey
    etcd_peer: CertKey
    etcd_healthcheck_client: CertKey
    admin: CertKey
    controller_manager: CertKey
    scheduler: CertKey
    service_account_key: bytes
    """The service-account token signing key, private PEM."""
    service_account_pub: bytes
    """The service-account token verification key, public PEM."""


def generate_cluster_pki(
    cluster_name: str,
    *,
    apiserver_ips: Sequence[str] = ("127.0.0.1",),
    apiserver_dns_names: Sequence[str] = (),
    service_cluster_ip: str = "10.96.0.1",
    cluster_domain: str = "cluster.local",
    etcd_ips: Sequence[str] = ("127.0.0.1",),
    etcd_dns_names: Sequence[str] = (),
    validity: timedelta = timedelta(days=365),
    ca_validity: timedelta = timedelta(days=3650),
    now: datetime | None = None,
) -> ClusterPKI:
    """`generate_cluster_pki` creates three fresh CAs and every certificate a control plane needs.

    The apiserver's serving certificate (CN kube-apiserver, serverAuth only) names `kubernetes`,
    `kubernetes.default`, `kubernetes.default.svc`, `kubernetes.default.svc.<cluster_domain>`,
    `localhost` and `apiserver_dns_names`, and the IPs 127.0.0.1, `service_cluster_ip` (the first IP of
    the service range, where the `kubernetes` Service points) and `apiserver_ips`. etcd's server and
    peer certificates name localhost, 127.0.0.1, `etcd_dns_names` and `etcd_ips`, and carry both
    serverAuth and clientAuth, because etcd members dial each other with the same certificate.

    The CA names carry `cluster_name`, so certificates of different clusters are told apart at a
    glance. Leaves are valid for `validity`, CAs for `ca_validity`, all from the same `now`.
    """
    now = _now(now)
    ca = new_ca(f"kokpit-{cluster_name}-ca", validity=ca_validity, now=now)
    front_proxy_ca = new_ca(f"kokpit-{cluster_name}-front-proxy-ca", validity=ca_validity, now=now)
    etcd_ca = new_ca(f"kokpit-{cluster_name}-etcd-ca", validity=ca_validity, now=now)

    def client(signer: CertKey, common_name: str, *organizations: str) -> CertKey:
        return issue(
            signer,
            common_name=common_name,
            organizations=organizations,
            client=True,
            validity=validity,
            now=now,
        )

    etcd_dns = ["localhost", *etcd_dns_names]
    etcd_addresses = ["127.0.0.1", *etcd_ips]
    sa_key, sa_pub = new_signing_key()
    return ClusterPKI(
        ca=ca,
        front_proxy_ca=front_proxy_ca,
        etcd_ca=etcd_ca,
        apiserver=issue(
            ca,
            common_name="kube-apiserver",
            dns_names=[
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                f"kubernetes.default.svc.{cluster_domain}",
                "localhost",
                *apiserver_dns_names,
            ],
            ip_addresses=["127.0.0.1", service_cluster_ip, *apiserver_ips],
            server=True,
            validity=validity,
            now=now,
        ),
        apiserver_etcd_client=client(etcd_ca, "kube-apiserver-etcd-client"),
        apiserver_kubelet_client=client(ca, "kube-apiserver-kubelet-client", SYSTEM_MASTERS),
        front_proxy_client=client(front_proxy_ca, "front-proxy-client"),
        etcd_server=issue(
            etcd_ca,
            common_name="etcd-server",
            dns_names=etcd_dns,
            ip_addresses=etcd_addresses,
            server=True,
            client=True,
            validity=validity,
            now=now,
        ),
        etcd_peer=issue(
            etcd_ca,
            common_name="etcd-peer",
            dns_names=etcd_dns,
            ip_addresses=etcd_addresses,
            server=True,
            client=True,
            validity=validity,
            now=now,
        ),
        etcd_healthcheck_client=client(etcd_ca, "kube-etcd-healthcheck-client"),
        admin=client(ca, "kokpit-admin", SYSTEM_MASTERS),
        controller_manager=client(ca, "system:kube-controller-manager"),
        scheduler=client(ca, "system:kube-scheduler"),
        service_account_key=sa_key,
        service_account_pub=sa_pub,
    )


# --- files ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PKIPaths:
    """Where `write_cluster_pki` put each file of a `ClusterPKI` (kubeadm's layout)."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    front_proxy_ca_cert: Path
    front_proxy_ca_key: Path
    etcd_ca_cert: Path
    etcd_ca_key: Path
    apiserver_cert: Path
    apiserver_key: Path
    apiserver_etcd_client_cert: Path
    apiserver_etcd_client_key: Path
    apiserver_kubelet_client_cert: Path
    apiserver_kubelet_client_key: Path
    front_proxy_client_cert: Path
    front_proxy_client_key: Path
    etcd_server_cert: Path
    etcd_server_key: Path
    etcd_peer_cert: Path
    etcd_peer_key: Path
    etcd_healthcheck_client_cert: Path
    etcd_healthcheck_client_key: Path
    admin_cert: Path
    admin_key: Path
    controller_manager_cert: Path
    controller_manager_key: Path
    scheduler_cert: Path
    scheduler_key: Path
    service_account_key: Path
    service_account_pub: Path


# ClusterPKI field -> file name stem under the PKI directory (".crt" and ".key" are appended).
_CERT_FILES: dict[str, str] = {
    "ca": "ca",
    "front_proxy_ca": "front-proxy-ca",
    "etcd_ca": "etcd/ca",
    "apiserver": "apiserver",
    "apiserver_etcd_client": "apiserver-etcd-client",
    "apiserver_kubelet_client": "apiserver-kubelet-client",
    "front_proxy_client": "front-proxy-client",
    "etcd_server": "etcd/server",
    "etcd_peer": "etcd/peer",
    "etcd_healthcheck_client": "etcd/healthcheck-client",
    "admin": "admin",
    "controller_manager": "controller-manager",
    "scheduler": "scheduler",
}
_SA_KEY_FILE = "sa.key"
_SA_PUB_FILE = "sa.pub"

_KEY_MODE = 0o600
_CERT_MODE = 0o644
_DIR_MODE = 0o700


def pki_paths(directory: Path) -> PKIPaths:
    """`pki_paths` names the files of a cluster's PKI under `directory`, without touching the disk."""
    paths: dict[str, Path] = {"directory": directory}
    for name, stem in _CERT_FILES.items():
        paths[f"{name}_cert"] = directory / f"{stem}.crt"
        paths[f"{name}_key"] = directory / f"{stem}.key"
    paths["service_account_key"] = directory / _SA_KEY_FILE
    paths["service_account_pub"] = directory / _SA_PUB_FILE
    return PKIPaths(**paths)


def write_cluster_pki(pki: ClusterPKI, directory: Path) -> PKIPaths:
    """`write_cluster_pki` writes every file of `pki` under `directory` in kubeadm's layout.

    Directories are created (0700 when new); private keys are written 0600 and certificates 0644.
    Each file is replaced atomically, so a reader never sees a half-written key, and an existing
    file is overwritten.
    """
    paths = pki_paths(directory)
    for name in _CERT_FILES:
        cert_key: CertKey = getattr(pki, name)
        _write_file(getattr(paths, f"{name}_cert"), cert_key.cert_pem, _CERT_MODE)
        _write_file(getattr(paths, f"{name}_key"), cert_key.key_pem, _KEY_MODE)
    _write_file(paths.service_account_key, pki.service_account_key, _KEY_MODE)
    _write_file(paths.service_account_pub, pki.service_account_pub, _CERT_MODE)
    return paths


def read_cluster_pki(directory: Path) -> ClusterPKI:
    """`read_cluster_pki` reads back what `write_cluster_pki` wrote; a missing file raises `OSError`."""
    paths = pki_paths(directory)
    values: dict[str, Any] = {
        name: CertKey(
            cert_pem=getattr(paths, f"{name}_cert").read_bytes(),
            key_pem=getattr(paths, f"{name}_key").read_bytes(),
        )
        for name in _CERT_FILES
    }
    values["service_account_key"] = paths.service_account_key.read_bytes()
    values["service_account_pub"] = paths.service_account_pub.read_bytes()
    return ClusterPKI(**values)


def write_kubeconfig(config: dict[str, Any], path: Path) -> None:
    """`write_kubeconfig` writes `config` as YAML to `path`, mode 0600 (it holds a private key)."""
    _write_file(path, kubeconfig_yaml(config).encode(), _KEY_MODE)


# --- internals -----------------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    return now


def _check_validity(validity: timedelta) -> None:
    if validity <= timedelta(0):
        raise ValueError(f"validity must be positive, got {validity}")


def _name(common_name: str, organizations: Sequence[str]) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _key_usage(*, digital_signature: bool, cert_sign: bool) -> x509.KeyUsage:
    # keyEncipherment is left out: it means RSA key transport, which an ECDSA key cannot do.
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_identifier(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        ca_public_key = ca_cert.public_key()
        if not isinstance(ca_public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise ValueError(f"unsupported CA key type {type(ca_public_key).__name__}") from None
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public_key)
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _alt_names(dns_names: Sequence[str], ip_addresses: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dict.fromkeys(dns_names)]
    ips = dict.fromkeys(ipaddress.ip_address(address) for address in ip_addresses)
    names.extend(x509.IPAddress(ip) for ip in ips)
    return names


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_private_key(pem: bytes) -> _SigningKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"a {type(key).__name__} cannot sign certificates here (ECDSA or RSA only)")
    return key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _write_file(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` atomically; the file has `mode` from its creation on."""
    write_private(path, data, mode=mode)
