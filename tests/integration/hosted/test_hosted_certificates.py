"""Short-lived certificates are renewed before they expire; the admin kubeconfig Secret follows and
clients keep working past the first certificates' expiry."""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from datetime import datetime
from pathlib import Path

import pytest
from cryptography import x509
from lightkube.resources.core_v1 import Secret

from kokpit.hosted import names
from tests.integration.hosted.conftest import CURRENT, HostedEnv
from tests.support import kubectl

pytestmark = pytest.mark.integration

VALIDITY_SECONDS = 120
RENEW_BEFORE_SECONDS = 60


async def _admin(env: HostedEnv, name: str) -> bytes:
    secret = await env.client.get(Secret, names.admin_kubeconfig_secret_name(name), namespace=env.namespace)
    return base64.b64decode((secret.data or {})[names.ADMIN_KUBECONFIG_KEY])


def _serving_not_after(endpoint: str) -> datetime:
    host, port = endpoint.removeprefix("https://").rsplit(":", 1)
    pem = ssl.get_server_certificate((host, int(port)))
    return x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc


async def test_certificates_renewed_before_expiry(hosted_env: HostedEnv, tmp_path: Path) -> None:
    env = hosted_env
    await env.create(
        "certs",
        {
            "kubernetesVersion": CURRENT,
            "certificates": {"validity": f"{VALIDITY_SECONDS}s", "renewBefore": f"{RENEW_BEFORE_SECONDS}s"},
        },
    )
    status = await env.wait_ready("certs")
    first_expiry = datetime.fromisoformat(status["certificates"]["notAfter"].replace("Z", "+00:00"))
    first_admin = await _admin(env, "certs")
    endpoint = status["endpoint"]
    kubeconfig = tmp_path / "admin.kubeconfig"

    # Keep a client busy through the renewal and past the first certificates' expiry.
    failures: list[str] = []
    deadline = first_expiry.timestamp() + 15
    while time.time() < deadline:
        kubeconfig.write_bytes(await _admin(env, "certs"))
        result = await asyncio.to_thread(kubectl, kubeconfig, "get", "--raw", "/readyz", check=False)
        if result.returncode != 0:
            failures.append(result.stderr.strip()[:200])
        await asyncio.sleep(2)
    status = await env.status("certs")
    assert status["phase"] == "Ready"
    renewed_expiry = datetime.fromisoformat(status["certificates"]["notAfter"].replace("Z", "+00:00"))
    assert renewed_expiry > first_expiry
    assert await _admin(env, "certs") != first_admin
    assert _serving_not_after(endpoint) > first_expiry, "the API server still serves the first certificate"
    assert len(failures) <= 1, failures
