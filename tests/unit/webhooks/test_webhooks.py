"""kokpit's webhooks: AdmissionReview decoding and answers, routing, the interpreter validation, the
configuration that registers them, and the TLS server around them."""

from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from kokpit.controlplane.pki import issue, new_ca
from kokpit.hub.webhooks import ROUTES, app, server_tls
from kokpit.webhooks import interpreter, registration
from kokpit.webhooks.review import AdmissionRequest, ReviewError, Verdict, answer, decode
from kokpit.webhooks.routes import dispatch


def interpreter_object(expression: str, *, name: str = "widgets") -> dict[str, Any]:
    return {
        "apiVersion": "config.kokpit.io/v1alpha1",
        "kind": "ResourceInterpreter",
        "metadata": {"name": name},
        "spec": {
            "target": {"apiVersion": "example.io/v1", "kind": "Widget"},
            "customizations": {"healthInterpretation": {"expression": expression}},
        },
    }


def review(obj: Any = None, *, operation: str = "CREATE", uid: str = "u-1", **extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "uid": uid,
        "operation": operation,
        "resource": {"group": "config.kokpit.io", "version": "v1alpha1", "resource": "resourceinterpreters"},
        "name": "widgets",
        "userInfo": {"username": "alice"},
        **extra,
    }
    if obj is not None:
        request["object"] = obj
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


GOOD = interpreter_object("has(object.status.ready) && object.status.ready")
BAD = interpreter_object("object.status.ready >=")


def test_a_review_is_decoded_into_the_fields_handlers_decide_on() -> None:
    request = decode(review(GOOD, operation="UPDATE", dryRun=True, oldObject=GOOD))
    assert request == AdmissionRequest(
        uid="u-1",
        operation="UPDATE",
        group="config.kokpit.io",
        version="v1alpha1",
        resource="resourceinterpreters",
        name="widgets",
        object=GOOD,
        old_object=GOOD,
        dry_run=True,
        user="alice",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param([], "not a JSON object", id="a body that is not an object is refused"),
        pytest.param(
            {**review(GOOD), "apiVersion": "admission.k8s.io/v1beta1"},
            "expected admission.k8s.io/v1 AdmissionReview",
            id="a v1beta1 review is refused, kokpit registers v1 only",
        ),
        pytest.param({**review(GOOD), "kind": "ConversionReview"}, "expected", id="another kind is refused"),
        pytest.param(
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
            "no request",
            id="a review without a request is refused",
        ),
        pytest.param(review(GOOD, uid=""), "no uid", id="a request without a uid is refused"),
        pytest.param(
            review(GOOD, operation=""), "no operation", id="a request without an operation is refused"
        ),
    ],
)
def test_what_is_not_an_admission_review_v1_is_a_review_error(body: Any, message: str) -> None:
    with pytest.raises(ReviewError, match=message):
        decode(body)


def test_an_allowed_answer_echoes_the_uid_and_carries_no_status() -> None:
    assert answer("u-1", Verdict.allow()) == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "u-1", "allowed": True},
    }


def test_a_denial_carries_the_message_the_user_sees_as_invalid() -> None:
    assert answer("u-2", Verdict.deny("no"))["response"] == {
        "uid": "u-2",
        "allowed": False,
        "status": {"code": 422, "reason": "Invalid", "message": "no"},
    }


@pytest.mark.parametrize(
    ("request_", "allowed", "message"),
    [
        pytest.param(decode(review(GOOD)), True, "", id="an interpreter that compiles is allowed"),
        pytest.param(
            decode(review(BAD)),
            False,
            "ResourceInterpreter widgets is refused: healthInterpretation:",
            id="one that does not compile is refused naming its customization",
        ),
        pytest.param(
            decode(review(BAD, operation="UPDATE")),
            False,
            "healthInterpretation",
            id="an update to a bad expression is refused too",
        ),
        pytest.param(
            decode(review({**GOOD, "spec": {"customizations": {}}})),
            False,
            "target",
            id="one the schema refuses is refused with the schema's message",
        ),
        pytest.param(
            decode(review(operation="DELETE")), True, "", id="a delete is allowed, nothing to compile"
        ),
        pytest.param(
            decode(review(operation="CREATE")),
            False,
            "no ResourceInterpreter",
            id="a create without an object is refused",
        ),
    ],
)
def test_the_interpreter_webhook_compiles_what_is_written(
    request_: AdmissionRequest, allowed: bool, message: str
) -> None:
    verdict = interpreter.validate_interpreter(request_)
    assert verdict.allowed is allowed
    assert message in verdict.message


def test_the_compile_message_is_the_one_the_controller_reports() -> None:
    from kokpit.propagation.interpreter_controller import compile_raw

    compiled = compile_raw(BAD)
    assert isinstance(compiled, str)
    assert interpreter.validate_interpreter(decode(review(BAD))).message.endswith(compiled)


CONVERSION = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "ConversionReview",
    "request": {
        "uid": "c1",
        "desiredAPIVersion": "apps.kokpit.io/v1beta1",
        "objects": [
            {
                "apiVersion": "apps.kokpit.io/v1alpha1",
                "kind": "Component",
                "metadata": {"name": "nginx", "namespace": "default"},
                "spec": {
                    "workloadType": "Deployment",
                    "developLanguage": "python",
                    "runType": "server",
                    "image": "python-demo:latest",
                    "port": 8080,
                },
            }
        ],
    },
}


def test_a_conversion_review_is_answered_with_the_converted_components() -> None:
    reply = dispatch(ROUTES, registration.CONVERSION_PATHS["components.apps.kokpit.io"], CONVERSION)
    response = reply.body["response"]
    assert response["uid"] == "c1" and response["result"] == {"status": "Success"}
    (converted,) = response["convertedObjects"]
    assert converted["apiVersion"] == "apps.kokpit.io/v1beta1"
    assert converted["spec"]["language"] == "python"


def test_the_converted_crds_point_at_the_serving_replica() -> None:
    (crd,) = registration.conversion_crds("https://10.0.0.1:9443/", "PEM").values()
    config = crd["spec"]["conversion"]["webhook"]["clientConfig"]
    assert config == {
        "url": "https://10.0.0.1:9443/convert/components",
        "caBundle": base64.b64encode(b"PEM").decode(),
    }
    assert all(v["served"] for v in crd["spec"]["versions"])


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        pytest.param(interpreter.PATH, review(GOOD), 200, id="a review at a served path is answered"),
        pytest.param("/convert/gizmos", review(GOOD), 404, id="a path with no route is not found"),
        pytest.param(
            "/convert/components", CONVERSION, 200, id="a ConversionReview of Components is answered"
        ),
        pytest.param("/convert/components", [CONVERSION], 400, id="a body that is not an object is refused"),
        pytest.param(
            interpreter.PATH, {"kind": "x"}, 400, id="a body the route cannot read is a bad request"
        ),
    ],
)
def test_dispatch_routes_by_path(path: str, body: Any, status: int) -> None:
    assert dispatch(ROUTES, path, body).status == status


def test_the_configuration_sends_interpreter_writes_to_the_serving_replica() -> None:
    config = registration.validating_configuration("https://127.0.0.1:9443/", "PEM")
    (webhook,) = config["webhooks"]
    assert config["metadata"]["name"] == "kokpit-validation"
    assert webhook["clientConfig"] == {
        "url": "https://127.0.0.1:9443/validate/resourceinterpreters",
        "caBundle": base64.b64encode(b"PEM").decode(),
    }
    assert webhook["rules"] == [
        {
            "apiGroups": ["config.kokpit.io"],
            "apiVersions": ["*"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["resourceinterpreters"],
            "scope": "Cluster",
        }
    ]
    assert (webhook["failurePolicy"], webhook["timeoutSeconds"], webhook["sideEffects"]) == (
        "Ignore",
        5,
        "None",
    )
    assert webhook["admissionReviewVersions"] == ["v1"]


def test_the_server_answers_over_tls_and_refuses_plain_http(tmp_path: Path) -> None:
    ca = new_ca("test-ca")
    serving = issue(ca, common_name="kokpit-webhooks", dns_names=[], ip_addresses=["127.0.0.1"], server=True)

    async def scenario() -> tuple[int, dict[str, Any], bool]:
        runner = web.AppRunner(app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls(serving, tmp_path))
        await site.start()
        port = int(runner.addresses[0][1])
        try:
            trust = ssl.create_default_context(cadata=ca.cert_pem.decode())
            async with aiohttp.ClientSession() as session:
                url = f"https://127.0.0.1:{port}{interpreter.PATH}"
                async with session.post(url, json=review(BAD), ssl=trust) as response:
                    status, body = response.status, await response.json()
                plain_refused = False
                try:
                    async with session.post(
                        f"http://127.0.0.1:{port}{interpreter.PATH}", json=review(BAD)
                    ) as r:
                        plain_refused = r.status >= 400
                except aiohttp.ClientError:
                    plain_refused = True
            return status, body, plain_refused
        finally:
            await runner.cleanup()

    status, body, plain_refused = asyncio.run(scenario())
    assert status == 200
    assert body["response"]["allowed"] is False
    assert "healthInterpretation" in body["response"]["status"]["message"]
    assert plain_refused
