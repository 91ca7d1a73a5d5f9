"""Fixtures every integration test folder may use: sandbox hosts (real machines for real nodes).

    @pytest.fixture(scope="module")
    def host_count() -> int:      # optional: how many hosts this module wants (default 2)
        return 3

    async def test_something(hosts: Inventory) -> None:
        host = hosts.hosts[0]      # address, port, user, host_key, private_key, prefix, ...
        hosts.path                 # DIR/hosts.yaml: kubectl apply -f it into a hub

The hosts need root (network namespaces, a bridge); without it the tests using them are skipped.
Run them under `flock /tmp/kokpit-integration.lock`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from kokpit.sandbox.hosts import SSHD, Inventory
from tests.support import sandbox_hosts


@pytest.fixture(scope="module")
def host_count() -> int:
    """How many hosts `hosts` makes; a module overrides it by defining its own `host_count`."""
    return 2


@pytest.fixture(scope="module")
def hosts(host_count: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    """`host_count` sandbox hosts for one test module (`kokpit sandbox hosts up`), removed after
    it even when a test fails; yields their parsed inventory (`DIR/hosts.yaml`)."""
    if os.geteuid() != 0 or not SSHD.exists():
        pytest.skip("sandbox hosts need root and Debian's openssh-server")
    with sandbox_hosts(tmp_path_factory.mktemp("hosts"), host_count) as inventory:
        yield inventory
