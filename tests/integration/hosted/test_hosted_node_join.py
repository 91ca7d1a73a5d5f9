"""A hosted cluster ready for real nodes: it serves on the node network, takes bootstrap tokens, and
its controller-manager approves and signs a kubelet's client certificate request.

The node is played by the test: from a network namespace on the bridge `kokpit0` (10.77.0.1, the
sandbox hosts' bridge; made here, and removed, when `sandbox hosts up` has not made it), it reaches
the API server with the bootstrap token alone; then it submits a node-client CSR as a kubelet does
(`kubernetes.io/kube-apiserver-client-kubelet`, CN `system:node:<name>`, O `system:nodes`) and
authenticates with the certificate it gets.

Run under `flock /tmp/kokpit-integration.lock`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lightkube import ApiError, AsyncClient
from lightkube.models.authentication_v1 import SelfSubjectReviewStatus
from lightkube.models.certificates_v1 import CertificateSigningRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.authentication_v1 import SelfSubjectReview
from lightkube.resources.certificates_v1 import CertificateSigningRequest
from lightkube.resources.core_v1 import Secret
from lightkube.resources.discovery_v1 import EndpointSlice

from kokpit.hosted import HostedClusterResource
from kokpit.hosted.workers_step import MachineSetResource
from kokpit.machines import join
from kokpit.machines.targets import TargetUnavailable, target_cluster_access
from kokpit.runtime import get_or_none
from kokpit.runtime.clients import make_client
from tests.integration.hosted.conftest import CURRENT, HostedEnv, condition

pytestmark = pytest.mark.integration

BRIDGE = "kokpit0"
GATEWAY = "10.77.0.1"
NODE_NETNS = "kjoin-test"
NODE_VETH = "kjoin0"
NODE_ADDRESS = "10.77.0.9"
"""In the range the hosts plan leaves free (.2 to .10), so a running `sandbox hosts up` is not disturbed."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@pytest.fixture
def node_network() -> Iterator[str]:
    """The bridge with 10.77.0.1 (made when absent, then removed) and a namespace on it playing a node."""
    made_bridge = _ip("link", "show", BRIDGE, check=False).returncode != 0
    if made_bridge:
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
    _ip("netns", "del", NODE_NETNS, check=False)
    _ip("netns", "add", NODE_NETNS)
    try:
        _ip("link", "add", NODE_VETH, "type", "veth", "peer", "name", "eth0", "netns", NODE_NETNS)
        _ip("link", "set", NODE_VETH, "master", BRIDGE, "up")
        _ip("-n", NODE_NETNS, "addr", "add", f"{NODE_ADDRESS}/24", "dev", "eth0")
        _ip("-n", NODE_NETNS, "link", "set", "eth0", "up")
        _ip("-n", NODE_NETNS, "link", "set", "lo", "up")
        yield f"/run/netns/{NODE_NETNS}"
    finally:
        _ip("link", "del", NODE_VETH, check=False)
        _ip("netns", "del", NODE_NETNS, check=False)
        if made_bridge:
            _ip("link", "del", BRIDGE, check=False)


NODE_PROBE = """
import json, ssl, sys, urllib.request
server, ca, token = sys.argv[1:4]
context = ssl.create_default_context(cadata=ca)
body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode()
request = urllib.request.Request(
    server + "/apis/authentication.k8s.io/v1/selfsubjectreviews", data=body, method="POST",
    headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
)
with urllib.request.urlopen(request, context=context, timeout=10) as response:
    print(json.dumps(json.load(response)["status"]["userInfo"]))
"""


def _probe_from_node(netns: str, server: str, ca_pem: str, token: str) -> dict[str, Any]:
    """Who the API server says the token is, asked from inside the node's network namespace."""
    result = subprocess.run(
        ["nsenter", f"--net={netns}", sys.executable, "-c", NODE_PROBE, server, ca_pem, token],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    info: dict[str, Any] = json.loads(result.stdout)
    return info


def _node_csr(node: str) -> tuple[bytes, bytes]:
    """A kubelet's client certificate request for `node` and its key, as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}"),
                ]
            )
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return request.public_bytes(serialization.Encoding.PEM), key_pem


async def _whoami(client: AsyncClient) -> tuple[str, list[str]]:
    review = await client.create(SelfSubjectReview(status=SelfSubjectReviewStatus()))
    assert review.status is not None and review.status.userInfo is not None
    return str(review.status.userInfo.username), list(review.status.userInfo.groups or [])


def _client(kubeconfig: str) -> AsyncClient:
    return make_client("node", yaml.safe_load(kubeconfig), qps=None)


async def test_a_node_joins_by_tls_bootstrap(node_network: str, hosted_env: HostedEnv) -> None:
    env = hosted_env
    spec = {
        "kubernetesVersion": CURRENT,
        "exposure": {"address": GATEWAY},
        "addons": [],
        "join": False,
    }
    await env.create("nodes", spec)
    # Before its API server has a kubeconfig, the cluster cannot take nodes, and says so.
    with pytest.raises(TargetUnavailable) as early:
        await target_cluster_access(env.client, kind="HostedCluster", name="nodes", namespace=env.namespace)
    assert early.value.reason == "KubeconfigPending"
    status = await env.wait_ready("nodes", timeout=180)
    assert status["endpoint"].startswith(f"https://{GATEWAY}:")

    access = await target_cluster_access(
        env.client, kind="HostedCluster", name="nodes", namespace=env.namespace
    )
    assert access.server == status["endpoint"]
    ca_pem = base64.b64decode(access.ca_data).decode()
    admin = access.client()
    try:
        await join.ensure_node_bootstrap_rbac(admin)
        await join.ensure_node_bootstrap_rbac(admin)  # idempotent
        token = await join.create_bootstrap_token(admin, description="test node", ttl=timedelta(minutes=10))
        stored = await admin.get(Secret, token.secret_name, namespace="kube-system")
        assert stored.type == "bootstrap.kubernetes.io/token"

        # From the node's network namespace, the token alone gets in, as the bootstrap user.
        info = await asyncio.to_thread(_probe_from_node, node_network, access.server, ca_pem, token.token)
        assert info["username"] == token.username
        assert {"system:bootstrappers", join.BOOTSTRAP_GROUP} <= set(info["groups"])

        # A kubelet's CSR, sent with the token, is approved and signed by the controller-manager.
        bootstrap = _client(join.bootstrap_kubeconfig(access.server, access.ca_data, token))
        try:
            assert (await _whoami(bootstrap))[0] == token.username
            request_pem, key_pem = _node_csr("jt-node")
            started = time.monotonic()
            await bootstrap.create(
                CertificateSigningRequest(
                    metadata=ObjectMeta(name="jt-node-client"),
                    spec=CertificateSigningRequestSpec(
                        request=base64.b64encode(request_pem).decode(),
                        signerName=join.KUBELET_SIGNER,
                        usages=["digital signature", "client auth"],
                        expirationSeconds=3600,
                    ),
                )
            )
            certificate = ""
            conditions: list[str] = []
            while time.monotonic() - started < 60:
                csr = await admin.get(CertificateSigningRequest, "jt-node-client")
                conditions = [c.type for c in (csr.status.conditions or [])] if csr.status else []
                certificate = (csr.status.certificate or "") if csr.status else ""
                if certificate:
                    break
                await asyncio.sleep(0.25)
            assert certificate, f"no certificate after 60 s; conditions {conditions}"
            assert "Approved" in conditions
            print(f"\nnode-client CSR approved and signed in {time.monotonic() - started:.1f}s")
        finally:
            await bootstrap.close()

        signed = x509.load_pem_x509_certificate(base64.b64decode(certificate))
        ca = x509.load_pem_x509_certificate(ca_pem.encode())
        assert signed.issuer == ca.subject
        assert signed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:jt-node"
        node_kubeconfig = yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {"server": access.server, "certificate-authority-data": access.ca_data},
                    }
                ],
                "users": [
                    {
                        "name": "node",
                        "user": {
                            "client-certificate-data": certificate,
                            "client-key-data": base64.b64encode(key_pem).decode(),
                        },
                    }
                ],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "node"}}],
                "current-context": "c",
            }
        )
        node = _client(node_kubeconfig)
        try:
            username, groups = await _whoami(node)
            # kube-proxy runs with the node's credentials: it may watch EndpointSlices cluster-wide.
            [_ async for _ in node.list(EndpointSlice, namespace="*")]
        finally:
            await node.close()
        assert username == "system:node:jt-node" and "system:nodes" in groups

        # Revoked: the token stops authenticating once the API server's Secret cache saw the deletion.
        assert await join.delete_bootstrap_token(admin, token.id)
        assert not await join.delete_bootstrap_token(admin, token.id)
        revoked = _client(join.bootstrap_kubeconfig(access.server, access.ca_data, token))
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    await _whoami(revoked)
                except ApiError as error:
                    assert error.status.code == 401
                    break
                assert time.monotonic() < deadline, "a deleted token still authenticates after 30 s"
                await asyncio.sleep(0.2)
        finally:
            await revoked.close()

        # An expired token's Secret is deleted by the controller-manager's token cleaner.
        short = await join.create_bootstrap_token(admin, description="expires", ttl=timedelta(seconds=2))
        deadline = time.monotonic() + 60
        while await get_or_none(admin, Secret, short.secret_name, namespace="kube-system") is not None:
            assert time.monotonic() < deadline, "the token cleaner did not delete an expired token"
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def test_a_cluster_on_loopback_is_refused_for_nodes(hosted_env: HostedEnv) -> None:
    """The default exposure is unchanged (127.0.0.1) and a Machine aimed at it would be told why it
    cannot join; an exposure address this machine does not have is a condition, not a crash."""
    env = hosted_env
    await env.create("loop", {"kubernetesVersion": CURRENT, "addons": [], "join": False})
    await env.create(
        "nowhere",
        {"kubernetesVersion": CURRENT, "addons": [], "join": False, "exposure": {"address": "203.0.113.7"}},
    )
    status = await env.wait_ready("loop", timeout=180)
    assert status["endpoint"].startswith("https://127.0.0.1:")
    with pytest.raises(TargetUnavailable) as refused:
        await target_cluster_access(env.client, kind="HostedCluster", name="loop", namespace=env.namespace)
    assert refused.value.reason == "NotReachableByNodes"
    unavailable = await env.wait(
        "AddressUnavailable",
        lambda s: any(c.get("reason") == "AddressUnavailable" for c in s.get("conditions") or []),
        "nowhere",
    )
    assert any("203.0.113.7" in str(c.get("message")) for c in unavailable["conditions"])


async def test_workers_ask_for_a_machine_set_and_go_before_the_control_plane(
    node_network: str, hosted_env: HostedEnv
) -> None:
    """`spec.workers` becomes a MachineSet owned by the cluster (no machine operator runs here, so no
    Machine appears: the cluster says how many of its nodes are missing); deleting the cluster deletes
    the MachineSet first."""
    env = hosted_env
    spec = {
        "kubernetesVersion": CURRENT,
        "exposure": {"address": GATEWAY},
        "join": False,
        "workers": {"replicas": 2},
    }
    await env.create("work", spec)
    status = await env.wait(
        "NodesReady False with 0/2",
        lambda s: condition(s, "NodesReady").get("message") == "0/2 nodes Ready",
        "work",
        timeout=180,
    )
    assert status["phase"] != "Ready"
    assert [a["name"] for a in status.get("addons") or []] == ["kokpit-access"]  # no kube-proxy DaemonSet
    machine_set = await env.client.get(MachineSetResource, "work-workers", namespace=env.namespace)
    hosted = await env.get("work")
    assert [o.uid for o in machine_set.metadata.ownerReferences or []] == [hosted.metadata.uid]
    template = machine_set["spec"]["template"]
    assert template["spec"]["clusterRef"] == {"kind": "HostedCluster", "name": "work"}
    assert {
        "name": "kubelet",
        "version": CURRENT,
        "parameters": {"clusterDomain": "cluster.local"},
    } in template["spec"]["components"]
    assert machine_set["spec"]["replicas"] == 2

    await env.patch_spec("work", {"workers": {"replicas": 1}})
    await env.wait("0/1", lambda s: condition(s, "NodesReady").get("message") == "0/1 nodes Ready", "work")
    assert (await env.client.get(MachineSetResource, "work-workers", namespace=env.namespace))["spec"][
        "replicas"
    ] == 1

    await env.client.delete(HostedClusterResource, "work", namespace=env.namespace)
    deadline = time.monotonic() + 120
    while await get_or_none(env.client, HostedClusterResource, "work", namespace=env.namespace) is not None:
        assert time.monotonic() < deadline, "the cluster with workers was not deleted"
        await asyncio.sleep(0.5)
    assert await get_or_none(env.client, MachineSetResource, "work-workers", namespace=env.namespace) is None
