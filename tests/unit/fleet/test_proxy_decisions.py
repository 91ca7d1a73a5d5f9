"""The proxy's pure decisions: paths, verbs, headers passed on, identities, who may carry a tunnel,
the published endpoints and the kubeconfig handed to users."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kokpit.controlplane import pki
from kokpit.fleet.names import AGENTS_GROUP, agent_user
from kokpit.fleet.proxy.endpoints import Endpoints, advertised, parse_address, serving_names
from kokpit.fleet.proxy.forwarding import (
    RequestHead,
    ResponseHead,
    impersonation,
    proxy_verb,
    request_headers,
    response_headers,
    split_path,
    wants_upgrade,
)
from kokpit.fleet.proxy.identity import (
    Identity,
    identity_of_certificate,
    identity_of_token_review,
    tunnel_refusal,
)
from kokpit.fleet.proxy.kubeconfig import proxy_kubeconfig


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/clusters/m1/api/v1/pods", ("m1", "/api/v1/pods"), id="an API path"),
        pytest.param("/clusters/m1", ("m1", "/"), id="the cluster alone forwards to /"),
        pytest.param("/clusters/m1/", ("m1", "/"), id="a trailing slash"),
        pytest.param("/clusters/edge.eu-1/apis", ("edge.eu-1", "/apis"), id="dots and dashes"),
        pytest.param("/clusters//api", None, id="no name"),
        pytest.param("/clusters/M1/api", None, id="upper case is no cluster name"),
        pytest.param("/clusters/..%2f/api", None, id="an encoded slash"),
        pytest.param("/api/v1/pods", None, id="not under /clusters"),
    ],
)
def test_split_path(path: str, expected: tuple[str, str] | None) -> None:
    assert split_path(path) == expected


@pytest.mark.parametrize(
    ("method", "verb"),
    [
        ("GET", "get"),
        ("HEAD", "get"),
        ("POST", "create"),
        ("PUT", "update"),
        ("PATCH", "patch"),
        ("DELETE", "delete"),
        ("OPTIONS", None),
        ("CONNECT", None),
    ],
)
def test_the_verb_authorised_follows_the_method(method: str, verb: str | None) -> None:
    assert proxy_verb(method) == verb


def test_the_callers_claims_and_connection_headers_are_dropped_and_the_hubs_identity_added() -> None:
    identity = Identity(
        user="alice",
        groups=("dev", "system:authenticated"),
        uid="u-1",
        extra={"scopes.example.com/a b": ("x", "y")},
    )
    sent = request_headers(
        [
            ("Accept", "application/json"),
            ("Authorization", "Bearer hub-token"),
            ("Impersonate-User", "system:admin"),
            ("impersonate-group", "system:masters"),
            ("Connection", "keep-alive"),
            ("Host", "proxy:443"),
            ("Content-Length", "3"),
            ("Content-Type", "application/json"),
        ],
        identity,
    )
    assert sent == [
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
        ("Impersonate-User", "alice"),
        ("Impersonate-Group", "dev"),
        ("Impersonate-Group", "system:authenticated"),
        ("Impersonate-Uid", "u-1"),
        ("Impersonate-Extra-scopes.example.com%2Fa%20b", "x"),
        ("Impersonate-Extra-scopes.example.com%2Fa%20b", "y"),
    ]


def test_an_identity_without_uid_or_extra_is_user_and_groups_only() -> None:
    assert impersonation(Identity("bob")) == [("Impersonate-User", "bob")]


def test_answers_keep_their_headers_but_hop_by_hop_ones() -> None:
    assert response_headers(
        [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked"), ("Audit-Id", "1")]
    ) == [("Content-Type", "application/json"), ("Audit-Id", "1")]


@pytest.mark.parametrize(
    ("headers", "upgrade"),
    [
        ({"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}, True),
        ({"Upgrade": "websocket"}, True),
        ({"Connection": "keep-alive"}, False),
        ({}, False),
    ],
    ids=["spdy exec", "websocket", "keep-alive", "none"],
)
def test_upgrades_are_recognised(headers: dict[str, str], upgrade: bool) -> None:
    assert wants_upgrade(headers) is upgrade


def test_heads_survive_the_tunnel_and_garbage_is_refused() -> None:
    head = RequestHead("GET", "/api/v1/pods?watch=1", [("Impersonate-User", "alice")])
    assert RequestHead.decode(head.encode()) == head
    answer = ResponseHead(200, [("Content-Type", "application/json")])
    assert ResponseHead.decode(answer.encode()) == answer
    for raw in (
        b"",
        b"[]",
        b'{"method": "GET", "path": "api", "headers": []}',
        b'{"method": "TRACE", "path": "/", "headers": []}',
        b'{"method": "GET", "path": "/", "headers": [["a"]]}',
    ):
        with pytest.raises(ValueError):
            RequestHead.decode(raw)
    with pytest.raises(ValueError):
        ResponseHead.decode(b'{"status": 99, "headers": []}')


# -- identities -------------------------------------------------------------------------------------


def certificate(common_name: str, *organizations: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    ca = pki.new_ca("test-ca", validity=timedelta(days=1))
    cert = pki.issue(ca, common_name=common_name, organizations=organizations, client=True)
    return x509.load_pem_x509_certificate(cert.cert_pem).public_bytes(Encoding.DER)


def test_a_client_certificate_is_read_as_kube_apiserver_reads_it() -> None:
    identity = identity_of_certificate(certificate("alice", "dev", "ops"))
    assert identity == Identity(user="alice", groups=("dev", "ops", "system:authenticated"))


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param({"authenticated": False}, None, id="refused token"),
        pytest.param({"authenticated": True, "user": {}}, None, id="no user name"),
        pytest.param(
            {
                "authenticated": True,
                "user": {
                    "username": "system:serviceaccount:d:sa",
                    "uid": "42",
                    "groups": ["system:serviceaccounts", "system:authenticated"],
                    "extra": {"k": ["v"]},
                },
            },
            Identity(
                "system:serviceaccount:d:sa",
                ("system:serviceaccounts", "system:authenticated"),
                "42",
                {"k": ("v",)},
            ),
            id="a service account",
        ),
    ],
)
def test_a_token_review_vouches_for_its_user(status: dict[str, Any], expected: Identity | None) -> None:
    assert identity_of_token_review(status) == expected


PULL = {"spec": {"syncMode": "Pull"}}
PUSH = {"spec": {"syncMode": "Push"}}


@pytest.mark.parametrize(
    ("identity", "cluster", "refusal"),
    [
        pytest.param(Identity(agent_user("edge1"), (AGENTS_GROUP,)), PULL, None, id="its own agent"),
        pytest.param(
            Identity(agent_user("edge2"), (AGENTS_GROUP,)), PULL, "not the agent", id="another's agent"
        ),
        pytest.param(Identity(agent_user("edge1"), ()), PULL, "not in group", id="without the agents group"),
        pytest.param(Identity("admin", ("system:masters",)), PULL, "not the agent", id="the hub's admin"),
        pytest.param(Identity(agent_user("edge1"), (AGENTS_GROUP,)), None, "does not exist", id="no cluster"),
        pytest.param(Identity(agent_user("edge1"), (AGENTS_GROUP,)), PUSH, "not Pull", id="a Push cluster"),
    ],
)
def test_who_may_carry_a_tunnel(
    identity: Identity, cluster: dict[str, Any] | None, refusal: str | None
) -> None:
    got = tunnel_refusal(identity, cluster, name="edge1")
    if refusal is None:
        assert got is None
    else:
        assert got is not None and refusal in got


# -- endpoints and the user's kubeconfig ----------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:9443", ("::1", 9443)),
        ("hub.example:443", ("hub.example", 443)),
    ],
)
def test_parse_address(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["9443", "host:", "host:http", "host:70000", ":9443"])
def test_parse_address_refuses(address: str) -> None:
    with pytest.raises(ValueError):
        parse_address(address)


def test_the_advertised_urls_follow_the_bind_address_unless_a_url_is_given() -> None:
    mine = advertised("10.0.0.5", 9443)
    assert (mine.proxy_url, mine.tunnel_url) == ("https://10.0.0.5:9443", "wss://10.0.0.5:9443/tunnel")
    named = advertised("0.0.0.0", 9443, url="https://hub.example/")
    assert (named.proxy_url, named.tunnel_url) == ("https://hub.example", "wss://hub.example/tunnel")
    assert serving_names(named, "0.0.0.0") == (["hub.example"], [])
    assert serving_names(mine, "10.0.0.5") == ([], ["10.0.0.5"])
    with pytest.raises(ValueError, match="give the URL"):
        advertised("0.0.0.0", 9443)
    with pytest.raises(ValueError, match="https"):
        advertised("10.0.0.5", 1, url="http://hub")


def test_published_endpoints_round_trip_and_name_what_is_missing() -> None:
    endpoints = Endpoints("https://h:1", "wss://h:1/tunnel", "PEM")
    assert Endpoints.of_configmap_data(endpoints.configmap_data()) == endpoints
    with pytest.raises(ValueError, match=r"tunnelURL, ca\.crt"):
        Endpoints.of_configmap_data({"proxyURL": "https://h:1"})


def test_the_proxy_kubeconfig_keeps_the_callers_user_and_points_at_the_member_through_the_proxy() -> None:
    hub = {
        "clusters": [{"name": "hub", "cluster": {"server": "https://hub:6443"}}],
        "users": [
            {"name": "alice", "user": {"client-certificate": "alice.crt", "client-key": "/k/alice.key"}}
        ],
        "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": "alice"}}],
        "current-context": "hub",
    }
    endpoints = Endpoints("https://proxy:9443", "wss://proxy:9443/tunnel", "CA-PEM")
    config = proxy_kubeconfig(hub, cluster="member2", endpoints=endpoints, base_dir=Path("/home/a/.kube"))
    assert config["clusters"][0]["cluster"] == {
        "server": "https://proxy:9443/clusters/member2",
        "certificate-authority-data": base64.b64encode(b"CA-PEM").decode(),
    }
    assert config["users"] == [
        {
            "name": "alice",
            "user": {"client-certificate": "/home/a/.kube/alice.crt", "client-key": "/k/alice.key"},
        }
    ]
    assert config["current-context"] == "member2-via-kokpit"
    with pytest.raises(ValueError, match="no user"):
        proxy_kubeconfig({**hub, "users": []}, cluster="member2", endpoints=endpoints)
