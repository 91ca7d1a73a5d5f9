"""One look at a member cluster: is it ready, which version, what it serves, how big it is.

The thin I/O beside `health` and `summary`: a few GETs through the member's client, each bounded by
a timeout, turned into plain data. A member that does not answer `/readyz` is unreachable; one that
answers anything but `ok` is not ready; summaries are only refreshed from a ready member.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from lightkube import AsyncClient

from kokpit.fleet.health import Probe, ProbeOutcome
from kokpit.fleet.summary import api_enablements, node_summary, resource_summary
from kokpit.runtime.raw import DISCOVERY_V2, get_raw


@dataclass(frozen=True)
class Observation:
    probe: Probe
    kubernetes_version: str | None = None
    api_enablements: list[dict[str, Any]] | None = None
    node_summary: dict[str, int] | None = None
    resource_summary: dict[str, Any] | None = None


async def observe(client: AsyncClient, *, timeout: float = 5.0, details: bool = True) -> Observation:
    """Probes `/readyz`, and, when ready and `details` is asked for, reads version, discovery, nodes
    and pods (the expensive part on a big member: the caller decides how often)."""
    try:
        response = await asyncio.wait_for(get_raw(client, "/readyz", timeout=timeout), timeout)
    except Exception as error:
        return Observation(Probe(ProbeOutcome.UNREACHABLE, f"/readyz did not answer: {_describe(error)}"))
    body = response.text.strip()
    if response.status_code != 200 or body != "ok":
        failed = [line for line in body.splitlines() if line.startswith("[-]")] or [body]
        return Observation(
            Probe(
                ProbeOutcome.NOT_READY,
                f"/readyz answered HTTP {response.status_code}: {'; '.join(failed)[:300]}",
            )
        )
    if not details:
        return Observation(Probe(ProbeOutcome.READY, "the member's API server is ready"))
    try:
        return await asyncio.wait_for(_details(client, timeout=timeout), timeout * 3)
    except Exception as error:
        return Observation(Probe(ProbeOutcome.READY, f"ready; summaries not refreshed: {_describe(error)}"))


async def _details(client: AsyncClient, *, timeout: float) -> Observation:
    # Plain JSON rather than lightkube objects: decoding thousands of pods into objects every
    # probe was the costliest thing the hub did on a busy fleet.
    version, core, groups, node_list, pod_list = await asyncio.gather(
        get_raw(client, "/version", timeout=timeout),
        get_raw(client, "/api", accept=DISCOVERY_V2, timeout=timeout),
        get_raw(client, "/apis", accept=DISCOVERY_V2, timeout=timeout),
        get_raw(client, "/api/v1/nodes", timeout=timeout),
        get_raw(client, "/api/v1/pods", timeout=timeout),
    )
    nodes = node_list.json().get("items") or []
    pods = pod_list.json().get("items") or []
    return Observation(
        probe=Probe(ProbeOutcome.READY, "the member's API server is ready"),
        kubernetes_version=str(version.json().get("gitVersion", "")) or None,
        api_enablements=api_enablements(core.json(), groups.json()),
        node_summary=node_summary(nodes),
        resource_summary=resource_summary(nodes, pods),
    )


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    if isinstance(error, TimeoutError):
        return "timed out"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
