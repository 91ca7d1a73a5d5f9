"""A MachineSet of real nodes: a canary kubelet upgrade held until `kokpit machines promote`, then
scale 2 -> 3 -> 1, the scale-in draining its nodes so a running pod moves to the node that stays.

Everything is real: sandbox hosts (network namespaces with sshd), the built-in components (containerd,
runc, CNI plugins, kubelet, kube-proxy), a hosted cluster serving on the hosts' bridge, the Machine
controller of `machine_env`, and the MachineSet controller added here. Several minutes; run under
`flock /tmp/kokpit-integration.lock`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

from kokpit.hosted.workers import default_components
from kokpit.machines import MachineResource
from kokpit.machines.catalogue import builtin_components
from kokpit.machines.health_plan import REMEDIATION_ANNOTATION
from kokpit.machines.healthcheck_controller import MachineHealthCheckResource as CheckResource
from kokpit.machines.machineset_controller import MachineSetResource, SetSettings
from kokpit.machines.machineset_plan import REVISION_LABEL, SET_LABEL, revision_of
from kokpit.machines.sets import add_set_controllers
from kokpit.machines.targets import target_cluster_access
from kokpit.runtime import Manager
from kokpit.runtime.resources import PlainNode
from tests.integration.hosted.conftest import CURRENT
from tests.integration.machines.conftest import MachineEnv, condition, wait_cluster_ready
from tests.support import SandboxHandle, kokpit_cli

pytestmark = pytest.mark.integration

SET = "workers"


@pytest.fixture(scope="module")
async def set_controllers(machine_env: MachineEnv, sandbox: SandboxHandle) -> AsyncIterator[None]:
    """The MachineSet and MachineHealthCheck controllers beside `machine_env`'s Machine controller."""
    manager = Manager(sync_timeout=30)
    manager.add_cluster("hub", sandbox.kubeconfig("hub"))
    controllers = add_set_controllers(manager, SetSettings(busy_seconds=1.0, resync_seconds=5.0))
    run = asyncio.create_task(manager.run())
    try:
        yield
    finally:
        manager.stop()
        await asyncio.wait_for(run, 60)
        await controllers.sets.aclose()
        await controllers.health_checks.aclose()


async def set_status(env: MachineEnv) -> dict[str, Any]:
    obj = await env.client.get(MachineSetResource, SET, namespace=env.namespace)
    return dict(obj.get("status") or {})


async def machines(env: MachineEnv) -> list[Any]:
    found = [
        m
        async for m in env.client.list(MachineResource, namespace=env.namespace, labels={SET_LABEL: SET})
        if m.metadata.deletionTimestamp is None
    ]
    return sorted(found, key=lambda m: m.metadata.name)


async def until(what: str, predicate: Callable[[], Any], timeout: float, explain: Callable[[], Any]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(1)
    raise AssertionError(f"timed out waiting for {what}: {await explain()}")


def versions(machine: Any) -> dict[str, str]:
    return {
        str(r["name"]): str(r.get("version")) for r in (machine.get("status") or {}).get("components") or []
    }


def ready(machine: Any) -> bool:
    status = machine.get("status") or {}
    return (
        condition(status, "Ready").get("status") == "True"
        and status.get("observedGeneration") == machine.metadata.generation
    )


async def test_canary_upgrade_then_scale_out_and_in_with_a_drain(
    machine_env: MachineEnv, set_controllers: None, sandbox: SandboxHandle, previous_version: str
) -> None:
    env = machine_env
    for manifest in builtin_components():
        await env.create_component(manifest)
    await wait_cluster_ready(env)
    old = default_components(builtin_components(), previous_version, cluster_domain="cluster.local")
    new = [{**c, "version": CURRENT} if c["name"] in ("kubelet", "kube-proxy") else c for c in old]
    template = {"clusterRef": {"kind": "HostedCluster", "name": env.cluster}, "components": old}
    await env.client.create(
        MachineSetResource.from_dict(
            {
                "apiVersion": "machines.kokpit.io/v1alpha1",
                "kind": "MachineSet",
                "metadata": {"name": SET, "namespace": env.namespace},
                "spec": {
                    "replicas": 2,
                    "template": {"metadata": {"labels": {"pool": SET}}, "spec": template},
                    "strategy": {"maxUnavailable": 1, "canary": 1},
                },
            }
        )
    )

    async def explain() -> Any:
        status = await set_status(env)
        rows = [
            (m.metadata.name, (m.get("status") or {}).get("phase"), versions(m)) for m in await machines(env)
        ]
        return {"conditions": status.get("conditions"), "machines": rows}

    async def all_ready(count: int) -> bool:
        found = await machines(env)
        return len(found) == count and all(ready(m) for m in found)

    started = time.monotonic()
    await until("2 Ready nodes", lambda: all_ready(2), 420, explain)
    print(f"MachineSet 0 -> 2 Ready nodes in {time.monotonic() - started:.1f}s")
    assert (await set_status(env))["readyReplicas"] == 2

    # Canary: the kubelet to the control plane's minor on exactly one machine, then a pause.
    await env.client.patch(
        MachineSetResource,
        SET,
        {"spec": {"template": {"spec": {**template, "components": new}}}},
        namespace=env.namespace,
        patch_type=PatchType.MERGE,
    )
    revision = revision_of({**template, "components": new})

    async def canary_ready() -> bool:
        found = await machines(env)
        on_new = [m for m in found if m.metadata.labels.get(REVISION_LABEL) == revision]
        status = await set_status(env)
        return (
            len(on_new) == 1
            and ready(on_new[0])
            and versions(on_new[0]).get("kubelet") == CURRENT
            and status.get("paused") is True
        )

    await until("the canary upgraded and the set paused", canary_ready, 300, explain)
    await asyncio.sleep(10)  # the other one waits
    found = await machines(env)
    assert sorted(str(versions(m).get("kubelet")) for m in found) == sorted([CURRENT, previous_version])
    assert condition(await set_status(env), "Paused")["reason"] == "AwaitingPromotion"

    promoted = kokpit_cli("machines", "promote", SET, "-n", env.namespace, hub=sandbox.kubeconfig("hub"))
    assert promoted.returncode == 0, promoted.stderr

    async def all_upgraded() -> bool:
        found = await machines(env)
        return (
            len(found) == 2
            and all(ready(m) and versions(m).get("kubelet") == CURRENT for m in found)
            and (await set_status(env)).get("paused") is False
        )

    await until("both machines on the new kubelet", all_upgraded, 300, explain)

    # Scale out to 3: the third host claimed, straight on the current revision.
    await env.client.patch(
        MachineSetResource,
        SET,
        {"spec": {"replicas": 3}},
        namespace=env.namespace,
        patch_type=PatchType.MERGE,
    )
    await until("3 Ready nodes", lambda: all_ready(3), 420, explain)
    assert all(versions(m).get("kubelet") == CURRENT for m in await machines(env))

    access = await target_cluster_access(
        env.client, kind="HostedCluster", name=env.cluster, namespace=env.namespace
    )
    target: AsyncClient = access.client()
    try:
        labels: dict[str, Any] = {"app": "web"}
        await target.apply(
            Deployment(
                metadata=ObjectMeta(name="web", namespace="default"),
                spec=DeploymentSpec(
                    replicas=2,
                    selector=LabelSelector(matchLabels=labels),
                    template=PodTemplateSpec(
                        metadata=ObjectMeta(labels=labels),
                        spec=PodSpec(
                            containers=[
                                Container(name="web", image="kokpit.local/web:1.0", imagePullPolicy="Never")
                            ]
                        ),
                    ),
                ),
            ),
            field_manager="test",
        )

        async def running() -> dict[str, int]:
            counts: dict[str, int] = {}
            async for p in target.list(Pod, namespace="default", labels=labels):
                pod: Any = p
                if pod.metadata.deletionTimestamp is None and pod.status and pod.status.phase == "Running":
                    counts[pod.spec.nodeName] = counts.get(pod.spec.nodeName, 0) + 1
            return counts

        async def two_running() -> bool:
            return sum((await running()).values()) == 2

        await until("2 web pods running", two_running, 120, running)

        # Scale in to 1: the newest go (the third, then the last name), each drained first.
        await env.client.patch(
            MachineSetResource,
            SET,
            {"spec": {"replicas": 1}},
            namespace=env.namespace,
            patch_type=PatchType.MERGE,
        )
        kept: list[str] = []

        async def scaled_in() -> bool:
            found = await machines(env)
            if len(found) != 1:
                return False
            kept[:] = [str(found[0]["status"]["nodeRef"]["name"])]
            return await running() == {kept[0]: 2}

        await until("one machine left, both pods on its node", scaled_in, 300, explain)
        kept_node = kept[0]

        async def node_names() -> list[str]:
            return sorted([str(n["metadata"]["name"]) async for n in target.list(PlainNode)])

        async def nodes_gone() -> bool:
            return await node_names() == [kept_node]

        await until("the other Nodes deleted", nodes_gone, 180, node_names)

        async def steady() -> bool:
            status = await set_status(env)
            return status.get("replicas") == 1 and condition(status, "Scaled").get("status") == "True"

        await until("the set Scaled at 1 (the deleted Machines gone)", steady, 120, explain)
        await target.delete(Deployment, "web", namespace="default")
    finally:
        await target.close()


async def test_a_health_check_repairs_a_killed_kubelet(
    machine_env: MachineEnv, set_controllers: None, previous_version: str
) -> None:
    """SIGKILL of a node's kubelet: its `check` fails, the health check asks for `repair`, the Machine
    controller runs the component's repair step, the node is Ready again and the record is cleared."""
    env = machine_env
    for manifest in builtin_components():
        await env.create_component(manifest)
    await wait_cluster_ready(env)
    components = default_components(builtin_components(), CURRENT, cluster_domain="cluster.local")
    await env.client.create(
        MachineSetResource.from_dict(
            {
                "apiVersion": "machines.kokpit.io/v1alpha1",
                "kind": "MachineSet",
                "metadata": {"name": "healers", "namespace": env.namespace},
                "spec": {
                    "replicas": 1,
                    "template": {
                        "metadata": {"labels": {"pool": "healers"}},
                        "spec": {
                            "clusterRef": {"kind": "HostedCluster", "name": env.cluster},
                            "components": components,
                        },
                    },
                },
            }
        )
    )
    await env.client.create(
        CheckResource.from_dict(
            {
                "apiVersion": "machines.kokpit.io/v1alpha1",
                "kind": "MachineHealthCheck",
                "metadata": {"name": "healers", "namespace": env.namespace},
                "spec": {
                    "selector": {"matchLabels": {"pool": "healers"}},
                    "unhealthyConditions": [{"type": "Ready", "status": "Unknown", "timeout": "5m"}],
                    "checkComponents": True,
                    "maxUnhealthy": 1,
                },
            }
        )
    )

    async def the_machine() -> Any:
        found = [
            m
            async for m in env.client.list(
                MachineResource, namespace=env.namespace, labels={SET_LABEL: "healers"}
            )
            if m.metadata.deletionTimestamp is None
        ]
        return found[0] if len(found) == 1 else None

    async def machine_ready() -> bool:
        machine = await the_machine()
        return machine is not None and ready(machine)

    async def explain() -> Any:
        machine = await the_machine()
        check = await env.client.get(CheckResource, "healers", namespace=env.namespace)
        return {
            "machine": None if machine is None else (machine.metadata.annotations, machine.get("status")),
            "check": check.get("status"),
        }

    await until("the healer node Ready", machine_ready, 300, explain)
    machine = await the_machine()
    name, host = str(machine.metadata.name), str(machine["spec"]["hostRef"]["name"])

    async def healthy_count() -> bool:
        check = await env.client.get(CheckResource, "healers", namespace=env.namespace)
        return (check.get("status") or {}).get("currentHealthy") == 1

    await until("the check counting it healthy", healthy_count, 60, explain)

    pidfile = Path(env.inventory.host(host).prefix.rstrip("/") + "/run/kubelet.pid")
    os.kill(int(await asyncio.to_thread(pidfile.read_text)), signal.SIGKILL)
    killed = time.monotonic()

    async def repair_asked() -> bool:
        found = await the_machine()
        return (
            found is not None and (found.metadata.annotations or {}).get(REMEDIATION_ANNOTATION) == "repair"
        )

    await until("the health check asking for repair", repair_asked, 60, explain)

    async def repaired() -> bool:
        found = await the_machine()
        return (
            found is not None
            and found.metadata.name == name
            and ready(found)
            and REMEDIATION_ANNOTATION not in (found.metadata.annotations or {})
        )

    await until("Ready again through repair, the record cleared", repaired, 90, explain)
    elapsed = time.monotonic() - killed
    print(f"kubelet SIGKILL -> health check repair -> Ready in {elapsed:.1f}s")
    assert elapsed < 60
    await env.wait_event(name, "RemediationRequested", "repair")
    await env.wait_event(name, "Remediated", "repair: kubelet")
