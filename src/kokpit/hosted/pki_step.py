"""The PKI step: the cluster's certificates, kept in a Secret of the hub and renewed ahead of expiry
(or when the names they must carry changed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lightkube.resources.core_v1 import Secret

from kokpit.api.hostedcluster import HostedClusterSpec, NetworkingSpec
from kokpit.controlplane import pki
from kokpit.hosted import certificates, names
from kokpit.hosted.context import Pass, StepContext
from kokpit.runtime import format_time, get_or_none


async def ensure_pki(
    ctx: StepContext,
    obj: Any,
    spec: HostedClusterSpec,
    networking: NetworkingSpec,
    state: Pass,
    *,
    apiserver_ips: tuple[str, ...],
    apiserver_dns_names: tuple[str, ...] = (),
) -> pki.ClusterPKI:
    """`ensure_pki` returns the cluster's PKI, made or renewed (and stored) as needed; sets
    `CertificatesReady` and the certificates' status."""
    name = str(obj.metadata.name)
    settings = spec.certificates
    validity = certificates.parse_duration(settings.validity if settings else "8760h")
    renew_before = certificates.effective_renew_before(
        validity, certificates.parse_duration(settings.renew_before if settings else "720h")
    )
    params = certificates.PKIParameters(
        cluster=name,
        apiserver_ips=apiserver_ips,
        apiserver_dns_names=apiserver_dns_names,
        service_ip=certificates.service_ip(networking.service_cidr),
        cluster_domain=networking.cluster_domain,
        validity=validity,
    )
    secret_name = names.pki_secret_name(name)
    secret = await get_or_none(ctx.client, Secret, secret_name, namespace=str(obj.metadata.namespace))
    now = datetime.now(UTC)
    renewed: datetime | None = None
    if secret is None or not secret.data:
        cluster_pki = certificates.new_pki(params, now=now)
        renewed = now
    else:
        cluster_pki = certificates.from_secret_data(secret.data)
        if certificates.needs_renewal(cluster_pki, renew_before, now=now) or not certificates.matches(
            cluster_pki, params
        ):
            cluster_pki = certificates.renew_leaves(cluster_pki, params, now=now)
            renewed = now
            await ctx.event(
                obj,
                "Normal",
                "CertificatesRenewed",
                "leaf certificates renewed, valid until "
                f"{format_time(certificates.first_expiry(cluster_pki))}",
            )
    if renewed is not None:
        await ctx.ensure_secret(obj, secret_name, {}, encoded=certificates.secret_data(cluster_pki))
    expiry = certificates.first_expiry(cluster_pki)
    previous_renewed = ((obj.get("status") or {}).get("certificates") or {}).get("lastRenewed")
    state.certificates = {
        "notAfter": format_time(expiry),
        "renewalTime": format_time(expiry - renew_before),
        "lastRenewed": format_time(renewed) if renewed else previous_renewed,
    }
    state.set(
        "CertificatesReady",
        expiry > now,
        "CertificatesValid",
        f"leaf certificates valid until {format_time(expiry)}",
    )
    return cluster_pki
