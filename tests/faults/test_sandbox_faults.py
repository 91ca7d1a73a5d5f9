"""The sandbox under faults: a killed component is reported dead, with its log, and restarts.

Runs on a small sandbox of its own started through the CLI (hub + one member with one node), so
killing never disturbs the session sandbox other tests share.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import run_kokpit as kokpit
from tests.support import small_cli_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture
def small_sandbox(tmp_path: Path) -> Iterator[Path]:
    with small_cli_sandbox(tmp_path / "sb") as directory:
        yield directory


def test_status_names_the_dead_component_and_its_log(small_sandbox: Path) -> None:
    healthy = kokpit("sandbox", "status", "--dir", str(small_sandbox), "-o", "json")
    assert healthy.returncode == 0, healthy.stdout
    assert {row["state"] for row in json.loads(healthy.stdout)} == {"running"}

    killed = kokpit("sandbox", "kill", "member1", "kube-scheduler", "--dir", str(small_sandbox))
    assert killed.returncode == 0, killed.stderr
    status = kokpit("sandbox", "status", "--dir", str(small_sandbox), "-o", "json")
    assert status.returncode == 1
    dead = [row for row in json.loads(status.stdout) if row["state"] != "running"]
    assert [(row["cluster"], row["component"], row["state"]) for row in dead] == [
        ("member1", "kube-scheduler", "dead")
    ]
    assert dead[0]["log"] == str(small_sandbox / "logs" / "member1-kube-scheduler.log")

    restarted = kokpit("sandbox", "restart", "member1", "kube-scheduler", "--dir", str(small_sandbox))
    assert restarted.returncode == 0, restarted.stderr
    assert kokpit("sandbox", "status", "--dir", str(small_sandbox)).returncode == 0
