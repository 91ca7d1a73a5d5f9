"""Member kubeconfigs that would run programs on the hub are refused, at join and on the hub."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from kokpit.fleet.kubeconfigs import KubeconfigError, refuse_credential_plugins
from kokpit.fleet.members import ClusterResource, MemberClients, MemberUnavailable
from kokpit.runtime import Manager


def kubeconfig(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "m", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "admin", "user": user}],
        "contexts": [{"name": "m", "context": {"cluster": "m", "user": "admin"}}],
        "current-context": "m",
    }


EXEC = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/sh", "args": ["-c", "id"]}}
AUTH_PROVIDER = {"auth-provider": {"name": "gcp", "config": {"cmd-path": "/bin/sh"}}}


@pytest.mark.parametrize(
    ("user", "plugin"),
    [
        pytest.param(EXEC, "exec", id="an exec plugin is refused"),
        pytest.param(AUTH_PROVIDER, "auth-provider", id="an auth-provider is refused"),
    ],
)
def test_credential_plugins_are_refused_naming_the_user_and_the_flag(
    user: dict[str, Any], plugin: str
) -> None:
    with pytest.raises(KubeconfigError) as refused:
        refuse_credential_plugins(kubeconfig(user), source="kubeconfig /tmp/m")
    message = str(refused.value)
    assert "\n" not in message
    assert f"user 'admin' of kubeconfig /tmp/m uses an {plugin} credential plugin" in message
    assert "--allow-exec-credentials" in message


def test_tokens_and_certificates_pass() -> None:
    refuse_credential_plugins(kubeconfig({"token": "abc"}), source="x")
    refuse_credential_plugins(
        kubeconfig({"client-certificate-data": "Zm9v", "client-key-data": "YmFy"}), source="x"
    )


def member_clients_with(config: dict[str, Any], *, allow: bool) -> MemberClients:
    """MemberClients whose caches hold one Push Cluster `m` and its kubeconfig Secret."""
    manager = Manager()
    manager.add_cluster("hub", kubeconfig({"token": "hub"}))
    members = MemberClients(manager)
    members.allow_exec_credentials = allow
    cluster = {"metadata": {"name": "m"}, "spec": {"syncMode": "Push", "secretRef": {"name": "m-kubeconfig"}}}
    members.clusters.store.replace([ClusterResource.from_dict(cluster)])
    secret = Secret(
        metadata=ObjectMeta(name="m-kubeconfig", namespace="kokpit-system", resourceVersion="1"),
        data={"kubeconfig": base64.b64encode(yaml.safe_dump(config).encode()).decode()},
    )
    members.secrets.store.replace([secret])
    return members


async def test_the_hub_refuses_an_exec_kubeconfig_unless_allowed() -> None:
    refused = member_clients_with(kubeconfig(EXEC), allow=False)
    with pytest.raises(
        MemberUnavailable, match=r"user .admin. of secret kokpit-system/m-kubeconfig uses an exec"
    ):
        await refused.client("m")
    allowed = member_clients_with(kubeconfig(EXEC), allow=True)
    try:
        assert await allowed.client("m") is not None
    finally:
        await allowed.manager.clients.aclose()
