"""`kokpit install` against a real hub API server: CRDs apply, become Established, stay put on a second
run, upgrade in place, and make the API server enforce the Cluster schema.

The CLI checks that need no hub (printing, a missing or unreachable kubeconfig) run without the sandbox.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.generic_resource import create_global_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Namespace
from typer.testing import CliRunner

from kokpit.api import ALL_RESOURCES, CLUSTER, PrinterColumn
from kokpit.api.crd import crd_manifest
from kokpit.binaries import find_binaries
from kokpit.cli.install import install as install_command
from kokpit.controlplane import bootstrap_tokens
from kokpit.errors import KokpitError
from kokpit.fleet.registration.names import BOOTSTRAP_ROLE
from kokpit.hub.install import FIELD_MANAGER, NAMESPACE, install

ClusterResource = create_global_resource(CLUSTER.group, CLUSTER.version, CLUSTER.kind, CLUSTER.plural)


@pytest.fixture(scope="module")
def hub_kubeconfig(request: pytest.FixtureRequest) -> Path:
    """The hub of the session sandbox, or an already running hub named by $KOKPIT_TEST_HUB_KUBECONFIG."""
    existing = os.environ.get("KOKPIT_TEST_HUB_KUBECONFIG")
    if existing:
        return Path(existing)
    path: Path = request.getfixturevalue("sandbox").kubeconfig("hub")
    return path


@pytest.fixture
async def client(hub_kubeconfig: Path) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(KubeConfig.from_file(hub_kubeconfig), field_manager=FIELD_MANAGER)
    try:
        yield client
    finally:
        await client.close()


def cluster(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": CLUSTER.api_version,
        "kind": CLUSTER.kind,
        "metadata": {"name": name},
        "spec": spec,
    }


async def run(*argv: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


@pytest.mark.integration
async def test_install_twice_establishes_the_crds_and_changes_nothing_the_second_time(
    client: AsyncClient,
) -> None:
    objects = [f"namespace/{NAMESPACE}"] + [
        f"customresourcedefinition/{resource.crd_name}" for resource in ALL_RESOURCES
    ]
    # Then what lets Pull members register: cluster-info, readable anonymously, and CSRs for agent tokens.
    objects += [
        f"configmap/{bootstrap_tokens.CLUSTER_INFO_NAME}",
        f"role/{bootstrap_tokens.CLUSTER_INFO_READER}",
        f"rolebinding/{bootstrap_tokens.CLUSTER_INFO_READER}",
        f"clusterrole/{BOOTSTRAP_ROLE}",
        f"clusterrolebinding/{BOOTSTRAP_ROLE}",
    ]
    first = await install(client)
    assert [line.rsplit(" ", 1)[0] for line in first] == objects
    second = await install(client)
    assert second == [f"{name} unchanged" for name in objects]
    crd = await client.get(CustomResourceDefinition, CLUSTER.crd_name)
    assert crd.status is not None
    conditions = {c.type: c.status for c in crd.status.conditions or []}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    assert crd.spec.names.categories == ["kokpit"]
    namespace = await client.get(Namespace, NAMESPACE)
    assert namespace.status is not None
    assert namespace.status.phase == "Active"


@pytest.mark.integration
async def test_a_changed_declaration_is_applied_and_reverted(client: AsyncClient) -> None:
    extra = PrinterColumn("Probed", "date", ".status.lastProbeTime", priority=1)
    changed = dataclasses.replace(CLUSTER, printer_columns=(*CLUSTER.printer_columns, extra))
    try:
        report = await install(client, resources=[changed])
        assert report[:2] == [
            f"namespace/{NAMESPACE} unchanged",
            f"customresourcedefinition/{CLUSTER.crd_name} configured",
        ]
        assert all(line.endswith(" unchanged") for line in report[2:])
        crd = await client.get(CustomResourceDefinition, CLUSTER.crd_name)
        assert "Probed" in [c.name for c in crd.spec.versions[0].additionalPrinterColumns or []]
    finally:
        report = await install(client)
    assert f"customresourcedefinition/{CLUSTER.crd_name} configured" in report
    assert [line for line in report if line.endswith(" configured")] == [
        f"customresourcedefinition/{CLUSTER.crd_name} configured"
    ]
    crd = await client.get(CustomResourceDefinition, CLUSTER.crd_name)
    assert "Probed" not in [c.name for c in crd.spec.versions[0].additionalPrinterColumns or []]


@pytest.mark.integration
async def test_a_valid_cluster_is_stored_with_defaults(client: AsyncClient, hub_kubeconfig: Path) -> None:
    await install(client)
    name = "install-test-valid"
    body = cluster(
        name,
        syncMode="Push",
        apiEndpoint="https://127.0.0.1:6443",
        secretRef={"name": "install-test-valid-kubeconfig"},
        region="eu-west-1",
        zone="eu-west-1a",
        taints=[{"key": "kokpit.io/maintenance", "effect": "NoSchedule"}],
    )
    try:
        created = await client.create(ClusterResource.from_dict(body))
        stored = created.to_dict()
        assert stored["spec"]["secretRef"] == {
            "namespace": "kokpit-system",
            "name": "install-test-valid-kubeconfig",
        }
        assert stored["spec"]["taints"] == [{"key": "kokpit.io/maintenance", "effect": "NoSchedule"}]
        # The kubectl built with the sandbox binaries: the printer columns are checked on every run.
        kubectl = str(find_binaries().kubectl)
        table = await run(kubectl, "--kubeconfig", str(hub_kubeconfig), "get", CLUSTER.crd_name, name)
        header, row = table.splitlines()
        assert header.split() == ["NAME", "MODE", "READY", "VERSION", "REGION", "ZONE", "NODES", "AGE"]
        assert [cell for cell in row.split() if cell != "<none>"][:4] == [
            name,
            "Push",
            "eu-west-1",
            "eu-west-1a",
        ]
        assert name in await run(kubectl, "--kubeconfig", str(hub_kubeconfig), "get", "kokpit")
    finally:
        await client.delete(ClusterResource, name)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        pytest.param({"syncMode": "Sideways"}, ["spec.syncMode", "Unsupported value"], id="unknown syncMode"),
        pytest.param(
            {"syncMode": "Pull", "taints": [{"key": "k", "effect": "Sometimes"}]},
            ["spec.taints[0].effect", "Unsupported value"],
            id="bad taint effect",
        ),
        pytest.param(
            {"syncMode": "Push", "apiEndpoint": "https://127.0.0.1:6443"},
            ["spec.secretRef", "secretRef is required when syncMode is Push"],
            id="Push without secretRef",
        ),
        pytest.param(
            {"syncMode": "Push", "secretRef": {"name": "s"}},
            ["spec.apiEndpoint", "apiEndpoint is required when syncMode is Push"],
            id="Push without apiEndpoint",
        ),
        pytest.param(
            {"syncMode": "Pull", "apiEndpoint": "http://127.0.0.1:6443"},
            ["spec.apiEndpoint", "should match"],
            id="plain http endpoint",
        ),
        pytest.param({"syncMode": "Pull", "zone": "z" * 64}, ["spec.zone", "Too long"], id="zone too long"),
        pytest.param({}, ["spec.syncMode", "Required value"], id="no syncMode"),
    ],
)
async def test_an_invalid_cluster_is_rejected_naming_the_field(
    client: AsyncClient, spec: dict[str, Any], fragments: list[str]
) -> None:
    await install(client)
    with pytest.raises(ApiError) as caught:
        await client.create(ClusterResource.from_dict(cluster("install-test-invalid", **spec)))
    assert caught.value.status.code == 422
    message = caught.value.status.message or ""
    for fragment in fragments:
        assert fragment in message


def command_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(install_command)
    return app


def test_print_writes_every_crd_without_a_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KOKPIT_KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    result = CliRunner().invoke(command_app(), ["--print"])
    assert result.exit_code == 0, result.output
    assert list(yaml.safe_load_all(result.output)) == [crd_manifest(resource) for resource in ALL_RESOURCES]


def test_no_kubeconfig_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KOKPIT_KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    result = CliRunner().invoke(command_app(), [])
    assert result.exit_code == 1
    assert isinstance(result.exception, KokpitError)
    assert (
        str(result.exception)
        == "no hub kubeconfig: pass --hub-kubeconfig, or set $KOKPIT_KUBECONFIG or $KUBECONFIG"
    )


def test_kubeconfig_comes_from_the_environment_in_order(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from kokpit.cli.kubeconfig import hub_kubeconfig

    option, kokpit_env, kube_env = (tmp_path / n for n in ("option", "kokpit", "kube"))
    for path in (option, kokpit_env, kube_env):
        path.write_text("{}")
    env = {"KOKPIT_KUBECONFIG": str(kokpit_env), "KUBECONFIG": f"{kube_env}{os.pathsep}/elsewhere"}
    assert hub_kubeconfig(option, environ=env) == option
    assert hub_kubeconfig(None, environ=env) == kokpit_env
    assert hub_kubeconfig(None, environ={"KUBECONFIG": env["KUBECONFIG"]}) == kube_env
    with pytest.raises(KokpitError, match=r"from \$KOKPIT_KUBECONFIG\) does not exist"):
        hub_kubeconfig(None, environ={"KOKPIT_KUBECONFIG": str(tmp_path / "missing")})


def test_unreachable_hub_is_a_one_line_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "hub", "cluster": {"server": "https://127.0.0.1:1"}}],
                "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": "hub"}}],
                "users": [{"name": "hub", "user": {"token": "t"}}],
                "current-context": "hub",
            }
        )
    )
    result = CliRunner().invoke(command_app(), ["--kubeconfig", str(kubeconfig), "--timeout", "5"])
    assert result.exit_code == 1
    assert isinstance(result.exception, KokpitError)
    assert str(result.exception).startswith("cannot reach the hub at https://127.0.0.1:1")
