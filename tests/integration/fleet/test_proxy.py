"""The hub's proxy into members: authentication and `clusters/proxy` on the hub, the member's RBAC
behind it, streaming watches; and the tunnel of a Pull cluster, here carried by `run_tunnel` running
in this process with a sandbox member's kubeconfig (the firewalled member is the Pull suite's)."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kokpit.agent.tunnel_client import run_tunnel
from kokpit.controlplane import pki
from kokpit.fleet.names import AGENTS_GROUP, agent_user
from kokpit.hub.proxy import ProxyService, proxy_service
from kokpit.sandbox.sandbox import cluster_root
from kokpit.settings import HubSettings
from tests.support import HubThread, SandboxHandle, kokpit_cli, kubectl, kubectl_argv, wait_until

PULL = "tunnel1"
"""A Pull Cluster whose 'agent' is `run_tunnel` in this process, in front of member3."""

SA = "proxy-user"
PODS = "/api/v1/namespaces/default/pods"
"""Asked with `kubectl get --raw`: kubectl prints the refusal's own message (discovery would not)."""


@pytest.fixture(scope="module")
def proxy_hub(fleet: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    hub = HubThread(
        fleet.kubeconfig("hub"),
        settings=HubSettings(state_dir=tmp_path_factory.mktemp("hub-state"), proxy_address="127.0.0.1:0"),
    ).start()
    try:
        service = proxy_service(hub.manager)
        assert service is not None

        def published() -> bool:
            if service.endpoints is None:
                return False
            got = kubectl(
                fleet.kubeconfig("hub"),
                "-n",
                "kube-public",
                "get",
                "configmap",
                "kokpit-hub-endpoints",
                "-o",
                "jsonpath={.data.proxyURL}",
                check=False,
            )
            return got.stdout == service.endpoints.proxy_url

        wait_until("the proxy's endpoints published", published, timeout=60)
        yield hub
    finally:
        hub.stop()


def service_of(hub: HubThread) -> ProxyService:
    service = proxy_service(hub.manager)
    assert service is not None
    return service


def proxy_kubeconfig(hub: Path, cluster: str, out: Path) -> Path:
    result = kokpit_cli("get", "kubeconfig", cluster, "--proxy", "-o", str(out), hub=hub)
    assert result.returncode == 0, result.stderr
    return out


def with_token(kubeconfig: Path, token: str, out: Path) -> Path:
    config = yaml.safe_load(kubeconfig.read_text())
    config["users"] = [{"name": "token-user", "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "token-user"
    out.write_text(yaml.safe_dump(config))
    return out


def apply_yaml(kubeconfig: Path, docs: list[dict[str, Any]]) -> None:
    result = subprocess.run(
        kubectl_argv(kubeconfig, "apply", "-f", "-"),
        input=yaml.safe_dump_all(docs),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def proxy_grant(cluster: str) -> list[dict[str, Any]]:
    name = f"proxy-user-{cluster}"
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [
                {
                    "apiGroups": ["cluster.kokpit.io"],
                    "resources": ["clusters/proxy"],
                    "resourceNames": [cluster],
                    "verbs": ["get", "create", "update", "patch", "delete"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": "default"}],
        },
    ]


@pytest.fixture(scope="module")
def token_user(fleet: SandboxHandle) -> Iterator[str]:
    """A hub ServiceAccount's token: a user of the hub with no rights at first."""
    hub = fleet.kubeconfig("hub")
    kubectl(hub, "-n", "default", "create", "serviceaccount", SA, check=False)
    token = kubectl(hub, "-n", "default", "create", "token", SA, "--duration", "1h").stdout.strip()
    try:
        yield token
    finally:
        kubectl(hub, "-n", "default", "delete", "serviceaccount", SA, "--ignore-not-found", check=False)
        for name in ("proxy-user-member1",):
            kubectl(hub, "delete", "clusterrolebinding,clusterrole", name, "--ignore-not-found", check=False)
        kubectl(
            fleet.kubeconfig("member1"),
            "delete",
            "clusterrolebinding",
            "proxy-user-view",
            "--ignore-not-found",
            check=False,
        )


def test_an_admin_certificate_of_the_hub_reaches_a_push_member(
    proxy_hub: HubThread, fleet: SandboxHandle, tmp_path: Path
) -> None:
    config = proxy_kubeconfig(fleet.kubeconfig("hub"), "member1", tmp_path / "m1.kubeconfig")
    assert service_of(proxy_hub).endpoints is not None
    server = yaml.safe_load(config.read_text())["clusters"][0]["cluster"]["server"]
    assert server == f"{service_of(proxy_hub).endpoints.proxy_url}/clusters/member1"  # type: ignore[union-attr]
    nodes = kubectl(config, "get", "nodes", "-o", "name").stdout.split()
    direct = kubectl(fleet.kubeconfig("member1"), "get", "nodes", "-o", "name").stdout.split()
    assert nodes == direct and nodes


def test_no_credentials_is_401_and_an_unknown_member_404(proxy_hub: HubThread, fleet: SandboxHandle) -> None:
    import ssl
    import urllib.error
    import urllib.request

    endpoints = service_of(proxy_hub).endpoints
    assert endpoints is not None
    context = ssl.create_default_context(cadata=endpoints.ca_pem)
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{endpoints.proxy_url}/clusters/member1/api", context=context, timeout=10)
    assert anonymous.value.code == 401
    result = kokpit_cli("get", "kubeconfig", "nosuch", "--proxy", hub=fleet.kubeconfig("hub"))
    assert result.returncode == 1
    assert "cluster nosuch is not a member" in result.stderr


def test_rights_on_the_hub_then_on_the_member_decide(
    proxy_hub: HubThread, fleet: SandboxHandle, token_user: str, tmp_path: Path
) -> None:
    hub = fleet.kubeconfig("hub")
    config = with_token(proxy_kubeconfig(hub, "member1", tmp_path / "a"), token_user, tmp_path / "tok")

    refused = kubectl(config, "get", "--raw", PODS, check=False)
    assert refused.returncode != 0
    assert "clusters/proxy" in refused.stderr and "Forbidden" in refused.stderr, refused.stderr

    apply_yaml(hub, proxy_grant("member1"))
    user = f"system:serviceaccount:default:{SA}"

    def member_refuses() -> bool:
        result = kubectl(config, "get", "--raw", PODS, check=False)
        return result.returncode != 0 and f'User "{user}" cannot list resource "pods"' in result.stderr

    wait_until("the member's own 403 for the hub user", member_refuses, timeout=30)

    other = with_token(proxy_kubeconfig(hub, "member2", tmp_path / "b"), token_user, tmp_path / "tok2")
    elsewhere = kubectl(other, "get", "--raw", PODS, check=False)
    assert "clusters/proxy" in elsewhere.stderr, "the grant names member1 only"

    kubectl(
        fleet.kubeconfig("member1"),
        "create",
        "clusterrolebinding",
        "proxy-user-view",
        "--clusterrole=view",
        f"--user={user}",
    )
    wait_until(
        "the member letting the hub user list pods",
        lambda: kubectl(config, "get", "pods", "-n", "default", check=False).returncode == 0,
        timeout=30,
    )


def watch_lines(kubeconfig: Path, *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Starts `kubectl get ... -w` and collects its lines in a thread as they come."""
    process = subprocess.Popen(
        kubectl_argv(kubeconfig, *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return process, lines


def test_a_watch_through_the_proxy_streams_each_event_as_it_happens(
    proxy_hub: HubThread, fleet: SandboxHandle, tmp_path: Path
) -> None:
    config = proxy_kubeconfig(fleet.kubeconfig("hub"), "member1", tmp_path / "w")
    member = fleet.kubeconfig("member1")
    process, lines = watch_lines(config, "get", "configmaps", "-A", "-w", "--request-timeout=0")
    names = [f"proxy-watch-{n}-{int(time.time())}" for n in range(3)]
    try:
        wait_until("the first list", lambda: any("kube-root-ca.crt" in line for line in lines), timeout=30)
        for name in names:
            kubectl(member, "-n", "default", "create", "configmap", name)
            wait_until(f"{name} through the watch", seen(lines, name), timeout=10)
        assert process.poll() is None, "the watch must still be open"
    finally:
        process.kill()
        process.wait()
        kubectl(member, "-n", "default", "delete", "configmap", *names, "--ignore-not-found", check=False)


def seen(lines: list[str], text: str) -> Callable[[], bool]:
    return lambda: any(text in line for line in lines)


# -- the tunnel ------------------------------------------------------------------------------------


class TunnelThread:
    """`run_tunnel` in a thread of its own: the agent's end, stoppable to cut the link."""

    def __init__(self, cluster: str, hub_kubeconfig: Path, member_kubeconfig: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._args = (cluster, hub_kubeconfig, member_kubeconfig)
        self._thread = threading.Thread(target=self._run, daemon=True, name="tunnel")

    def _run(self) -> None:
        async def main() -> None:
            self._task = asyncio.current_task()  # type: ignore[assignment]
            await run_tunnel(*self._args)

        try:
            self.loop.run_until_complete(main())
        except BaseException:
            pass
        finally:
            self.loop.close()

    def start(self) -> TunnelThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._task is not None and self._thread.is_alive() and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=10)


def agent_kubeconfig(fleet: SandboxHandle, cluster: str, out: Path) -> Path:
    """A hub kubeconfig with a certificate of the hub's CA naming the agent of `cluster`."""
    hub_pki = pki.read_cluster_pki(cluster_root(fleet.dir, "hub") / "pki")
    cert = pki.issue(hub_pki.ca, common_name=agent_user(cluster), organizations=[AGENTS_GROUP], client=True)
    admin = yaml.safe_load(fleet.kubeconfig("hub").read_text())
    server = admin["clusters"][0]["cluster"]
    config = pki.kubeconfig(
        cluster="hub",
        server=server["server"],
        ca_pem=hub_pki.ca.cert_pem,
        user=agent_user(cluster),
        credentials=cert,
    )
    pki.write_kubeconfig(config, out)
    return out


@pytest.fixture(scope="module")
def pull_cluster(
    proxy_hub: HubThread, fleet: SandboxHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A Pull Cluster `tunnel1`, and the agent's right to read where the tunnel is."""
    hub = fleet.kubeconfig("hub")
    user = agent_user(PULL)
    apply_yaml(
        hub,
        [
            {
                "apiVersion": "cluster.kokpit.io/v1alpha1",
                "kind": "Cluster",
                "metadata": {"name": PULL},
                "spec": {"syncMode": "Pull"},
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "tunnel-test-endpoints", "namespace": "kube-public"},
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["configmaps"],
                        "resourceNames": ["kokpit-hub-endpoints"],
                        "verbs": ["get"],
                    }
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "tunnel-test-endpoints", "namespace": "kube-public"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "tunnel-test-endpoints",
                },
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
            },
        ],
    )
    kubeconfig = agent_kubeconfig(fleet, PULL, tmp_path_factory.mktemp("agent") / "hub.kubeconfig")
    try:
        yield kubeconfig
    finally:
        kubectl(
            hub,
            "delete",
            "clusters.cluster.kokpit.io",
            PULL,
            "--ignore-not-found",
            "--wait=false",
            check=False,
        )
        kubectl(
            hub,
            "-n",
            "kube-public",
            "delete",
            "role,rolebinding",
            "tunnel-test-endpoints",
            "--ignore-not-found",
            check=False,
        )


def test_a_pull_cluster_is_reached_through_its_agents_tunnel_and_a_cut_ends_the_watch(
    proxy_hub: HubThread, fleet: SandboxHandle, pull_cluster: Path, tmp_path: Path
) -> None:
    service = service_of(proxy_hub)
    config = proxy_kubeconfig(fleet.kubeconfig("hub"), PULL, tmp_path / "pull")
    refused = kubectl(config, "get", "--raw", "/api", check=False)
    assert refused.returncode != 0 and "agent is not connected" in refused.stderr, refused.stderr

    tunnel = TunnelThread(PULL, pull_cluster, fleet.kubeconfig("member3")).start()
    try:
        wait_until("the agent's tunnel", lambda: PULL in service.tunnels.connected(), timeout=30)
        nodes = kubectl(config, "get", "nodes", "-o", "name").stdout.split()
        assert nodes == kubectl(fleet.kubeconfig("member3"), "get", "nodes", "-o", "name").stdout.split()

        process, lines = watch_lines(config, "get", "configmaps", "-A", "-w", "--request-timeout=0")
        wait_until("the first list", lambda: any("kube-root-ca.crt" in line for line in lines), timeout=30)
        name = f"tunnel-watch-{int(time.time())}"
        kubectl(fleet.kubeconfig("member3"), "-n", "default", "create", "configmap", name)
        wait_until("the event through the tunnel", lambda: any(name in line for line in lines), timeout=10)
        assert process.poll() is None

        tunnel.stop()  # the link goes down mid-watch
        process.wait(timeout=15)  # the watch ends: no hang
        kubectl(fleet.kubeconfig("member3"), "-n", "default", "delete", "configmap", name, check=False)
    finally:
        tunnel.stop()


def test_only_the_agent_of_a_pull_cluster_may_carry_its_tunnel(
    proxy_hub: HubThread, fleet: SandboxHandle, pull_cluster: Path, tmp_path: Path
) -> None:
    import aiohttp

    endpoints = service_of(proxy_hub).endpoints
    assert endpoints is not None

    async def dial(kubeconfig: Path) -> int:
        from kokpit.agent.tunnel_client import client_tls

        context = client_tls(kubeconfig, endpoints.ca_pem)
        async with aiohttp.ClientSession() as http:
            try:
                ws = await http.ws_connect(endpoints.tunnel_url, ssl=context)
            except aiohttp.WSServerHandshakeError as error:
                return error.status
            await ws.close()
            return 101

    assert asyncio.run(dial(agent_kubeconfig(fleet, "member1", tmp_path / "push"))) == 403, "a Push member"
    assert asyncio.run(dial(agent_kubeconfig(fleet, "nosuch", tmp_path / "none"))) == 403, "no such cluster"
    assert asyncio.run(dial(fleet.kubeconfig("hub"))) == 403, "the hub's admin is no agent"
