"""Where the hub API server sends reviews to kokpit: the `ValidatingWebhookConfiguration` of
ResourceInterpreter writes, and the conversion webhook of each CRD whose versions differ in shape; pure.

It is written by the serving hub replica when it starts serving (only it knows its address and
port), and rewritten when another replica takes over. `clientConfig.url` rather than a Service:
the hub process may run outside the hub cluster (kokpit's own control planes run as processes).

`failurePolicy: Ignore`: the configuration outlives the process that wrote it, and with `Fail` no
interpreter could be written while no replica serves (a leader handover, a stopped hub, before the
first start). What slips through unvalidated is still refused visibly by the interpreter
controller's `Accepted=False`, and its kind keeps the built-in rules. `timeoutSeconds: 5`: compiling
takes milliseconds; a hung webhook then delays a write by 5 s at most, well inside kubectl's own
timeout, instead of the default 10.

A CRD names its conversion webhook in `spec.conversion` (URL and `caBundle`), written the same way by
the serving replica (`conversion_crds`): the whole CRD, as `kokpit install` writes it, with the
webhook set and every version served. `kokpit install` keeps the webhook it finds there.
"""

from __future__ import annotations

import base64
from typing import Any

from kokpit.api.component import COMPONENT
from kokpit.api.crd import ConversionWebhook, ResourceType, crd_manifest
from kokpit.api.interpreter import RESOURCE_INTERPRETER
from kokpit.webhooks.interpreter import PATH as INTERPRETER_PATH

CONVERSION_PATHS: dict[str, str] = {COMPONENT.crd_name: f"/convert/{COMPONENT.plural}"}
"""Where each converted CRD's ConversionReviews are served, by CRD name."""
CONVERTED: tuple[ResourceType, ...] = (COMPONENT,)
"""The resource types converted by kokpit's webhook."""

CONFIGURATION_NAME = "kokpit-validation"
"""The name of kokpit's ValidatingWebhookConfiguration in the hub."""
INTERPRETER_WEBHOOK = f"{RESOURCE_INTERPRETER.plural}.{RESOURCE_INTERPRETER.group}"
FAILURE_POLICY = "Ignore"
TIMEOUT_SECONDS = 5


def validating_configuration(base_url: str, ca_pem: str) -> dict[str, Any]:
    """`validating_configuration` is the configuration sending ResourceInterpreter creates and
    updates to `base_url` (https, the serving replica), trusting `ca_pem` for its certificate."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {
            "name": CONFIGURATION_NAME,
            "labels": {"app.kubernetes.io/part-of": "kokpit"},
        },
        "webhooks": [
            {
                "name": INTERPRETER_WEBHOOK,
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": FAILURE_POLICY,
                "timeoutSeconds": TIMEOUT_SECONDS,
                "matchPolicy": "Equivalent",
                "clientConfig": {
                    "url": base_url.rstrip("/") + INTERPRETER_PATH,
                    "caBundle": base64.b64encode(ca_pem.encode()).decode(),
                },
                "rules": [
                    {
                        "apiGroups": [RESOURCE_INTERPRETER.group],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": [RESOURCE_INTERPRETER.plural],
                        "scope": "Cluster",
                    }
                ],
            }
        ],
    }


def conversion_crds(base_url: str, ca_pem: str) -> dict[str, dict[str, Any]]:
    """`conversion_crds` is, by CRD name, the CRD of each type in `CONVERTED` sending its
    ConversionReviews to `base_url` (https, the serving replica), trusting `ca_pem`."""
    bundle = base64.b64encode(ca_pem.encode()).decode()
    return {
        resource.crd_name: crd_manifest(
            resource,
            ConversionWebhook(
                url=base_url.rstrip("/") + CONVERSION_PATHS[resource.crd_name], ca_bundle=bundle
            ),
        )
        for resource in CONVERTED
    }
