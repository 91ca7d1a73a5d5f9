"""`kokpit etcd backup` and `kokpit etcd status` against a running EtcdCluster."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kokpit.cli.etcd import app
from tests.integration.etcd.conftest import NEW_ETCD, EtcdEnv

pytestmark = pytest.mark.integration


async def test_backup_and_status_commands(etcd_env: EtcdEnv, tmp_path: Path) -> None:
    await etcd_env.create("lima", {"size": 1, "version": NEW_ETCD})
    await etcd_env.wait_healthy("lima", 1)
    kubeconfig = str(etcd_env.sandbox.kubeconfig("hub"))
    runner = CliRunner()
    common = ["-n", etcd_env.namespace, "--kubeconfig", kubeconfig]

    result = await asyncio.to_thread(runner.invoke, app, ["backup", "lima", *common, "--to", str(tmp_path)])
    assert result.exit_code == 0, result.output
    path, sha, _ = result.output.split()
    assert Path(path).parent == tmp_path
    assert hashlib.sha256(await asyncio.to_thread(Path(path).read_bytes)).hexdigest() == sha.removeprefix(
        "sha256="
    )

    result = await asyncio.to_thread(runner.invoke, app, ["status", "lima", *common])
    assert result.exit_code == 0, result.output
    assert "lima-0" in result.output and "Available=True" in result.output

    result = await asyncio.to_thread(runner.invoke, app, ["backup", "nope", *common, "--to", str(tmp_path)])
    assert result.exit_code != 0
