"""The agent's certificate, valid for minutes only, is renewed while a watch through the tunnel
stays open; Works keep being applied with the new certificate.

The hub signs no certificate shorter than ten minutes (and backdates it by five); the package's
agent renews at 45 % of the validity (`conftest.RENEW_FRACTION`), under two minutes after each
issuance, so the test waits at most that long for the next renewal.
"""

from __future__ import annotations

import base64
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from kokpit.sandbox.sandbox import cluster_root
from tests.integration.pull.conftest import PULL, TIMEOUT, RestartableHub, apply, get_on, is_ready
from tests.support import SandboxHandle, Streaming, kokpit_cli, kubectl, kubectl_argv, wait_until

pytestmark = pytest.mark.integration

RENEWAL_WAIT = 5 * 60.0


def agent_certificate(fleet: SandboxHandle) -> x509.Certificate:
    """The certificate in the agent's hub kubeconfig (what `kokpit register` wrote, then renewals)."""
    path = cluster_root(fleet.dir, PULL) / "agent" / "hub.kubeconfig"
    config = yaml.safe_load(path.read_text())
    pem = base64.b64decode(config["users"][0]["user"]["client-certificate-data"])
    return x509.load_pem_x509_certificate(pem)


@pytest.mark.timeout(900)
def test_a_short_lived_certificate_is_renewed_while_a_watch_through_the_tunnel_stays_open(
    pull_fleet: SandboxHandle, hub: RestartableHub, tmp_path: Path
) -> None:
    first = agent_certificate(pull_fleet)
    # Ten minutes asked, the signer backdates by five.
    assert first.not_valid_after_utc - first.not_valid_before_utc <= timedelta(minutes=16)
    proxy = tmp_path / "member2.kubeconfig"
    result = kokpit_cli(
        "get", "kubeconfig", PULL, "--proxy", "-o", str(proxy), hub=pull_fleet.kubeconfig("hub")
    )
    assert result.returncode == 0, result.stderr
    wait_until(
        "the tunnel carrying requests",
        lambda: (
            kubectl(proxy, "get", "--raw", "/readyz", "--request-timeout=5s", check=False).stdout.strip()
            == "ok"
        ),
        timeout=TIMEOUT,
    )
    with Streaming(
        kubectl_argv(proxy, "get", "configmaps", "-n", "default", "-w", "--request-timeout=0")
    ) as watch:
        watch.wait_for("the first list", lambda line: "kube-root-ca.crt" in line, timeout=30)
        wait_until(
            "the agent's certificate renewed",
            lambda: agent_certificate(pull_fleet).serial_number != first.serial_number,
            timeout=RENEWAL_WAIT,
        )
        renewed = agent_certificate(pull_fleet)
        assert renewed.subject == first.subject
        assert renewed.not_valid_after_utc > first.not_valid_after_utc
        name = f"after-renewal-{int(time.time())}"
        pull_fleet.kubectl(PULL, "-n", "default", "create", "configmap", name)
        watch.wait_for(name, lambda line: name in line, timeout=15)
        assert watch.process.poll() is None, "the watch must have stayed open across the renewal"
    pull_fleet.kubectl(PULL, "-n", "default", "delete", "configmap", name, "--ignore-not-found")

    # The agent works on with its new certificate: a template delivered now reaches member2.
    admin = pull_fleet.kubeconfig("hub")
    ns = "pull-renewal"
    apply(
        admin,
        tmp_path,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {
            "apiVersion": "policy.kokpit.io/v1alpha1",
            "kind": "PropagationPolicy",
            "metadata": {"name": "to-pull", "namespace": ns},
            "spec": {
                "resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "renewed"}],
                "placement": {"clusterAffinity": {"clusterNames": [PULL]}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "renewed", "namespace": ns},
            "data": {"a": "1"},
        },
    )
    wait_until(
        "a template delivered after the renewal",
        lambda: (get_on(pull_fleet, PULL, "configmap", "renewed", ns) or {}).get("data") == {"a": "1"},
        timeout=TIMEOUT,
    )
    assert is_ready(pull_fleet)
    kubectl(admin, "delete", "namespace", ns, "--wait=false")
