"""The MachineSet and MachineHealthCheck controllers on a real hub, with a real member's nodes.

Only the set and health-check controllers run here (in a thread, like `HubThread`), not the Machine
controller: the test writes each Machine's status itself, the part the Machine controller owns
(Ready, observedGeneration, nodeRef), and acts on the remediation annotations as the contract says.
So these tests prove the set's and the check's decisions and writes against a real API server —
claims, owner references, in-place updates, the canary gate and `kokpit machines promote`, drains of
real (kwok) nodes of member1 before a scale-in, remediation requests, escalation, `maxUnhealthy` —
and nothing here installs or pretends to install a node (the end-to-end tests with sandbox hosts do).

Run under `flock /tmp/kokpit-integration.lock`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, AsyncClient, Client, KubeConfig
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Pod
from lightkube.types import PatchType

from kokpit.api.machine import HOST, MACHINE, MACHINE_HEALTH_CHECK, MACHINE_SET
from kokpit.machines.health_plan import DONE_ANNOTATION, REMEDIATION_ANNOTATION, Policy
from kokpit.machines.healthcheck_controller import HealthSettings
from kokpit.machines.machineset_controller import SetSettings
from kokpit.machines.machineset_plan import REVISION_LABEL, SET_LABEL, revision_of
from kokpit.machines.sets import add_set_controllers
from kokpit.runtime import Manager, format_time
from kokpit.runtime.resources import PlainNode, resource_class
from tests.support import SandboxHandle, kokpit_cli, wait_until

pytestmark = pytest.mark.integration

NS = "sets-test"
MachineResource = resource_class(MACHINE)
MachineSetResource = resource_class(MACHINE_SET)
HostResource = resource_class(HOST)
CheckResource = resource_class(MACHINE_HEALTH_CHECK)
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG4rT3vTt99Ox5kndS4HmgTrKBT8SKzhK4rhGkEVGlCI test"
TEST_MANAGER = "test-stands-in-for-the-machine-controller"


class SetControllersThread:
    """The MachineSet and MachineHealthCheck controllers alone, in a thread, against the hub.

    A Machine's cluster is reached with the member's own kubeconfig: the hub would refuse a fleet
    Cluster served on a loopback address as a target (no real node could reach it), and these
    Machines have no real nodes, only the member's kwok ones.
    """

    def __init__(self, kubeconfig: Path, members: dict[str, Path]) -> None:
        self.manager = Manager(qps=None)
        self.manager.add_cluster("hub", kubeconfig)
        self._members = members
        self._clients: dict[str, AsyncClient] = {}
        add_set_controllers(
            self.manager,
            SetSettings(
                busy_seconds=0.5, resync_seconds=3.0, drain_timeout=60.0, target_client=self.member_client
            ),
            HealthSettings(
                policy=Policy(escalate_after=2.0, step_timeout=60.0),
                poll_seconds=1.0,
                target_client=self.member_client,
            ),
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="set-controllers", daemon=True)

    async def member_client(self, kind: str, namespace: str, name: str) -> AsyncClient | None:
        if kind != "Cluster" or name not in self._members:
            return None
        if name not in self._clients:
            config = KubeConfig.from_file(self._members[name])
            self._clients[name] = AsyncClient(config, field_manager="kokpit", trust_env=False)
        return self._clients[name]

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.manager.run())
        except asyncio.CancelledError:
            pass
        finally:
            for client in self._clients.values():
                loop.run_until_complete(client.close())
            loop.close()

    def start(self) -> SetControllersThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.manager.stop)
        self._thread.join(timeout=30)


def _serves(client: Client) -> bool:
    try:
        for resource in (MachineSetResource, MachineResource, HostResource, CheckResource):
            list(client.list(resource, namespace=NS))
    except ApiError as error:
        if error.status.code == 429:
            return False
        raise
    return True


@pytest.fixture(scope="module")
def hub(fleet: SandboxHandle) -> Iterator[Client]:
    client = fleet.client("hub")
    client.apply(Namespace(metadata=ObjectMeta(name=NS)))
    wait_until("the machines API to serve (a CRD just installed is initialising)", lambda: _serves(client))
    members = {name: fleet.kubeconfig(name) for name in fleet.members}
    controllers = SetControllersThread(fleet.kubeconfig("hub"), members).start()
    try:
        yield client
    finally:
        controllers.stop()
        for resource in (CheckResource, MachineSetResource, MachineResource, HostResource):
            for obj in client.list(resource, namespace=NS):
                try:
                    client.delete(resource, obj.metadata.name, namespace=NS)
                except ApiError as error:  # a Machine its deleted set's garbage collection took
                    if error.status.code != 404:
                        raise
        client.delete(Namespace, NS)


@pytest.fixture(scope="module")
def member(fleet: SandboxHandle) -> Iterator[Client]:
    client = fleet.client("member1")
    client.apply(Namespace(metadata=ObjectMeta(name=NS)))
    try:
        yield client
    finally:
        for node in client.list(PlainNode):
            client.patch(PlainNode, node["metadata"]["name"], {"spec": {"unschedulable": None}})
        client.delete(Namespace, NS)


def make_hosts(hub: Client, names: list[str], labels: dict[str, str]) -> None:
    for index, name in enumerate(names):
        hub.create(
            HostResource.from_dict(
                {
                    "apiVersion": HOST.api_version,
                    "kind": HOST.kind,
                    "metadata": {"name": name, "namespace": NS, "labels": labels},
                    "spec": {
                        "address": f"10.99.0.{10 + index}",
                        "credentialsSecretRef": {"name": "ssh"},
                        "hostKey": HOST_KEY,
                    },
                }
            )
        )


def template(kubelet: str = "v1.35.4") -> dict[str, Any]:
    return {
        "clusterRef": {"kind": "Cluster", "name": "member1"},
        "components": [{"name": "kubelet", "version": kubelet}],
    }


def make_set(hub: Client, name: str, replicas: int, pool: str, **strategy: int) -> None:
    hub.create(
        MachineSetResource.from_dict(
            {
                "apiVersion": MACHINE_SET.api_version,
                "kind": MACHINE_SET.kind,
                "metadata": {"name": name, "namespace": NS},
                "spec": {
                    "replicas": replicas,
                    "hostSelector": {"matchLabels": {"pool": pool}},
                    "template": {"metadata": {"labels": {"tier": name}}, "spec": template()},
                    "strategy": {"maxUnavailable": 1, **strategy},
                },
            }
        )
    )


def machines_of(hub: Client, name: str) -> list[Any]:
    found = hub.list(MachineResource, namespace=NS, labels={SET_LABEL: name})
    return sorted((m for m in found if m.metadata.deletionTimestamp is None), key=lambda m: m.metadata.name)


def status_of(hub: Client, name: str) -> dict[str, Any]:
    return dict(hub.get(MachineSetResource, name, namespace=NS).get("status") or {})


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), {})


def report(hub: Client, machine: Any, *, ready: bool = True, node: str | None = None, **extra: Any) -> None:
    """Writes what the Machine controller would report for `machine` (as reconciled to its spec)."""
    status: dict[str, Any] = {
        "phase": "Ready" if ready else "Provisioning",
        "observedGeneration": machine.metadata.generation,
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": "NodeReady" if ready else "Installing",
                "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
        **extra,
    }
    if node:
        status["nodeRef"] = {"name": node}
    hub.patch(
        MachineResource.Status,
        machine.metadata.name,
        {"apiVersion": MACHINE.api_version, "kind": MACHINE.kind, "status": status},
        namespace=NS,
        patch_type=PatchType.APPLY,
        field_manager=TEST_MANAGER,
        force=True,
    )


def wait_set(hub: Client, name: str, what: str, predicate: Any, timeout: float = 60.0) -> None:
    """`wait_until` that names the set's conditions when it times out."""
    try:
        wait_until(what, predicate, timeout=timeout)
    except AssertionError as error:
        conditions = [
            f"{c.get('type')}={c.get('status')} {c.get('reason')}: {c.get('message')}"
            for c in status_of(hub, name).get("conditions") or []
        ]
        raise AssertionError(f"{error}; machineset {name}: {conditions}") from None


def report_all_reconciled(hub: Client, name: str) -> None:
    """Every Machine of the set whose spec moved on is reported Ready on its new generation."""
    for machine in machines_of(hub, name):
        if (machine.get("status") or {}).get("observedGeneration") != machine.metadata.generation:
            report(hub, machine)


def test_scale_out_claims_matching_hosts_with_owner_references_and_labels(hub: Client) -> None:
    make_hosts(hub, ["a1", "a2", "a3", "a4"], {"pool": "a"})
    make_hosts(hub, ["b1"], {"pool": "b"})
    make_set(hub, "alpha", 3, "a")
    wait_until("3 machines", lambda: len(machines_of(hub, "alpha")) == 3)
    machines = machines_of(hub, "alpha")
    assert [m.metadata.name for m in machines] == ["alpha-a1", "alpha-a2", "alpha-a3"]
    owner = hub.get(MachineSetResource, "alpha", namespace=NS)
    revision = revision_of(owner["spec"]["template"]["spec"])
    for machine in machines:
        [ref] = machine.metadata.ownerReferences
        assert (ref.kind, ref.name, ref.uid, ref.controller) == (
            "MachineSet",
            "alpha",
            owner.metadata.uid,
            True,
        )
        assert machine.metadata.labels[REVISION_LABEL] == revision
        assert machine.metadata.labels["tier"] == "alpha"
        assert machine["spec"]["components"] == [{"name": "kubelet", "version": "v1.35.4"}]
    wait_until("status counts 3 machines, none ready", lambda: status_of(hub, "alpha").get("replicas") == 3)
    status = status_of(hub, "alpha")
    assert status["revision"] == revision and status["readyReplicas"] == 0
    assert condition(status, "Ready")["status"] == "False"

    for machine in machines:
        report(hub, machine)
    wait_until("Ready", lambda: condition(status_of(hub, "alpha"), "Ready").get("status") == "True")
    assert status_of(hub, "alpha")["readyReplicas"] == 3

    # More than there are hosts: what can be made, and a condition that says why not more.
    hub.patch(
        MachineSetResource, "alpha", {"spec": {"replicas": 6}}, namespace=NS, patch_type=PatchType.MERGE
    )
    wait_until(
        "InsufficientHosts",
        lambda: condition(status_of(hub, "alpha"), "Scaled").get("reason") == "InsufficientHosts",
    )
    assert len(machines_of(hub, "alpha")) == 4
    assert "pool=a" in condition(status_of(hub, "alpha"), "Scaled")["message"]


def test_canary_updates_one_machine_in_place_then_waits_for_promote(
    fleet: SandboxHandle, hub: Client
) -> None:
    make_hosts(hub, ["c1", "c2", "c3"], {"pool": "c"})
    make_set(hub, "canary", 3, "c", canary=1)
    wait_until("3 machines", lambda: len(machines_of(hub, "canary")) == 3)
    for machine in machines_of(hub, "canary"):
        report(hub, machine)
    wait_until("Ready", lambda: condition(status_of(hub, "canary"), "Ready").get("status") == "True")

    hub.patch(
        MachineSetResource,
        "canary",
        {"spec": {"template": {"spec": template("v1.36.5")}}},
        namespace=NS,
        patch_type=PatchType.MERGE,
    )
    new = revision_of(template("v1.36.5"))

    def on_new() -> list[str]:
        return [
            m.metadata.name for m in machines_of(hub, "canary") if m.metadata.labels[REVISION_LABEL] == new
        ]

    wait_until("one machine on the new revision", lambda: len(on_new()) == 1)
    [canary] = on_new()
    updated = hub.get(MachineResource, canary, namespace=NS)
    assert updated["spec"]["components"] == [{"name": "kubelet", "version": "v1.36.5"}]
    assert updated["spec"]["hostRef"]["name"] == canary.removeprefix("canary-")  # in place: same host
    report_all_reconciled(hub, "canary")
    wait_until("paused", lambda: status_of(hub, "canary").get("paused") is True)
    paused = condition(status_of(hub, "canary"), "Paused")
    assert (paused["status"], paused["reason"]) == ("True", "AwaitingPromotion")
    assert canary in paused["message"]
    for _ in range(6):  # the others wait, pass after pass
        report_all_reconciled(hub, "canary")
        assert len(on_new()) == 1
        time.sleep(0.5)

    result = kokpit_cli("machines", "promote", "canary", "-n", NS, hub=fleet.kubeconfig("hub"))
    assert result.returncode == 0, result.stderr
    assert f"revision {new} promoted" in result.stdout

    def rolled() -> bool:
        report_all_reconciled(hub, "canary")
        return len(on_new()) == 3 and status_of(hub, "canary").get("updatedReplicas") == 3

    wait_until("all 3 on the new revision", rolled, timeout=60)
    wait_until("not paused", lambda: status_of(hub, "canary").get("paused") is False)
    assert condition(status_of(hub, "canary"), "UpToDate")["status"] == "True"


def test_scale_in_drains_the_nodes_first_then_deletes_the_newest(
    fleet: SandboxHandle, hub: Client, member: Client
) -> None:
    nodes = sorted(n["metadata"]["name"] for n in member.list(PlainNode))
    assert len(nodes) == 3, nodes
    make_hosts(hub, ["d1", "d2", "d3"], {"pool": "d"})
    make_set(hub, "delta", 3, "d")
    wait_until("3 machines", lambda: len(machines_of(hub, "delta")) == 3)
    by_node = dict(zip([m.metadata.name for m in machines_of(hub, "delta")], nodes, strict=True))
    for machine in machines_of(hub, "delta"):
        report(hub, machine, node=by_node[machine.metadata.name])
    wait_until("Ready", lambda: condition(status_of(hub, "delta"), "Ready").get("status") == "True")

    labels: dict[str, Any] = {"app": "web"}
    member.apply(
        Deployment(
            metadata=ObjectMeta(name="web", namespace=NS),
            spec=DeploymentSpec(
                replicas=3,
                selector=LabelSelector(matchLabels=labels),
                template=PodTemplateSpec(
                    metadata=ObjectMeta(labels=labels),
                    spec=PodSpec(containers=[Container(name="web", image="example.invalid/web:1")]),
                ),
            ),
        ),
        field_manager="test",
    )

    def running() -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in member.list(Pod, namespace=NS, labels=labels):
            pod: Any = p
            if pod.metadata.deletionTimestamp is None and pod.status and pod.status.phase == "Running":
                counts[pod.spec.nodeName] = counts.get(pod.spec.nodeName, 0) + 1
        return counts

    wait_until("3 pods running", lambda: sum(running().values()) == 3)

    hub.patch(
        MachineSetResource, "delta", {"spec": {"replicas": 1}}, namespace=NS, patch_type=PatchType.MERGE
    )
    # Same age and readiness: the last names go, delta-d3 and delta-d2, after their nodes drained.
    wait_set(
        hub,
        "delta",
        "one machine left",
        lambda: [m.metadata.name for m in machines_of(hub, "delta")] == ["delta-d1"],
        timeout=90,
    )
    kept = by_node["delta-d1"]
    wait_until("all 3 pods on the remaining node", lambda: running() == {kept: 3}, timeout=60)
    for gone in (by_node["delta-d2"], by_node["delta-d3"]):
        assert member.get(PlainNode, gone)["spec"].get("unschedulable") is True
    assert not member.get(PlainNode, kept)["spec"].get("unschedulable")
    described = kokpit_cli("machines", "describe", "delta", "-n", NS, hub=fleet.kubeconfig("hub"))
    assert described.returncode == 0, described.stderr
    assert "delta-d1" in described.stdout and "delta-d2" not in described.stdout


def make_check(hub: Client, name: str, tier: str, max_unhealthy: int | str) -> None:
    hub.create(
        CheckResource.from_dict(
            {
                "apiVersion": MACHINE_HEALTH_CHECK.api_version,
                "kind": MACHINE_HEALTH_CHECK.kind,
                "metadata": {"name": name, "namespace": NS},
                "spec": {
                    "selector": {"matchLabels": {"tier": tier}},
                    "unhealthyConditions": [
                        {"type": "Ready", "status": "False", "timeout": "5s"},
                        {"type": "Ready", "status": "Unknown", "timeout": "5s"},
                    ],
                    "checkComponents": True,
                    "maxUnhealthy": max_unhealthy,
                },
            }
        )
    )


def check_status(hub: Client, name: str) -> dict[str, Any]:
    return dict(hub.get(CheckResource, name, namespace=NS).get("status") or {})


def machine_annotations(hub: Client, name: str) -> dict[str, str]:
    found = [m for m in machines_of(hub, "echo") if m.metadata.name == name]
    return dict(found[0].metadata.annotations or {}) if found else {}


def acknowledge(hub: Client, name: str) -> None:
    """What the Machine controller writes once it carried out the requested step."""
    hub.patch(
        MachineResource,
        name,
        {"metadata": {"annotations": {DONE_ANNOTATION: format_time(datetime.now(UTC))}}},
        namespace=NS,
        patch_type=PatchType.MERGE,
    )


def test_health_check_guards_with_max_unhealthy_then_repairs_reinstalls_replaces(
    hub: Client, member: Client
) -> None:
    nodes = sorted(n["metadata"]["name"] for n in member.list(PlainNode))
    make_hosts(hub, ["e1", "e2", "e3", "e4"], {"pool": "e"})
    make_set(hub, "echo", 3, "e")
    wait_until("3 machines", lambda: len(machines_of(hub, "echo")) == 3)
    machines = machines_of(hub, "echo")
    node_of = dict(zip([m.metadata.name for m in machines], nodes, strict=True))
    first, second, third = machines
    # Two nodes gone before the check starts: more than maxUnhealthy 1, so nothing is remediated.
    report(hub, first, node="ghost-1")
    report(hub, second, node="ghost-2")
    report(hub, third, node=node_of[third.metadata.name])
    make_check(hub, "echo", "echo", 1)

    def guarded() -> bool:
        allowed = condition(check_status(hub, "echo"), "RemediationAllowed")
        return allowed.get("reason") == "TooManyUnhealthy"

    wait_until("TooManyUnhealthy", guarded)
    status = check_status(hub, "echo")
    assert "2 of 3 machines unhealthy" in condition(status, "RemediationAllowed")["message"]
    assert (status["expectedMachines"], status["currentHealthy"], status["remediationsAllowed"]) == (3, 1, 0)
    assert "NodeNotFound" in condition(status, "MachinesHealthy")["message"]
    time.sleep(2)
    assert REMEDIATION_ANNOTATION not in machine_annotations(hub, first.metadata.name)
    assert REMEDIATION_ANNOTATION not in machine_annotations(hub, second.metadata.name)

    # Both back (one may be asked for a repair in between: that record goes once it is healthy).
    report(hub, first, node=node_of[first.metadata.name])
    report(hub, second, node=node_of[second.metadata.name])

    def all_healthy() -> bool:
        return check_status(hub, "echo").get("currentHealthy") == 3 and not any(
            REMEDIATION_ANNOTATION in (m.metadata.annotations or {}) for m in machines_of(hub, "echo")
        )

    wait_until("3 of 3 healthy, no remediation records", all_healthy)
    assert condition(check_status(hub, "echo"), "RemediationAllowed")["status"] == "True"

    # Back to one fault: a component the Machine reports unhealthy. repair, then reinstall, then replace.
    report(hub, first, node=node_of[first.metadata.name])
    target = second.metadata.name
    report(
        hub,
        second,
        node=node_of[target],
        components=[{"name": "kubelet", "version": "v1.35.4", "healthy": False, "message": "no pid"}],
    )
    wait_until(
        "repair requested", lambda: machine_annotations(hub, target).get(REMEDIATION_ANNOTATION) == "repair"
    )
    assert condition(check_status(hub, "echo"), "RemediationAllowed")["status"] == "True"
    acknowledge(hub, target)
    wait_until(
        "reinstall requested",
        lambda: machine_annotations(hub, target).get(REMEDIATION_ANNOTATION) == "reinstall",
    )
    assert DONE_ANNOTATION not in machine_annotations(hub, target)
    acknowledge(hub, target)
    old_uid = second.metadata.uid

    def replaced() -> bool:
        now = {m.metadata.name: m.metadata.uid for m in machines_of(hub, "echo")}
        return len(now) == 3 and old_uid not in now.values()

    wait_until("the machine replaced and the set whole again", replaced, timeout=60)
    assert third.metadata.uid in {m.metadata.uid for m in machines_of(hub, "echo")}
