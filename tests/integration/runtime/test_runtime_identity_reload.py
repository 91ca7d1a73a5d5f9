"""A client's TLS identity reloaded in place: the same client object presents the new certificate.

This is how a renewed agent certificate reaches every informer, elector and recorder that holds the
hub client, without rebuilding any of them; the hub's own answer (SelfSubjectReview) shows who it saw.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from lightkube.resources.authentication_v1 import SelfSubjectReview

from kokpit.controlplane import pki
from kokpit.runtime import ClusterClients
from tests.support import SandboxHandle

pytestmark = pytest.mark.integration


def kubeconfig_of(sandbox: SandboxHandle, user: str, path: Path) -> Path:
    hub_pki = pki.read_cluster_pki(sandbox.dir / "clusters" / "hub" / "pki")
    credentials = pki.issue(hub_pki.ca, common_name=user, client=True, validity=timedelta(hours=1))
    config = pki.kubeconfig(
        cluster="hub",
        server=sandbox.state.clusters["hub"].endpoint,
        ca_pem=hub_pki.ca.cert_pem,
        user=user,
        credentials=credentials,
    )
    pki.write_kubeconfig(config, path)
    return path


async def whoami(clients: ClusterClients) -> str:
    review = await clients.get("hub").create(SelfSubjectReview())
    assert review.status is not None and review.status.userInfo is not None
    return str(review.status.userInfo.username)


async def test_a_reloaded_identity_is_presented_by_the_same_client(
    rt_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    clients = ClusterClients()
    clients.add("hub", kubeconfig_of(rt_sandbox, "first-identity", tmp_path / "first.kubeconfig"))
    try:
        client = clients.get("hub")
        assert await whoami(clients) == "first-identity"
        old = clients.reload_identity(
            "hub", kubeconfig_of(rt_sandbox, "second-identity", tmp_path / "second")
        )
        assert clients.get("hub") is client
        assert await whoami(clients) == "second-identity"
        await old.aclose()
        assert await whoami(clients) == "second-identity"
    finally:
        await clients.aclose()


def test_reloading_an_unknown_client_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="no client"):
        ClusterClients().reload_identity("hub", tmp_path / "missing")
