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
  expiry, so a token lost on a host stops working on its own (the token cleaner deletes it); the
  generic token pieces live in `kokpit.controlplane.bootstrap_tokens`, shared with agent registration;
- `bootstrap_kubeconfig`: the file the host gets (pure).

The binding is to `system:bootstrappers:kokpit`, not to `system:bootstrappers` (every bootstrap token
of the cluster): a token made by another tool gets no right from kokpit. The API server must run
with `--enable-bootstrap-token-auth` and the controller-manager with its CSR controllers and the
token cleaner (`kokpit.controlplane.commands.CLUSTER_CONTROLLERS`); hosted clusters do.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import yaml
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import RoleRef, Subject
from lightkube.resources.core_v1 import Secret
from lightkube.resources.rbac_authorization_v1 import ClusterRoleBinding

from kokpit.controlplane import bootstrap_tokens
from kokpit.controlplane.bootstrap_tokens import TOKEN_NAMESPACE as TOKEN_NAMESPACE
from kokpit.controlplane.bootstrap_tokens import BootstrapToken as BootstrapToken
from kokpit.controlplane.bootstrap_tokens import delete_bootstrap_token as delete_bootstrap_token
from kokpit.controlplane.bootstrap_tokens import new_bootstrap_token as new_bootstrap_token
from kokpit.controlplane.bootstrap_tokens import parse_bootstrap_token as parse_bootstrap_token

FIELD_MANAGER = "kokpit"
BOOTSTRAP_GROUP = "system:bootstrappers:kokpit"
"""The extra group of every token kokpit makes for nodes; the node bootstrap RBAC is granted to it alone."""
NODES_GROUP = "system:nodes"
KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
"""The signer of a kubelet's client certificate CSR; the controller-manager signs it with the cluster CA."""

MANAGED_BY = bootstrap_tokens.MANAGED_BY

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


def bootstrap_token_secret(
    token: BootstrapToken,
    *,
    description: str,
    expiration: datetime,
    groups: Sequence[str] = (BOOTSTRAP_GROUP,),
    labels: Mapping[str, str] | None = None,
) -> Secret:
    """`bootstrap_token_secret` is the Secret of a node's `token` (pure): by default in the group the
    node bootstrap RBAC is granted to (`bootstrap_tokens.bootstrap_token_secret` says the rest)."""
    return bootstrap_tokens.bootstrap_token_secret(
        token, description=description, expiration=expiration, groups=groups, labels=labels
    )


async def create_bootstrap_token(
    client: AsyncClient,
    *,
    description: str,
    ttl: timedelta,
    labels: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> BootstrapToken:
    """`create_bootstrap_token` makes a node's token in the cluster of `client`, valid for `ttl`, in
    `BOOTSTRAP_GROUP`; `labels` go on its Secret (see `bootstrap_tokens.create_bootstrap_token`)."""
    return await bootstrap_tokens.create_bootstrap_token(
        client, description=description, ttl=ttl, groups=(BOOTSTRAP_GROUP,), labels=labels, now=now
    )


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
