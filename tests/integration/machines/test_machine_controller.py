"""The Machine controller on real hosts: claims, SSH failures as conditions, a component installed,
drifted and restored, upgraded, reconfigured, rolled back after a failing step, and removed.

The hosts are sandbox hosts (network namespaces with sshd) and the target is a real hosted cluster
serving on their bridge; the component here is a small test one (files, an artifact, scripts), so
these tests prove the operator, not the node software (the built-in catalogue has its own test).
Run under `flock /tmp/kokpit-integration.lock`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod, Secret
from lightkube.types import PatchType

from kokpit.hosted.workers import default_components
from kokpit.machines import MachineResource, NodeComponentResource
from kokpit.machines.catalogue import builtin_components
from kokpit.machines.health_plan import DONE_ANNOTATION, REMEDIATION_ANNOTATION, REQUESTED_ANNOTATION
from kokpit.machines.joining import MACHINE_UID_LABEL
from kokpit.machines.targets import target_cluster_access
from kokpit.runtime import Key, format_time, get_or_none
from kokpit.runtime.resources import PlainNode
from tests.integration.hosted.conftest import CURRENT
from tests.integration.machines.conftest import MachineEnv, condition, wait_cluster_ready

pytestmark = pytest.mark.integration

UNUSED_ADDRESS = "10.77.0.99"
"""On the hosts' bridge subnet, held by no host: nothing answers there."""


def demo_component(artifact: Path) -> dict[str, Any]:
    """A test NodeComponent: one file, one artifact, every step leaving a trace in a log."""
    log = '"$P/var/log/kt-demo.log"'
    return {
        "apiVersion": "machines.kokpit.io/v1alpha1",
        "kind": "NodeComponent",
        "metadata": {"name": "kt-demo"},
        "spec": {
            "versions": ["1.0", "2.0"],
            "parameters": {
                "type": "object",
                "properties": {
                    "greeting": {"type": "string", "default": "hello"},
                    "failConfigure": {"type": "boolean", "default": False},
                },
                "additionalProperties": False,
            },
            "variants": [
                {
                    "os": "linux",
                    "architectures": ["amd64", "arm64"],
                    "files": [
                        {
                            "path": "/etc/kt-demo/config",
                            "content": "greeting={{ parameters.greeting }}\nversion={{ version }}\n",
                        }
                    ],
                    "artifacts": [
                        {"source": f"file://{artifact}", "path": "/opt/kt-demo/bin/tool", "mode": "0755"}
                    ],
                    "install": (
                        "P='{{ host.prefix.rstrip(\"/\") }}'\n"
                        f'mkdir -p "$P/var/log"\necho "install {{{{ version }}}}" >> {log}\n'
                    ),
                    "configure": (
                        "P='{{ host.prefix.rstrip(\"/\") }}'\n"
                        f'echo "configure $KOKPIT_VERSION" >> {log}\n'
                        "{% if parameters.failConfigure %}"
                        'echo "boom: the configuration is refused"\nexit 3\n'
                        "{% endif %}"
                    ),
                    "check": (
                        "P='{{ host.prefix.rstrip(\"/\") }}'\n"
                        'grep -q "^greeting=" "$P/etc/kt-demo/config"\n"$P/opt/kt-demo/bin/tool"\n'
                    ),
                    "remove": (
                        "P='{{ host.prefix.rstrip(\"/\") }}'\n"
                        f'echo remove >> {log}\ntouch "$P/var/lib/kt-demo-removed"\n'
                    ),
                }
            ],
        },
    }


def arm_only_component() -> dict[str, Any]:
    return {
        "apiVersion": "machines.kokpit.io/v1alpha1",
        "kind": "NodeComponent",
        "metadata": {"name": "kt-arm-only"},
        "spec": {
            "versions": ["1"],
            "variants": [{"os": "linux", "architectures": ["arm64"], "check": "true"}],
        },
    }


def on_host(env: MachineEnv, host: str, path: str) -> Path:
    """A path on a sandbox host as the test process sees it (the host's disk is a directory here)."""
    return Path(env.inventory.host(host).prefix.rstrip("/") + path)


# --- SSH failures are conditions ----------------------------------------------------------------


async def test_a_wrong_key_is_authentication_failed(machine_env: MachineEnv) -> None:
    env = machine_env
    real = env.inventory.host("host-1")
    await env.create_secret("wrong-key", asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    await env.create_host(
        "wrong-key",
        {"address": real.address, "credentialsSecretRef": {"name": "wrong-key"}, "hostKey": real.host_key},
    )
    await env.create_machine("wrong-key", "wrong-key")
    status = await env.wait_machine(
        "wrong-key",
        "AuthenticationFailed",
        lambda s: condition(s, "HostReachable").get("reason") == "AuthenticationFailed",
    )
    message = condition(status, "HostReachable")["message"]
    assert real.address in message and "wrong-key" in message and "PRIVATE" not in message
    assert status["phase"] == "Failed"
    assert condition(status, "Ready")["status"] == "False"
    host = await env.host("wrong-key")
    assert condition(host, "Reachable")["reason"] == "AuthenticationFailed"
    await env.delete_machine("wrong-key")
    assert (await env.host("wrong-key")).get("phase") == "Available"


async def test_another_host_key_is_a_mismatch(machine_env: MachineEnv) -> None:
    env = machine_env
    real = env.inventory.host("host-1")
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    await env.create_host(
        "impostor",
        {"address": real.address, "credentialsSecretRef": {"name": "host-1-ssh"}, "hostKey": impostor},
    )
    await env.create_machine("impostor", "impostor")
    status = await env.wait_machine(
        "impostor",
        "HostKeyMismatch",
        lambda s: condition(s, "HostReachable").get("reason") == "HostKeyMismatch",
    )
    assert "pinned hostKey" in condition(status, "HostReachable")["message"]
    assert status["phase"] == "Failed"
    await env.delete_machine("impostor")


async def test_an_unreachable_address_is_host_unreachable(machine_env: MachineEnv) -> None:
    env = machine_env
    real = env.inventory.host("host-1")
    await env.create_host(
        "nowhere",
        {"address": UNUSED_ADDRESS, "credentialsSecretRef": {"name": "host-1-ssh"}, "hostKey": real.host_key},
    )
    await env.create_machine("nowhere", "nowhere")
    status = await env.wait_machine(
        "nowhere",
        "HostUnreachable",
        lambda s: condition(s, "HostReachable").get("reason") == "HostUnreachable",
    )
    assert UNUSED_ADDRESS in condition(status, "HostReachable")["message"]
    assert status["phase"] == "Pending"
    await env.delete_machine("nowhere")


async def test_a_missing_host_is_named(machine_env: MachineEnv) -> None:
    env = machine_env
    await env.create_machine("no-host", "does-not-exist")
    status = await env.wait_machine(
        "no-host", "HostNotFound", lambda s: condition(s, "HostReachable").get("reason") == "HostNotFound"
    )
    assert "does-not-exist" in condition(status, "HostReachable")["message"]
    assert status["phase"] == "Pending"
    await env.delete_machine("no-host")


async def test_a_host_is_held_by_one_machine_and_freed_when_it_goes(machine_env: MachineEnv) -> None:
    env = machine_env
    await env.create_machine("first", "host-3")
    await env.wait_machine(
        "first", "reached", lambda s: condition(s, "HostReachable").get("status") == "True"
    )
    host = await env.host("host-3")
    assert host["phase"] == "Claimed" and host["machineRef"] == {"name": "first"}
    assert (host["os"], host["distribution"], host["architecture"]) == ("linux", "debian", "amd64")
    assert condition(host, "Reachable")["status"] == "True"

    await env.create_machine("second", "host-3")
    status = await env.wait_machine(
        "second", "HostClaimed", lambda s: condition(s, "HostReachable").get("reason") == "HostClaimed"
    )
    assert "first" in condition(status, "HostReachable")["message"]

    await env.delete_machine("first")
    await env.wait_machine(
        "second", "the freed host", lambda s: condition(s, "HostReachable").get("status") == "True"
    )
    assert (await env.host("host-3"))["machineRef"] == {"name": "second"}
    await env.delete_machine("second")
    host = await env.host("host-3")
    assert host["phase"] == "Available" and "machineRef" not in host


# --- a component: installed, kept, changed, rolled back, removed ---------------------------------


async def test_a_component_is_installed_kept_consistent_and_removed(
    machine_env: MachineEnv, tmp_path: Path
) -> None:
    env = machine_env
    artifact = tmp_path / "tool"
    artifact.write_text("#!/bin/sh\nexit 0\n")
    await env.create_component(demo_component(artifact))
    await env.create_component(arm_only_component())
    await wait_cluster_ready(env)

    # Installed: the file, the artifact and the record on the host; the row in the status.
    await env.create_machine("demo", "host-1", components=[{"name": "kt-demo", "version": "1.0"}])
    status = await env.wait_machine(
        "demo", "components ready", lambda s: condition(s, "ComponentsReady").get("status") == "True"
    )
    [row] = status["components"]
    assert (row["name"], row["version"], row["healthy"]) == ("kt-demo", "1.0", True)
    digest = row["digest"]
    config = on_host(env, "host-1", "/etc/kt-demo/config")
    tool = on_host(env, "host-1", "/opt/kt-demo/bin/tool")
    log = on_host(env, "host-1", "/var/log/kt-demo.log")
    assert config.read_text() == "greeting=hello\nversion=1.0\n"
    assert tool.read_bytes() == artifact.read_bytes() and tool.stat().st_mode & 0o777 == 0o755
    assert log.read_text().splitlines() == ["install 1.0", "configure 1.0"]
    assert on_host(env, "host-1", "/var/lib/kokpit/components/kt-demo.json").exists()
    # No kubelet here: the node never registers, and the machine says so without claiming Ready.
    assert condition(status, "NodeJoined")["reason"] == "WaitingForNode"
    assert status["phase"] == "Joining" and condition(status, "Ready")["status"] != "True"

    # A hand edit is drift: restored on the next pass, with an Event naming the file.
    result = env.ssh("host-1", f"echo greeting=evil > {config}")
    assert result.returncode == 0, result.stderr
    await _eventually_true(
        lambda: config.read_text() == "greeting=hello\nversion=1.0\n", 30, "drift restored"
    )
    await env.wait_event("demo", "DriftRestored", str(config))
    assert log.read_text().splitlines()[-1] == "configure 1.0"

    # A changed binary is drift too, and means a reinstall.
    tool.write_text("#!/bin/sh\nexit 1\n")
    await _eventually_true(lambda: tool.read_bytes() == artifact.read_bytes(), 30, "artifact restored")
    await _eventually_true(
        lambda: log.read_text().splitlines()[-2:] == ["install 1.0", "configure 1.0"], 30, "reinstall"
    )

    # A new parameter is a new digest: configure, no install.
    await _patch_components(
        env, "demo", [{"name": "kt-demo", "version": "1.0", "parameters": {"greeting": "hi"}}]
    )
    status = await env.wait_machine(
        "demo", "new digest", lambda s: (s.get("components") or [{}])[0].get("digest") not in (None, digest)
    )
    assert config.read_text() == "greeting=hi\nversion=1.0\n"
    assert log.read_text().splitlines()[-1] == "configure 1.0"

    # Another version: install, then configure.
    await _patch_components(
        env, "demo", [{"name": "kt-demo", "version": "2.0", "parameters": {"greeting": "hi"}}]
    )
    await env.wait_machine("demo", "2.0", lambda s: (s.get("components") or [{}])[0].get("version") == "2.0")
    assert log.read_text().splitlines()[-2:] == ["install 2.0", "configure 2.0"]

    # A failing step: the condition names the component and step with the output, and it is rolled back.
    await _patch_components(
        env, "demo", [{"name": "kt-demo", "version": "2.0", "parameters": {"failConfigure": True}}]
    )
    status = await env.wait_machine(
        "demo",
        "ConfigureFailed",
        lambda s: condition(s, "ComponentsReady").get("reason") == "ConfigureFailed",
    )
    message = condition(status, "ComponentsReady")["message"]
    assert message.startswith("kt-demo: configure failed (exit 3); rolled back")
    assert "boom: the configuration is refused" in message
    assert status["phase"] == "Failed" and status["components"][0]["healthy"] is False
    assert on_host(env, "host-1", "/var/lib/kt-demo-removed").exists()
    assert not config.exists() and not tool.exists()
    assert not on_host(env, "host-1", "/var/lib/kokpit/components/kt-demo.json").exists()

    # Fixed: installed afresh.
    await _patch_components(env, "demo", [{"name": "kt-demo", "version": "2.0"}])
    await env.wait_machine(
        "demo", "healthy again", lambda s: condition(s, "ComponentsReady").get("status") == "True"
    )
    assert config.read_text() == "greeting=hello\nversion=2.0\n"

    # Dropped from the Machine's list: removed from the host.
    marker = on_host(env, "host-1", "/var/lib/kt-demo-removed")
    marker.unlink()
    await _patch_components(env, "demo", [])
    await _eventually_true(marker.exists, 30, "kt-demo removed")
    await env.wait_event("demo", "ComponentRemoved", "kt-demo")
    assert not config.exists() and not tool.exists()
    status = await env.wait_machine("demo", "no components", lambda s: not s.get("components"))
    assert condition(status, "ComponentsReady")["status"] == "True"

    # What the catalogue cannot give is named.
    await _patch_components(env, "demo", [{"name": "kt-demo", "version": "9.9"}])
    status = await env.wait_machine(
        "demo",
        "unknown version",
        lambda s: condition(s, "ComponentsReady").get("reason") == "UnknownComponentVersion",
    )
    assert "9.9" in condition(status, "ComponentsReady")["message"]
    await _patch_components(env, "demo", [{"name": "kt-arm-only", "version": "1"}])
    status = await env.wait_machine(
        "demo", "no variant", lambda s: condition(s, "ComponentsReady").get("reason") == "NoMatchingVariant"
    )
    assert "amd64" in condition(status, "ComponentsReady")["message"]

    # Deleted: every component removed, the host freed.
    await _patch_components(env, "demo", [{"name": "kt-demo", "version": "2.0"}])
    await env.wait_machine(
        "demo", "healthy again", lambda s: condition(s, "ComponentsReady").get("status") == "True"
    )
    on_host(env, "host-1", "/var/lib/kt-demo-removed").unlink()
    await env.delete_machine("demo")
    assert on_host(env, "host-1", "/var/lib/kt-demo-removed").exists()
    assert not config.exists() and not tool.exists()
    assert (await env.host("host-1"))["phase"] == "Available"


async def _patch_components(env: MachineEnv, name: str, components: list[dict[str, Any]]) -> None:
    await env.client.patch(
        MachineResource,
        name,
        {"spec": {"components": components}},
        namespace=env.namespace,
        patch_type=PatchType.MERGE,
    )


async def _annotate(env: MachineEnv, name: str, annotations: dict[str, str | None]) -> None:
    await env.client.patch(
        MachineResource,
        name,
        {"metadata": {"annotations": annotations}},
        namespace=env.namespace,
        patch_type=PatchType.MERGE,
    )


async def _eventually_true(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


# --- the built-in catalogue: a real node, Ready, running a pod ------------------------------------


async def test_a_machine_becomes_a_ready_node_that_runs_a_pod(
    machine_env: MachineEnv, previous_version: str
) -> None:
    env = machine_env
    # The built-in NodeComponents are not applied here: the controller creates those a Machine
    # names and the hub lacks.
    await wait_cluster_ready(env)
    # The node starts one minor behind the control plane (a supported skew), to be upgraded below.
    components = default_components(builtin_components(), previous_version, cluster_domain="cluster.local")
    started = time.monotonic()
    await env.create_machine("node-a", "host-2", components=components, labels={"kokpit.io/test": "e2e"})
    status = await env.wait_machine(
        "node-a", "Ready", lambda s: condition(s, "Ready").get("status") == "True", timeout=300
    )
    ready_after = time.monotonic() - started
    print(f"host -> Ready node in {ready_after:.1f}s")
    assert status["phase"] == "Ready" and status["nodeRef"] == {"name": "host-2"}
    assert [r["name"] for r in status["components"]] == [c["name"] for c in components]
    assert all(r["healthy"] and r["version"] and r["digest"] for r in status["components"])
    for component in components:
        await env.client.get(NodeComponentResource, component["name"])
    # A steady pass (SSH, facts, records, hashes, every check, the Node): the cost of consistency.
    steady = time.monotonic()
    await env.reconciler.reconcile(Key("hub", env.namespace, "node-a"))
    print(f"steady pass over {len(components)} components in {time.monotonic() - steady:.2f}s")

    access = await target_cluster_access(
        env.client, kind="HostedCluster", name=env.cluster, namespace=env.namespace
    )
    target = access.client()
    try:
        node = await target.get(PlainNode, "host-2")
        assert node["metadata"]["labels"]["kokpit.io/test"] == "e2e"
        assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://2.4")
        # No bootstrap token is left once the node joined.
        assert [
            s async for s in target.list(Secret, namespace="kube-system", labels={MACHINE_UID_LABEL: None})
        ] == []

        # A pod from kokpit's local web image runs in a real container and answers HTTP.
        web = Pod(
            metadata=ObjectMeta(name="web", namespace="default"),
            spec=PodSpec(
                nodeName="host-2",
                containers=[Container(name="web", image="kokpit.local/web:1.0", imagePullPolicy="Never")],
            ),
        )
        await target.create(web)
        pod = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pod = await target.get(Pod, "web", namespace="default")
            if pod.status is not None and pod.status.phase == "Running" and pod.status.podIP:
                break
            await asyncio.sleep(1)
        assert pod is not None and pod.status is not None and pod.status.phase == "Running", pod
        answer = await asyncio.to_thread(_curl, f"http://{pod.status.podIP}:8080/")
        assert answer.returncode == 0 and "kokpit web: pod web" in answer.stdout, answer.stderr

        # A hand-edited kubelet configuration is drift: restored, with an Event.
        config = on_host(env, "host-2", "/etc/kubernetes/kubelet-config.yaml")
        original = config.read_text()
        config.write_text(original.replace("maxPods: 110", "maxPods: 3"))
        await _eventually_true(lambda: config.read_text() == original, 60, "kubelet config restored")
        await env.wait_event("node-a", "DriftRestored", "kubelet-config.yaml")
        await env.wait_machine(
            "node-a", "Ready again", lambda s: condition(s, "Ready").get("status") == "True", timeout=120
        )

        # A killed kubelet is an unhealthy component; a health check's `repair` brings it back.
        pidfile = on_host(env, "host-2", "/run/kubelet.pid")
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
        status = await env.wait_machine(
            "node-a",
            "kubelet unhealthy",
            lambda s: condition(s, "ComponentsReady").get("reason") == "CheckFailed",
        )
        assert "kubelet" in condition(status, "ComponentsReady")["message"]
        assert status["phase"] == "Failed"
        killed = time.monotonic()
        await _annotate(
            env,
            "node-a",
            {REMEDIATION_ANNOTATION: "repair", REQUESTED_ANNOTATION: format_time(datetime.now(UTC))},
        )
        status = await env.wait_machine(
            "node-a", "repaired", lambda s: condition(s, "Ready").get("status") == "True", timeout=90
        )
        print(f"kubelet SIGKILL -> repaired, Ready in {time.monotonic() - killed:.1f}s")
        machine = await env.client.get(MachineResource, "node-a", namespace=env.namespace)
        assert DONE_ANNOTATION in (machine.metadata.annotations or {})
        await env.wait_event("node-a", "Remediated", "repair: kubelet")
        await _annotate(
            env, "node-a", {REMEDIATION_ANNOTATION: None, REQUESTED_ANNOTATION: None, DONE_ANNOTATION: None}
        )

        # An in-place upgrade: kubelet and kube-proxy to the control plane's version.
        upgraded = [
            {**c, "version": CURRENT} if c["name"] in ("kubelet", "kube-proxy") else c for c in components
        ]
        await _patch_components(env, "node-a", upgraded)
        await env.wait_machine(
            "node-a",
            "upgraded",
            lambda s: (
                condition(s, "Ready").get("status") == "True"
                and {r["name"]: r.get("version") for r in s.get("components") or []}.get("kubelet") == CURRENT
            ),
            timeout=180,
        )
        node = await target.get(PlainNode, "host-2")
        deadline = time.monotonic() + 60
        while node["status"]["nodeInfo"]["kubeletVersion"] != CURRENT and time.monotonic() < deadline:
            await asyncio.sleep(1)
            node = await target.get(PlainNode, "host-2")
        assert node["status"]["nodeInfo"]["kubeletVersion"] == CURRENT

        # Deleted: the Node goes from the cluster, the kubelet stops, the Host is free.
        await target.delete(Pod, "web", namespace="default", grace_period=0)
        await env.delete_machine("node-a", timeout=180)
        assert await get_or_none(target, PlainNode, "host-2") is None
        assert not on_host(env, "host-2", "/var/lib/kokpit/components/kubelet.json").exists()
        assert (await env.host("host-2"))["phase"] == "Available"
    finally:
        await target.close()


def _curl(url: str) -> subprocess.CompletedProcess[str]:
    """What answers at `url`, asked from the root network namespace (pod subnets are routed there)."""
    return subprocess.run(
        ["curl", "-fsS", "--max-time", "5", url], capture_output=True, text=True, timeout=30
    )
