"""A 3-member EtcdCluster comes up, is usable with the issued client certificate, and reports itself."""

from __future__ import annotations

import pytest

from tests.integration.etcd.conftest import NEW_ETCD, EtcdEnv
from tests.support import kubectl

pytestmark = pytest.mark.integration


async def test_three_members_become_available_and_serve_reads_and_writes(etcd_env: EtcdEnv) -> None:
    await etcd_env.create("alpha", {"size": 3, "version": NEW_ETCD})
    status = await etcd_env.wait_healthy("alpha", 3)

    members = status["members"]
    assert len(members) == 3 and all(m["healthy"] for m in members)
    leaders = [m["name"] for m in members if m["isLeader"]]
    assert leaders == [status["leader"]]
    assert status["currentVersion"] == NEW_ETCD.lstrip("v")
    assert status["clientSecretRef"] == {"name": "alpha-etcd-client"}
    assert len(status["clientEndpoints"]) == 3

    async with await etcd_env.etcd("alpha") as etcd:
        for endpoint in status["clientEndpoints"]:
            await etcd.put(endpoint, f"/k/{endpoint[-5:]}", "v")
        for endpoint in status["clientEndpoints"]:
            assert len(await etcd.get_prefix(endpoint, "/k/")) == 3

    table = kubectl(
        etcd_env.sandbox.kubeconfig("hub"), "get", "etcdclusters", "-n", etcd_env.namespace
    ).stdout
    header, row = table.splitlines()[:2]
    assert header.split()[:6] == ["NAME", "SIZE", "READY", "LEADER", "VERSION", "PHASE"]
    assert row.split()[:6] == ["alpha", "3", "3", status["leader"], NEW_ETCD.lstrip("v"), "Running"]
