"""kokpit's webhooks on the real hub API server: an interpreter with a bad CEL expression is refused
by `kubectl apply` with the compiler's message, a good one is accepted; the server speaks TLS only."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kokpit.settings import HubSettings
from tests.support import HubThread, SandboxHandle, kubectl, wait_until

CONFIGURATION = "validatingwebhookconfiguration/kokpit-validation"
INTERPRETERS = "resourceinterpreters.config.kokpit.io"
TIMEOUT = 90.0


@pytest.fixture(scope="module")
def hub(fleet: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The hub with its controllers serving the webhooks on a loopback port of this process."""
    kubeconfig = fleet.kubeconfig("hub")
    settings = HubSettings(state_dir=tmp_path_factory.mktemp("hub-state"), webhook_address="127.0.0.1:0")
    controllers = HubThread(kubeconfig, settings=settings).start()
    try:
        yield kubeconfig
    finally:
        controllers.stop()
        kubectl(kubeconfig, "delete", CONFIGURATION, "--ignore-not-found", check=False)


def interpreter(name: str, expression: str) -> dict[str, Any]:
    return {
        "apiVersion": "config.kokpit.io/v1alpha1",
        "kind": "ResourceInterpreter",
        "metadata": {"name": name},
        "spec": {
            "target": {"apiVersion": "webhook.example.com/v1", "kind": f"Gizmo{name[-6:]}"},
            "customizations": {"healthInterpretation": {"expression": expression}},
        },
    }


def apply(hub: Path, tmp_path: Path, obj: dict[str, Any]) -> Any:
    path = tmp_path / f"{obj['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(obj))
    return kubectl(hub, "apply", "-f", str(path), check=False)


def configuration(hub: Path) -> dict[str, Any] | None:
    found = kubectl(hub, "get", CONFIGURATION, "-o", "json", check=False)
    return json.loads(found.stdout) if found.returncode == 0 else None


def test_a_bad_expression_is_refused_when_written_and_a_good_one_accepted(hub: Path, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:6]
    bad, good = interpreter(f"bad-{suffix}", "object.status.ready >="), interpreter(f"good-{suffix}", "true")
    refusal: list[str] = []

    def refused() -> bool:
        # The API server picks a new configuration up within moments; until then the write passes.
        result = apply(hub, tmp_path, bad)
        if result.returncode == 0:
            kubectl(hub, "delete", INTERPRETERS, bad["metadata"]["name"], "--ignore-not-found", check=False)
            return False
        refusal.append(result.stderr)
        return True

    try:
        wait_until("the configuration registered", lambda: configuration(hub) is not None, timeout=TIMEOUT)
        wait_until("the bad interpreter refused by the webhook", refused, timeout=TIMEOUT)
        message = refusal[-1]
        assert "admission webhook" in message and "denied the request" in message, message
        assert f"ResourceInterpreter {bad['metadata']['name']} is refused: healthInterpretation:" in message
        accepted = apply(hub, tmp_path, good)
        assert accepted.returncode == 0, accepted.stderr
    finally:
        for obj in (bad, good):
            kubectl(hub, "delete", INTERPRETERS, obj["metadata"]["name"], "--ignore-not-found", check=False)


def test_the_webhook_server_speaks_tls_only_under_the_registered_ca(hub: Path) -> None:
    wait_until("the configuration registered", lambda: configuration(hub) is not None, timeout=TIMEOUT)
    config = configuration(hub)
    assert config is not None
    (webhook,) = config["webhooks"]
    url = webhook["clientConfig"]["url"]
    assert url.startswith("https://127.0.0.1:")
    assert (webhook["failurePolicy"], webhook["timeoutSeconds"]) == ("Ignore", 5)
    ca = base64.b64decode(webhook["clientConfig"]["caBundle"]).decode()
    body = json.dumps(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {"uid": "u-1", "operation": "DELETE"},
        }
    ).encode()

    def post(target: str, context: ssl.SSLContext | None) -> Any:
        request = urllib.request.Request(target, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return json.loads(response.read())

    assert post(url, ssl.create_default_context(cadata=ca))["response"] == {"uid": "u-1", "allowed": True}
    with pytest.raises(urllib.error.URLError):  # a certificate not signed by a CA the client trusts
        post(url, ssl.create_default_context())
    with pytest.raises(
        (urllib.error.URLError, ConnectionError, http.client.HTTPException)
    ):  # plain HTTP is not served
        post(url.replace("https://", "http://"), None)
