"""Two `kokpit hub run` replicas: SIGKILL of the Lease holder hands leadership to the other."""

from __future__ import annotations

import signal
import time

import pytest

from kokpit.controlplane import processes
from tests.integration.fleet.conftest import HubReplica
from tests.support import wait_until

pytestmark = pytest.mark.integration


def test_sigkill_of_the_leader_lets_the_other_take_over(hub_replicas: list[HubReplica]) -> None:
    wait_until("a leader", lambda: any(replica.leading() for replica in hub_replicas))
    for _ in range(10):  # never both at once while both live
        assert sum(replica.leading() for replica in hub_replicas) == 1
        time.sleep(0.2)
    leader = next(replica for replica in hub_replicas if replica.leading())
    follower = next(replica for replica in hub_replicas if replica is not leader)
    assert follower.reconciles() == 0

    processes.signal_group(leader.pid, signal.SIGKILL)
    killed = time.monotonic()
    wait_until("the follower leads", follower.leading, timeout=60)
    takeover = time.monotonic() - killed
    print(f"leadership taken over {takeover:.1f}s after SIGKILL (lease duration 15s)")
    wait_until("the new leader reconciles", lambda: follower.reconciles() > 0)
    assert not leader.alive()
