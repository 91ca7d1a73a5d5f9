"""Upgrades by editing kubernetesVersion: previous minor -> current, the API server first, objects kept;
and `upgrade clusters` over several clusters, one after another."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from typing import Any

import pytest
from lightkube.resources.core_v1 import Secret

from kokpit.hosted import names
from tests.integration.hosted.conftest import CURRENT, HostedEnv, condition
from tests.support import kubectl

pytestmark = pytest.mark.integration


async def _kubeconfig(env: HostedEnv, name: str, directory: Path) -> Path:
    secret = await env.client.get(Secret, names.admin_kubeconfig_secret_name(name), namespace=env.namespace)
    path = directory / f"{name}.kubeconfig"
    path.write_bytes(base64.b64decode((secret.data or {})[names.ADMIN_KUBECONFIG_KEY]))
    return path


async def test_upgrade_previous_minor_to_current(
    hosted_env: HostedEnv, previous_version: str, tmp_path: Path
) -> None:
    env = hosted_env
    await env.create("up", {"kubernetesVersion": previous_version, "nodes": 1})
    await env.wait_ready("up", version=previous_version)
    kubeconfig = await _kubeconfig(env, "up", tmp_path)
    made = await asyncio.to_thread(
        kubectl, kubeconfig, "create", "configmap", "keep-me", "--from-literal=k=v"
    )
    assert made.returncode == 0, made.stderr

    await env.patch_spec("up", {"kubernetesVersion": CURRENT})
    seen: list[tuple[str, ...]] = []

    def progress(status: dict[str, Any]) -> bool:
        rows = {c["name"]: c.get("version") for c in status.get("components") or []}
        seen.append(tuple(str(rows.get(c)) for c in names.CONTROL_PLANE))
        return status.get("version") == CURRENT and condition(status, "Ready").get("status") == "True"

    await env.wait("upgrade to current", progress, "up", timeout=180)
    # The API server went first: it was seen on the new version while the controller-manager and
    # the scheduler still ran the old one (a step that switches all three at once never shows this),
    assert (CURRENT, previous_version, previous_version) in seen, seen
    # and no component was ever newer than one before it in the upgrade order.
    rank = {previous_version: 0, CURRENT: 1}
    for row in seen:
        ranks = [rank[v] for v in row if v in rank]
        assert ranks == sorted(ranks, reverse=True), seen
    version = await asyncio.to_thread(kubectl, kubeconfig, "version", "-o", "json")
    assert re.search(rf'"serverVersion":.*?"gitVersion": "{re.escape(CURRENT)}"', version.stdout, re.S), (
        version.stdout
    )
    kept = await asyncio.to_thread(
        kubectl, kubeconfig, "get", "configmap", "keep-me", "-o", "jsonpath={.data.k}"
    )
    assert kept.stdout == "v", kept.stderr


async def test_batch_upgrade_one_at_a_time(hosted_env: HostedEnv, previous_version: str) -> None:
    env = hosted_env
    for name in ("batch-a", "batch-b", "batch-c"):
        await env.create(name, {"kubernetesVersion": previous_version}, labels={"fleet": "batch"})
    for name in ("batch-a", "batch-b", "batch-c"):
        await env.wait_ready(name, version=previous_version, timeout=180)
    result = await env.acli(
        "upgrade",
        "clusters",
        "--selector",
        "fleet=batch",
        "--to",
        CURRENT,
        "--max-concurrency",
        "1",
        "--namespace",
        env.namespace,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    print("\n" + result.stdout)
    lines = [line for line in result.stdout.splitlines() if line.startswith("[")]
    # Strictly one after another: each cluster starts only after the previous one is done.
    assert [
        line.split()[1].rstrip(":") + (" start" if "upgrading" in line else " done") for line in lines
    ] == [
        "batch-a start",
        "batch-a done",
        "batch-b start",
        "batch-b done",
        "batch-c start",
        "batch-c done",
    ]
    for name in ("batch-a", "batch-b", "batch-c"):
        assert (await env.status(name))["version"] == CURRENT


async def test_skipping_and_downgrading_are_refused_by_the_cli(
    hosted_env: HostedEnv, previous_version: str
) -> None:
    env = hosted_env
    await env.create("cli-down", {"kubernetesVersion": CURRENT}, labels={"fleet": "down"})
    await env.wait_ready("cli-down")
    result = await env.acli(
        "upgrade", "clusters", "-l", "fleet=down", "--to", previous_version, "--namespace", env.namespace
    )
    assert result.returncode == 1
    assert f"cannot downgrade from {CURRENT} to {previous_version}" in result.stderr
    assert (await env.status("cli-down"))["version"] == CURRENT
