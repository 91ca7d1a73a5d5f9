"""TLS bootstrap of a node into a target cluster: bootstrap tokens, the RBAC they need, the kubeconfig.

A kubelet joins the way kubeadm joins it, with nothing kokpit-specific on the node: it starts with a
*bootstrap kubeconfig* holding a short-lived bootstrap token, asks the API server for a client
certificate with a CertificateSigningRequest (signer `kubernetes.io/kube-apiserver-client-kubelet`,
CN `system:node:<name>`, O `system:nodes`), and the target cluster's controller-manager approves it
(csrapproving: the requester may create `certificatesigningrequests/nodeclient`) and signs it with
the cluster CA (csrsigning). From then on the kubelet uses its own certificate and renews it itself
(`selfnodeclient`). kokpit's part, in the target cluster:

- `ensure_node_bootstrap_rbac`: ClusterRoleBindings for the group every kokpit token carries
  (`BOOTSTRAP_GROUP`) and for `system:nodes` (renewals, kube-proxy);
- `create_bootstrap_token` / `delete_bootstrap_token`: the token's Secret in kube-system, with an
  expiry, so a token lost on a host stops working on its own (the token cleaner deletes it);
- `bootstrap_kubeconfig`: the file the host gets (pure).

The binding is to `system:bootstrappers:kokpit`, not to `system:bootstrappers` (every bootstrap token
of the cluster): a token made by another tool gets no right from kokpit. The API server must run
with `--enable-bootstrap-token-auth` and the controller-manager with its CSR controllers and the
token cleaner (`kokpit.controlplane.commands.CLUSTER_CONTROLLERS`); hosted clusters do.
"""

from __future__ import annotations

import base64
import re
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import yaml
from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import RoleRef, Subject
from lightkube.resources.core_v1 import Secret
from lightkube.resources.rbac_authorization_v1 import ClusterRoleBinding

from kokpit.runtime import delete_if_present, format_time

FIELD_MANAGER = "kokpit"
TOKEN_NAMESPACE = "kube-system"
TOKEN_SECRET_TYPE = "bootstrap.kubernetes.io/token"
TOKEN_SECRET_PREFIX = "bootstrap-token-"
BOOTSTRAP_GROUP = "system:bootstrappers:kokpit"
"""The extra group of every token kokpit makes; the bootstrap RBAC is granted to it alone."""
NODES_GROUP = "system:nodes"
KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
"""The signer of a kubelet's client certificate CSR; the controller-manager signs it with the cluster CA."""

TOKEN_ALPHABET = string.ascii_lowercase + string.digits
TOKEN_ID_LENGTH = 6
TOKEN_SECRET_LENGTH = 16
TOKEN_PATTERN = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
"""A bootstrap token as the API server accepts it: `<id>.<secret>`."""

MANAGED_BY = {"app.kubernetes.io/managed-by": "kokpit"}

RBAC_BINDINGS: tuple[tuple[str, str, str], ...] = (
    ("kokpit:kubelet-bootstrap", "system:node-bootstrapper", BOOTSTRAP_GROUP),
    (
        "kokpit:node-autoapprove-bootstrap",
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        BOOTSTRAP_GROUP,
    ),
    (
        "kokpit:node-autoapprove-certificate-rotation",
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
        NODES_GROUP,
    ),
    ("kokpit:node-proxier", "system:node-proxier", NODES_GROUP),
)
"""(binding name, ClusterRole, group): submit a CSR; have a first node-client CSR approved; have the
kubelet's renewals approved; run kube-proxy with the node's own credentials (the built-in kube-proxy
NodeComponent uses the kubelet's kubeconfig: the Node authorizer alone does not let it watch
EndpointSlices). The ClusterRoles are the API server's built-in ones (the first three are kubeadm's
bindings; kubeadm gives kube-proxy a service account instead)."""


@dataclass(frozen=True)
class BootstrapToken:
    """A bootstrap token: `id` is public (it names the Secret), `secret` is the credential."""

    id: str
    secret: str

    def __post_init__(self) -> None:
        if TOKEN_PATTERN.match(f"{self.id}.{self.secret}") is None:
            raise ValueError("a bootstrap token is a [a-z0-9]{6} id and a [a-z0-9]{16} secret")

    @property
    def token(self) -> str:
        """The bearer token: `<id>.<secret>`."""
        return f"{self.id}.{self.secret}"

    @property
    def secret_name(self) -> str:
        """The Secret holding it in kube-system: `bootstrap-token-<id>`."""
        return token_secret_name(self.id)

    @property
    def username(self) -> str:
        """The user the API server authenticates it as: `system:bootstrap:<id>`."""
        return f"system:bootstrap:{self.id}"

    def __repr__(self) -> str:
        return f"BootstrapToken(id={self.id!r}, secret=<redacted>)"


def token_secret_name(token_id: str) -> str:
    """`token_secret_name("abcdef")` is `bootstrap-token-abcdef`."""
    return f"{TOKEN_SECRET_PREFIX}{token_id}"


def new_bootstrap_token() -> BootstrapToken:
    """`new_bootstrap_token` draws a fresh token from `secrets` (16 characters of 36: ~82 bits)."""
    return BootstrapToken(
        id="".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_ID_LENGTH)),
        secret="".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_SECRET_LENGTH)),
    )


def parse_bootstrap_token(text: str) -> BootstrapToken:
    """`parse_bootstrap_token("abcdef.0123456789abcdef")` reads a token back; ValueError if malformed."""
    match = TOKEN_PATTERN.match(text.strip())
    if match is None:
        raise ValueError("not a bootstrap token: expected <[a-z0-9]{6}>.<[a-z0-9]{16}>")
    return BootstrapToken(id=match.group(1), secret=match.group(2))


def bootstrap_token_secret(
    token: BootstrapToken,
    *,
    description: str,
    expiration: datetime,
    groups: Sequence[str] = (BOOTSTRAP_GROUP,),
    labels: Mapping[str, str] | None = None,
) -> Secret:
    """`bootstrap_token_secret` is the Secret the API server reads `token` from (pure): usable for
    authentication (as `system:bootstrap:<id>` in `system:bootstrappers` and `groups`) and for signing
    `cluster-info`, until `expiration` (an aware datetime)."""
    if expiration.tzinfo is None:
        raise ValueError("expiration must be timezone-aware")
    for group in groups:
        if not group.startswith("system:bootstrappers:"):
            # The API server refuses to authenticate a token whose extra groups lie outside this prefix.
            raise ValueError(f"extra group {group!r} must start with system:bootstrappers:")
    return Secret(
        metadata=ObjectMeta(
            name=token.secret_name,
            namespace=TOKEN_NAMESPACE,
            labels={**MANAGED_BY, **(labels or {})},
        ),
        type=TOKEN_SECRET_TYPE,
        stringData={
            "description": description,
            "token-id": token.id,
            "token-secret": token.secret,
            "expiration": format_time(expiration.astimezone(UTC)),
            "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "true",
            "auth-extra-groups": ",".join(groups),
        },
    )


async def create_bootstrap_token(
    client: AsyncClient,
    *,
    description: str,
    ttl: timedelta,
    labels: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> BootstrapToken:
    """`create_bootstrap_token` makes a new token in the cluster of `client`, valid for `ttl`.

    `labels` go on its Secret, so a caller can find the tokens it made (e.g. per Machine) and delete
    them once the node joined. An id already taken (1 in 2 billion) draws another token."""
    expiration = (now or datetime.now(UTC)) + ttl
    for _ in range(5):
        token = new_bootstrap_token()
        secret = bootstrap_token_secret(token, description=description, expiration=expiration, labels=labels)
        try:
            await client.create(secret)
        except ApiError as error:
            if error.status.code == 409:
                continue
            raise
        return token
    raise RuntimeError("could not find a free bootstrap token id")


async def delete_bootstrap_token(client: AsyncClient, token_id: str) -> bool:
    """`delete_bootstrap_token` revokes a token by deleting its Secret; False when it was gone already
    (expired and cleaned up, or never made)."""
    return await delete_if_present(client, Secret, token_secret_name(token_id), namespace=TOKEN_NAMESPACE)


def bootstrap_rbac() -> list[ClusterRoleBinding]:
    """`bootstrap_rbac` is the ClusterRoleBindings TLS bootstrap needs (pure; see `RBAC_BINDINGS`)."""
    return [
        ClusterRoleBinding(
            metadata=ObjectMeta(name=name, labels=dict(MANAGED_BY)),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="ClusterRole", name=role),
            subjects=[Subject(kind="Group", apiGroup="rbac.authorization.k8s.io", name=group)],
        )
        for name, role, group in RBAC_BINDINGS
    ]


async def ensure_node_bootstrap_rbac(client: AsyncClient) -> None:
    """`ensure_node_bootstrap_rbac` applies `bootstrap_rbac()` to the cluster of `client` (server-side
    apply, field manager `kokpit`; idempotent, so every Machine reconcile may call it)."""
    for binding in bootstrap_rbac():
        await client.apply(binding, field_manager=FIELD_MANAGER, force=True)


def bootstrap_kubeconfig(
    server: str,
    ca_data: str,
    token: BootstrapToken | str,
    *,
    cluster: str = "kokpit",
) -> str:
    """`bootstrap_kubeconfig` is the kubelet's `--bootstrap-kubeconfig` (pure; write it 0600).

    `ca_data` is the cluster CA as base64 PEM (a kubeconfig's `certificate-authority-data`, the
    template context's `cluster.caData`); `token` a `BootstrapToken` or its `<id>.<secret>` text."""
    text = token.token if isinstance(token, BootstrapToken) else parse_bootstrap_token(token).token
    try:
        pem = base64.b64decode(ca_data, validate=True)
    except ValueError as error:
        raise ValueError(f"ca_data is not base64: {error}") from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError("ca_data is not a base64 PEM certificate")
    if not server.startswith("https://"):
        raise ValueError(f"server {server!r} must be an https URL")
    user = "kubelet-bootstrap"
    context = f"{user}@{cluster}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "users": [{"name": user, "user": {"token": text}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)
