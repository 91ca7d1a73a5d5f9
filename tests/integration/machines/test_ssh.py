"""`kokpit.machines.ssh` against a real sshd: scripts, uploads, hashes, and each way a login fails."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from pathlib import Path

import asyncssh
import pytest

from kokpit.machines.hash_cache import HashCache, observe_hashes
from kokpit.machines.ssh import (
    AuthenticationFailed,
    HostKeyMismatch,
    HostUnreachable,
    SSHTarget,
    connect,
)
from tests.integration.machines.conftest import LocalSSHD


def target_of(sshd: LocalSSHD, **changes: object) -> SSHTarget:
    fields: dict[str, object] = {
        "name": "test/host-0",
        "address": sshd.address,
        "port": sshd.port,
        "user": "root",
        "host_key": sshd.host_key,
        "private_key": sshd.client_key,
    }
    fields.update(changes)
    return SSHTarget(**fields)  # type: ignore[arg-type]


async def test_run_passes_env_and_stops_at_the_first_failure(local_sshd: LocalSSHD) -> None:
    async with connect(target_of(local_sshd)) as session:
        ok = await session.run('echo "hello $WHO"; pwd', env={"WHO": "it's me"})
        assert ok.exit_status == 0
        assert ok.output.splitlines() == ["hello it's me", "/"]
        failed = await session.run("echo before; false; echo after")
        assert failed.exit_status == 1
        assert failed.output.strip() == "before"
        unset = await session.run("echo $NOT_SET")
        assert unset.exit_status != 0
        assert "NOT_SET" in unset.output
        both = await session.run("echo out; echo err >&2; exit 3")
        assert both.exit_status == 3
        assert both.output.split() == ["out", "err"]


async def test_upload_is_atomic_and_sets_the_mode(local_sshd: LocalSSHD, tmp_path: Path) -> None:
    remote = local_sshd.root / "remote" / "deep" / "file.bin"
    local = tmp_path / "artifact"
    local.write_bytes(b"\x00binary" * 1000)
    async with connect(target_of(local_sshd)) as session:
        await session.upload(local, str(remote), 0o755)
        assert remote.read_bytes() == local.read_bytes()
        assert remote.stat().st_mode & 0o777 == 0o755
        await session.upload(b"secret: 1\n", str(remote), 0o600)
        assert remote.read_bytes() == b"secret: 1\n"
        assert remote.stat().st_mode & 0o777 == 0o600
        assert [p.name for p in remote.parent.iterdir()] == ["file.bin"]  # no temporary left behind
        assert await session.read_text(str(remote)) == "secret: 1\n"
        assert await session.read_text(str(remote.parent / "absent")) is None
        hashes = await session.sha256([str(remote), str(remote.parent / "absent")])
        assert hashes == {
            str(remote): hashlib.sha256(b"secret: 1\n").hexdigest(),
            str(remote.parent / "absent"): None,
        }


async def test_a_wrong_key_is_authentication_failed(local_sshd: LocalSSHD) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        async with connect(target_of(local_sshd, private_key=local_sshd.other_key)):
            pass
    message = str(caught.value)
    assert "test/host-0" in message and f"127.0.0.1:{local_sshd.port}" in message
    assert "PRIVATE KEY" not in message and "\n" not in message


async def test_a_secret_without_a_key_is_authentication_failed(local_sshd: LocalSSHD) -> None:
    with pytest.raises(AuthenticationFailed, match="no usable private key"):
        async with connect(target_of(local_sshd, private_key=b"not a key")):
            pass


async def test_another_host_key_is_a_mismatch(local_sshd: LocalSSHD) -> None:
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    with pytest.raises(HostKeyMismatch) as caught:
        async with connect(target_of(local_sshd, host_key=impostor)):
            pass
    assert "pinned hostKey" in str(caught.value) and "test/host-0" in str(caught.value)


async def test_a_closed_port_is_unreachable(local_sshd: LocalSSHD) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = int(sock.getsockname()[1])
    with pytest.raises(HostUnreachable) as caught:
        async with connect(target_of(local_sshd, port=closed)):
            pass
    assert f"127.0.0.1:{closed}" in str(caught.value)


async def test_an_address_that_never_answers_times_out(local_sshd: LocalSSHD) -> None:
    # A listening socket that never accepts: the handshake never completes.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        port = int(sock.getsockname()[1])
        start = time.monotonic()
        with pytest.raises(HostUnreachable, match="no SSH session within 1s"):
            async with connect(target_of(local_sshd, port=port), timeout=1.0):
                pass
        assert time.monotonic() - start < 5


async def test_a_script_that_runs_too_long_counts_as_failed(local_sshd: LocalSSHD) -> None:
    async with connect(target_of(local_sshd)) as session:
        result = await session.run("sleep 30", timeout=0.5)
        assert result.exit_status == 124
        again = await asyncio.wait_for(session.run("echo still usable"), 10)
        assert again.output.strip() == "still usable"


async def test_a_symlinked_artifact_is_uploaded_as_the_file_it_points_to(
    local_sshd: LocalSSHD, tmp_path: Path
) -> None:
    (tmp_path / "kube").write_bytes(b"multi-call binary")
    (tmp_path / "kubelet").symlink_to("kube")
    remote = local_sshd.root / "remote" / "kubelet"
    async with connect(target_of(local_sshd)) as session:
        await session.upload(tmp_path / "kubelet", str(remote), 0o755)
    assert not remote.is_symlink() and remote.read_bytes() == b"multi-call binary"


async def test_hashes_are_kept_while_a_file_is_unchanged(local_sshd: LocalSSHD) -> None:
    path = local_sshd.root / "remote" / "binary"
    cache = HashCache()
    async with connect(target_of(local_sshd)) as session:
        await session.upload(b"one", str(path), 0o755)
        first = await observe_hashes(session, [str(path), str(path) + ".absent"], cache)
        assert first == {str(path): hashlib.sha256(b"one").hexdigest(), str(path) + ".absent": None}
        signature = (await session.stat([str(path)]))[str(path)]
        assert signature is not None and cache.get("test/host-0", str(path), signature) is not None
        # A write that keeps size and modification time still changes the change time.
        stat = path.stat()
        path.write_bytes(b"two")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        second = await observe_hashes(session, [str(path)], cache)
        assert second == {str(path): hashlib.sha256(b"two").hexdigest()}
