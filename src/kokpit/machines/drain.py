"""Draining a node before its Machine goes: cordon, evict through the Eviction API, wait.

What `kubectl drain` does, against the target cluster's API (never the hub's):

- **cordon**: `spec.unschedulable: true` (a merge patch), so nothing new lands on the node;
- **evict** every pod bound to the node through `pods/eviction`, so the API server honours
  PodDisruptionBudgets: a 429 means a budget does not allow it now, and the pod is tried again on
  the next pass, never deleted around the budget. DaemonSet pods (their controller would put them
  straight back, and they go with the node) and mirror pods (the kubelet's static pods; the API
  cannot remove them) are skipped. Pods no controller owns are evicted too: the Machine is going
  either way, and the result names them;
- **wait** until every evicted pod is gone; `drain` gives up after `timeout` seconds with the pods
  left, which `drain_condition` turns into reason `DrainTimeout` naming them.

`drain_once` is one pass (cordon, evict what is left, report), for level-triggered controllers that
keep their own clock (for instance the `Draining` condition's transition time); `drain` loops it
for the CLI. `classify` is the pure part: which pods to evict, which to skip.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import DeleteOptions, ObjectMeta
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

from kokpit.runtime.conditions import Condition
from kokpit.runtime.resources import PlainNode

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
DRAIN_STARTED_ANNOTATION = "machines.kokpit.io/drain-started"
"""On a Machine chosen for scale-in: when its node's drain began (RFC 3339), so the timeout counts
from there across passes and the same Machine stays the one to go."""
DRAINED = "Drained"
LISTED = 8
"""How many pod names a message lists before it says how many more."""


@dataclass(frozen=True)
class PodView:
    """What draining needs of a pod."""

    namespace: str
    name: str
    controller_kind: str | None = None
    """The kind of its controller owner reference (ReplicaSet, DaemonSet, ...), None for a bare pod."""
    mirror: bool = False
    deleting: bool = False
    finished: bool = False
    """Phase Succeeded or Failed."""

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Classified:
    evict: tuple[PodView, ...] = ()
    """Pods to evict now (not already terminating)."""
    terminating: tuple[PodView, ...] = ()
    """Pods already on their way out: wait for them."""
    skipped: tuple[PodView, ...] = ()
    """DaemonSet and mirror pods: left to go with the node."""

    @property
    def left(self) -> tuple[PodView, ...]:
        """Pods the drain still waits for."""
        return self.evict + self.terminating


def classify(pods: Iterable[PodView]) -> Classified:
    """`classify` splits a node's pods into those to evict, those terminating, and those skipped
    (DaemonSet and mirror pods), each sorted by namespace/name."""
    evict: list[PodView] = []
    terminating: list[PodView] = []
    skipped: list[PodView] = []
    for pod in sorted(pods, key=lambda p: (p.namespace, p.name)):
        if pod.mirror or pod.controller_kind == "DaemonSet":
            skipped.append(pod)
        elif pod.deleting:
            terminating.append(pod)
        else:
            evict.append(pod)
    return Classified(tuple(evict), tuple(terminating), tuple(skipped))


def pod_view(pod: Any) -> PodView:
    """`pod_view` reads a lightkube Pod (typed) into a `PodView`."""
    meta = pod.metadata
    controller = next((o for o in meta.ownerReferences or [] if o.controller), None)
    phase = pod.status.phase if pod.status is not None else None
    return PodView(
        namespace=str(meta.namespace),
        name=str(meta.name),
        controller_kind=controller.kind if controller is not None else None,
        mirror=MIRROR_ANNOTATION in (meta.annotations or {}),
        deleting=meta.deletionTimestamp is not None,
        finished=phase in ("Succeeded", "Failed"),
    )


@dataclass(frozen=True)
class DrainResult:
    """Where a drain stands after a pass (or after `drain` returned)."""

    node: str
    done: bool
    left: tuple[str, ...] = ()
    """namespace/name of pods still on the node (to evict, blocked, or terminating)."""
    blocked: tuple[str, ...] = ()
    """Pods whose eviction a PodDisruptionBudget refused this pass (429)."""
    evicted: tuple[str, ...] = ()
    """Pods evicted this pass."""
    unmanaged: tuple[str, ...] = ()
    """Evicted pods that no controller owns (they are not recreated elsewhere)."""
    skipped: tuple[str, ...] = ()
    node_found: bool = True
    elapsed: float = 0.0
    timed_out: bool = False
    errors: tuple[str, ...] = field(default=())
    """Evictions refused for another reason than a budget (e.g. 403), with the message."""


def listing(names: Sequence[str]) -> str:
    """`listing` is `a, b, c` with at most `LISTED` names, then `and N more`."""
    shown = ", ".join(names[:LISTED])
    more = len(names) - LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def drain_condition(result: DrainResult, *, type_: str = DRAINED) -> Condition:
    """`drain_condition` is the condition a drain leaves: True `Drained`, False `DrainTimeout`
    naming the pods left, else False `Draining` (still going, naming what blocks it)."""
    if result.done:
        note = f"; skipped {listing(result.skipped)}" if result.skipped else ""
        why = "the node does not exist" if not result.node_found else f"node {result.node} drained"
        return Condition.true(type_, "Drained", why + note)
    left = listing(result.left)
    if result.timed_out:
        return Condition.false(
            type_,
            "DrainTimeout",
            f"node {result.node}: {len(result.left)} pod(s) left after {result.elapsed:.0f}s: {left}"
            + (f" (PodDisruptionBudget refused {listing(result.blocked)})" if result.blocked else ""),
        )
    if result.blocked:
        return Condition.false(
            type_,
            "EvictionBlocked",
            f"node {result.node}: a PodDisruptionBudget does not allow evicting {listing(result.blocked)} "
            "now; retrying",
        )
    return Condition.false(type_, "Draining", f"node {result.node}: waiting for {left}")


async def cordon(client: AsyncClient, node: str, *, unschedulable: bool = True) -> bool:
    """`cordon` sets `spec.unschedulable` on `node` (False: uncordon); False when there is no such
    node."""
    try:
        await client.patch(
            PlainNode,
            node,
            {"spec": {"unschedulable": True if unschedulable else None}},
            patch_type=PatchType.MERGE,
        )
    except ApiError as error:
        if error.status.code == 404:
            return False
        raise
    return True


async def node_pods(client: AsyncClient, node: str) -> list[PodView]:
    """`node_pods` lists every pod bound to `node`, in every namespace."""
    return [pod_view(pod) async for pod in client.list(Pod, namespace="*", fields={"spec.nodeName": node})]


async def evict(client: AsyncClient, pod: PodView, *, grace_period: int | None = None) -> str | None:
    """`evict` asks the API server to evict `pod`; returns None when it was evicted or is gone,
    `"blocked"` for a 429 (a PodDisruptionBudget), or the refusal's message."""
    body = Pod.Eviction(
        metadata=ObjectMeta(name=pod.name, namespace=pod.namespace),
        deleteOptions=DeleteOptions(gracePeriodSeconds=grace_period) if grace_period is not None else None,
    )
    try:
        await client.create(body, pod.name, namespace=pod.namespace)
    except ApiError as error:
        code = error.status.code
        if code == 404:
            return None
        if code == 429:
            return "blocked"
        return f"{pod.ref}: {error.status.message or code}"
    return None


async def drain_once(client: AsyncClient, node: str, *, grace_period: int | None = None) -> DrainResult:
    """`drain_once` cordons `node`, evicts every evictable pod still on it and reports what is left
    (`done` when nothing is)."""
    if not await cordon(client, node):
        return DrainResult(node=node, done=True, node_found=False)
    found = classify(await node_pods(client, node))
    evicted: list[str] = []
    blocked: list[str] = []
    errors: list[str] = []
    unmanaged: list[str] = []
    outcomes = await asyncio.gather(*(evict(client, p, grace_period=grace_period) for p in found.evict))
    for pod, outcome in zip(found.evict, outcomes, strict=True):
        if outcome is None:
            evicted.append(pod.ref)
            if pod.controller_kind is None and not pod.finished:
                unmanaged.append(pod.ref)
        elif outcome == "blocked":
            blocked.append(pod.ref)
        else:
            errors.append(outcome)
    left = tuple(p.ref for p in found.left)
    return DrainResult(
        node=node,
        done=not left,
        left=left,
        blocked=tuple(blocked),
        evicted=tuple(evicted),
        unmanaged=tuple(unmanaged),
        skipped=tuple(p.ref for p in found.skipped),
        errors=tuple(errors),
    )


async def drain(
    client: AsyncClient,
    node: str,
    *,
    timeout: float = 300.0,
    interval: float = 2.0,
    grace_period: int | None = None,
) -> DrainResult:
    """`drain` repeats `drain_once` every `interval` seconds until the node has no pods left to wait
    for, or `timeout` seconds passed (`timed_out`, with the pods left)."""
    start = time.monotonic()
    evicted: list[str] = []
    unmanaged: list[str] = []
    while True:
        result = await drain_once(client, node, grace_period=grace_period)
        evicted.extend(p for p in result.evicted if p not in evicted)
        unmanaged.extend(p for p in result.unmanaged if p not in unmanaged)
        elapsed = time.monotonic() - start
        if result.done or elapsed >= timeout:
            return DrainResult(
                node=result.node,
                done=result.done,
                left=result.left,
                blocked=result.blocked,
                evicted=tuple(evicted),
                unmanaged=tuple(unmanaged),
                skipped=result.skipped,
                node_found=result.node_found,
                elapsed=elapsed,
                timed_out=not result.done,
                errors=result.errors,
            )
        await asyncio.sleep(min(interval, max(0.0, timeout - elapsed)))


def drained_since(result: DrainResult, started: float | None, now: float, timeout: float) -> DrainResult:
    """`drained_since` marks a `drain_once` result as timed out when `started` (a clock reading of
    the drain's start, e.g. the `Draining` condition's transition time as a timestamp) is more than
    `timeout` seconds before `now`; for controllers that drain one pass per reconcile."""
    if result.done or started is None:
        return result
    elapsed = now - started
    return DrainResult(
        node=result.node,
        done=False,
        left=result.left,
        blocked=result.blocked,
        evicted=result.evicted,
        unmanaged=result.unmanaged,
        skipped=result.skipped,
        node_found=result.node_found,
        elapsed=elapsed,
        timed_out=elapsed >= timeout,
        errors=result.errors,
    )


def summary(result: DrainResult) -> Mapping[str, Any]:
    """`summary` is the result as plain data (CLI JSON output, Events)."""
    return {
        "node": result.node,
        "done": result.done,
        "left": list(result.left),
        "blocked": list(result.blocked),
        "evicted": list(result.evicted),
        "unmanaged": list(result.unmanaged),
        "skipped": list(result.skipped),
        "elapsed": round(result.elapsed, 1),
        "timedOut": result.timed_out,
        "errors": list(result.errors),
    }
