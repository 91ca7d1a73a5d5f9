"""Draining a node on a real API server: cordon, evictions through the Eviction API, a
PodDisruptionBudget that says no (429) and a DrainTimeout naming the pod it kept.

The member's nodes are kwok's (a drain only speaks to the API server: it cordons, evicts and waits
for pods to be gone; kwok's pod-delete stage completes a deletion as a kubelet would). Run under
`flock /tmp/kokpit-integration.lock`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.models.policy_v1 import PodDisruptionBudgetSpec
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Pod
from lightkube.resources.policy_v1 import PodDisruptionBudget

from kokpit.machines.drain import cordon, drain, drain_condition
from kokpit.runtime.resources import PlainNode
from tests.support import SandboxHandle

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Member:
    """member1's client and the namespace of one test (each test its own: a deleted one lingers)."""

    client: AsyncClient
    namespace: str


@pytest.fixture
async def member(sandbox: SandboxHandle, request: pytest.FixtureRequest) -> AsyncIterator[Member]:
    namespace = "drain-" + request.node.name.removeprefix("test_").replace("_", "-")[:40].rstrip("-")
    client = AsyncClient(
        KubeConfig.from_file(sandbox.kubeconfig("member1")), field_manager="kokpit", trust_env=False
    )
    try:
        await client.apply(Namespace(metadata=ObjectMeta(name=namespace)))
        yield Member(client, namespace)
    finally:
        async for node in client.list(PlainNode):
            await cordon(client, node["metadata"]["name"], unschedulable=False)
        await client.delete(Namespace, namespace)
        await client.close()


def deployment(name: str, replicas: int, namespace: str, node: str | None = None) -> Deployment:
    labels = {"app": name}
    return Deployment(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(matchLabels=labels),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=PodSpec(
                    containers=[Container(name="web", image="example.invalid/web:1")],
                    nodeSelector={"kubernetes.io/hostname": node} if node else None,
                    tolerations=None,
                ),
            ),
        ),
    )


async def pods_on(member: Member, node: str, app: str) -> list[Any]:
    return [
        p
        async for p in member.client.list(
            Pod, namespace=member.namespace, labels={"app": app}, fields={"spec.nodeName": node}
        )
        if _alive(p)
    ]


def _alive(pod: Any) -> bool:
    return pod.metadata.deletionTimestamp is None


async def wait_for(what: str, check: Any, within: float = 60.0) -> Any:
    for _ in range(int(within / 0.5)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


async def test_drain_evicts_moves_pods_and_cordons(member: Member) -> None:
    nodes = sorted([n["metadata"]["name"] async for n in member.client.list(PlainNode)])
    assert len(nodes) >= 2, nodes
    await member.client.apply(deployment("web", 4, member.namespace), field_manager="test")

    async def placed() -> dict[str, int]:
        counts: dict[str, int] = {}
        async for p in member.client.list(Pod, namespace=member.namespace, labels={"app": "web"}):
            pod: Any = p
            if _alive(pod) and pod.spec.nodeName and pod.status and pod.status.phase == "Running":
                counts[pod.spec.nodeName] = counts.get(pod.spec.nodeName, 0) + 1
        return counts if sum(counts.values()) == 4 else {}

    counts = await wait_for("4 web pods running", placed)
    target = max(sorted(counts), key=lambda n: counts[n])

    result = await drain(member.client, target, timeout=60.0, interval=0.5)
    assert result.done, drain_condition(result).message
    # The fleet is shared: count only this test's pods, whatever else runs on the node.
    assert len([e for e in result.evicted if e.startswith(f"{member.namespace}/")]) == counts[target]
    assert drain_condition(result).reason == "Drained"
    node = await member.client.get(PlainNode, target)
    assert node["spec"]["unschedulable"] is True
    assert await pods_on(member, target, "web") == []

    async def four_elsewhere() -> bool:
        moved = await placed()
        return bool(moved) and target not in moved

    await wait_for("the Deployment to run its 4 pods on the other nodes", four_elsewhere)


async def test_a_disruption_budget_holds_the_drain_until_the_timeout(member: Member) -> None:
    nodes = sorted([n["metadata"]["name"] async for n in member.client.list(PlainNode)])
    target = nodes[-1]
    await member.client.apply(deployment("guarded", 1, member.namespace, node=target), field_manager="test")
    await member.client.apply(
        PodDisruptionBudget(
            metadata=ObjectMeta(name="guarded", namespace=member.namespace),
            spec=PodDisruptionBudgetSpec(
                minAvailable=1, selector=LabelSelector(matchLabels={"app": "guarded"})
            ),
        ),
        field_manager="test",
    )

    async def one_on_target() -> list[Any]:
        return await pods_on(member, target, "guarded")

    [pod] = await wait_for("the guarded pod on the target", one_on_target)

    async def budget_counts_it() -> bool:
        pdb = await member.client.get(PodDisruptionBudget, "guarded", namespace=member.namespace)
        return bool(pdb.status and pdb.status.currentHealthy == 1 and pdb.status.observedGeneration)

    await wait_for("the budget to count the pod", budget_counts_it)

    result = await drain(member.client, target, timeout=3.0, interval=0.5)
    assert not result.done and result.timed_out
    ref = f"{member.namespace}/{pod.metadata.name}"
    assert ref in result.blocked and ref in result.left
    condition = drain_condition(result)
    assert condition.reason == "DrainTimeout"
    assert ref in condition.message and "PodDisruptionBudget" in condition.message
    # The budget was honoured: the pod is still there, not deleted around it.
    assert [p.metadata.name for p in await pods_on(member, target, "guarded")] == [pod.metadata.name]
