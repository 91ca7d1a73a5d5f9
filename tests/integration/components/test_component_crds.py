"""The Component and ComponentTemplate CRDs on a real hub API server: v1beta1 is stored and served,
v1alpha1 is declared but refused until kokpit's conversion webhook is registered, a Component reads
back exactly, bad input is refused naming the field, and the built-in templates are accepted as
ComponentTemplates unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition

from kokpit.api.component import COMPONENT, COMPONENT_TEMPLATE, GROUP
from kokpit.components.builtin import builtin_templates
from kokpit.hub.install import FIELD_MANAGER, install
from tests.support import SandboxHandle

ComponentV1Alpha1 = create_namespaced_resource(GROUP, "v1alpha1", "Component", "components")
ComponentV1Beta1 = create_namespaced_resource(GROUP, "v1beta1", "Component", "components")
TemplateResource = create_global_resource(GROUP, "v1alpha1", "ComponentTemplate", "componenttemplates")

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(sandbox: SandboxHandle) -> AsyncIterator[AsyncClient]:
    hub: Path = sandbox.kubeconfig("hub")
    client = AsyncClient(KubeConfig.from_file(hub), field_manager=FIELD_MANAGER)
    try:
        await install(client, resources=(COMPONENT_TEMPLATE, COMPONENT))
        yield client
    finally:
        await client.close()


def alpha(name: str, **spec: Any) -> dict[str, Any]:
    base = {
        "workloadType": "Deployment",
        "developLanguage": "python",
        "runType": "server",
        "image": "python-demo:latest",
        "port": 8080,
    }
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "namespace": "default"},
        "spec": base | spec,
    }


def beta(name: str, **spec: Any) -> dict[str, Any]:
    base = {"workloadType": "Deployment", "language": "python", "runType": "server", "image": "demo:1"}
    return {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": "Component",
        "metadata": {"name": name, "namespace": "default"},
        "spec": base | spec,
    }


async def test_v1beta1_is_stored_and_v1alpha1_waits_for_the_conversion_webhook(client: AsyncClient) -> None:
    crd = await client.get(CustomResourceDefinition, COMPONENT.crd_name)
    assert [(v.name, v.served, v.storage) for v in crd.spec.versions] == [
        ("v1beta1", True, True),
        ("v1alpha1", False, False),
    ]
    assert crd.spec.conversion is not None
    assert crd.spec.conversion.strategy == "None"
    assert crd.status is not None
    assert {c.type: c.status for c in crd.status.conditions or []}["Established"] == "True"
    # An unserved version has no REST path: lightkube gets a bare 404, not a Status.
    with pytest.raises((ApiError, httpx2.HTTPStatusError)) as caught:
        await client.create(ComponentV1Alpha1.from_dict(alpha("crd-nginx")))
    error = caught.value
    code = error.status.code if isinstance(error, ApiError) else error.response.status_code
    assert code == 404


async def test_a_v1beta1_component_reads_back_exactly(client: AsyncClient) -> None:
    written = beta(
        "crd-nginx",
        exposure={"port": 8080, "service": {"type": "LoadBalancer", "loadBalancerClass": "kokpit.io/l4"}},
        config={"env": {"MODE": "a"}, "probes": {"enabled": False}},
        placement={"clusters": [{"name": "member1", "replicas": 3}, {"name": "member2", "replicas": 1}]},
    )
    try:
        await client.create(ComponentV1Beta1.from_dict(written))
        read: Any = await client.get(ComponentV1Beta1, "crd-nginx", namespace="default")
        assert read.to_dict()["spec"] == written["spec"]
    finally:
        await client.delete(ComponentV1Beta1, "crd-nginx", namespace="default")


@pytest.mark.parametrize(
    ("obj", "fragments"),
    [
        pytest.param(
            beta("crd-bad-port", exposure={"port": 70000}),
            ["spec.exposure.port", "65535"],
            id="a port out of range",
        ),
        pytest.param(
            beta("crd-bad-kind", workloadType="DaemonSet"),
            ["spec.workloadType", "Unsupported value"],
            id="an unknown workload type",
        ),
        pytest.param(
            beta("crd-bad-svc", exposure={"service": {"type": "aliyun-slb"}}),
            ["spec.exposure.service.type"],
            id="an unknown service type",
        ),
        pytest.param(
            beta(
                "crd-bad-class",
                exposure={"service": {"type": "NodePort", "loadBalancerClass": "kokpit.io/l4"}},
            ),
            ["loadBalancerClass is for Services of type LoadBalancer"],
            id="a load balancer class on a NodePort",
        ),
        pytest.param(
            beta("crd-bad-lang", language="Java!"), ["spec.language"], id="a language that is not a token"
        ),
    ],
)
async def test_bad_components_are_refused_naming_the_field(
    client: AsyncClient, obj: dict[str, Any], fragments: list[str]
) -> None:
    with pytest.raises(ApiError) as caught:
        await client.create(ComponentV1Beta1.from_dict(obj))
    assert caught.value.status.code == 422
    message = caught.value.status.message or ""
    for fragment in fragments:
        assert fragment in message


async def test_the_built_in_templates_are_accepted_unchanged(client: AsyncClient) -> None:
    template = builtin_templates()[0].to_dict()
    template["metadata"]["name"] = "crd-test-template"
    try:
        await client.create(TemplateResource.from_dict(template))
        read: Any = await client.get(TemplateResource, "crd-test-template")
        assert read.to_dict()["spec"] == template["spec"]
    finally:
        await client.delete(TemplateResource, "crd-test-template")
