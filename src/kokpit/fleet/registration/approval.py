"""Whether kokpit approves an agent's CertificateSigningRequest: one pure decision over a snapshot.

An *agent CSR* asks the hub's signer `kubernetes.io/kube-apiserver-client` for a certificate whose
CN is an agent user (`system:kokpit:agent:<cluster>`); every other CSR is someone else's business
and ignored. An agent CSR is approved in two cases only:

- a *first registration*: requested by a bootstrap token (`system:bootstrap:<id>`) whose Secret still
  exists, is unexpired, an agent token, not used for another CSR, and unbound or bound to that
  cluster; the cluster must not exist as a Push member, and an existing Pull cluster is taken over
  only with a token bound to it (an unbound token registers new names only);
- a *renewal*: requested by the agent itself (the same user as the CN) for an existing Pull cluster.

Anything else that claims an agent CN is denied with a reason the requester reads on its CSR.
The subject must be exactly CN + O `kokpit:agents`, without alternative names, for client auth.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from kokpit.api.cluster import TOPOLOGY_PATTERN
from kokpit.controlplane.bootstrap_tokens import TokenRecord, token_id_of_user
from kokpit.fleet.names import AGENTS_GROUP, agent_user, cluster_of_agent_user
from kokpit.fleet.registration.names import (
    AGENT_SIGNER,
    AGENT_TOKEN_GROUP,
    TOPOLOGY_ANNOTATIONS,
    USED_BY_ANNOTATION,
    bound_clusters,
)

CLUSTER_NAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
CLUSTER_NAME_MAX = 53
"""A registrable name is a DNS label short enough that `kokpit-es-<name>` is one too."""
RESERVED_NAMES = frozenset({"hub"})

ALLOWED_USAGES = frozenset({"client auth", "digital signature", "key encipherment"})


class Verdict(StrEnum):
    IGNORE = "Ignore"
    """Not an agent CSR, or decided already: leave it alone."""
    APPROVE = "Approve"
    DENY = "Deny"


@dataclass(frozen=True)
class CSRView:
    """What the decision needs of a CSR (`csr_view` reads it from the API object)."""

    name: str
    signer: str
    username: str
    usages: tuple[str, ...] = ()
    common_name: str | None = None
    organizations: tuple[str, ...] = ()
    alt_names: bool = False
    decided: bool = False
    """Approved, Denied or Failed already."""
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def cluster(self) -> str | None:
        """The cluster the CN names, or None when the CN is no agent user."""
        return cluster_of_agent_user(self.common_name or "")


@dataclass(frozen=True)
class ClusterView:
    """The `Cluster` of that name on the hub, when there is one."""

    sync_mode: str


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str = ""
    """CamelCase, the CSR condition's reason."""
    message: str = ""
    cluster: str | None = None
    registration: bool = False
    """A first registration (or a bound re-registration): the Cluster, its namespace and RBAC are
    ensured and the token is used up. False for renewals."""
    topology: Mapping[str, str] = field(default_factory=dict)
    """provider/region/zone for a new Cluster, from the CSR's annotations."""


def _deny(reason: str, message: str, cluster: str | None = None) -> Decision:
    return Decision(Verdict.DENY, reason, message, cluster)


def decide(
    csr: CSRView, *, token: TokenRecord | None, cluster: ClusterView | None, now: datetime
) -> Decision:
    """`decide` is what kokpit does with `csr` (see the module docstring); `token` is the Secret of the
    requesting bootstrap token (None when it has none or it is gone), `cluster` the Cluster the CN
    names (None when absent)."""
    name = csr.cluster
    if csr.signer != AGENT_SIGNER or name is None:
        return Decision(Verdict.IGNORE, message="not a kokpit agent CSR")
    if csr.decided:
        return Decision(Verdict.IGNORE, message="decided already", cluster=name)
    if problem := name_problem(name):
        return _deny("InvalidClusterName", problem, name)
    if csr.organizations != (AGENTS_GROUP,):
        return _deny("InvalidSubject", f"the subject's organization must be exactly {AGENTS_GROUP}", name)
    if csr.alt_names:
        return _deny("InvalidSubject", "an agent certificate carries no alternative names", name)
    usages = set(csr.usages)
    if "client auth" not in usages or not usages <= ALLOWED_USAGES:
        return _deny(
            "InvalidUsages",
            "an agent certificate is for client auth only (with digital signature, key encipherment)",
            name,
        )

    if csr.username == agent_user(name):
        if cluster is None:
            return _deny("ClusterNotFound", f"cluster {name} does not exist on the hub", name)
        if cluster.sync_mode != "Pull":
            return _deny("NotPullCluster", f"cluster {name} is a {cluster.sync_mode} cluster", name)
        return Decision(Verdict.APPROVE, "AgentRenewal", f"renewal by the agent of cluster {name}", name)

    token_id = token_id_of_user(csr.username)
    if token_id is None:
        return _deny(
            "UnknownRequester",
            f"requested by {csr.username}, neither a bootstrap token nor the agent of cluster {name}",
            name,
        )
    if token is None:
        return _deny("TokenNotFound", f"bootstrap token {token_id} is unknown, expired or used up", name)
    used_by = token.annotations.get(USED_BY_ANNOTATION)
    if used_by and used_by != csr.name:
        return _deny("TokenUsed", f"bootstrap token {token_id} was used already (by {used_by})", name)
    if token.expired(now) and not used_by:
        return _deny("TokenExpired", f"bootstrap token {token_id} has expired", name)
    if AGENT_TOKEN_GROUP not in token.groups:
        return _deny("NotAnAgentToken", f"bootstrap token {token_id} is not a kokpit agent token", name)
    bound = bound_clusters(token.groups)
    if bound and bound != {name}:
        return _deny(
            "TokenBoundElsewhere",
            f"bootstrap token {token_id} is for cluster {', '.join(sorted(bound))}, not {name}",
            name,
        )
    if cluster is not None and cluster.sync_mode != "Pull":
        return _deny("PushClusterExists", f"cluster {name} exists as a {cluster.sync_mode} cluster", name)
    if cluster is not None and not bound:
        return _deny(
            "ClusterExists",
            f"cluster {name} is registered already; registering it again needs a token bound to it "
            f"(kokpit token create --cluster {name})",
            name,
        )
    topology = {}
    for field_name, annotation in TOPOLOGY_ANNOTATIONS.items():
        value = csr.annotations.get(annotation)
        if value is None:
            continue
        if not re.fullmatch(TOPOLOGY_PATTERN, value) or len(value) > 63:
            return _deny("InvalidTopology", f"{field_name} {value!r} is not a valid topology name", name)
        topology[field_name] = value
    return Decision(
        Verdict.APPROVE,
        "AgentRegistration",
        f"cluster {name} registered with bootstrap token {token_id}",
        name,
        registration=True,
        topology=topology,
    )


def name_problem(name: str) -> str | None:
    """`name_problem` says why `name` cannot be registered, or None; pure."""
    if name in RESERVED_NAMES:
        return f"{name!r} is reserved"
    if len(name) > CLUSTER_NAME_MAX or not CLUSTER_NAME_PATTERN.match(name) or "--" in name:
        return (
            f"cluster name {name!r} must be a DNS label of at most {CLUSTER_NAME_MAX} characters without '--'"
        )
    return None


def csr_view(csr: Any) -> CSRView:
    """`csr_view` reads a lightkube `CertificateSigningRequest`; a request that does not parse reads
    as one with no subject (so it is ignored)."""
    spec, status, metadata = csr.spec, csr.status, csr.metadata
    decided = any(
        c.type in ("Approved", "Denied", "Failed") for c in ((status.conditions if status else None) or [])
    )
    common_name: str | None = None
    organizations: tuple[str, ...] = ()
    alt_names = False
    try:
        request = x509.load_pem_x509_csr(_pem(spec.request))
    except ValueError:
        request = None
    if request is not None:
        cns = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        common_name = str(cns[0].value) if len(cns) == 1 else None
        organizations = tuple(
            str(a.value) for a in request.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        )
        others = [
            a.oid for a in request.subject if a.oid not in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME)
        ]
        try:
            request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            alt_names = True
        except x509.ExtensionNotFound:
            alt_names = bool(others)  # other subject attributes are refused the same way
    return CSRView(
        name=str(metadata.name),
        signer=str(spec.signerName),
        username=str(spec.username or ""),
        usages=tuple(spec.usages or ()),
        common_name=common_name,
        organizations=organizations,
        alt_names=alt_names,
        decided=decided,
        annotations=dict(metadata.annotations or {}),
    )


def _pem(request: str | bytes) -> bytes:
    """lightkube gives `spec.request` as the base64 text the API carries; the PEM is inside."""
    raw = request.encode() if isinstance(request, str) else request
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        return raw
