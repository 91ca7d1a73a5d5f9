"""The first acceptance of real nodes, as a user runs it: three sandbox hosts in the hub's inventory,
the hub's controllers running, `kokpit create cluster prod --workers 2 --exposure-address 10.77.0.1`
-> two real Nodes Ready (kubelet + containerd 2.4.2 + runc); `kubectl run` of kokpit's local web image
-> Running; `kubectl logs` and `kubectl exec` work; the pod answers HTTP from the other node's
network namespace; `kokpit delete cluster prod` frees the Hosts.

Nothing is simulated: the hub is the session sandbox's, its controllers are `kokpit hub run`'s
(`HubThread`), the commands are the CLI in subprocesses, the nodes are kubelets on the hosts.
Run under `flock /tmp/kokpit-integration.lock` (a few minutes).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kokpit.sandbox.hosts import Inventory
from kokpit.settings import HubSettings
from tests.integration.hosted.conftest import CURRENT, _stop_leftovers
from tests.support import HubThread, SandboxHandle, kokpit_cli, kubectl, run_kokpit, wait_until

pytestmark = pytest.mark.integration

CLUSTER = "prod"
NAMESPACE = "default"
GATEWAY = "10.77.0.1"
"""The hosts' bridge address in the root namespace: where the cluster serves for its nodes."""
RUNTIME = "containerd://2.4.2"


@pytest.fixture(scope="module")
def host_count() -> int:
    return 3


@dataclass
class Hub:
    """The session sandbox's hub with kokpit installed, the hosts' inventory applied to `NAMESPACE`
    and every hub controller running in this process."""

    kubeconfig: Path
    inventory: Inventory

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return kubectl(self.kubeconfig, *args, check=check)

    def objects(self, kind: str) -> list[dict[str, Any]]:
        found = self.kubectl("get", kind, "-n", NAMESPACE, "-o", "json").stdout
        items: list[dict[str, Any]] = json.loads(found)["items"]
        return items


@pytest.fixture(scope="module")
def hub(sandbox: SandboxHandle, hosts: Inventory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    kubeconfig = sandbox.kubeconfig("hub")
    installed = kokpit_cli("install", hub=kubeconfig)
    assert installed.returncode == 0, installed.stderr
    env = Hub(kubeconfig, hosts)
    env.kubectl("apply", "-n", NAMESPACE, "-f", str(hosts.path))
    settings = HubSettings(state_dir=tmp_path_factory.mktemp("hub-state"))
    controllers = HubThread(kubeconfig, settings=settings).start()
    try:
        yield env
    finally:
        try:
            # A failed test may leave the cluster: its machines go first (kubelets stopped, Hosts
            # released), then its control plane; whatever is left on the hosts dies with them.
            with contextlib.suppress(subprocess.TimeoutExpired):
                kokpit_cli("delete", "cluster", CLUSTER, "--timeout", "150", hub=kubeconfig, timeout=180)
            env.kubectl("delete", "-n", NAMESPACE, "-f", str(hosts.path), "--ignore-not-found", check=False)
        finally:
            controllers.stop()
            _stop_leftovers(settings.controlplane_root)
            _stop_leftovers(settings.etcd_root)


def _ready(node: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", [])
    )


def _web_image() -> str:
    listed = run_kokpit("images", "list")
    assert listed.returncode == 0, listed.stderr
    [image] = [line for line in listed.stdout.split() if "/web:" in line]
    return image


def test_create_cluster_with_two_workers_runs_a_pod_reachable_from_the_other_node(
    hub: Hub, tmp_path: Path
) -> None:
    image = _web_image()
    started = time.monotonic()
    created = kokpit_cli(
        "create",
        "cluster",
        CLUSTER,
        "--workers",
        "2",
        "--exposure-address",
        GATEWAY,
        "--version",
        CURRENT,
        hub=hub.kubeconfig,
        timeout=420,
    )
    assert created.returncode == 0, created.stderr
    print(f"\ncreate cluster --workers 2 -> Ready in {time.monotonic() - started:.1f}s: {created.stdout}")

    kubeconfig = tmp_path / "prod.kubeconfig"
    got = kokpit_cli("get", "kubeconfig", CLUSTER, "-o", str(kubeconfig), hub=hub.kubeconfig)
    assert got.returncode == 0, got.stderr

    def prod(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return kubectl(kubeconfig, *args, check=check)

    # Two real Nodes, Ready when the CLI returned (the cluster's Ready counts them).
    nodes = json.loads(prod("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == 2, [n["metadata"]["name"] for n in nodes]
    assert all(_ready(n) for n in nodes), [n["status"]["conditions"] for n in nodes]
    runtimes = {n["metadata"]["name"]: n["status"]["nodeInfo"]["containerRuntimeVersion"] for n in nodes}
    assert all(v.startswith(RUNTIME) for v in runtimes.values()), runtimes
    assert all(n["status"]["nodeInfo"]["kubeletVersion"] == CURRENT for n in nodes)

    # A pod of the local web image runs in a real container.
    prod("run", "web", f"--image={image}", "--image-pull-policy=Never", "--port=8080")
    waited = prod("wait", "--for=condition=Ready", "pod/web", "--timeout=120s", check=False)
    assert waited.returncode == 0, prod("describe", "pod", "web", check=False).stdout
    pod = json.loads(prod("get", "pod", "web", "-o", "json").stdout)
    assert pod["status"]["phase"] == "Running"
    pod_ip, on = pod["status"]["podIP"], pod["spec"]["nodeName"]
    [container] = pod["status"]["containerStatuses"]
    assert container["containerID"].startswith("containerd://")

    # HTTP from the other node's network namespace: across the node network to the pod subnet.
    [other] = [name for name in runtimes if name != on]
    netns = hub.inventory.plan(other).netns_path
    answer = subprocess.run(
        ["nsenter", f"--net={netns}", "/bin/busybox", "wget", "-qO-", f"http://{pod_ip}:8080/"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert answer.returncode == 0, answer.stderr
    assert "kokpit web: pod web" in answer.stdout, answer.stdout

    # logs (the request just made, from httpd -v) and exec go through the kubelet.
    wait_until("the request in the pod's log", lambda: bool(prod("logs", "web").stdout.strip()), timeout=20)
    assert prod("exec", "web", "--", "hostname").stdout.strip() == "web"

    # Deleting the cluster removes its machines first and frees the Hosts.
    deleted = kokpit_cli("delete", "cluster", CLUSTER, "--timeout", "180", hub=hub.kubeconfig, timeout=200)
    assert deleted.returncode == 0, deleted.stderr
    assert hub.objects("machines.machines.kokpit.io") == []

    def hosts() -> dict[str, dict[str, Any]]:
        return {h["metadata"]["name"]: h.get("status") or {} for h in hub.objects("hosts.machines.kokpit.io")}

    def freed() -> bool:
        found = hosts()
        return (
            len(found) == 3
            and all(found[name].get("phase") == "Available" for name in runtimes)  # the nodes' Hosts
            and all(s.get("phase") in (None, "Available") and not s.get("machineRef") for s in found.values())
        )

    wait_until("the nodes' Hosts Available again", freed)
    assert sorted(runtimes) == sorted(h for h, s in hosts().items() if s.get("phase") == "Available")
    print(f"whole flow in {time.monotonic() - started:.1f}s")
