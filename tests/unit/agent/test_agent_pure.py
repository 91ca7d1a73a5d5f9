"""The agent's pure parts: what it writes to its Cluster, how it holds its Lease, who it is, what runs it."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from kokpit.agent.identity import cluster_of_kubeconfig
from kokpit.agent.lease import agent_lease
from kokpit.agent.manifests import agent_objects
from kokpit.agent.member_status import status_fields
from kokpit.errors import KokpitError
from kokpit.fleet.health import Probe, ProbeOutcome
from kokpit.fleet.probe import Observation

NOW = dt.datetime(2026, 12, 2, 5, 0, tzinfo=dt.UTC)
OLD = {"kubernetesVersion": "v1.35.4", "nodeSummary": {"totalNum": 3, "readyNum": 3}, "lastProbeTime": "x"}


@pytest.mark.parametrize(
    ("observation", "expected"),
    [
        pytest.param(
            Observation(Probe(ProbeOutcome.READY, "ready")),
            {**OLD, "lastProbeTime": "2026-12-02T05:00:00Z"},
            id="a quick probe keeps the summaries it did not read",
        ),
        pytest.param(
            Observation(Probe(ProbeOutcome.READY, "ready"), kubernetes_version="v1.36.5"),
            {**OLD, "kubernetesVersion": "v1.36.5", "lastProbeTime": "2026-12-02T05:00:00Z"},
            id="a full probe refreshes what it read",
        ),
        pytest.param(
            Observation(Probe(ProbeOutcome.UNREACHABLE, "refused")),
            {**OLD, "lastProbeTime": "2026-12-02T05:00:00Z"},
            id="an unreachable member keeps its last summaries",
        ),
    ],
)
def test_the_agent_writes_summaries_it_read_and_keeps_the_others(
    observation: Observation, expected: dict[str, Any]
) -> None:
    assert status_fields(observation, dict(OLD), NOW) == expected


@pytest.mark.parametrize(
    ("duration", "renew_every", "give_up_after"),
    [pytest.param(40.0, 10.0, 40.0 * 2 / 3, id="40s"), pytest.param(8.0, 2.0, 8.0 * 2 / 3, id="8s (tests)")],
)
def test_the_lease_is_renewed_four_times_per_duration_in_the_execution_namespace(
    duration: float, renew_every: float, give_up_after: float
) -> None:
    lease = agent_lease("edge1", duration=duration, identity="host-a")
    assert (lease.name, lease.namespace, lease.identity) == ("kokpit-agent", "kokpit-es-edge1", "host-a")
    assert (lease.retry_period, lease.renew_deadline, lease.release_on_cancel) == (
        renew_every,
        give_up_after,
        False,
    )


def test_a_lease_too_short_to_renew_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        agent_lease("edge1", duration=2)


def kubeconfig_with(tmp_path: Path, common_name: str) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    data = base64.b64encode(certificate.public_bytes(Encoding.PEM)).decode()
    config = {
        "clusters": [{"name": "hub", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "agent", "user": {"client-certificate-data": data}}],
        "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": "agent"}}],
        "current-context": "hub",
    }
    path = tmp_path / "hub.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_cluster_name_comes_from_the_agent_certificate(tmp_path: Path) -> None:
    assert cluster_of_kubeconfig(kubeconfig_with(tmp_path, "system:kokpit:agent:edge1")) == "edge1"


def test_a_kubeconfig_without_an_agent_certificate_asks_for_the_name(tmp_path: Path) -> None:
    with pytest.raises(KokpitError, match=r"kubernetes-admin.*--cluster NAME"):
        cluster_of_kubeconfig(kubeconfig_with(tmp_path, "kubernetes-admin"))


def test_the_manifests_run_one_agent_with_the_hub_credentials_and_the_whole_member() -> None:
    objects = agent_objects("edge1", "apiVersion: v1\n", image="kokpit:test", namespace="kokpit-agent")
    kinds = [o["kind"] for o in objects]
    assert kinds == [
        "Namespace",
        "Secret",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
    ]
    secret = objects[1]
    assert secret["stringData"] == {"hub.kubeconfig": "apiVersion: v1\n"}
    deployment = objects[-1]
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 1
    assert pod["serviceAccountName"] == "kokpit-agent"
    args = pod["containers"][0]["args"]
    assert args[0] == "agent"
    assert "--cluster=edge1" in args
    assert "--credentials-secret=kokpit-agent/kokpit-agent-hub" in args
