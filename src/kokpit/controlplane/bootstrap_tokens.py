"""Bootstrap tokens and token discovery, the way kubeadm uses them, for whatever must join a cluster.

A bootstrap token (`<id>.<secret>`) is a short-lived bearer credential kept in a Secret
`kube-system/bootstrap-token-<id>`; an API server run with `--enable-bootstrap-token-auth`
authenticates it as `system:bootstrap:<id>` in `system:bootstrappers` plus the Secret's extra groups,
until its expiration (the controller-manager's token cleaner then deletes the Secret). Both users of
tokens in kokpit build on this module: nodes joining a target cluster (`kokpit.machines.join`) and
agents registering a Pull-mode member with the hub (`kokpit.fleet.registration`). Each gives its
tokens its own extra group, so RBAC granted to one never serves the other.

Discovery is the other half: a newcomer must trust the API server before it sends the token. The
cluster publishes its CA in the `kube-public/cluster-info` ConfigMap, readable anonymously
(`cluster_info_configmap`, `cluster_info_rbac`); the newcomer reads it over unverified TLS and
accepts the CA only when its public key hashes to the pin it was given out of band
(`ca_cert_hashes`, kubeadm's `--discovery-token-ca-cert-hash sha256:<hex>`).

Everything here is pure except `create_bootstrap_token` and `delete_bootstrap_token`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.core_v1 import ConfigMap, Secret
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

from kokpit.runtime import delete_if_present, format_time, parse_time

TOKEN_NAMESPACE = "kube-system"
TOKEN_SECRET_TYPE = "bootstrap.kubernetes.io/token"
TOKEN_SECRET_PREFIX = "bootstrap-token-"
BOOTSTRAP_USER_PREFIX = "system:bootstrap:"
"""A token authenticates as `system:bootstrap:<id>`."""
BOOTSTRAPPERS_GROUP = "system:bootstrappers"
"""Every bootstrap token's group; extra groups must start with `system:bootstrappers:`."""

TOKEN_ALPHABET = string.ascii_lowercase + string.digits
TOKEN_ID_LENGTH = 6
TOKEN_SECRET_LENGTH = 16
TOKEN_PATTERN = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
"""A bootstrap token as the API server accepts it: `<id>.<secret>`."""

CLUSTER_INFO_NAMESPACE = "kube-public"
CLUSTER_INFO_NAME = "cluster-info"
CLUSTER_INFO_KEY = "kubeconfig"
"""`kube-public/cluster-info` holds a kubeconfig (server and CA, no user) under this key."""
CLUSTER_INFO_READER = "kokpit:bootstrap-signer-clusterinfo"
"""The Role and RoleBinding letting anonymous clients read `cluster-info` (kubeadm's are named
`kubeadm:bootstrap-signer-clusterinfo`)."""
CA_HASH_PREFIX = "sha256:"

MANAGED_BY = {"app.kubernetes.io/managed-by": "kokpit"}


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
        return bootstrap_username(self.id)

    def __repr__(self) -> str:
        return f"BootstrapToken(id={self.id!r}, secret=<redacted>)"


def token_secret_name(token_id: str) -> str:
    """`token_secret_name("abcdef")` is `bootstrap-token-abcdef`."""
    return f"{TOKEN_SECRET_PREFIX}{token_id}"


def bootstrap_username(token_id: str) -> str:
    """`bootstrap_username("abcdef")` is `system:bootstrap:abcdef`."""
    return f"{BOOTSTRAP_USER_PREFIX}{token_id}"


def token_id_of_user(username: str) -> str | None:
    """`token_id_of_user("system:bootstrap:abcdef")` is `abcdef`; None for any other user."""
    token_id = username.removeprefix(BOOTSTRAP_USER_PREFIX)
    if token_id == username or re.fullmatch(r"[a-z0-9]{6}", token_id) is None:
        return None
    return token_id


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
    groups: Sequence[str],
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Secret:
    """`bootstrap_token_secret` is the Secret the API server reads `token` from (pure): usable for
    authentication (as `system:bootstrap:<id>` in `system:bootstrappers` and `groups`) and for signing
    `cluster-info`, until `expiration` (an aware datetime)."""
    if expiration.tzinfo is None:
        raise ValueError("expiration must be timezone-aware")
    for group in groups:
        if not group.startswith(f"{BOOTSTRAPPERS_GROUP}:"):
            # The API server refuses to authenticate a token whose extra groups lie outside this prefix.
            raise ValueError(f"extra group {group!r} must start with {BOOTSTRAPPERS_GROUP}:")
    return Secret(
        metadata=ObjectMeta(
            name=token.secret_name,
            namespace=TOKEN_NAMESPACE,
            labels={**MANAGED_BY, **(labels or {})},
            annotations=dict(annotations) if annotations else None,
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


@dataclass(frozen=True)
class TokenRecord:
    """What a token's Secret says about it, without its secret half (safe to log and compare)."""

    id: str
    expiration: datetime | None
    groups: tuple[str, ...]
    authenticates: bool
    labels: Mapping[str, str]
    annotations: Mapping[str, str]

    def expired(self, now: datetime) -> bool:
        """`expired` is true once `now` reached the expiration (a token without one never expires)."""
        return self.expiration is not None and now >= self.expiration


def read_token_secret(secret: Any) -> TokenRecord:
    """`read_token_secret` reads a bootstrap token Secret as the API server stores it (`data`, base64)
    or as built (`stringData`); ValueError when it is no bootstrap token Secret."""
    if getattr(secret, "type", None) != TOKEN_SECRET_TYPE:
        raise ValueError(f"not a bootstrap token Secret (type {getattr(secret, 'type', None)!r})")
    fields: dict[str, str] = {}
    for key, value in (secret.data or {}).items():
        fields[key] = base64.b64decode(value).decode()
    fields.update(secret.stringData or {})
    metadata = secret.metadata
    token_id = fields.get("token-id") or str(metadata.name).removeprefix(TOKEN_SECRET_PREFIX)
    expiration = parse_time(fields["expiration"]) if fields.get("expiration") else None
    groups = tuple(g.strip() for g in fields.get("auth-extra-groups", "").split(",") if g.strip())
    return TokenRecord(
        id=token_id,
        expiration=expiration,
        groups=groups,
        authenticates=fields.get("usage-bootstrap-authentication") == "true",
        labels=dict(metadata.labels or {}),
        annotations=dict(metadata.annotations or {}),
    )


async def create_bootstrap_token(
    client: AsyncClient,
    *,
    description: str,
    ttl: timedelta,
    groups: Sequence[str],
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> BootstrapToken:
    """`create_bootstrap_token` makes a new token in the cluster of `client`, valid for `ttl`, with the
    extra `groups` (each under `system:bootstrappers:`).

    `labels` and `annotations` go on its Secret, so a caller can find the tokens it made (e.g. per
    Machine) and delete them once used. An id already taken (1 in 2 billion) draws another token."""
    expiration = (now or datetime.now(UTC)) + ttl
    for _ in range(5):
        token = new_bootstrap_token()
        secret = bootstrap_token_secret(
            token,
            description=description,
            expiration=expiration,
            groups=groups,
            labels=labels,
            annotations=annotations,
        )
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


# --- discovery: cluster-info and the CA pin --------------------------------------------------------


def ca_cert_hash(cert: x509.Certificate) -> str:
    """`ca_cert_hash` is kubeadm's pin of a CA: `sha256:<hex>` of its DER SubjectPublicKeyInfo."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return CA_HASH_PREFIX + hashlib.sha256(spki).hexdigest()


def ca_cert_hashes(pem: bytes) -> list[str]:
    """`ca_cert_hashes` pins every certificate of a PEM bundle (`ca_cert_hash`), in order; ValueError
    when `pem` holds no certificate."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise ValueError("not a PEM certificate bundle") from None
    return [ca_cert_hash(cert) for cert in certs]


def parse_ca_cert_hash(text: str) -> str:
    """`parse_ca_cert_hash` normalises a pin to `sha256:<64 lowercase hex>`; ValueError otherwise."""
    value = text.strip().lower()
    if re.fullmatch(r"sha256:[0-9a-f]{64}", value) is None:
        raise ValueError("a CA certificate hash is sha256:<64 hex digits> (kubeadm's format)")
    return value


def pin_matches(pem: bytes, pin: str) -> bool:
    """`pin_matches` is true when a certificate of the bundle `pem` has the public-key hash `pin`
    (compared in constant time); false for anything that is no certificate."""
    try:
        hashes = ca_cert_hashes(pem)
    except ValueError:
        return False
    wanted = parse_ca_cert_hash(pin)
    return any(hmac.compare_digest(h, wanted) for h in hashes)


def cluster_info_kubeconfig(server: str, ca_pem: bytes) -> str:
    """`cluster_info_kubeconfig` is the kubeconfig `cluster-info` publishes: the server and its CA,
    no user (pure)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "contexts": [],
        "users": [],
        "current-context": "",
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def cluster_info_configmap(server: str, ca_pem: bytes) -> ConfigMap:
    """`cluster_info_configmap` is `kube-public/cluster-info` for `server` and `ca_pem` (pure). The
    controller-manager's bootstrap signer adds a `jws-kubeconfig-<id>` signature per token."""
    return ConfigMap(
        metadata=ObjectMeta(
            name=CLUSTER_INFO_NAME, namespace=CLUSTER_INFO_NAMESPACE, labels=dict(MANAGED_BY)
        ),
        data={CLUSTER_INFO_KEY: cluster_info_kubeconfig(server, ca_pem)},
    )


def read_cluster_info(data: Mapping[str, str]) -> tuple[str, bytes]:
    """`read_cluster_info` reads the (server, CA PEM) back from `cluster-info`'s data; ValueError when
    it holds no usable kubeconfig."""
    try:
        config = yaml.safe_load(data.get(CLUSTER_INFO_KEY) or "")
        cluster = config["clusters"][0]["cluster"]
        server = str(cluster.get("server") or "")
        ca_pem = base64.b64decode(cluster["certificate-authority-data"], validate=True)
    except (yaml.YAMLError, KeyError, IndexError, TypeError, ValueError):
        raise ValueError("cluster-info holds no kubeconfig with a server and a CA") from None
    return server, ca_pem


def cluster_info_rbac() -> tuple[Role, RoleBinding]:
    """`cluster_info_rbac` lets anonymous clients get `cluster-info` and nothing else (pure)."""
    meta = ObjectMeta(name=CLUSTER_INFO_READER, namespace=CLUSTER_INFO_NAMESPACE, labels=dict(MANAGED_BY))
    role = Role(
        metadata=meta,
        rules=[
            PolicyRule(
                apiGroups=[""], resources=["configmaps"], resourceNames=[CLUSTER_INFO_NAME], verbs=["get"]
            )
        ],
    )
    binding = RoleBinding(
        metadata=ObjectMeta(
            name=CLUSTER_INFO_READER, namespace=CLUSTER_INFO_NAMESPACE, labels=dict(MANAGED_BY)
        ),
        roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name=CLUSTER_INFO_READER),
        subjects=[Subject(kind="User", apiGroup="rbac.authorization.k8s.io", name="system:anonymous")],
    )
    return role, binding
