"""Who is calling the proxy or dialing the tunnel, decided from what TLS and the hub told us; pure.

The proxy trusts exactly what the hub API server trusts: a client certificate of the hub's client
CA (the user is its CN, the groups its O's, as kube-apiserver reads them) or a bearer token the hub
accepts in a TokenReview. Whatever the caller is, the member sees it as that user with those groups
(impersonation), never as the hub.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import NameOID

from kokpit.api.cluster import SyncMode
from kokpit.fleet.names import AGENTS_GROUP, cluster_of_agent_user

AUTHENTICATED = "system:authenticated"


@dataclass(frozen=True)
class Identity:
    """A caller the hub authenticated: what the member is asked to treat the request as."""

    user: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def identity_of_certificate(der: bytes) -> Identity:
    """`identity_of_certificate` reads a verified client certificate (DER) the way kube-apiserver
    does: CN is the user, each O a group, plus `system:authenticated`. Raises `ValueError` without
    a CN."""
    subject = x509.load_der_x509_certificate(der).subject
    names = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if not names or not names[0]:
        raise ValueError("the client certificate has no common name")
    groups = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return Identity(user=names[0], groups=with_authenticated(groups))


def with_authenticated(groups: Sequence[str]) -> tuple[str, ...]:
    """The groups in order, without repeats, `system:authenticated` last if it was missing."""
    out = list(dict.fromkeys(groups))
    if AUTHENTICATED not in out:
        out.append(AUTHENTICATED)
    return tuple(out)


def identity_of_token_review(status: Mapping[str, object]) -> Identity | None:
    """`identity_of_token_review` is the caller a TokenReview's `status` vouches for, or None when the
    hub did not authenticate the token."""
    if not status.get("authenticated"):
        return None
    user = status.get("user")
    if not isinstance(user, Mapping) or not user.get("username"):
        return None
    raw_extra = user.get("extra")
    extra = (
        {str(k): tuple(str(v) for v in values or ()) for k, values in raw_extra.items()}
        if isinstance(raw_extra, Mapping)
        else {}
    )
    return Identity(
        user=str(user["username"]),
        groups=with_authenticated([str(g) for g in user.get("groups") or ()]),
        uid=str(user.get("uid") or ""),
        extra=extra,
    )


def tunnel_refusal(identity: Identity, cluster: Mapping[str, object] | None, *, name: str) -> str | None:
    """`tunnel_refusal` says why `identity` may not carry the tunnel of cluster `name`, or None.

    Only the agent of that cluster may: its certificate names it (`agent_user(name)`, group
    `AGENTS_GROUP`), and the cluster exists in Pull mode (a Push member is reached directly, so a
    tunnel claiming it would let its holder stand in for a member the hub already reaches).
    """
    if cluster_of_agent_user(identity.user) != name:
        return f"{identity.user} is not the agent of cluster {name}"
    if AGENTS_GROUP not in identity.groups:
        return f"{identity.user} is not in group {AGENTS_GROUP}"
    if cluster is None:
        return f"cluster {name} does not exist"
    spec = cluster.get("spec")
    mode = spec.get("syncMode") if isinstance(spec, Mapping) else None
    if mode != SyncMode.PULL.value:
        return f"cluster {name} is in {mode or 'no'} mode, not {SyncMode.PULL.value}"
    return None
