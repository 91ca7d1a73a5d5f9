"""A cluster reconcile that fails midway still writes what it observed to the Cluster's status.

The failure is injected in kokpit's own code (a reconciler whose taint step raises), never in the
Kubernetes API: the hub is the real sandbox hub. No `kokpit hub run` replica runs in this module
(the fleet module's replicas stop with it), and the probe message is unique to this test, so the
condition found can only come from the failed reconcile.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lightkube.types import PatchType

from kokpit.fleet.cluster_controller import ClusterReconciler
from kokpit.fleet.health import HealthDecision, Probe, ProbeOutcome
from kokpit.fleet.members import ClusterResource, member_clients
from kokpit.fleet.probe import Observation
from kokpit.runtime import Key, Manager

pytestmark = pytest.mark.integration


class TaintStepFails(ClusterReconciler):
    """The real reconciler, except that writing the taints raises and the probe says `marker`."""

    marker = ""

    async def _observe(self, name: str) -> Observation:
        return Observation(Probe(ProbeOutcome.UNREACHABLE, self.marker))

    async def _write_taints(self, cluster: Any, decision: HealthDecision) -> None:
        raise RuntimeError("taint step failed")


async def eventually(what: str, predicate: Callable[[], bool], within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_a_reconcile_whose_taint_step_raises_still_writes_ready_and_the_probe_time(
    installed_hub: Path,
) -> None:
    manager = Manager()
    manager.add_cluster("hub", installed_hub)
    members = member_clients(manager)
    reconciler = TaintStepFails(manager, members)
    reconciler.marker = f"probe {uuid.uuid4().hex}"
    name = f"failing-{uuid.uuid4().hex[:6]}"
    hub = manager.clients.get("hub")
    run = asyncio.create_task(manager.run())
    try:
        await hub.create(
            ClusterResource.from_dict(
                {
                    "apiVersion": "cluster.kokpit.io/v1alpha1",
                    "kind": "Cluster",
                    "metadata": {"name": name},
                    "spec": {
                        "syncMode": "Push",
                        "apiEndpoint": "https://127.0.0.1:1",
                        "secretRef": {"name": f"{name}-kubeconfig"},
                    },
                }
            )
        )
        await eventually("the Cluster in the cache", lambda: members.clusters.get(name) is not None)
        with pytest.raises(RuntimeError, match="taint step failed"):
            await reconciler.reconcile(Key("hub", None, name))

        stored = (await hub.get(ClusterResource, name)).to_dict()
        status = stored.get("status") or {}
        [ready] = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
        assert (ready["status"], ready["message"]) == ("Unknown", reconciler.marker)
        assert status["lastProbeTime"]
        assert not (stored["spec"].get("taints") or [])  # the step that failed wrote nothing
    finally:
        try:
            await hub.patch(
                ClusterResource, name, {"metadata": {"finalizers": None}}, patch_type=PatchType.MERGE
            )
            await hub.delete(ClusterResource, name)
        except Exception:  # never created
            pass
        manager.stop()
        await asyncio.wait_for(run, 30)
