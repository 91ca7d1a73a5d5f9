"""`kokpit register`: turn a bootstrap token into the agent's own credentials for the hub.

The steps, each refusing with one line before anything is created when it fails:

1. read `kube-public/cluster-info` anonymously, over TLS not yet verified, and accept the hub's CA
   only if its public key hashes to `--ca-cert-hash` (kubeadm's token discovery): from here on every
   connection verifies the hub against that CA;
2. ask the hub who the token is (SelfSubjectReview): a 401 means unknown, expired or used up; the
   groups say whether it is an agent token and which cluster, if any, it is bound to;
3. refuse a token that already registered a cluster (its CSR is still on the hub);
4. make the key (in memory), submit the CSR with the token, wait for the approver and the signer;
5. write `DIR/hub.kubeconfig` (0600): hub URL, CA, certificate and key.

A denial by the hub's approver (say a Push cluster of that name exists) ends it with the hub's reason;
the only thing left behind then is the denied CSR, which the hub cleans up itself.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
from lightkube import ApiError, AsyncClient
from lightkube.resources.authentication_v1 import SelfSubjectReview
from lightkube.resources.certificates_v1 import CertificateSigningRequest

from kokpit.agent.certificates import (
    AgentCredentials,
    CertificateRefused,
    certificate_request,
    csr_object,
    new_private_key,
    request_certificate,
    write_agent_kubeconfig,
)
from kokpit.controlplane.bootstrap_tokens import (
    CLUSTER_INFO_NAME,
    CLUSTER_INFO_NAMESPACE,
    ca_cert_hashes,
    parse_bootstrap_token,
    parse_ca_cert_hash,
    pin_matches,
    read_cluster_info,
)
from kokpit.errors import KokpitError
from kokpit.fleet.registration.approval import name_problem
from kokpit.fleet.registration.names import AGENT_TOKEN_GROUP, TOPOLOGY_ANNOTATIONS, bound_clusters
from kokpit.runtime.clients import make_client

HUB_KUBECONFIG = "hub.kubeconfig"


class RegistrationError(KokpitError):
    """Registration refused or impossible; the message says why in one line."""


@dataclass(frozen=True)
class RegistrationRequest:
    name: str
    hub: str
    """The hub API server's https URL, as reachable from here."""
    token: str
    ca_cert_hash: str
    out_dir: Path
    provider: str | None = None
    region: str | None = None
    zone: str | None = None
    cert_ttl: timedelta = timedelta(hours=24)
    timeout: float | None = 300.0
    """Seconds to wait for the hub to approve; None waits forever (the hub may start later)."""

    @property
    def kubeconfig_path(self) -> Path:
        return self.out_dir / HUB_KUBECONFIG


def default_out_dir(name: str) -> Path:
    """`~/.kokpit/agent/<name>`."""
    return Path.home() / ".kokpit" / "agent" / name


def token_problem(name: str, groups: list[str]) -> str | None:
    """`token_problem` says why a token whose groups are `groups` cannot register `name`; pure."""
    if AGENT_TOKEN_GROUP not in groups:
        return "the token is not a kokpit agent token (make one with kokpit token create)"
    bound = bound_clusters(groups)
    if bound and name not in bound:
        return f"the token is bound to cluster {', '.join(sorted(bound))}, not {name}"
    return None


def check_request(request: RegistrationRequest) -> None:
    """Refuses malformed input before any connection is made."""
    if problem := name_problem(request.name):
        raise RegistrationError(problem)
    if not request.hub.startswith("https://"):
        raise RegistrationError(f"--hub {request.hub!r} must be an https URL")
    try:
        parse_bootstrap_token(request.token)
        parse_ca_cert_hash(request.ca_cert_hash)
    except ValueError as error:
        raise RegistrationError(str(error)) from None
    if request.kubeconfig_path.exists():
        raise RegistrationError(f"{request.kubeconfig_path} exists already: this agent is registered")


async def discover_hub_ca(hub: str, pin: str, *, timeout: float = 10.0) -> bytes:
    """`discover_hub_ca` reads the hub's CA from `cluster-info` and returns it if it matches `pin`."""
    url = f"{hub.rstrip('/')}/api/v1/namespaces/{CLUSTER_INFO_NAMESPACE}/configmaps/{CLUSTER_INFO_NAME}"
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE  # the CA is checked against the pin below, not by TLS
    try:
        async with httpx2.AsyncClient(verify=insecure, trust_env=False, timeout=timeout) as client:
            response = await client.get(url)
    except httpx2.HTTPError as error:
        raise RegistrationError(f"cannot reach the hub at {hub}: {error or type(error).__name__}") from None
    if response.status_code != 200:
        raise RegistrationError(
            f"the hub at {hub} publishes no cluster-info (HTTP {response.status_code}): "
            "run kokpit install there"
        )
    try:
        _, ca_pem = read_cluster_info(response.json().get("data") or {})
    except ValueError as error:
        raise RegistrationError(f"the hub's {error}") from None
    if not pin_matches(ca_pem, pin):
        found = ", ".join(ca_cert_hashes(ca_pem))
        raise RegistrationError(
            f"the hub's CA does not match --ca-cert-hash (the hub at {hub} presents {found}): "
            "refusing to send the token"
        )
    return ca_pem


def token_kubeconfig(hub: str, ca_pem: bytes, token: str) -> dict[str, Any]:
    """A kubeconfig reaching the hub with the bootstrap token, verified against `ca_pem` (pure)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "hub",
                "cluster": {"server": hub, "certificate-authority-data": base64.b64encode(ca_pem).decode()},
            }
        ],
        "users": [{"name": "bootstrap", "user": {"token": token}}],
        "contexts": [{"name": "bootstrap", "context": {"cluster": "hub", "user": "bootstrap"}}],
        "current-context": "bootstrap",
    }


def _refused(error: ApiError, what: str) -> RegistrationError:
    if error.status.code == 401:
        return RegistrationError("the hub refused the token: it is unknown, expired or used up")
    return RegistrationError(f"the hub refused to {what}: {error.status.message} ({error.status.code})")


async def who_am_i(client: AsyncClient) -> tuple[str, list[str]]:
    """The user name and groups the hub authenticates `client` as."""
    try:
        review = await client.create(SelfSubjectReview())
    except ApiError as error:
        raise _refused(error, "say who the token is") from None
    info = review.status.userInfo if review.status else None
    return (str(info.username or "") if info else ""), list((info.groups if info else None) or [])


async def check_unused(client: AsyncClient, username: str) -> None:
    """Refuses a token that submitted a CSR already (it registered a cluster, or tried to)."""
    try:
        used = [
            str(csr.metadata.name)
            async for csr in client.list(CertificateSigningRequest)
            if csr.spec.username == username and csr.metadata is not None
        ]
    except ApiError as error:
        raise _refused(error, "list certificate requests") from None
    if used:
        raise RegistrationError(f"the token was used already (certificate request {sorted(used)[0]})")


def _annotations(request: RegistrationRequest) -> Mapping[str, str]:
    values = {"provider": request.provider, "region": request.region, "zone": request.zone}
    return {TOPOLOGY_ANNOTATIONS[k]: v for k, v in values.items() if v}


async def register(request: RegistrationRequest) -> Path:
    """`register` does the steps of the module docstring; returns the written kubeconfig's path."""
    check_request(request)
    ca_pem = await discover_hub_ca(request.hub, request.ca_cert_hash)
    client = make_client(
        f"register-{request.name}", token_kubeconfig(request.hub, ca_pem, request.token), qps=None
    )
    try:
        username, groups = await who_am_i(client)
        if problem := token_problem(request.name, groups):
            raise RegistrationError(problem)
        await check_unused(client, username)
        key_pem = new_private_key()
        csr = csr_object(
            request.name,
            certificate_request(request.name, key_pem),
            validity=request.cert_ttl,
            annotations=_annotations(request),
        )
        try:
            cert_pem = await request_certificate(client, csr, timeout=request.timeout)
        except CertificateRefused as error:
            raise RegistrationError(f"the hub denied the registration of {request.name}: {error}") from None
        except TimeoutError:
            raise RegistrationError(
                f"the hub did not approve the registration within {request.timeout:g}s "
                "(is kokpit hub run up?)"
            ) from None
        except ApiError as error:
            raise _refused(error, "take the certificate request") from None
    finally:
        await client.close()
    credentials = AgentCredentials(server=request.hub, ca_pem=ca_pem, cert_pem=cert_pem, key_pem=key_pem)
    await asyncio.to_thread(
        write_agent_kubeconfig, request.kubeconfig_path, credentials, cluster=request.name
    )
    return request.kubeconfig_path
