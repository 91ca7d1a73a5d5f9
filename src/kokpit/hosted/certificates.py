"""A hosted cluster's PKI as hub Secret data, and when to renew it.

The CAs are made once (ten years) and kept; the leaf certificates kokpit uses (API server serving,
kubelet and front-proxy clients, admin, controller-manager, scheduler) are re-issued by the same CAs
`renew_before` ahead of their expiry, so every client that trusts the cluster CA keeps working. etcd's
certificates come from the EtcdCluster, not from here. Everything is pure: bytes in, bytes out.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from kokpit.controlplane import pki

DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"([0-9]+)([dhms])")

CA_VALIDITY = timedelta(days=3650)
RENEWED_LEAVES = (
    "apiserver",
    "apiserver_kubelet_client",
    "front_proxy_client",
    "admin",
    "controller_manager",
    "scheduler",
)
"""The leaf certificates of `ClusterPKI` this cluster uses and renews."""

_SA_KEY = "sa.key"
_SA_PUB = "sa.pub"


def parse_duration(text: str) -> timedelta:
    """`parse_duration` reads "8760h", "30d", "1h30m" or "90s"; raises ValueError otherwise."""
    text = text.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}: expected number+unit pairs (d, h, m, s), e.g. 8760h")
    seconds = sum(int(number) * DURATION_UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return timedelta(seconds=seconds)


def effective_renew_before(validity: timedelta, renew_before: timedelta) -> timedelta:
    """`effective_renew_before` is `renew_before`, cut to half the validity when it is not shorter than
    the validity (otherwise every fresh certificate would be due for renewal at once)."""
    return renew_before if renew_before < validity else validity / 2


def service_ip(service_cidr: str) -> str:
    """`service_ip` is the `kubernetes` Service's address: the first host of the service range."""
    network = ipaddress.ip_network(service_cidr)
    return str(network.network_address + 1)


@dataclasses.dataclass(frozen=True)
class PKIParameters:
    """What the certificates name and how long they live."""

    cluster: str
    apiserver_ips: tuple[str, ...]
    apiserver_dns_names: tuple[str, ...]
    service_ip: str
    cluster_domain: str
    validity: timedelta


def new_pki(params: PKIParameters, *, now: datetime | None = None) -> pki.ClusterPKI:
    """`new_pki` makes the cluster's CAs and every certificate."""
    return pki.generate_cluster_pki(
        params.cluster,
        apiserver_ips=params.apiserver_ips,
        apiserver_dns_names=params.apiserver_dns_names,
        service_cluster_ip=params.service_ip,
        cluster_domain=params.cluster_domain,
        validity=params.validity,
        ca_validity=CA_VALIDITY,
        now=now,
    )


def renew_leaves(
    current: pki.ClusterPKI, params: PKIParameters, *, now: datetime | None = None
) -> pki.ClusterPKI:
    """`renew_leaves` re-issues the leaves in `RENEWED_LEAVES` with the existing CAs; keys are new.

    The subjects are the ones `generate_cluster_pki` gives (fresh certificates from a throwaway PKI
    with the same parameters tell which), so a renewed certificate is interchangeable with the first.
    """
    template = new_pki(params, now=now)
    renewed: dict[str, Any] = {}
    for name in RENEWED_LEAVES:
        model: pki.CertKey = getattr(template, name)
        cert = model.certificate
        signer = current.front_proxy_ca if name == "front_proxy_client" else current.ca
        renewed[name] = pki.issue(
            signer,
            common_name=_attr(cert, "2.5.4.3")[0],
            organizations=_attr(cert, "2.5.4.10"),
            dns_names=_sans(cert, dns=True),
            ip_addresses=_sans(cert, dns=False),
            server=_has_usage(cert, "1.3.6.1.5.5.7.3.1"),
            client=_has_usage(cert, "1.3.6.1.5.5.7.3.2"),
            validity=params.validity,
            now=now,
        )
    return dataclasses.replace(current, **renewed)


def first_expiry(cluster_pki: pki.ClusterPKI) -> datetime:
    """`first_expiry` is the earliest `not_after` of the leaves this cluster uses."""
    leaves: list[pki.CertKey] = [getattr(cluster_pki, name) for name in RENEWED_LEAVES]
    return min(leaf.not_after for leaf in leaves)


def needs_renewal(cluster_pki: pki.ClusterPKI, renew_before: timedelta, *, now: datetime) -> bool:
    """`needs_renewal` is true when any used leaf expires within `renew_before` of `now`."""
    return first_expiry(cluster_pki) - now <= renew_before


def matches(cluster_pki: pki.ClusterPKI, params: PKIParameters) -> bool:
    """`matches` is false when the API server certificate misses an address it must carry now (the
    exposure changed): then the leaves are re-issued."""
    cert = cluster_pki.apiserver.certificate
    ips = set(_sans(cert, dns=False))
    return {params.service_ip, *params.apiserver_ips} <= ips


# --- Secret data ---------------------------------------------------------------------------------


def secret_data(cluster_pki: pki.ClusterPKI) -> dict[str, str]:
    """`secret_data` is the `data` of the PKI Secret: `<field>.crt`/`<field>.key` per certificate,
    `sa.key`, `sa.pub`, all base64."""
    data: dict[str, str] = {}
    for field in dataclasses.fields(cluster_pki):
        value = getattr(cluster_pki, field.name)
        if isinstance(value, pki.CertKey):
            data[f"{field.name}.crt"] = _b64(value.cert_pem)
            data[f"{field.name}.key"] = _b64(value.key_pem)
    data[_SA_KEY] = _b64(cluster_pki.service_account_key)
    data[_SA_PUB] = _b64(cluster_pki.service_account_pub)
    return data


def from_secret_data(data: Mapping[str, str]) -> pki.ClusterPKI:
    """`from_secret_data` reads `secret_data`'s output back; a missing key raises KeyError."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(pki.ClusterPKI):
        if field.name in ("service_account_key", "service_account_pub"):
            continue
        values[field.name] = pki.CertKey(
            cert_pem=base64.b64decode(data[f"{field.name}.crt"]),
            key_pem=base64.b64decode(data[f"{field.name}.key"]),
        )
    values["service_account_key"] = base64.b64decode(data[_SA_KEY])
    values["service_account_pub"] = base64.b64decode(data[_SA_PUB])
    return pki.ClusterPKI(**values)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _attr(cert: Any, oid: str) -> list[str]:
    return [str(a.value) for a in cert.subject if a.oid.dotted_string == oid]


def _sans(cert: Any, *, dns: bool) -> list[str]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    if dns:
        return [str(n) for n in names.get_values_for_type(x509.DNSName)]
    return [str(n) for n in names.get_values_for_type(x509.IPAddress)]


def _has_usage(cert: Any, oid: str) -> bool:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return any(u.dotted_string == oid for u in usages)
