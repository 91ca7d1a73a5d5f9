"""Bad input is refused with a clear message, and a running cluster is left as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import ApiError

from kokpit.hosted.versions import load_supported
from tests.integration.hosted.conftest import CURRENT, PREVIOUS, SUPPORTED, HostedEnv, condition

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("networking", "message"),
    [
        ({"serviceCIDR": "10.96.0.0/16", "podCIDR": "10.96.128.0/17"}, "must not overlap"),
        ({"serviceCIDR": "10.96.0.0/33"}, "serviceCIDR must be a valid CIDR"),
        ({"podCIDR": "banana"}, "podCIDR must be a valid CIDR"),
    ],
    ids=["overlapping CIDRs", "invalid service CIDR", "invalid pod CIDR"],
)
async def test_the_api_refuses_bad_networks(
    hosted_env: HostedEnv, networking: dict[str, str], message: str
) -> None:
    with pytest.raises(ApiError) as refused:
        await hosted_env.create("badnet", {"kubernetesVersion": CURRENT, "networking": networking})
    assert message in str(refused.value.status.message)


KUBE = {"runtime": "kubernetes", "metaCluster": "member1", "join": False}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({**KUBE, "nodes": 2}, "cannot run kwok nodes yet"),
        ({**KUBE, "addons": [{"name": "coredns"}]}, "cannot install addons yet"),
        ({"runtime": "kubernetes", "metaCluster": "member1"}, "set join: false"),
        ({"controlPlane": {"replicas": 2}}, "controlPlane.replicas must be 1"),
    ],
    ids=["kubernetes with nodes", "kubernetes with addons", "kubernetes joining", "process with 2 replicas"],
)
async def test_the_api_refuses_what_the_runtime_cannot_honour(
    hosted_env: HostedEnv, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(ApiError) as refused:
        await hosted_env.create("unhonoured", {"kubernetesVersion": CURRENT, **spec})
    assert message in str(refused.value.status.message)


async def test_the_cli_refuses_bad_input(hosted_env: HostedEnv) -> None:
    env = hosted_env
    result = await env.acli("create", "cluster", "x1", "--version", "v1.20.0", "--namespace", env.namespace)
    assert result.returncode == 1
    assert "Kubernetes v1.20.0 is not supported; supported: " in result.stderr
    result = await env.acli(
        "create",
        "cluster",
        "x2",
        "--service-cidr",
        "10.0.0.0/16",
        "--pod-cidr",
        "10.0.0.0/8",
        "--namespace",
        env.namespace,
    )
    assert result.returncode == 1
    assert "overlap" in result.stderr


async def test_refused_versions_leave_the_cluster_running(hosted_env: HostedEnv, tmp_path: Path) -> None:
    env = hosted_env
    # A test-only versions file with a minor two above the current one, so skipping it is refused
    # as a skip (not as an unsupported version); no binaries of it are needed, it never runs.
    minor = int(CURRENT.split(".")[1])
    skipped = f"v1.{minor + 2}.0"
    versions = tmp_path / "versions.yaml"
    entries = [{"version": v.version, "etcd": v.etcd} for v in SUPPORTED.versions]
    entries.append({"version": skipped, "etcd": SUPPORTED.versions[0].etcd})
    versions.write_text(yaml.safe_dump({"default": CURRENT, "versions": entries}))
    env.supported = load_supported(versions)
    assert env.supported.get(skipped) is not None

    await env.create("steady", {"kubernetesVersion": CURRENT})
    before = await env.wait_ready("steady")
    cases = [
        ("v1.20.0", "UnsupportedVersion", "not supported"),
        (PREVIOUS, "Downgrade", f"cannot downgrade from {CURRENT} to {PREVIOUS}"),
        (skipped, "SkippedMinor", f"cannot upgrade from {CURRENT} to {skipped} in one step"),
    ]
    for version, reason, text in cases:
        await env.patch_spec("steady", {"kubernetesVersion": version})

        def refused(status: dict[str, Any], reason: str = reason) -> bool:
            return condition(status, "VersionAccepted").get("reason") == reason

        status = await env.wait(f"VersionAccepted {reason}", refused, "steady")
        assert text in condition(status, "VersionAccepted")["message"]
        assert status["version"] == CURRENT
        assert condition(status, "APIServerAvailable")["status"] == "True"
        assert condition(status, "Ready")["status"] == "False"
        assert status["endpoint"] == before["endpoint"]
    await env.patch_spec("steady", {"kubernetesVersion": CURRENT})
    await env.wait_ready("steady")
