"""Delivery survives SIGKILLs: of `kokpit hub run`, of the hub API server, of member API servers.

Templates are created, edited, re-placed and deleted at random (seeded: the seed is printed; set
`KOKPIT_CHAOS_SEED` to replay a run) while the processes are killed at random moments and started
again. Afterwards every member holds exactly the desired state: the test prints the objects lost, on
clusters not selected and at a stale revision, and asserts all three are zero
(`tests.faults.delivery_chaos`). `bench/chaos.py --kills N` is the long run.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.delivery_chaos import Chaos
from tests.support import SandboxHandle, kubectl, wait_until

pytestmark = pytest.mark.integration

HUB_RUN_KILLS = 20
APISERVER_KILLS = 3
"""Of the hub's and of members' each."""
CONVERGE_TIMEOUT = 180.0


def seed() -> int:
    return int(os.environ.get("KOKPIT_CHAOS_SEED") or random.SystemRandom().randrange(2**32))


def members_ready(hub: Path, members: list[str]) -> bool:
    out = kubectl(hub, "get", "clusters.cluster.kokpit.io", "-o", "json", check=False).stdout
    if not out:
        return False
    ready = {
        item["metadata"]["name"]
        for item in json.loads(out)["items"]
        for condition in (item.get("status") or {}).get("conditions") or []
        if condition["type"] == "Ready" and condition["status"] == "True"
    }
    return set(members) <= ready


@pytest.fixture
def chaos(fleet: SandboxHandle, namespace: str, tmp_path: Path) -> Iterator[Chaos]:
    """A chaos run with the hub controllers running; templates removed and processes stopped after."""
    run = Chaos(fleet, namespace, tmp_path, seed())
    print(f"\nchaos seed {run.seed} (KOKPIT_CHAOS_SEED={run.seed} replays it)")
    with run.running():
        wait_until(
            "every member Ready", lambda: members_ready(run.hub_kubeconfig, fleet.members), timeout=120
        )
        try:
            yield run
        finally:
            for cluster in ("hub", *fleet.members):  # whatever failed, leave every API server running
                if not fleet.kubectl(
                    cluster, "--request-timeout=5s", "get", "--raw=/readyz", check=False
                ).stdout:
                    fleet.restart(cluster, "kube-apiserver")
            if run.hub is None:
                run.start_hub()
            run.clean_up()


def report(run: Chaos) -> None:
    divergence, seconds = run.converge(timeout=CONVERGE_TIMEOUT)
    counts = divergence.counts()
    print(
        f"kills {run.kills}, operations {run.operations} ({run.failed_operations} failed), "
        f"converged in {seconds:.1f}s: lost {counts['lost']}, unselected {counts['unselected']}, "
        f"stale {counts['stale']} (of {counts['desired']} copies desired)"
    )
    assert divergence.zero(), (counts, divergence.details[:20], f"seed {run.seed}")


def test_sigkill_of_hub_run_at_random_moments_loses_nothing(chaos: Chaos) -> None:
    chaos.run(kills=HUB_RUN_KILLS, fault=chaos.kill_hub)
    report(chaos)


def test_sigkill_of_the_hub_and_member_api_servers_loses_nothing(chaos: Chaos) -> None:
    faults = ["hub"] * APISERVER_KILLS + [chaos.random_member() for _ in range(APISERVER_KILLS)]
    chaos.rng.shuffle(faults)
    targets = iter(faults)
    chaos.run(kills=len(faults), fault=lambda: chaos.kill_apiserver(next(targets)))
    report(chaos)
