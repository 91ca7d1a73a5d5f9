"""`kokpit plan`: where a template would be propagated, and what each member would get. Writes nothing.

    kokpit plan -f web.yaml            # templates from a file (several documents allowed)
    kokpit plan deployment/web -n shop # a template already on the hub
    kokpit plan -f web.yaml -o yaml    # the whole manifest per member instead of the diff

Reads the hub's Clusters, propagation and override policies, runs `kokpit.propagation.plan.plan_template`
(the same scheduling and rendering as the controllers) and prints `format_plan`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from lightkube import ALL_NS, ApiError, AsyncClient
from lightkube.core.resource import NamespacedResource
from pydantic import BaseModel, ValidationError

from kokpit.api.override import (
    CLUSTER_OVERRIDE_POLICY,
    OVERRIDE_POLICY,
    ClusterOverridePolicy,
    OverridePolicy,
)
from kokpit.api.policy import (
    CLUSTER_PROPAGATION_POLICY,
    PROPAGATION_POLICY,
    ClusterPropagationPolicy,
    PropagationPolicy,
)
from kokpit.api.work import CLUSTER_RESOURCE_BINDING, RESOURCE_BINDING
from kokpit.cli.errors import fail
from kokpit.cli.kubeconfig import HubAliasOption, HubChoice, HubOption, hub_choice, hub_client
from kokpit.cli.yamlfiles import read_documents
from kokpit.errors import KokpitError
from kokpit.fleet.members import ClusterResource
from kokpit.propagation.clusters import ClusterInfo, cluster_info_from_object
from kokpit.propagation.kinds import UnknownKind, api_resources, discover_kind
from kokpit.propagation.plan import OutputFormat, format_plan, plan_template
from kokpit.propagation.work_render import binding_ref_of
from kokpit.runtime.raw import get_raw
from kokpit.runtime.resources import ServedKind, resource_class, served_class

OUTPUTS: tuple[OutputFormat, ...] = ("diff", "yaml", "summary")


class Snapshot:
    """What planning reads from the hub: Clusters and every policy (invalid policies are reported)."""

    def __init__(self) -> None:
        self.clusters: list[ClusterInfo] = []
        self.policies: list[Any] = []
        self.overrides: list[Any] = []
        self.warnings: list[str] = []


async def _parsed(
    client: AsyncClient, resource: type[Any], model: type[BaseModel], snapshot: Snapshot
) -> list[Any]:
    out = []
    listing: Any = (
        client.list(resource, namespace=ALL_NS)
        if issubclass(resource, NamespacedResource)
        else client.list(resource)
    )
    async for raw in listing:
        try:
            out.append(model.model_validate(dict(raw)))
        except ValidationError as error:
            metadata = raw.get("metadata") or {}
            where = (
                f"{metadata.get('namespace')}/{metadata.get('name')}"
                if metadata.get("namespace")
                else metadata.get("name")
            )
            snapshot.warnings.append(
                f"{raw.get('kind')} {where} is invalid and left out: {error.errors()[0]['msg']}"
            )
    return out


async def read_snapshot(client: AsyncClient) -> Snapshot:
    """`read_snapshot` lists the hub's Clusters (not being deleted) and policies."""
    snapshot = Snapshot()
    async for cluster in client.list(ClusterResource):
        if not (cluster.get("metadata") or {}).get("deletionTimestamp"):
            snapshot.clusters.append(cluster_info_from_object(cluster))
    snapshot.policies = [
        *await _parsed(client, resource_class(PROPAGATION_POLICY), PropagationPolicy, snapshot),
        *await _parsed(
            client, resource_class(CLUSTER_PROPAGATION_POLICY), ClusterPropagationPolicy, snapshot
        ),
    ]
    snapshot.overrides = [
        *await _parsed(client, resource_class(OVERRIDE_POLICY), OverridePolicy, snapshot),
        *await _parsed(client, resource_class(CLUSTER_OVERRIDE_POLICY), ClusterOverridePolicy, snapshot),
    ]
    return snapshot


async def find_kind(client: AsyncClient, name: str) -> ServedKind:
    """`find_kind` resolves what a user types before `/` in `KIND/NAME` (kind, plural, singular or short
    name, case-insensitive, optionally `.group`) through the hub's discovery, preferred versions only."""
    wanted, _, group = name.lower().partition(".")
    versions: list[str] = ["v1"] if not group else []
    response = await get_raw(client, "/apis", accept="application/json")
    response.raise_for_status()
    for item in response.json().get("groups") or ():
        if group and item.get("name") != group:
            continue
        preferred = (item.get("preferredVersion") or {}).get("groupVersion")
        if preferred:
            versions.append(str(preferred))
    for api_version in versions:
        document = await api_resources(client, api_version)
        for resource in (document or {}).get("resources") or ():
            if "/" in str(resource.get("name", "")):
                continue
            names = {
                str(resource.get("kind", "")).lower(),
                str(resource.get("name", "")),
                str(resource.get("singularName", "")),
                *(str(s) for s in resource.get("shortNames") or ()),
            }
            if wanted in names:
                return await discover_kind(client, api_version, str(resource["kind"]))
    raise UnknownKind(f"the hub serves no kind named {name!r}")


async def _previous(client: AsyncClient, template: dict[str, Any]) -> dict[str, int] | None:
    """The current decision of the template's binding, if it has one (for the scheduler's stability)."""
    ref = binding_ref_of(template)
    resource = resource_class(RESOURCE_BINDING if ref.namespace else CLUSTER_RESOURCE_BINDING)
    try:
        binding = await client.get(resource, ref.name, namespace=ref.namespace)
    except ApiError as error:
        if error.status.code == 404:
            return None
        raise
    spec = binding.get("spec") or {}
    uid = (template.get("metadata") or {}).get("uid")
    if uid and (spec.get("resource") or {}).get("uid") not in (None, uid):
        return None
    return {str(t["name"]): int(t.get("replicas") or 0) for t in spec.get("clusters") or () if t.get("name")}


async def _from_file(
    client: AsyncClient, path: Path, documents: list[Any], namespace: str | None
) -> list[dict[str, Any]]:
    templates = []
    for document in documents:
        if not isinstance(document, dict) or not document.get("apiVersion") or not document.get("kind"):
            raise KokpitError(f"{path}: every document needs apiVersion and kind")
        metadata = document.setdefault("metadata", {})
        if not metadata.get("name"):
            raise KokpitError(f"{path}: a {document['kind']} without metadata.name")
        kind = await discover_kind(client, str(document["apiVersion"]), str(document["kind"]))
        if kind.namespaced:
            metadata["namespace"] = namespace or metadata.get("namespace") or "default"
        else:
            metadata.pop("namespace", None)
        templates.append(document)
    return templates


async def _from_hub(client: AsyncClient, target: str, namespace: str | None) -> dict[str, Any]:
    kind_name, slash, name = target.partition("/")
    if not slash or not kind_name or not name:
        raise KokpitError(f"{target!r} is not KIND/NAME (for example deployment/web)")
    kind = await find_kind(client, kind_name)
    try:
        obj = await client.get(
            served_class(kind), name, **({"namespace": namespace or "default"} if kind.namespaced else {})
        )
    except ApiError as error:
        if error.status.code == 404:
            where = f" in namespace {namespace or 'default'}" if kind.namespaced else ""
            raise KokpitError(f"{kind.kind} {name} does not exist{where}") from None
        raise
    return dict(obj)


async def _plan(
    hub: HubChoice,
    target: str | None,
    documents: tuple[Path, list[Any]] | None,
    namespace: str | None,
    output: OutputFormat,
) -> tuple[str, list[str]]:
    client = hub_client(hub)
    try:
        templates = (
            await _from_file(client, documents[0], documents[1], namespace)
            if documents is not None
            else [await _from_hub(client, target or "", namespace)]
        )
        snapshot = await read_snapshot(client)
        texts = []
        for template in templates:
            plan = plan_template(
                template,
                clusters=snapshot.clusters,
                policies=snapshot.policies,
                override_policies=snapshot.overrides,
                previous=await _previous(client, template),
            )
            texts.append(format_plan(plan, output=output))
        return "\n".join(texts), snapshot.warnings
    finally:
        await client.close()


def plan(
    target: Annotated[
        str | None, typer.Argument(help="KIND/NAME of a template already on the hub, e.g. deployment/web.")
    ] = None,
    filename: Annotated[
        Path | None,
        typer.Option("-f", "--filename", help="A YAML file of templates (several documents allowed)."),
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("-n", "--namespace", help="Namespace of the template [default: default].")
    ] = None,
    output: Annotated[str, typer.Option("-o", "--output", help="diff (default), yaml or summary.")] = "diff",
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Show where templates would be propagated and what each member would get, without writing anything."""
    choice = hub_choice(hub, hub_alias)
    if (target is None) == (filename is None):
        fail("give either KIND/NAME or -f FILE")
    if output not in OUTPUTS:
        fail(f"--output must be one of {', '.join(OUTPUTS)}, not {output!r}")
    documents = (filename, read_documents(filename)) if filename is not None else None
    text, warnings = asyncio.run(_plan(choice, target, documents, namespace, output))
    for warning in warnings:
        typer.echo(f"kokpit: warning: {warning}", err=True)
    typer.echo(text, nl=False)
