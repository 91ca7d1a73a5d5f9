"""Which agent CSRs kokpit approves (`fleet.registration.approval.decide`), and what it reads of a CSR."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kokpit.controlplane.bootstrap_tokens import TokenRecord
from kokpit.fleet.registration.approval import ClusterView, CSRView, Verdict, csr_view, decide, name_problem
from kokpit.fleet.registration.names import (
    AGENT_TOKEN_GROUP,
    REGION_ANNOTATION,
    USED_BY_ANNOTATION,
    bound_group,
)

NOW = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
SIGNER = "kubernetes.io/kube-apiserver-client"
USAGES = ("digital signature", "client auth")

FIRST = CSRView(
    name="kokpit-agent-edge1-x",
    signer=SIGNER,
    username="system:bootstrap:abcdef",
    usages=USAGES,
    common_name="system:kokpit:agent:edge1",
    organizations=("kokpit:agents",),
)
RENEWAL = replace(FIRST, username="system:kokpit:agent:edge1")
TOKEN = TokenRecord(
    id="abcdef",
    expiration=NOW + timedelta(hours=1),
    groups=(AGENT_TOKEN_GROUP,),
    authenticates=True,
    labels={},
    annotations={},
)
BOUND = replace(TOKEN, groups=(AGENT_TOKEN_GROUP, bound_group("edge1")))
PULL = ClusterView("Pull")
PUSH = ClusterView("Push")

CASES = [
    ("an unbound token registers a new name", FIRST, TOKEN, None, Verdict.APPROVE, "AgentRegistration"),
    ("a token bound to that name", FIRST, BOUND, None, Verdict.APPROVE, "AgentRegistration"),
    (
        "a bound token re-registers an existing Pull cluster",
        FIRST,
        BOUND,
        PULL,
        Verdict.APPROVE,
        "AgentRegistration",
    ),
    ("an unbound token cannot take over a Pull cluster", FIRST, TOKEN, PULL, Verdict.DENY, "ClusterExists"),
    ("a Push cluster of that name exists", FIRST, BOUND, PUSH, Verdict.DENY, "PushClusterExists"),
    (
        "a token bound to another name",
        FIRST,
        replace(TOKEN, groups=(AGENT_TOKEN_GROUP, bound_group("edge2"))),
        None,
        Verdict.DENY,
        "TokenBoundElsewhere",
    ),
    ("an unknown or used-up token", FIRST, None, None, Verdict.DENY, "TokenNotFound"),
    ("an expired token", FIRST, replace(TOKEN, expiration=NOW), None, Verdict.DENY, "TokenExpired"),
    (
        "a token used by another CSR",
        FIRST,
        replace(TOKEN, annotations={USED_BY_ANNOTATION: "kokpit-agent-edge1-y"}),
        None,
        Verdict.DENY,
        "TokenUsed",
    ),
    (
        "its own token, marked and cut short, after a crash",
        FIRST,
        replace(TOKEN, expiration=NOW, annotations={USED_BY_ANNOTATION: FIRST.name}),
        None,
        Verdict.APPROVE,
        "AgentRegistration",
    ),
    (
        "a node's token",
        FIRST,
        replace(TOKEN, groups=("system:bootstrappers:kokpit",)),
        None,
        Verdict.DENY,
        "NotAnAgentToken",
    ),
    ("a renewal by the agent itself", RENEWAL, None, PULL, Verdict.APPROVE, "AgentRenewal"),
    ("a renewal for a cluster that is gone", RENEWAL, None, None, Verdict.DENY, "ClusterNotFound"),
    ("a renewal for a Push cluster", RENEWAL, None, PUSH, Verdict.DENY, "NotPullCluster"),
    (
        "another agent asks for this agent's name",
        replace(FIRST, username="system:kokpit:agent:edge2"),
        None,
        PULL,
        Verdict.DENY,
        "UnknownRequester",
    ),
    (
        "an admin asks for an agent's name",
        replace(FIRST, username="admin"),
        None,
        PULL,
        Verdict.DENY,
        "UnknownRequester",
    ),
    (
        "the subject's organization is not kokpit:agents",
        replace(FIRST, organizations=("system:masters",)),
        TOKEN,
        None,
        Verdict.DENY,
        "InvalidSubject",
    ),
    (
        "an extra organization",
        replace(FIRST, organizations=("kokpit:agents", "system:masters")),
        TOKEN,
        None,
        Verdict.DENY,
        "InvalidSubject",
    ),
    ("alternative names", replace(FIRST, alt_names=True), TOKEN, None, Verdict.DENY, "InvalidSubject"),
    (
        "server auth usage",
        replace(FIRST, usages=("client auth", "server auth")),
        TOKEN,
        None,
        Verdict.DENY,
        "InvalidUsages",
    ),
    (
        "no client auth usage",
        replace(FIRST, usages=("digital signature",)),
        TOKEN,
        None,
        Verdict.DENY,
        "InvalidUsages",
    ),
    (
        "a name that is no DNS label",
        replace(FIRST, common_name="system:kokpit:agent:Edge_1"),
        TOKEN,
        None,
        Verdict.DENY,
        "InvalidClusterName",
    ),
    (
        "the reserved name hub",
        replace(FIRST, common_name="system:kokpit:agent:hub"),
        TOKEN,
        None,
        Verdict.DENY,
        "InvalidClusterName",
    ),
    (
        "a bad region annotation",
        replace(FIRST, annotations={REGION_ANNOTATION: "eu west"}),
        TOKEN,
        None,
        Verdict.DENY,
        "InvalidTopology",
    ),
    ("a kubelet's CSR", replace(FIRST, common_name="system:node:n1"), TOKEN, None, Verdict.IGNORE, ""),
    (
        "another signer",
        replace(FIRST, signer="kubernetes.io/kube-apiserver-client-kubelet"),
        TOKEN,
        None,
        Verdict.IGNORE,
        "",
    ),
    ("decided already", replace(FIRST, decided=True), None, None, Verdict.IGNORE, ""),
]


@pytest.mark.parametrize(
    ("csr", "token", "cluster", "verdict", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decide(
    csr: CSRView, token: TokenRecord | None, cluster: ClusterView | None, verdict: Verdict, reason: str
) -> None:
    decision = decide(csr, token=token, cluster=cluster, now=NOW)
    assert (decision.verdict, decision.reason) == (verdict, reason), decision.message
    if verdict is Verdict.DENY:
        assert decision.message and "\n" not in decision.message


def test_a_first_registration_carries_the_topology_and_a_renewal_does_not_register() -> None:
    csr = replace(FIRST, annotations={REGION_ANNOTATION: "eu-west"})
    decision = decide(csr, token=TOKEN, cluster=None, now=NOW)
    assert decision.registration and decision.cluster == "edge1"
    assert decision.topology == {"region": "eu-west"}
    assert not decide(RENEWAL, token=None, cluster=PULL, now=NOW).registration


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("edge1", True),
        ("a" * 53, True),
        ("a" * 54, False),
        ("edge--1", False),
        ("-edge", False),
        ("hub", False),
    ],
    ids=["plain", "53 characters", "54 characters", "double dash", "leading dash", "reserved"],
)
def test_registrable_names(name: str, ok: bool) -> None:
    assert (name_problem(name) is None) is ok


def _csr_object(*, cn: str, orgs: list[str], sans: bool = False) -> SimpleNamespace:
    key = ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("x.example")]), critical=False
        )
    pem = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    return SimpleNamespace(
        metadata=SimpleNamespace(name="c1", annotations={"a": "b"}),
        spec=SimpleNamespace(
            request=base64.b64encode(pem).decode(), signerName=SIGNER, username="u", usages=["client auth"]
        ),
        status=SimpleNamespace(conditions=[SimpleNamespace(type="Approved")]),
    )


def test_csr_view_reads_the_subject_from_the_request() -> None:
    view = csr_view(_csr_object(cn="system:kokpit:agent:edge1", orgs=["kokpit:agents"]))
    assert (view.common_name, view.organizations, view.alt_names) == (
        "system:kokpit:agent:edge1",
        ("kokpit:agents",),
        False,
    )
    assert view.cluster == "edge1" and view.decided and view.annotations == {"a": "b"}
    assert csr_view(_csr_object(cn="system:kokpit:agent:edge1", orgs=[], sans=True)).alt_names


def test_a_request_that_does_not_parse_reads_as_no_agent_csr() -> None:
    obj = _csr_object(cn="x", orgs=[])
    obj.spec.request = base64.b64encode(b"garbage").decode()
    assert csr_view(obj).cluster is None
