"""Fleet fault tests use the fleet suite's fixtures: kokpit installed on the hub, hub replicas.

The members are joined first, so the replicas have Clusters to reconcile (a leader with nothing to
do could not show that it took over).
"""

from pathlib import Path

import pytest

from tests.integration.fleet.conftest import hub_replicas, installed_hub
from tests.support import SandboxHandle, ensure_joined

__all__ = ["hub_replicas", "installed_hub", "joined_members"]


@pytest.fixture(scope="module", autouse=True)
def joined_members(sandbox: SandboxHandle, installed_hub: Path) -> None:
    ensure_joined(sandbox, installed_hub)
