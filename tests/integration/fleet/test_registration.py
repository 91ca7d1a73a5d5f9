"""Registration of Pull members against the session hub: `kokpit token create`, `kokpit register`, the
approver, the agent's RBAC and the renewal of its certificate.

Every refusal is one line on stderr, exit 1, and leaves no credentials and no Cluster behind. The
tests run in order: `edge-a` registered by one test is used by the next.
"""

from __future__ import annotations

import asyncio
import json
import re
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import ApiError, Client, KubeConfig
from lightkube.resources.authentication_v1 import SelfSubjectReview
from lightkube.resources.core_v1 import Secret

from kokpit.agent import certificates
from kokpit.api.work import WORK
from kokpit.controlplane import pki
from kokpit.controlplane.bootstrap_tokens import ca_cert_hashes
from kokpit.fleet.members import ClusterResource
from kokpit.propagation.names import execution_namespace
from kokpit.runtime.resources import resource_class
from tests.support import HubThread, SandboxHandle, kokpit_cli, kubectl, wait_until

pytestmark = pytest.mark.integration

WorkResource = resource_class(WORK)


def hub_url(fleet: SandboxHandle) -> str:
    config = yaml.safe_load(fleet.kubeconfig("hub").read_text())
    return str(config["clusters"][0]["cluster"]["server"])


def create_token(fleet: SandboxHandle, *args: str) -> tuple[str, str]:
    result = kokpit_cli("token", "create", *args, hub=fleet.kubeconfig("hub"))
    assert result.returncode == 0, result.stderr
    token = re.search(r"^token: (\S+)$", result.stdout, re.M)
    pin = re.search(r"^ca-cert-hash: (\S+)$", result.stdout, re.M)
    assert token and pin, result.stdout
    assert f"kokpit register {args[1] if args[:1] == ('--cluster',) else 'NAME'} --hub" in result.stdout
    return token[1], pin[1]


def register(fleet: SandboxHandle, name: str, token: str, pin: str, out: Path, *extra: str) -> Any:
    return kokpit_cli(
        "register",
        name,
        "--hub",
        hub_url(fleet),
        "--token",
        token,
        "--ca-cert-hash",
        pin,
        "--out",
        str(out),
        "--timeout",
        "60",
        *extra,
        hub=fleet.kubeconfig("hub"),
    )


def refused(result: Any, fragment: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kokpit: error: "), result.stderr
    assert fragment in lines[0], lines[0]


def cluster_names(fleet: SandboxHandle) -> set[str]:
    out = kubectl(fleet.kubeconfig("hub"), "get", "clusters.cluster.kokpit.io", "-o", "json").stdout
    return {item["metadata"]["name"] for item in json.loads(out)["items"]}


def agent_client(kubeconfig: Path) -> Client:
    return Client(KubeConfig.from_file(kubeconfig), trust_env=False)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where `edge-a`'s credentials stay for the tests after the one that registers it."""
    return tmp_path_factory.mktemp("registration")


@pytest.fixture(scope="module")
def hub(fleet: SandboxHandle, hub_controllers: HubThread) -> SandboxHandle:
    """The session hub with kokpit installed, every member joined and the hub controllers running."""
    return fleet


def test_a_wrong_ca_hash_is_refused_before_the_token_is_sent(hub: SandboxHandle, tmp_path: Path) -> None:
    token, _ = create_token(hub, "--cluster", "edge-x")
    wrong = ca_cert_hashes(pki.new_ca("someone-else").cert_pem)[0]
    refused(register(hub, "edge-x", token, wrong, tmp_path), "the hub's CA does not match --ca-cert-hash")
    assert not (tmp_path / "hub.kubeconfig").exists()
    assert "edge-x" not in cluster_names(hub)


@pytest.mark.parametrize(
    ("token", "fragment"),
    [
        ("abcdef.0123456789abcdef", "the hub refused the token: it is unknown, expired or used up"),
        ("not-a-token", "not a bootstrap token"),
    ],
    ids=["unknown token", "malformed token"],
)
def test_unknown_and_malformed_tokens_are_refused(
    hub: SandboxHandle, tmp_path: Path, token: str, fragment: str
) -> None:
    _, pin = create_token(hub)
    refused(register(hub, "edge-x", token, pin, tmp_path), fragment)
    assert not (tmp_path / "hub.kubeconfig").exists()


def test_an_expired_token_is_refused(hub: SandboxHandle, tmp_path: Path) -> None:
    token, pin = create_token(hub, "--cluster", "edge-x", "--ttl", "1s")
    time.sleep(2.5)
    refused(register(hub, "edge-x", token, pin, tmp_path), "it is unknown, expired or used up")
    assert "edge-x" not in cluster_names(hub)


def test_a_token_bound_to_another_name_is_refused(hub: SandboxHandle, tmp_path: Path) -> None:
    token, pin = create_token(hub, "--cluster", "edge-y")
    refused(register(hub, "edge-x", token, pin, tmp_path), "the token is bound to cluster edge-y, not edge-x")
    assert not (tmp_path / "hub.kubeconfig").exists()


def test_the_name_of_a_push_member_is_refused_by_the_hub(hub: SandboxHandle, tmp_path: Path) -> None:
    member = hub.members[0]
    token, pin = create_token(hub, "--cluster", member)
    refused(register(hub, member, token, pin, tmp_path), f"cluster {member} exists as a Push cluster")
    assert not (tmp_path / "hub.kubeconfig").exists()
    spec = kubectl(hub.kubeconfig("hub"), "get", f"clusters.cluster.kokpit.io/{member}", "-o", "json").stdout
    assert json.loads(spec)["spec"]["syncMode"] == "Push"


def test_a_bound_token_registers_a_pull_cluster_once(
    hub: SandboxHandle, workdir: Path, tmp_path: Path
) -> None:
    token, pin = create_token(hub, "--cluster", "edge-a")
    out = workdir / "edge-a"
    result = register(hub, "edge-a", token, pin, out, "--region", "eu-north", "--zone", "eu-north-1")
    assert result.returncode == 0, result.stderr
    kubeconfig = out / "hub.kubeconfig"
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert token not in kubeconfig.read_text()
    cluster = json.loads(
        kubectl(hub.kubeconfig("hub"), "get", "clusters.cluster.kokpit.io/edge-a", "-o", "json").stdout
    )
    assert cluster["spec"] == {
        "syncMode": "Pull",
        "region": "eu-north",
        "zone": "eu-north-1",
        **_taints(cluster),
    }

    with agent_client(kubeconfig) as client:
        review = client.create(SelfSubjectReview())
        assert review.status is not None and review.status.userInfo is not None
        assert review.status.userInfo.username == "system:kokpit:agent:edge-a"
        assert "kokpit:agents" in (review.status.userInfo.groups or [])

    # The token is used up: a second registration with it is refused, nothing created.
    again = register(hub, "edge-a", token, pin, tmp_path / "again")
    assert again.returncode == 1
    assert "used" in again.stderr, again.stderr
    assert not (tmp_path / "again" / "hub.kubeconfig").exists()

    # ... and its Secret is gone once the grace for fetching the certificate is over.
    admin = hub.client("hub")
    token_id = token.split(".")[0]

    def token_gone() -> bool:
        try:
            admin.get(Secret, f"bootstrap-token-{token_id}", namespace="kube-system")
        except ApiError as error:
            return error.status.code == 404
        return False

    wait_until("the used token's Secret is deleted", token_gone, timeout=120)


def _taints(cluster: dict[str, Any]) -> dict[str, Any]:
    """The health taints the cluster controller may have added meanwhile (not the registration's)."""
    taints = cluster["spec"].get("taints")
    return {"taints": taints} if taints else {}


def test_an_agent_may_read_and_update_only_its_own_cluster(hub: SandboxHandle, workdir: Path) -> None:
    out = workdir / "edge-a"
    namespace = execution_namespace("edge-a")
    other_namespace = execution_namespace(hub.members[0])
    kubectl(hub.kubeconfig("hub"), "create", "namespace", other_namespace, check=False)
    with agent_client(out / "hub.kubeconfig") as client:
        assert client.get(ClusterResource, "edge-a")["metadata"]["name"] == "edge-a"
        list(client.list(WorkResource, namespace=namespace))
        for forbidden in (
            lambda: client.get(ClusterResource, hub.members[0]),
            lambda: list(client.list(ClusterResource)),
            lambda: list(client.list(WorkResource, namespace=other_namespace)),
            lambda: list(client.list(Secret, namespace="kokpit-system")),
            lambda: list(client.list(Secret, namespace=namespace)),
            lambda: client.get(Secret, f"{hub.members[0]}-kubeconfig", namespace="kokpit-system"),
        ):
            with pytest.raises(ApiError) as error:
                forbidden()
            assert error.value.status.code == 403
        fields = list(client.list(ClusterResource, fields={"metadata.name": "edge-a"}))
        assert [c["metadata"]["name"] for c in fields] == ["edge-a"]


def test_the_certificate_is_renewed_before_it_expires_and_the_new_one_works(
    hub: SandboxHandle, tmp_path: Path
) -> None:
    token, pin = create_token(hub)
    result = register(hub, "edge-b", token, pin, tmp_path, "--cert-ttl", "10m")
    assert result.returncode == 0, result.stderr
    kubeconfig = tmp_path / "hub.kubeconfig"
    first = certificates.load_credentials(kubeconfig)
    start, end = certificates.validity_of(first.cert_pem)
    assert certificates.requested_validity(start, end).total_seconds() == 600

    async def renew_once() -> None:
        renewed = asyncio.Event()

        async def on_renewed() -> None:
            renewed.set()

        task = asyncio.create_task(
            certificates.keep_certificate_fresh(
                kubeconfig, cluster="edge-b", renew_fraction=0.01, on_renewed=on_renewed
            )
        )
        try:
            await asyncio.wait_for(renewed.wait(), timeout=90)
        finally:
            task.cancel()

    asyncio.run(renew_once())
    second = certificates.load_credentials(kubeconfig)
    assert second.cert_pem != first.cert_pem and second.key_pem != first.key_pem
    assert certificates.requested_validity(*certificates.validity_of(second.cert_pem)).total_seconds() == 600
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    with agent_client(kubeconfig) as client:
        assert client.get(ClusterResource, "edge-b")["metadata"]["name"] == "edge-b"


def test_an_unbound_token_cannot_take_over_a_registered_name(hub: SandboxHandle, tmp_path: Path) -> None:
    token, pin = create_token(hub)
    refused(register(hub, "edge-a", token, pin, tmp_path), "registered already")
    assert not (tmp_path / "hub.kubeconfig").exists()


def test_cleanup_registered_clusters(hub: SandboxHandle) -> None:
    for name in ("edge-a", "edge-b"):
        kubectl(
            hub.kubeconfig("hub"), "delete", f"clusters.cluster.kokpit.io/{name}", "--wait=false", check=False
        )
    wait_until(
        "registered clusters are deleted", lambda: not {"edge-a", "edge-b"} & cluster_names(hub), timeout=60
    )
    wait_until(
        "the agents' RBAC is collected",
        lambda: (
            "kokpit:agent:edge-"
            not in kubectl(hub.kubeconfig("hub"), "get", "clusterroles", "-o", "name").stdout
        ),
        timeout=60,
    )
