"""The machines CRDs installed on a real hub API server: valid objects are stored with their defaults and
print their columns; bad input is refused by the schema and CEL rules, naming the field.

Runs against the session sandbox's hub, or a running hub named by $KOKPIT_TEST_HUB_KUBECONFIG.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.types import PatchType

from kokpit.api.crd import ResourceType
from kokpit.api.machine import HOST, MACHINE, MACHINE_HEALTH_CHECK, MACHINE_SET, NODE_COMPONENT
from kokpit.binaries import find_binaries
from kokpit.hub.install import FIELD_MANAGER, install

pytestmark = pytest.mark.integration

NAMESPACE = "default"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG4rT3vTt99Ox5kndS4HmgTrKBT8SKzhK4rhGkEVGlCI test"


def resource_class(resource: ResourceType) -> Any:
    make = create_global_resource if resource.scope == "Cluster" else create_namespaced_resource
    return make(resource.group, resource.version, resource.kind, resource.plural)


@pytest.fixture(scope="module")
def hub_kubeconfig(request: pytest.FixtureRequest) -> Path:
    existing = os.environ.get("KOKPIT_TEST_HUB_KUBECONFIG")
    if existing:
        return Path(existing)
    path: Path = request.getfixturevalue("sandbox").kubeconfig("hub")
    return path


@pytest.fixture
async def client(hub_kubeconfig: Path) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(KubeConfig.from_file(hub_kubeconfig), field_manager=FIELD_MANAGER)
    try:
        await install(client)
        yield client
    finally:
        await client.close()


def body(resource: ResourceType, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if resource.scope == "Namespaced":
        metadata["namespace"] = NAMESPACE
    return {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": metadata, "spec": spec}


async def create(client: AsyncClient, resource: ResourceType, name: str, spec: dict[str, Any]) -> Any:
    return await client.create(resource_class(resource).from_dict(body(resource, name, spec)))


async def delete(client: AsyncClient, resource: ResourceType, name: str) -> None:
    try:
        if resource.scope == "Cluster":
            await client.delete(resource_class(resource), name)
        else:
            await client.delete(resource_class(resource), name, namespace=NAMESPACE)
    except ApiError as error:
        if error.status.code != 404:
            raise


async def kubectl(hub: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        str(find_binaries().kubectl),
        "--kubeconfig",
        str(hub),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


VARIANT: dict[str, Any] = {
    "architectures": ["amd64"],
    "artifacts": [
        {"source": "file://{{ binaries }}/{{ version }}/kubelet", "path": "/usr/local/bin/kubelet"}
    ],
    "files": [{"path": "/etc/kubernetes/kubelet.yaml", "content": "kind: KubeletConfiguration\n"}],
    "check": "true",
}
COMPONENT: dict[str, Any] = {"versions": ["v1.36.5"], "variants": [VARIANT]}
HOST_SPEC: dict[str, Any] = {
    "address": "10.77.0.11",
    "credentialsSecretRef": {"name": "host-ssh"},
    "hostKey": HOST_KEY,
    "podCIDR": "10.78.1.0/24",
}
TEMPLATE_SPEC: dict[str, Any] = {
    "clusterRef": {"kind": "HostedCluster", "name": "prod"},
    "components": [{"name": "kubelet", "version": "v1.36.5", "parameters": {"maxPods": 20}}],
}
MACHINE_SPEC: dict[str, Any] = {**TEMPLATE_SPEC, "hostRef": {"name": "api-test-host"}}
SET_SPEC: dict[str, Any] = {"replicas": 2, "template": {"spec": TEMPLATE_SPEC}}
CHECK_SPEC: dict[str, Any] = {"selector": {"matchLabels": {"set": "workers"}}}


async def test_valid_objects_are_stored_with_defaults_and_print_their_columns(
    client: AsyncClient, hub_kubeconfig: Path
) -> None:
    created: list[tuple[ResourceType, str]] = []
    try:
        for resource, name, spec in [
            (NODE_COMPONENT, "api-test-kubelet", COMPONENT),
            (HOST, "api-test-host", HOST_SPEC),
            (MACHINE, "api-test-machine", MACHINE_SPEC),
            (MACHINE_SET, "api-test-set", SET_SPEC),
            (MACHINE_HEALTH_CHECK, "api-test-check", CHECK_SPEC),
        ]:
            stored = (await create(client, resource, name, spec)).to_dict()
            created.append((resource, name))
            if resource is HOST:
                assert (stored["spec"]["port"], stored["spec"]["user"]) == (22, "root")
                assert (stored["spec"]["prefix"], stored["spec"]["cgroupRoot"]) == ("/", "/")
            if resource is NODE_COMPONENT:
                variant = stored["spec"]["variants"][0]
                assert variant["os"] == "linux"
                assert variant["artifacts"][0]["mode"] == "0755"
                assert variant["files"][0]["mode"] == "0644"
            if resource is MACHINE_HEALTH_CHECK:
                assert stored["spec"]["maxUnhealthy"] == "100%"
                assert stored["spec"]["checkComponents"] is True
        table = await kubectl(hub_kubeconfig, "get", MACHINE.crd_name, "-n", NAMESPACE, "api-test-machine")
        header, row = table.splitlines()
        assert header.split() == ["NAME", "HOST", "CLUSTER", "NODE", "PHASE", "READY", "AGE"]
        assert row.split()[:3] == ["api-test-machine", "api-test-host", "prod"]
        table = await kubectl(hub_kubeconfig, "get", HOST.crd_name, "-n", NAMESPACE, "api-test-host")
        assert table.splitlines()[0].split() == ["NAME", "ADDRESS", "PHASE", "MACHINE", "REACHABLE", "AGE"]
        table = await kubectl(hub_kubeconfig, "get", MACHINE_SET.crd_name, "-n", NAMESPACE, "api-test-set")
        assert table.splitlines()[0].split() == ["NAME", "REPLICAS", "READY", "UPDATED", "PAUSED", "AGE"]
        listing = await kubectl(hub_kubeconfig, "get", "kokpit", "-n", NAMESPACE, "-o", "name")
        assert "machine.machines.kokpit.io/api-test-machine" in listing
    finally:
        for resource, name in reversed(created):
            await delete(client, resource, name)


def variant_with(**changes: Any) -> dict[str, Any]:
    return {**COMPONENT, "variants": [{**VARIANT, **changes}]}


BAD: list[Any] = [
    pytest.param(NODE_COMPONENT, {**COMPONENT, "versions": []}, ["spec.versions"], id="no versions"),
    pytest.param(
        NODE_COMPONENT,
        variant_with(files=[{"path": "etc/kubelet.yaml", "content": ""}]),
        ["spec.variants[0].files[0].path", "must be an absolute path without '..'"],
        id="relative file path",
    ),
    pytest.param(
        NODE_COMPONENT,
        variant_with(artifacts=[{"source": "file:///a", "path": "/usr/../bin/a"}]),
        ["spec.variants[0].artifacts[0].path", "must be an absolute path without '..'"],
        id="artifact path with ..",
    ),
    pytest.param(
        NODE_COMPONENT,
        variant_with(files=[{"path": "/etc/a", "mode": "644", "content": ""}]),
        ["spec.variants[0].files[0].mode", "should match"],
        id="mode not octal",
    ),
    pytest.param(
        NODE_COMPONENT,
        variant_with(artifacts=[{"source": "http://example.com/a", "path": "/a"}]),
        ["spec.variants[0].artifacts[0].source", "should match"],
        id="plain http source",
    ),
    pytest.param(
        NODE_COMPONENT,
        {**COMPONENT, "dependsOn": ["api-test-bad"]},
        ["a component cannot depend on itself"],
        id="depends on itself",
    ),
    pytest.param(
        HOST,
        {**HOST_SPEC, "hostKey": "AAAAC3Nza"},
        ["spec.hostKey", "should match"],
        id="host key without type",
    ),
    pytest.param(
        HOST,
        {**HOST_SPEC, "podCIDR": "10.78.1.0/33"},
        ["spec.podCIDR", "podCIDR must be a valid CIDR"],
        id="bad podCIDR",
    ),
    pytest.param(
        HOST,
        {**HOST_SPEC, "address": "not an address"},
        ["spec.address", "address must be an IP address or a DNS name"],
        id="bad address",
    ),
    pytest.param(
        HOST,
        {**HOST_SPEC, "prefix": "/srv/.."},
        ["spec.prefix", "must be an absolute path without '..'"],
        id="prefix with ..",
    ),
    pytest.param(
        MACHINE,
        {**MACHINE_SPEC, "clusterRef": {"kind": "EtcdCluster", "name": "a"}},
        ["spec.clusterRef.kind", "Unsupported value"],
        id="unknown cluster kind",
    ),
    pytest.param(
        MACHINE,
        {**MACHINE_SPEC, "clusterRef": {"kind": "Cluster", "name": "a", "namespace": "b"}},
        ["spec.clusterRef.namespace", "namespace must be unset for kind Cluster"],
        id="fleet Cluster with namespace",
    ),
    pytest.param(
        MACHINE_SET,
        {**SET_SPEC, "strategy": {"maxUnavailable": 0}},
        ["spec.strategy.maxUnavailable"],
        id="maxUnavailable 0",
    ),
    pytest.param(
        MACHINE_HEALTH_CHECK,
        {**CHECK_SPEC, "maxUnhealthy": "40"},
        ["spec.maxUnhealthy", "maxUnhealthy must be a count or a percentage"],
        id="maxUnhealthy without %",
    ),
    pytest.param(
        MACHINE_HEALTH_CHECK,
        {**CHECK_SPEC, "maxUnhealthy": -1},
        ["spec.maxUnhealthy", "maxUnhealthy must be a count or a percentage"],
        id="maxUnhealthy negative",
    ),
    pytest.param(
        MACHINE_HEALTH_CHECK,
        {**CHECK_SPEC, "unhealthyConditions": [{"type": "Ready", "status": "False", "timeout": "30"}]},
        ["spec.unhealthyConditions[0].timeout", "should match"],
        id="timeout without unit",
    ),
]


@pytest.mark.parametrize(("resource", "spec", "fragments"), BAD)
async def test_bad_input_is_refused_naming_the_field(
    client: AsyncClient, resource: ResourceType, spec: dict[str, Any], fragments: list[str]
) -> None:
    try:
        with pytest.raises(ApiError) as refused:
            await create(client, resource, "api-test-bad", spec)
    finally:
        await delete(client, resource, "api-test-bad")
    assert refused.value.status.code == 422
    message = refused.value.status.message or ""
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("value", [3, "40%", "0%", "100%"], ids=str)
async def test_max_unhealthy_takes_a_count_or_a_percentage(client: AsyncClient, value: int | str) -> None:
    try:
        stored = await create(
            client, MACHINE_HEALTH_CHECK, "api-test-max", {**CHECK_SPEC, "maxUnhealthy": value}
        )
        assert stored.to_dict()["spec"]["maxUnhealthy"] == value
    finally:
        await delete(client, MACHINE_HEALTH_CHECK, "api-test-max")


async def test_a_machine_keeps_its_host_and_cluster(client: AsyncClient) -> None:
    machine = resource_class(MACHINE)
    await create(client, MACHINE, "api-test-immutable", {**MACHINE_SPEC, "nodeName": "n1"})
    try:
        for change, message in [
            ({"hostRef": {"name": "other"}}, "hostRef cannot be changed"),
            ({"clusterRef": {"kind": "HostedCluster", "name": "other"}}, "clusterRef cannot be changed"),
            ({"nodeName": "n2"}, "nodeName cannot be changed"),
        ]:
            with pytest.raises(ApiError) as refused:
                await client.patch(
                    machine,
                    "api-test-immutable",
                    {"spec": change},
                    namespace=NAMESPACE,
                    patch_type=PatchType.MERGE,
                )
            assert message in (refused.value.status.message or "")
        # What may change does: the components and labels.
        patched = await client.patch(
            machine,
            "api-test-immutable",
            {"spec": {"labels": {"pool": "b"}}},
            namespace=NAMESPACE,
            patch_type=PatchType.MERGE,
        )
        assert patched.to_dict()["spec"]["labels"] == {"pool": "b"}
    finally:
        await delete(client, MACHINE, "api-test-immutable")
