"""The hub's proxy into the member behind the firewall, through its agent's tunnel.

`kokpit get kubeconfig member2 --proxy` gives a kubeconfig for `https://<hub proxy>/clusters/member2`
with the caller's hub credentials; kubectl with it runs here, on the hub's side, where member2's
API server cannot be reached at all: every byte goes through the tunnel the agent dialled out.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kokpit.sandbox.kwoklogs import append_log_line
from tests.integration.pull.conftest import PULL, TIMEOUT, RestartableHub, is_ready
from tests.support import SandboxHandle, Streaming, kokpit_cli, kubectl, kubectl_argv, wait_until

pytestmark = pytest.mark.integration

SA = "pull-proxy-user"


def containing(text: str) -> Callable[[str], bool]:
    return lambda line: text in line


@pytest.fixture(scope="module")
def through_proxy(
    pull_fleet: SandboxHandle, hub: RestartableHub, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The hub admin's kubeconfig for member2 through the proxy."""
    out = tmp_path_factory.mktemp("proxy") / "member2.kubeconfig"
    result = kokpit_cli(
        "get", "kubeconfig", PULL, "--proxy", "-o", str(out), hub=pull_fleet.kubeconfig("hub")
    )
    assert result.returncode == 0, result.stderr
    wait_until(
        "the tunnel carrying requests",
        lambda: (
            kubectl(out, "get", "--raw", "/readyz", "--request-timeout=5s", check=False).stdout.strip()
            == "ok"
        ),
        timeout=TIMEOUT,
    )
    return out


def test_the_proxy_reaches_the_member_the_hub_cannot_reach(
    pull_fleet: SandboxHandle, through_proxy: Path
) -> None:
    server = yaml.safe_load(through_proxy.read_text())["clusters"][0]["cluster"]["server"]
    assert server.endswith(f"/clusters/{PULL}")
    assert pull_fleet.state.clusters[PULL].endpoint not in server
    nodes = kubectl(through_proxy, "get", "nodes", "-o", "name").stdout.split()
    direct = pull_fleet.kubectl(PULL, "get", "nodes", "-o", "name").stdout.split()
    assert nodes == direct and nodes


def test_a_watch_through_the_tunnel_streams_each_event(
    pull_fleet: SandboxHandle, through_proxy: Path
) -> None:
    names = [f"tunnel-watch-{n}-{int(time.time())}" for n in range(3)]
    with Streaming(
        kubectl_argv(through_proxy, "get", "configmaps", "-A", "-w", "--request-timeout=0")
    ) as watch:
        watch.wait_for("the first list", lambda line: "kube-root-ca.crt" in line, timeout=30)
        try:
            for name in names:
                pull_fleet.kubectl(PULL, "-n", "default", "create", "configmap", name)
                watch.wait_for(name, containing(name), timeout=10)
            assert watch.process.poll() is None, "the watch must still be open"
        finally:
            pull_fleet.kubectl(
                PULL, "-n", "default", "delete", "configmap", *names, "--ignore-not-found", check=False
            )


def test_logs_follow_through_the_tunnel(pull_fleet: SandboxHandle, through_proxy: Path) -> None:
    pull_fleet.kubectl(PULL, "create", "deployment", "tunnel-logs", "--image=nginx")
    pull_fleet.kubectl(PULL, "rollout", "status", "deployment/tunnel-logs", "--timeout=60s")
    line = f"through the tunnel at {time.time()}"
    with Streaming(kubectl_argv(through_proxy, "logs", "-f", "deployment/tunnel-logs")) as logs:
        logs.wait_for("the log so far", lambda text: "kwok node" in text, timeout=30)
        append_log_line(pull_fleet.dir / "clusters" / PULL / "kwok", line)
        logs.wait_for("the appended line", lambda text: text == line, timeout=15)
    pull_fleet.kubectl(PULL, "delete", "deployment", "tunnel-logs", "--wait=false")


@pytest.fixture(scope="module")
def token_user(pull_fleet: SandboxHandle, hub: RestartableHub) -> Iterator[str]:
    """A hub ServiceAccount's token: a hub user with no rights at first."""
    admin = pull_fleet.kubeconfig("hub")
    kubectl(admin, "-n", "default", "create", "serviceaccount", SA, check=False)
    token = kubectl(admin, "-n", "default", "create", "token", SA, "--duration", "1h").stdout.strip()
    try:
        yield token
    finally:
        kubectl(admin, "-n", "default", "delete", "serviceaccount", SA, "--ignore-not-found", check=False)
        kubectl(admin, "delete", "clusterrolebinding,clusterrole", SA, "--ignore-not-found", check=False)
        pull_fleet.kubectl(PULL, "delete", "clusterrolebinding", SA, "--ignore-not-found", check=False)


def _with_token(kubeconfig: Path, token: str, out: Path) -> Path:
    config = yaml.safe_load(kubeconfig.read_text())
    config["users"] = [{"name": "token-user", "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "token-user"
    out.write_text(yaml.safe_dump(config))
    out.chmod(0o600)
    return out


def _apply(kubeconfig: Path, docs: list[dict[str, Any]]) -> None:
    result = subprocess.run(
        kubectl_argv(kubeconfig, "apply", "-f", "-"),
        input=yaml.safe_dump_all(docs),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_the_hub_refuses_without_clusters_proxy_and_then_the_member_s_rbac_decides(
    pull_fleet: SandboxHandle, through_proxy: Path, token_user: str, tmp_path: Path
) -> None:
    config = _with_token(through_proxy, token_user, tmp_path / "user.kubeconfig")
    refused = kubectl(config, "get", "pods", "-n", "default", check=False)
    assert refused.returncode != 0
    assert "clusters/proxy" in refused.stderr and "Forbidden" in refused.stderr, refused.stderr

    _apply(
        pull_fleet.kubeconfig("hub"),
        [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": SA},
                "rules": [
                    {
                        "apiGroups": ["cluster.kokpit.io"],
                        "resources": ["clusters/proxy"],
                        "resourceNames": [PULL],
                        "verbs": ["get", "create", "update", "patch", "delete"],
                    }
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": SA},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": SA},
                "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": "default"}],
            },
        ],
    )
    user = f"system:serviceaccount:default:{SA}"

    def member_refuses() -> bool:
        result = kubectl(config, "get", "pods", "-n", "default", check=False)
        return result.returncode != 0 and f'User "{user}" cannot list resource "pods"' in result.stderr

    wait_until("member2's own 403 for the hub user", member_refuses, timeout=30)
    pull_fleet.kubectl(PULL, "create", "clusterrolebinding", SA, "--clusterrole=view", f"--user={user}")
    wait_until(
        "member2 letting the hub user list pods",
        lambda: kubectl(config, "get", "pods", "-n", "default", check=False).returncode == 0,
        timeout=30,
    )


def test_the_tunnel_comes_back_after_the_hub_restarts(
    pull_fleet: SandboxHandle, hub: RestartableHub, through_proxy: Path
) -> None:
    hub.restart()
    # The proxy may listen on a new port: ask for a new kubeconfig, as a user would.
    fresh = through_proxy.with_name("after-restart.kubeconfig")
    wait_until("the proxy published again", lambda: hub.proxy_url() is not None, timeout=60)
    wait_until(
        "a kubeconfig through the restarted proxy, and the agent's tunnel dialled again",
        lambda: (
            kokpit_cli(
                "get", "kubeconfig", PULL, "--proxy", "-o", str(fresh), hub=pull_fleet.kubeconfig("hub")
            ).returncode
            == 0
            and kubectl(fresh, "get", "--raw", "/readyz", "--request-timeout=5s", check=False).stdout.strip()
            == "ok"
        ),
        timeout=TIMEOUT,
    )
    wait_until("member2 Ready", lambda: is_ready(pull_fleet), timeout=TIMEOUT)
    fresh.replace(through_proxy)


def test_cutting_the_link_mid_watch_ends_the_stream(
    pull_fleet: SandboxHandle, hub: RestartableHub, through_proxy: Path
) -> None:
    with Streaming(
        kubectl_argv(through_proxy, "get", "configmaps", "-A", "-w", "--request-timeout=0")
    ) as watch:
        watch.wait_for("the first list", lambda line: "kube-root-ca.crt" in line, timeout=30)
        pull_fleet.set_link(PULL, up=False)
        try:
            ended = watch.ended(timeout=90)
            assert ended is not None, "the watch hangs on a cut link"
        finally:
            pull_fleet.set_link(PULL, up=True)
    wait_until("member2 Ready once the link is back", lambda: is_ready(pull_fleet), timeout=TIMEOUT)
    wait_until(
        "the tunnel carrying requests again",
        lambda: (
            kubectl(
                through_proxy, "get", "--raw", "/readyz", "--request-timeout=5s", check=False
            ).stdout.strip()
            == "ok"
        ),
        timeout=TIMEOUT,
    )
