"""`kokpit create cluster`, `delete cluster`, `get kubeconfig`, `upgrade clusters`, `addons import`:
hosted clusters from the command line (also runnable alone as `python -m kokpit.cli.hosted`).

Every command writes HostedCluster objects (or addon definitions) to the hub and, when asked to wait,
follows their status; the controller does the work. Bad input (an unsupported version, a skipped
minor, a downgrade, bad CIDRs) is refused here with one line, before anything is written.
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Secret
from lightkube.types import PatchType
from pydantic import ValidationError

from kokpit.api.cluster import SECRET_NAMESPACE
from kokpit.api.hostedcluster import HostedClusterSpec, NetworkingSpec
from kokpit.cli.errors import fail
from kokpit.cli.kubeconfig import (
    HubAliasOption,
    HubChoice,
    HubOption,
    hub_choice,
    hub_client,
    hub_kubeconfig,
)
from kokpit.cli.yamlfiles import yaml_error_line
from kokpit.controlplane.files import write_private
from kokpit.errors import KokpitError
from kokpit.fleet.members import ClusterResource
from kokpit.fleet.names import HUB_ENDPOINTS_CONFIGMAP, HUB_ENDPOINTS_NAMESPACE
from kokpit.fleet.proxy.endpoints import Endpoints
from kokpit.fleet.proxy.kubeconfig import proxy_kubeconfig
from kokpit.hosted import addons, names
from kokpit.hosted.controller import HostedClusterResource
from kokpit.hosted.versions import check_version_change, load_supported
from kokpit.runtime import get_condition

NamespaceOption = Annotated[str, typer.Option("--namespace", "-n", help="Namespace of the HostedCluster.")]

create_app = typer.Typer(help="Create kokpit resources.", no_args_is_help=True)
delete_app = typer.Typer(help="Delete kokpit resources.", no_args_is_help=True)
upgrade_app = typer.Typer(help="Upgrade kokpit resources.", no_args_is_help=True)
addons_app = typer.Typer(help="Addon definitions for hosted clusters.", no_args_is_help=True)


def _ready(status: dict[str, Any]) -> bool:
    condition = get_condition(status.get("conditions"), "Ready")
    return condition is not None and condition.get("status") == "True"


def _problem(status: dict[str, Any]) -> str | None:
    """A refusal the controller reported (the user must change the spec), or None."""
    accepted = get_condition(status.get("conditions"), "VersionAccepted")
    if accepted is not None and accepted.get("status") == "False":
        return f"{accepted.get('reason')}: {accepted.get('message')}"
    for condition in status.get("conditions") or []:
        if condition.get("reason") in ("UpgradeStalled", "CrashLoop"):
            return f"{condition.get('type')} {condition.get('reason')}: {condition.get('message')}"
    return None


def cluster_manifest(
    name: str,
    namespace: str,
    *,
    version: str,
    nodes: int,
    service_cidr: str | None,
    pod_cidr: str | None,
    workers: int = 0,
    exposure_address: str | None = None,
    host_selector: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`cluster_manifest` is the HostedCluster `create cluster` writes; raises ValueError when invalid
    (a pydantic ValidationError: the same checks as the CRD, e.g. workers on a loopback exposure).

    `workers` asks for machine-backed nodes (`spec.workers.replicas`, on Hosts matching
    `host_selector`); they need the API server on an address they reach, `exposure_address`."""
    spec: dict[str, Any] = {"kubernetesVersion": version, "nodes": nodes}
    networking: dict[str, Any] = {}
    if service_cidr:
        networking["serviceCIDR"] = service_cidr
    if pod_cidr:
        networking["podCIDR"] = pod_cidr
    if networking:
        spec["networking"] = NetworkingSpec.model_validate(networking).to_dict()
    if exposure_address:
        spec["exposure"] = {"address": exposure_address}
    if workers:
        spec["workers"] = {"replicas": workers}
        if host_selector:
            spec["workers"]["hostSelector"] = {"matchLabels": dict(host_selector)}
    HostedClusterSpec.model_validate(spec)
    return {
        "apiVersion": "cluster.kokpit.io/v1alpha1",
        "kind": "HostedCluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


WORKERS_NEED_ADDRESS = (
    "--workers needs --exposure-address ADDR: an address of this machine the nodes reach "
    "(the sandbox hosts' bridge is 10.77.0.1)"
)


async def _wait_ready(client: AsyncClient, name: str, namespace: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        obj = await client.get(HostedClusterResource, name, namespace=namespace)
        status = dict(obj.get("status") or {})
        if _ready(status) and status.get("version") == obj["spec"]["kubernetesVersion"]:
            return status
        problem = _problem(status)
        if problem is not None:
            fail(f"cluster {name}: {problem}")
        await asyncio.sleep(0.25)
    ready = get_condition(status.get("conditions"), "Ready") or {}
    fail(f"cluster {name} not Ready after {timeout:.0f}s: {ready.get('message') or status.get('phase')}")


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}".removeprefix("Value error, ")


@create_app.command("cluster")
def create_cluster(
    name: Annotated[str, typer.Argument(help="Name of the new cluster.")],
    version: Annotated[str | None, typer.Option("--version", help="Kubernetes version.")] = None,
    nodes: Annotated[int, typer.Option("--nodes", help="Number of kwok nodes.")] = 0,
    workers: Annotated[
        int, typer.Option("--workers", min=0, help="Number of real (machine-backed) nodes on free Hosts.")
    ] = 0,
    exposure_address: Annotated[
        str | None,
        typer.Option(
            "--exposure-address",
            help="Address of this machine the API server serves on (needed by --workers: nodes reach it).",
        ),
    ] = None,
    host_selector: Annotated[
        str | None,
        typer.Option("--host-selector", help="key=value[,key=value]: labels of the Hosts workers may claim."),
    ] = None,
    service_cidr: Annotated[str | None, typer.Option("--service-cidr")] = None,
    pod_cidr: Annotated[str | None, typer.Option("--pod-cidr")] = None,
    namespace: NamespaceOption = "default",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the cluster is Ready.")] = True,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds to wait (300; 600 with --workers).")
    ] = None,
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Create a hosted cluster (its control plane run by kokpit) and wait until it is Ready (with
    --workers, until that many real nodes are Ready too)."""
    if workers and not exposure_address:
        fail(WORKERS_NEED_ADDRESS)
    if host_selector and not workers:
        fail("--host-selector chooses the Hosts of --workers: give --workers N too")
    selector = _selector(host_selector)
    choice = hub_choice(hub, hub_alias)
    supported = load_supported()
    version = version or supported.default
    verdict = check_version_change(version, None, supported)
    if not verdict.allowed:
        fail(verdict.message)
    try:
        manifest = cluster_manifest(
            name,
            namespace,
            version=version,
            nodes=nodes,
            service_cidr=service_cidr,
            pod_cidr=pod_cidr,
            workers=workers,
            exposure_address=exposure_address,
            host_selector=selector,
        )
    except ValidationError as error:
        fail(f"invalid cluster {name}: {_first_error(error)}")

    async def go() -> float:
        client = hub_client(choice)
        started = time.monotonic()
        try:
            await client.create(HostedClusterResource.from_dict(manifest))
            if wait:
                await _wait_ready(client, name, namespace, timeout or (600.0 if workers else 300.0))
        finally:
            await client.close()
        return time.monotonic() - started

    elapsed = asyncio.run(go())
    if wait:
        with_workers = f", {workers} worker nodes" if workers else ""
        typer.echo(
            f"cluster {name} Ready ({version}{with_workers}) in {elapsed:.1f}s; "
            f"kubeconfig: kokpit get kubeconfig {name}"
        )
    else:
        typer.echo(f"cluster {name} created")


@delete_app.command("cluster")
def delete_cluster(
    name: Annotated[str, typer.Argument(help="The hosted cluster to delete.")],
    namespace: NamespaceOption = "default",
    wait: Annotated[bool, typer.Option("--wait/--no-wait")] = True,
    timeout: Annotated[float, typer.Option("--timeout")] = 120.0,
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Delete a hosted cluster: its control plane, etcd, Secrets and fleet membership."""
    choice = hub_choice(hub, hub_alias)

    async def go() -> None:
        client = hub_client(choice)
        try:
            try:
                await client.delete(HostedClusterResource, name, namespace=namespace)
            except ApiError as error:
                if error.status.code == 404:
                    fail(f"no hosted cluster {namespace}/{name}")
                raise
            deadline = time.monotonic() + timeout
            while wait:
                try:
                    await client.get(HostedClusterResource, name, namespace=namespace)
                except ApiError as error:
                    if error.status.code == 404:
                        return
                    raise
                if time.monotonic() > deadline:
                    fail(f"cluster {name} still being deleted after {timeout:.0f}s (is `kokpit hub run` up?)")
                await asyncio.sleep(0.25)
        finally:
            await client.close()

    asyncio.run(go())
    typer.echo(f"cluster {name} deleted")


def get_kubeconfig(
    name: Annotated[str, typer.Argument(help="The hosted cluster (with --proxy: any member).")],
    namespace: NamespaceOption = "default",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
    proxy: Annotated[
        bool,
        typer.Option("--proxy", help="A kubeconfig reaching member NAME through the hub's proxy, as you."),
    ] = False,
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Print the admin kubeconfig of a hosted cluster (or write it to a file, mode 0600).

    With --proxy: a kubeconfig that reaches member NAME (Push or Pull) through the hub's proxy with
    your own hub credentials; the member's RBAC decides what you may do there."""
    choice = hub_choice(hub, hub_alias)
    if proxy:
        _write_kubeconfig(_proxy_kubeconfig(choice, name), output)
        return

    async def go() -> bytes:
        client = hub_client(choice)
        try:
            secret = await client.get(Secret, names.admin_kubeconfig_secret_name(name), namespace=namespace)
        except ApiError as error:
            if error.status.code == 404:
                fail(f"no kubeconfig for cluster {namespace}/{name} yet (is it Ready?)")
            raise
        finally:
            await client.close()
        return base64.b64decode((secret.data or {})[names.ADMIN_KUBECONFIG_KEY])

    _write_kubeconfig(asyncio.run(go()), output)


def _proxy_kubeconfig(choice: HubChoice, name: str) -> bytes:
    """The proxy kubeconfig of member `name` from the caller's hub kubeconfig and the endpoints the
    hub publishes; one line and exit 1 when the hub serves no proxy or has no such member."""
    path = hub_kubeconfig(choice)
    config = yaml.safe_load(path.read_text())

    async def go() -> Endpoints:
        client = hub_client(choice)
        try:
            try:
                await client.get(ClusterResource, name)
            except ApiError as error:
                if error.status.code == 404:
                    fail(f"cluster {name} is not a member of the fleet")
                raise
            try:
                published = await client.get(
                    ConfigMap, HUB_ENDPOINTS_CONFIGMAP, namespace=HUB_ENDPOINTS_NAMESPACE
                )
            except ApiError as error:
                if error.status.code == 404:
                    fail("the hub publishes no proxy yet (run kokpit hub run --proxy-addr HOST:PORT)")
                raise
            try:
                return Endpoints.of_configmap_data(published.data)
            except ValueError as error:
                fail(str(error))
        finally:
            await client.close()

    endpoints = asyncio.run(go())
    try:
        built = proxy_kubeconfig(config, cluster=name, endpoints=endpoints, base_dir=path.parent.resolve())
    except ValueError as error:
        fail(str(error))
    return yaml.safe_dump(built, sort_keys=False).encode()


def _write_kubeconfig(data: bytes, output: Path | None) -> None:
    if output is None:
        typer.echo(data.decode(), nl=False)
        return
    save_kubeconfig(output, data)
    typer.echo(f"wrote {output}")


def save_kubeconfig(path: Path, data: bytes) -> None:
    """`save_kubeconfig` writes an admin kubeconfig (cluster-admin credentials) readable only by its
    owner: 0600 from the file's creation on, written atomically, so no other user ever sees it."""
    write_private(path, data)


@upgrade_app.command("clusters")
def upgrade_clusters(
    to: Annotated[str, typer.Option("--to", help="The Kubernetes version to upgrade to.")],
    selector: Annotated[
        str | None, typer.Option("--selector", "-l", help="Label selector of the HostedClusters.")
    ] = None,
    namespace: NamespaceOption = "default",
    max_concurrency: Annotated[int, typer.Option("--max-concurrency", min=1)] = 1,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per cluster.")] = 600.0,
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Upgrade every matching hosted cluster to a version, at most K at a time, each until Ready."""
    choice = hub_choice(hub, hub_alias)
    supported = load_supported()

    async def go() -> list[str]:
        client = hub_client(choice)
        try:
            clusters = [
                dict(obj)
                async for obj in client.list(
                    HostedClusterResource, namespace=namespace, labels=_selector(selector)
                )
            ]
            clusters.sort(key=lambda c: c["metadata"]["name"])
            if not clusters:
                fail(f"no hosted clusters in {namespace} match {selector or 'everything'}")
            for cluster in clusters:
                current = (cluster.get("status") or {}).get("version")
                verdict = check_version_change(to, current, supported)
                if not verdict.allowed:
                    fail(f"{cluster['metadata']['name']}: {verdict.message}")
            semaphore = asyncio.Semaphore(max_concurrency)
            total = len(clusters)
            done: list[str] = []

            async def one(index: int, cluster: dict[str, Any]) -> None:
                name = cluster["metadata"]["name"]
                async with semaphore:
                    current = (cluster.get("status") or {}).get("version")
                    started = time.monotonic()
                    typer.echo(f"[{index}/{total}] {name}: upgrading {current} -> {to}")
                    await client.patch(
                        HostedClusterResource,
                        name,
                        {"spec": {"kubernetesVersion": to}},
                        namespace=namespace,
                        patch_type=PatchType.MERGE,
                    )
                    await _wait_ready(client, name, namespace, timeout)
                    done.append(name)
                    typer.echo(
                        f"[{index}/{total}] {name}: {to} Ready in {time.monotonic() - started:.1f}s "
                        f"({len(done)}/{total} done)"
                    )

            await asyncio.gather(*(one(i, c) for i, c in enumerate(clusters, 1)))
            return done
        finally:
            await client.close()

    done = asyncio.run(go())
    typer.echo(f"upgraded {len(done)} clusters to {to}")


def _selector(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    out: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            fail(f"unsupported selector {part!r}: use key=value[,key=value]")
        out[key.strip()] = value.strip()
    return out


def _load_addons(directory: Path) -> list[addons.AddonDefinition]:
    """The addon definitions under `directory`; a YAML error in an `addon.yaml` reads `FILE:LINE:COL: ...`.

    The catalog names the file it was parsing at the start of its message (`<dir>/addon.yaml: ...`)
    and keeps PyYAML's error as the context; the position comes from there.
    """
    try:
        return addons.load_set(directory)
    except addons.AddonError as error:
        cause = error.__cause__ or error.__context__
        if isinstance(cause, yaml.MarkedYAMLError):
            where = str(error).split(": ", 1)[0]
            raise KokpitError(yaml_error_line(cause, path=where)) from None
        raise


@addons_app.command("import")
def import_addons(
    directory: Annotated[Path, typer.Argument(help="An addon directory, or a directory of them.")],
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Import addon definitions (addon.yaml + *.yaml.j2 templates) into the hub for hosted clusters."""
    choice = hub_choice(hub, hub_alias)
    definitions = _load_addons(directory)

    async def go() -> None:
        client = hub_client(choice)
        try:
            for definition in definitions:
                config = ConfigMap(
                    metadata=ObjectMeta(
                        name=addons.configmap_name(definition),
                        namespace=SECRET_NAMESPACE,
                        labels={addons.DEFINITION_LABEL: "true", **names.MANAGED_BY},
                    ),
                    data=addons.configmap_data(definition),
                )
                await client.apply(config, field_manager="kokpit", force=True)
                typer.echo(f"addon {definition.name} {definition.version} imported")
        finally:
            await client.close()

    asyncio.run(go())


app = typer.Typer(
    help="Hosted clusters: create, delete, kubeconfig, upgrade, addons.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(create_app, name="create")
app.add_typer(delete_app, name="delete")
app.add_typer(upgrade_app, name="upgrade")
app.add_typer(addons_app, name="addons")
_get_app = typer.Typer(help="Show kokpit resources.", no_args_is_help=True)
_get_app.command("kubeconfig")(get_kubeconfig)
app.add_typer(_get_app, name="get")


if __name__ == "__main__":
    from kokpit.cli.errors import run_app

    run_app(app)
