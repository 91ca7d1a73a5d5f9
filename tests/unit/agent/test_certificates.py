"""The agent's certificate (pure parts and the 0600 file): its CSR, its kubeconfig, when to renew."""

from __future__ import annotations

import base64
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from kokpit.agent import certificates as certs
from kokpit.agent.registration import token_problem
from kokpit.controlplane import pki
from kokpit.fleet.registration.approval import ClusterView, Verdict, csr_view, decide
from kokpit.fleet.registration.names import AGENT_TOKEN_GROUP, bound_group

START = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)


def test_the_csr_asks_for_exactly_the_agent_identity_and_the_approver_agrees() -> None:
    key = certs.new_private_key()
    request = x509.load_pem_x509_csr(certs.certificate_request("edge1", key))
    assert request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:kokpit:agent:edge1"
    assert [a.value for a in request.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "kokpit:agents"
    ]
    csr = certs.csr_object("edge1", certs.certificate_request("edge1", key), validity=timedelta(minutes=1))
    assert csr.spec.expirationSeconds == 600  # the signer's minimum
    assert csr.metadata is not None and str(csr.metadata.name).startswith("kokpit-agent-edge1-")
    csr.spec.username = "system:kokpit:agent:edge1"
    view = csr_view(csr)
    assert decide(view, token=None, cluster=ClusterView("Pull"), now=START).verdict is Verdict.APPROVE


def test_the_kubeconfig_round_trips_and_is_written_0600(tmp_path: Path) -> None:
    ca = pki.new_ca("hub-ca")
    leaf = pki.issue(
        ca, common_name="system:kokpit:agent:edge1", organizations=["kokpit:agents"], client=True
    )
    credentials = certs.AgentCredentials("https://hub:6443", ca.cert_pem, leaf.cert_pem, leaf.key_pem)
    path = tmp_path / "agent" / "hub.kubeconfig"
    certs.write_agent_kubeconfig(path, credentials, cluster="edge1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert certs.load_credentials(path) == credentials
    certs.write_agent_kubeconfig(path, credentials, cluster="edge1")  # replaced in place
    assert sorted(p.name for p in path.parent.iterdir()) == ["hub.kubeconfig"]
    assert base64.b64encode(leaf.key_pem).decode() in path.read_text()


@pytest.mark.parametrize(
    ("fraction", "due"),
    [
        (0.7, START + timedelta(minutes=7)),
        (0.5, START + timedelta(minutes=5)),
        (0.1, START + timedelta(minutes=1)),
    ],
    ids=["70% of 10 minutes", "half", "a tenth"],
)
def test_renewal_time(fraction: float, due: datetime) -> None:
    assert certs.renewal_time(START, START + timedelta(minutes=10), fraction=fraction) == due


@pytest.mark.parametrize(
    ("span", "asked"),
    [
        (timedelta(minutes=15), timedelta(minutes=10)),
        (timedelta(hours=24, minutes=5), timedelta(hours=24)),
        (timedelta(minutes=6), timedelta(minutes=10)),
    ],
    ids=["10 minutes backdated by 5", "a day backdated by 5", "never below the signer's minimum"],
)
def test_a_renewal_asks_for_the_validity_the_first_certificate_was_asked_for(
    span: timedelta, asked: timedelta
) -> None:
    assert certs.requested_validity(START, START + span) == asked


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5], ids=["zero", "one", "more than one"])
def test_renewal_fractions_outside_the_validity_are_refused(fraction: float) -> None:
    with pytest.raises(ValueError):
        certs.renewal_time(START, START + timedelta(minutes=10), fraction=fraction)


@pytest.mark.parametrize(
    ("attempt", "left", "delay"),
    [
        (1, timedelta(hours=1), 2.0),
        (3, timedelta(hours=1), 8.0),
        (10, timedelta(hours=1), 60.0),
        (10, timedelta(minutes=2), 12.0),
        (10, timedelta(seconds=3), 1.0),
    ],
    ids=["first retry", "third", "capped at a minute", "a tenth of what is left", "at least a second"],
)
def test_retry_delay(attempt: int, left: timedelta, delay: float) -> None:
    assert certs.retry_delay(attempt, until_expiry=left) == delay


@pytest.mark.parametrize(
    ("groups", "problem"),
    [
        ([AGENT_TOKEN_GROUP], None),
        ([AGENT_TOKEN_GROUP, bound_group("edge1")], None),
        ([AGENT_TOKEN_GROUP, bound_group("edge2")], "the token is bound to cluster edge2, not edge1"),
        (
            ["system:bootstrappers:kokpit"],
            "the token is not a kokpit agent token (make one with kokpit token create)",
        ),
    ],
    ids=["unbound", "bound to it", "bound to another", "a node token"],
)
def test_token_problem(groups: list[str], problem: str | None) -> None:
    assert token_problem("edge1", groups) == problem
