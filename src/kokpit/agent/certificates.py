"""The agent's certificate for the hub: asked for with a CSR, kept in `hub.kubeconfig`, renewed in time.

The agent's identity on the hub is a client certificate (CN `system:kokpit:agent:<cluster>`, O
`kokpit:agents`) signed by the hub's controller-manager (`kubernetes.io/kube-apiserver-client`)
once kokpit's approver approved the CSR. The private key never leaves this machine: it is made here,
and written only into the agent's kubeconfig, mode 0600, replaced atomically so a reader never sees
half a file. `kokpit register` gets the first certificate with a bootstrap token
(`kokpit.agent.registration`); `keep_certificate_fresh` gets every later one as the agent itself,
when the current one has lived `renew_fraction` of its validity, so renewal needs no token and no
restart.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import string
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lightkube import ApiError, AsyncClient
from lightkube.models.certificates_v1 import CertificateSigningRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.certificates_v1 import CertificateSigningRequest

from kokpit.controlplane.files import write_private
from kokpit.errors import KokpitError
from kokpit.fleet.names import AGENTS_GROUP, agent_user
from kokpit.fleet.registration.names import AGENT_SIGNER, CSR_NAME_PREFIX
from kokpit.runtime.clients import make_client

log = logging.getLogger("kokpit.agent.certificates")

MIN_VALIDITY = timedelta(seconds=600)
"""The controller-manager signs nothing shorter (`expirationSeconds` minimum)."""
SIGNER_BACKDATE = timedelta(minutes=5)
"""The controller-manager's signer dates certificates back by this much (for clock skew): a
certificate asked for `d` reads valid for `d` + 5 minutes."""
USAGES = ("digital signature", "client auth")
POLL_INTERVAL = 0.5
RETRY_MIN = 2.0
RETRY_MAX = 60.0


class CertificateRefused(KokpitError):
    """The hub denied the CSR, or its signer failed it; the message is the hub's reason."""


@dataclass(frozen=True)
class AgentCredentials:
    """What the agent's hub kubeconfig holds."""

    server: str
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


# --- pure parts -------------------------------------------------------------------------------------


def new_private_key() -> bytes:
    """`new_private_key` is a fresh P-256 key, PEM (PKCS#8, unencrypted: the file is 0600)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def certificate_request(cluster: str, key_pem: bytes) -> bytes:
    """`certificate_request` is the PEM CSR of the agent of `cluster`: CN `agent_user(cluster)`,
    O `kokpit:agents`, nothing else (the approver denies anything more)."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the agent's key must be an EC key")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, AGENTS_GROUP),
            x509.NameAttribute(NameOID.COMMON_NAME, agent_user(cluster)),
        ]
    )
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM)


def csr_name(cluster: str) -> str:
    """`csr_name("edge1")` is `kokpit-agent-edge1-<5 random characters>` (one name per attempt)."""
    suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))
    return f"{CSR_NAME_PREFIX}{cluster}-{suffix}"


def csr_object(
    cluster: str,
    request_pem: bytes,
    *,
    validity: timedelta,
    annotations: Mapping[str, str] | None = None,
) -> CertificateSigningRequest:
    """`csr_object` is the CSR the agent of `cluster` submits for a certificate valid `validity`."""
    seconds = int(max(validity, MIN_VALIDITY).total_seconds())
    return CertificateSigningRequest(
        metadata=ObjectMeta(name=csr_name(cluster), annotations=dict(annotations) if annotations else None),
        spec=CertificateSigningRequestSpec(
            request=base64.b64encode(request_pem).decode(),
            signerName=AGENT_SIGNER,
            usages=list(USAGES),
            expirationSeconds=seconds,
        ),
    )


def agent_kubeconfig(credentials: AgentCredentials, *, cluster: str) -> dict[str, Any]:
    """`agent_kubeconfig` is the agent's hub kubeconfig, everything embedded (pure; write it 0600)."""
    user = agent_user(cluster)
    context = f"{user}@kokpit-hub"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kokpit-hub",
                "cluster": {
                    "server": credentials.server,
                    "certificate-authority-data": base64.b64encode(credentials.ca_pem).decode(),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": base64.b64encode(credentials.cert_pem).decode(),
                    "client-key-data": base64.b64encode(credentials.key_pem).decode(),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": "kokpit-hub", "user": user}}],
        "current-context": context,
        "preferences": {},
    }


def read_credentials(config: Mapping[str, Any]) -> AgentCredentials:
    """`read_credentials` reads an `agent_kubeconfig` back; ValueError when it has no embedded
    certificate, key and CA."""
    try:
        current = config["current-context"]
        context = next(c["context"] for c in config["contexts"] if c["name"] == current)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        return AgentCredentials(
            server=str(cluster["server"]),
            ca_pem=base64.b64decode(cluster["certificate-authority-data"]),
            cert_pem=base64.b64decode(user["client-certificate-data"]),
            key_pem=base64.b64decode(user["client-key-data"]),
        )
    except (KeyError, StopIteration, TypeError, ValueError):
        raise ValueError("not an agent kubeconfig with embedded certificate, key and CA") from None


def validity_of(cert_pem: bytes) -> tuple[datetime, datetime]:
    """`validity_of` is a certificate's (not before, not after), aware UTC."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.not_valid_before_utc, cert.not_valid_after_utc


def requested_validity(not_before: datetime, not_after: datetime) -> timedelta:
    """`requested_validity` is the validity to ask for so a renewed certificate lives as long as the
    current one: its span without the signer's backdate, at least the signer's minimum."""
    return max(not_after - not_before - SIGNER_BACKDATE, MIN_VALIDITY)


def renewal_time(not_before: datetime, not_after: datetime, *, fraction: float) -> datetime:
    """`renewal_time` is when a certificate valid from `not_before` to `not_after` is due for renewal:
    after `fraction` (0 < fraction < 1) of its validity."""
    if not 0 < fraction < 1:
        raise ValueError(f"renew_fraction must lie between 0 and 1, got {fraction}")
    return not_before + (not_after - not_before) * fraction


def retry_delay(attempt: int, *, until_expiry: timedelta) -> float:
    """`retry_delay` is how long to wait before renewal attempt `attempt` (1, 2, ...) after failures:
    doubling from 2 s to 60 s, and never past a tenth of the time left before the certificate expires
    (at least 1 s), so a hub that comes back late still finds the agent asking."""
    delay = min(RETRY_MIN * float(2 ** max(attempt - 1, 0)), RETRY_MAX)
    return max(min(delay, until_expiry.total_seconds() / 10), 1.0)


# --- I/O -----------------------------------------------------------------------------------------------


def write_agent_kubeconfig(path: Path, credentials: AgentCredentials, *, cluster: str) -> None:
    """`write_agent_kubeconfig` writes `agent_kubeconfig` to `path` (atomic, 0600)."""
    text = yaml.safe_dump(agent_kubeconfig(credentials, cluster=cluster), sort_keys=False)
    write_private(path, text.encode())


def load_credentials(path: Path) -> AgentCredentials:
    """`load_credentials` reads the agent's kubeconfig at `path`; `KokpitError` when it is unusable."""
    try:
        return read_credentials(yaml.safe_load(path.read_text()))
    except (OSError, yaml.YAMLError, ValueError) as error:
        raise KokpitError(f"agent kubeconfig {path} cannot be used: {error}") from None


async def request_certificate(
    client: AsyncClient,
    csr: CertificateSigningRequest,
    *,
    timeout: float | None,
    poll_interval: float = POLL_INTERVAL,
) -> bytes:
    """`request_certificate` submits `csr` with `client` and waits for the signed certificate (PEM).

    `timeout` None waits forever. Raises `CertificateRefused` with the hub's reason when the CSR is
    denied or failed, `TimeoutError` when no certificate came in time; API errors pass through."""
    created = await client.create(csr)
    assert created.metadata is not None and created.metadata.name is not None
    name = created.metadata.name
    async with asyncio.timeout(timeout):
        while True:
            current = await client.get(CertificateSigningRequest, name)
            status = current.status
            for condition in (status.conditions if status else None) or []:
                if condition.type in ("Denied", "Failed") and condition.status == "True":
                    raise CertificateRefused(condition.message or condition.reason or condition.type)
            if status is not None and status.certificate:
                return base64.b64decode(status.certificate)
            await asyncio.sleep(poll_interval)


async def renew_certificate(
    hub_kubeconfig: Path, *, cluster: str, timeout: float = 300.0
) -> AgentCredentials:
    """`renew_certificate` asks the hub, as the agent, for a certificate as long-lived as the current
    one with a new key, and rewrites `hub_kubeconfig` with it; the old file stays until then."""
    current = await asyncio.to_thread(load_credentials, hub_kubeconfig)
    not_before, not_after = validity_of(current.cert_pem)
    key_pem = new_private_key()
    validity = requested_validity(not_before, not_after)
    csr = csr_object(cluster, certificate_request(cluster, key_pem), validity=validity)
    client = make_client(f"agent-renewal-{cluster}", agent_kubeconfig(current, cluster=cluster), qps=None)
    try:
        cert_pem = await request_certificate(client, csr, timeout=timeout)
    finally:
        await client.close()
    renewed = AgentCredentials(
        server=current.server, ca_pem=current.ca_pem, cert_pem=cert_pem, key_pem=key_pem
    )
    await asyncio.to_thread(write_agent_kubeconfig, hub_kubeconfig, renewed, cluster=cluster)
    return renewed


async def keep_certificate_fresh(
    hub_kubeconfig: Path,
    *,
    cluster: str,
    renew_fraction: float = 0.7,
    on_renewed: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """`keep_certificate_fresh` runs forever: when the certificate in `hub_kubeconfig` has lived
    `renew_fraction` of its validity, it gets a new one (`renew_certificate`), rewrites the file
    (0600, atomically) and awaits `on_renewed()`, so the caller swaps its clients' identity. Failed
    attempts are retried with backoff (`retry_delay`) while the old certificate still serves."""
    failures = 0
    while True:
        current = await asyncio.to_thread(load_credentials, hub_kubeconfig)
        not_before, not_after = validity_of(current.cert_pem)
        now = datetime.now(UTC)
        due = renewal_time(not_before, not_after, fraction=renew_fraction)
        if failures == 0 and due > now:
            log.info("certificate of cluster %s valid until %s, renewing at %s", cluster, not_after, due)
            await asyncio.sleep((due - now).total_seconds())
        try:
            renewed = await renew_certificate(hub_kubeconfig, cluster=cluster)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            failures += 1
            delay = retry_delay(failures, until_expiry=not_after - datetime.now(UTC))
            reason = (
                error.status.message if isinstance(error, ApiError) else (str(error) or type(error).__name__)
            )
            log.warning(
                "renewing the certificate of cluster %s failed (retry in %.0fs): %s", cluster, delay, reason
            )
            await asyncio.sleep(delay)
            continue
        failures = 0
        log.info(
            "certificate of cluster %s renewed, valid until %s", cluster, validity_of(renewed.cert_pem)[1]
        )
        if on_renewed is not None:
            await on_renewed()
