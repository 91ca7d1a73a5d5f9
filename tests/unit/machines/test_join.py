"""TLS bootstrap primitives: bootstrap tokens and their Secret, the RBAC, the bootstrap kubeconfig, and
how a target cluster's URL and CA are read for nodes (the pure parts; the API calls run in
tests/integration/machines/test_join.py)."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest
import yaml

from kokpit.controlplane import pki
from kokpit.machines import join
from kokpit.machines.targets import TargetUnavailable, access_from_kubeconfig, loopback_problem

CA = pki.new_ca("test-ca")
CA_DATA = base64.b64encode(CA.cert_pem).decode()


def test_new_tokens_have_the_shape_the_api_server_accepts_and_differ() -> None:
    tokens = [join.new_bootstrap_token() for _ in range(50)]
    for token in tokens:
        assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", token.token)
        assert token.secret_name == f"bootstrap-token-{token.id}"
        assert token.username == f"system:bootstrap:{token.id}"
        assert token.secret not in repr(token)
    assert len({t.token for t in tokens}) == 50


@pytest.mark.parametrize(
    "text",
    ["abcdef", "abcdef.0123456789abcde", "ABCDEF.0123456789abcdef", "abcdef:0123456789abcdef", ""],
    ids=["no secret", "secret one short", "upper case", "wrong separator", "empty"],
)
def test_malformed_tokens_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        join.parse_bootstrap_token(text)


def test_a_token_reads_back() -> None:
    assert join.parse_bootstrap_token(" abcdef.0123456789abcdef\n") == join.BootstrapToken(
        "abcdef", "0123456789abcdef"
    )


def test_token_secret_authenticates_into_the_kokpit_group_until_it_expires() -> None:
    token = join.BootstrapToken("abcdef", "0123456789abcdef")
    secret = join.bootstrap_token_secret(
        token,
        description="machine ns/m1",
        expiration=datetime(2026, 12, 2, 1, 30, tzinfo=UTC),
        labels={"machines.kokpit.io/machine": "m1"},
    )
    assert secret.type == "bootstrap.kubernetes.io/token"
    assert secret.metadata is not None
    assert (secret.metadata.name, secret.metadata.namespace) == ("bootstrap-token-abcdef", "kube-system")
    assert secret.metadata.labels == {
        "app.kubernetes.io/managed-by": "kokpit",
        "machines.kokpit.io/machine": "m1",
    }
    assert secret.stringData == {
        "description": "machine ns/m1",
        "token-id": "abcdef",
        "token-secret": "0123456789abcdef",
        "expiration": "2026-12-02T01:30:00Z",
        "usage-bootstrap-authentication": "true",
        "usage-bootstrap-signing": "true",
        "auth-extra-groups": "system:bootstrappers:kokpit",
    }


@pytest.mark.parametrize(
    ("expiration", "groups"),
    [
        (datetime(2026, 12, 2), ("system:bootstrappers:kokpit",)),
        (datetime(2026, 12, 2, tzinfo=UTC), ("system:masters",)),
    ],
    ids=["naive expiry", "extra group outside system:bootstrappers:"],
)
def test_token_secrets_the_api_server_would_not_honour_are_refused(
    expiration: datetime, groups: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError):
        join.bootstrap_token_secret(
            join.new_bootstrap_token(), description="x", expiration=expiration, groups=groups
        )


def test_rbac_lets_kokpit_tokens_bootstrap_and_nodes_renew_and_proxy() -> None:
    got = {
        (b.metadata.name, b.roleRef.name, tuple((s.kind, s.name) for s in b.subjects or []))
        for b in join.bootstrap_rbac()
        if b.metadata is not None
    }
    assert got == {
        ("kokpit:kubelet-bootstrap", "system:node-bootstrapper", (("Group", "system:bootstrappers:kokpit"),)),
        (
            "kokpit:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            (("Group", "system:bootstrappers:kokpit"),),
        ),
        (
            "kokpit:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            (("Group", "system:nodes"),),
        ),
        ("kokpit:node-proxier", "system:node-proxier", (("Group", "system:nodes"),)),
    }


def test_bootstrap_kubeconfig_carries_server_ca_and_token() -> None:
    token = join.BootstrapToken("abcdef", "0123456789abcdef")
    config = yaml.safe_load(
        join.bootstrap_kubeconfig("https://10.77.0.1:6443", CA_DATA, token, cluster="prod")
    )
    assert config["current-context"] == "kubelet-bootstrap@prod"
    assert config["clusters"] == [
        {
            "name": "prod",
            "cluster": {"server": "https://10.77.0.1:6443", "certificate-authority-data": CA_DATA},
        }
    ]
    assert config["users"] == [{"name": "kubelet-bootstrap", "user": {"token": "abcdef.0123456789abcdef"}}]
    assert join.bootstrap_kubeconfig(
        "https://10.77.0.1:6443", CA_DATA, token.token
    ) == join.bootstrap_kubeconfig("https://10.77.0.1:6443", CA_DATA, token)


@pytest.mark.parametrize(
    ("server", "ca_data", "token"),
    [
        ("http://10.77.0.1:6443", CA_DATA, "abcdef.0123456789abcdef"),
        ("https://10.77.0.1:6443", "not base64!", "abcdef.0123456789abcdef"),
        ("https://10.77.0.1:6443", base64.b64encode(b"hello").decode(), "abcdef.0123456789abcdef"),
        ("https://10.77.0.1:6443", CA_DATA, "abcdef"),
    ],
    ids=["plain http", "CA not base64", "CA not a certificate", "malformed token"],
)
def test_bootstrap_kubeconfig_refuses_what_a_kubelet_could_not_use(
    server: str, ca_data: str, token: str
) -> None:
    with pytest.raises(ValueError):
        join.bootstrap_kubeconfig(server, ca_data, token)


def _kubeconfig(
    server: str, *, ca_data: str | None = CA_DATA, user: dict[str, object] | None = None
) -> bytes:
    cluster: dict[str, object] = {"server": server}
    if ca_data is not None:
        cluster["certificate-authority-data"] = ca_data
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": cluster}],
            "users": [{"name": "u", "user": user or {"token": "t"}}],
            "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "ctx",
        }
    ).encode()


def test_target_access_reads_server_and_ca_and_an_endpoint_overrides_the_server() -> None:
    kubeconfig = _kubeconfig("https://10.77.0.1:40001")
    access = access_from_kubeconfig(kubeconfig, kind="HostedCluster", name="prod", namespace="ns", source="s")
    assert (access.server, access.ca_data, access.key) == (
        "https://10.77.0.1:40001",
        CA_DATA,
        ("HostedCluster", "ns", "prod"),
    )
    overridden = access_from_kubeconfig(
        kubeconfig, kind="Cluster", name="m", namespace=None, source="s", server="https://10.77.0.2:6443"
    )
    assert overridden.server == "https://10.77.0.2:6443"


@pytest.mark.parametrize(
    ("kubeconfig", "reason"),
    [
        (_kubeconfig("https://127.0.0.1:40001"), "NotReachableByNodes"),
        (_kubeconfig("https://localhost:6443"), "NotReachableByNodes"),
        (_kubeconfig("https://[::1]:6443"), "NotReachableByNodes"),
        (_kubeconfig("https://10.77.0.1:6443", ca_data=None), "NoClusterCA"),
        (_kubeconfig("https://10.77.0.1:6443", user={"exec": {"command": "x"}}), "KubeconfigInvalid"),
        (b"- a list", "KubeconfigInvalid"),
        (b"{", "KubeconfigInvalid"),
    ],
    ids=[
        "loopback",
        "localhost",
        "IPv6 loopback",
        "no embedded CA",
        "credential plugin",
        "not a map",
        "not YAML",
    ],
)
def test_target_access_refuses_what_nodes_cannot_use(kubeconfig: bytes, reason: str) -> None:
    with pytest.raises(TargetUnavailable) as raised:
        access_from_kubeconfig(kubeconfig, kind="HostedCluster", name="prod", namespace="ns", source="s")
    assert raised.value.reason == reason


@pytest.mark.parametrize(
    ("server", "unreachable"),
    [
        ("https://127.0.0.1:6443", True),
        ("https://127.1.2.3:6443", True),
        ("https://localhost:6443", True),
        ("https://10.77.0.1:6443", False),
        ("https://api.example.com:6443", False),
    ],
    ids=["127.0.0.1", "elsewhere in 127/8", "localhost", "bridge address", "a DNS name"],
)
def test_loopback_servers_are_unreachable_by_nodes(server: str, unreachable: bool) -> None:
    assert (loopback_problem(server) is not None) == unreachable


def test_kokpit_alone_may_use_a_loopback_server() -> None:
    """Drains and Node reads come from kokpit, not from nodes: a sandbox member on 127.0.0.1 is fine."""
    access = access_from_kubeconfig(
        _kubeconfig("https://127.0.0.1:40001"),
        kind="Cluster",
        name="m",
        namespace=None,
        source="s",
        for_nodes=False,
    )
    assert access.server == "https://127.0.0.1:40001"
