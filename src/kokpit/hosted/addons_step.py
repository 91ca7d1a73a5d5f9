"""The addons step: the built-in and imported addons a cluster asks for, rendered and synced into it."""

from __future__ import annotations

import ipaddress
import logging

from lightkube import AsyncClient
from lightkube.resources.core_v1 import ConfigMap

from kokpit.api.hostedcluster import HostedClusterSpec, NetworkingSpec
from kokpit.hosted import addons, inside
from kokpit.hosted.context import Pass, StepContext

log = logging.getLogger("kokpit.hosted")


def dns_ip(service_cidr: str) -> str:
    """`dns_ip` is the cluster DNS Service's address: the tenth of the service range."""
    return str(ipaddress.ip_network(service_cidr).network_address + 10)


async def ensure_addons(
    ctx: StepContext,
    client: AsyncClient,
    spec: HostedClusterSpec,
    name: str,
    version: str,
    state: Pass,
    networking: NetworkingSpec,
) -> None:
    """`ensure_addons` installs (and prunes) the requested addons in the cluster reached by `client`;
    sets `AddonsReady`. A template refused by the sandbox or failing to render says so there."""
    catalog = addons.Catalog.of(addons.builtin(), await imported_addons(ctx))
    requested = [addons.AddonRequest(n) for n in addons.ALWAYS_INSTALLED]
    if spec.addons is None:
        # With workers, none by default: their nodes run kube-proxy as a NodeComponent, and coredns's
        # image is on a registry the nodes may not reach (see `HostedClusterSpec.addons`).
        if spec.workers is None:
            requested += [addons.AddonRequest(n) for n in addons.DEFAULT_ADDONS]
    else:
        requested += [addons.AddonRequest(a.name, a.version, a.parameters) for a in spec.addons]
    facts = addons.ClusterFacts(
        name=name,
        version=version,
        endpoint=state.endpoint or "",
        service_cidr=networking.service_cidr,
        pod_cidr=networking.pod_cidr,
        cluster_domain=networking.cluster_domain,
        dns_ip=dns_ip(networking.service_cidr),
    )
    try:
        found, problems = addons.select(catalog, requested, facts)
    except addons.AddonError as error:
        state.set("AddonsReady", False, "AddonRenderFailed", str(error))
        return
    if problems:
        state.set("AddonsReady", False, "AddonUnavailable", "; ".join(problems))
        return
    try:
        rendered = [addons.render(d, facts, r.parameters) for d, r in found]
    except addons.AddonError as error:
        state.set("AddonsReady", False, "AddonRenderFailed", str(error))
        return
    inventory = await inside.sync_addons(client, rendered)
    state.addons = [
        {"name": n, "version": e.version, "objects": len(e.refs)} for n, e in sorted(inventory.items())
    ]
    state.set(
        "AddonsReady",
        True,
        "AddonsApplied",
        ", ".join(f"{a['name']} {a['version']}" for a in state.addons),
    )


async def imported_addons(ctx: StepContext) -> list[addons.AddonDefinition]:
    """`imported_addons` reads the addon definitions imported into the hub (bad ones are skipped)."""
    out: list[addons.AddonDefinition] = []
    async for config in ctx.client.list(
        ConfigMap, namespace=ctx.settings.addon_namespace, labels={addons.DEFINITION_LABEL: "true"}
    ):
        source = f"configmap/{config.metadata.name if config.metadata else ''}"
        try:
            out.append(addons.from_configmap(config.data, config.binaryData, source=source))
        except addons.AddonError as error:
            log.warning("ignoring addon definition: %s", error)
    return out
