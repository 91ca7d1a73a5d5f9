"""Bootstrap tokens and discovery (pure parts): reading a token's Secret back, the CA pin, cluster-info."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from kokpit.controlplane import bootstrap_tokens as bt
from kokpit.controlplane import pki

CA = pki.new_ca("hub-ca")
OTHER_CA = pki.new_ca("other-ca")
WHEN = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)


def stored(secret: Secret) -> Secret:
    """`secret` as the API server returns it: stringData folded into base64 data."""
    data = {k: base64.b64encode(v.encode()).decode() for k, v in (secret.stringData or {}).items()}
    return Secret(metadata=secret.metadata, type=secret.type, data=data)


def test_a_token_secret_reads_back_without_its_secret() -> None:
    token = bt.BootstrapToken("abcdef", "0123456789abcdef")
    secret = bt.bootstrap_token_secret(
        token,
        description="agent edge1",
        expiration=WHEN,
        groups=("system:bootstrappers:kokpit:agents", "system:bootstrappers:kokpit:cluster:edge1"),
        annotations={"a": "b"},
    )
    for form in (secret, stored(secret)):
        record = bt.read_token_secret(form)
        assert record.id == "abcdef"
        assert record.expiration == WHEN
        assert record.groups == (
            "system:bootstrappers:kokpit:agents",
            "system:bootstrappers:kokpit:cluster:edge1",
        )
        assert record.authenticates
        assert record.annotations == {"a": "b"}
        assert "0123456789abcdef" not in repr(record)


@pytest.mark.parametrize(
    ("now", "expired"),
    [
        (datetime(2026, 12, 2, 4, 59, 59, tzinfo=UTC), False),
        (WHEN, True),
        (datetime(2026, 12, 3, tzinfo=UTC), True),
    ],
    ids=["a second before expiry", "at expiry", "a day after"],
)
def test_expiry(now: datetime, expired: bool) -> None:
    token = bt.new_bootstrap_token()
    record = bt.read_token_secret(
        bt.bootstrap_token_secret(token, description="x", expiration=WHEN, groups=())
    )
    assert record.expired(now) is expired


def test_a_secret_of_another_type_is_no_token() -> None:
    with pytest.raises(ValueError):
        bt.read_token_secret(Secret(metadata=ObjectMeta(name="bootstrap-token-abcdef"), type="Opaque"))


@pytest.mark.parametrize(
    ("user", "token_id"),
    [
        ("system:bootstrap:abcdef", "abcdef"),
        ("system:bootstrap:ABCDEF", None),
        ("system:bootstrap:", None),
        ("system:kokpit:agent:edge1", None),
        ("admin", None),
    ],
    ids=["a token user", "upper case id", "no id", "an agent", "a person"],
)
def test_token_id_of_user(user: str, token_id: str | None) -> None:
    assert bt.token_id_of_user(user) == token_id


def test_the_ca_pin_is_kubeadms_hash_of_the_public_key() -> None:
    (pin,) = bt.ca_cert_hashes(CA.cert_pem)
    assert pin.startswith("sha256:") and len(pin) == 71
    assert bt.pin_matches(CA.cert_pem, pin)
    assert bt.pin_matches(CA.cert_pem, pin.upper().replace("SHA256:", "sha256:"))
    assert not bt.pin_matches(OTHER_CA.cert_pem, pin)
    assert bt.pin_matches(OTHER_CA.cert_pem + CA.cert_pem, pin)  # any certificate of a bundle
    assert not bt.pin_matches(b"not a certificate", pin)


@pytest.mark.parametrize(
    "text",
    ["", "sha256:abc", "md5:" + "0" * 64, "0" * 64],
    ids=["empty", "short", "other digest", "no prefix"],
)
def test_malformed_pins_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        bt.parse_ca_cert_hash(text)


def test_cluster_info_round_trips_server_and_ca() -> None:
    configmap = bt.cluster_info_configmap("https://10.0.0.1:6443", CA.cert_pem)
    assert configmap.metadata is not None
    assert (configmap.metadata.namespace, configmap.metadata.name) == ("kube-public", "cluster-info")
    assert bt.read_cluster_info(configmap.data or {}) == ("https://10.0.0.1:6443", CA.cert_pem)


@pytest.mark.parametrize(
    "data",
    [{}, {"kubeconfig": "clusters: []"}, {"kubeconfig": ": not yaml"}],
    ids=["empty", "no cluster", "bad"],
)
def test_unusable_cluster_info_is_refused(data: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        bt.read_cluster_info(data)


def test_anonymous_may_read_cluster_info_only() -> None:
    role, binding = bt.cluster_info_rbac()
    assert [(r.resources, r.resourceNames, r.verbs) for r in role.rules or []] == [
        (["configmaps"], ["cluster-info"], ["get"])
    ]
    assert [(s.kind, s.name) for s in binding.subjects or []] == [("User", "system:anonymous")]
