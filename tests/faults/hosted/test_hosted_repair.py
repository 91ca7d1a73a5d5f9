"""Auto-repair: a SIGKILLed kube-apiserver of a hosted cluster is restarted, its condition flips and
recovers, and an Event records it."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import pytest
from lightkube.resources.events_v1 import Event

from kokpit.controlplane import processes
from tests.integration.hosted.conftest import CURRENT, HostedEnv, condition, is_true

pytestmark = pytest.mark.integration


async def test_killed_apiserver_comes_back(hosted_env: HostedEnv) -> None:
    env = hosted_env
    await env.create("repair", {"kubernetesVersion": CURRENT, "nodes": 1})
    await env.wait_ready("repair")
    state = env.root / env.namespace / "repair" / "kube-apiserver" / "state.json"
    pid = int(json.loads(state.read_text())["pid"])

    killed = time.monotonic()
    processes.signal_group(pid, signal.SIGKILL)
    down = await env.wait(
        "APIServerAvailable False", lambda s: not is_true(s, "APIServerAvailable"), "repair", timeout=30
    )
    assert condition(down, "Ready")["status"] == "False"
    back = await env.wait_ready("repair", timeout=60)
    recovered = time.monotonic() - killed
    print(f"\nkube-apiserver SIGKILL -> Ready again in {recovered:.1f}s")
    new_pid = int(json.loads(state.read_text())["pid"])
    assert new_pid != pid and processes.is_alive(new_pid)
    apiserver = next(c for c in back["components"] if c["name"] == "kube-apiserver")
    assert apiserver["restarts"] >= 1 and apiserver["ready"]

    reasons = [
        e.reason
        async for e in env.client.list(Event, namespace=env.namespace)
        if e.regarding is not None and e.regarding.name == "repair"
    ]
    assert "ComponentRestarted" in reasons, reasons


async def test_component_that_keeps_failing_is_reported(hosted_env: HostedEnv) -> None:
    env = hosted_env
    await env.create("flaky", {"kubernetesVersion": CURRENT})
    await env.wait_ready("flaky")
    state = env.root / env.namespace / "flaky" / "kube-scheduler" / "state.json"
    deadline = time.monotonic() + 90
    while True:
        status = await env.status("flaky")
        if condition(status, "SchedulerReady").get("reason") == "CrashLoop":
            break
        assert time.monotonic() < deadline, status.get("conditions")
        pid = int(json.loads(state.read_text())["pid"])
        if processes.is_alive(pid):
            processes.signal_group(pid, signal.SIGKILL)
        await asyncio.sleep(0.3)
    assert condition(status, "Ready")["status"] == "False"
    reasons = [
        e.reason
        async for e in env.client.list(Event, namespace=env.namespace)
        if e.regarding is not None and e.regarding.name == "flaky"
    ]
    assert "ComponentCrashLooping" in reasons, reasons
    # Left alone, it is restarted after the back-off and the cluster recovers.
    await env.wait_ready("flaky", timeout=60)
