"""Which cluster an agent serves, read from the certificate it holds for the hub.

Registration gives the agent a client certificate whose CN is `system:kokpit:agent:<cluster>`; the
hub's RBAC is granted to that name, so the certificate is the one truthful source of the cluster
name, and `kokpit agent` needs no `--cluster` when it has one.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from kokpit.errors import KokpitError
from kokpit.fleet.names import cluster_of_agent_user


def certificate_common_name(pem: bytes) -> str:
    """The CN of a PEM certificate (empty when it has none)."""
    certificate = x509.load_pem_x509_certificate(pem)
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def client_certificate(kubeconfig: Path) -> bytes | None:
    """The PEM client certificate the current context of `kubeconfig` presents, or None."""
    config: dict[str, Any] = yaml.safe_load(kubeconfig.read_text()) or {}
    context_name = config.get("current-context")
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
    context = contexts.get(context_name) or next(iter(contexts.values()), {})
    users = {u.get("name"): u.get("user") or {} for u in config.get("users") or []}
    user = users.get(context.get("user")) or {}
    if user.get("client-certificate-data"):
        return base64.b64decode(user["client-certificate-data"])
    if user.get("client-certificate"):
        path = Path(user["client-certificate"])
        return (path if path.is_absolute() else kubeconfig.parent / path).read_bytes()
    return None


def cluster_of_kubeconfig(kubeconfig: Path) -> str:
    """`cluster_of_kubeconfig` is the cluster an agent's hub kubeconfig is for, from its certificate's
    CN; raises `KokpitError` naming the fix when it holds no agent certificate."""
    pem = client_certificate(kubeconfig)
    user = certificate_common_name(pem) if pem else ""
    cluster = cluster_of_agent_user(user)
    if cluster is None:
        shown = f"user {user!r}" if user else "no client certificate"
        raise KokpitError(
            f"{kubeconfig} holds {shown}, not an agent certificate (kokpit register writes one); "
            "pass --cluster NAME"
        )
    return cluster


__all__ = ["certificate_common_name", "client_certificate", "cluster_of_kubeconfig"]
