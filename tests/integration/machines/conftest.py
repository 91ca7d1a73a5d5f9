"""Machine operator integration tests: real sshd processes, real SSH sessions.

`local_sshd` is one Debian sshd on 127.0.0.1 (a free port), with a generated host key and one
authorised client key, started for the module and stopped after it: enough to prove `ssh.py`
against a real server without network namespaces. Run these under
`flock /tmp/kokpit-integration.lock`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

SSHD = Path("/usr/sbin/sshd")


@dataclass(frozen=True)
class LocalSSHD:
    """A running sshd and what a client needs to log in to it."""

    address: str
    port: int
    host_key: str
    """The server's public host key line (what a Host pins)."""
    client_key: bytes
    """An authorised private key (OpenSSH format)."""
    other_key: bytes
    """A private key the server does not accept."""
    root: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(address: str, port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}")
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"sshd did not listen on {address}:{port}")


@pytest.fixture(scope="module")
def local_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSSHD]:
    if not SSHD.exists():
        pytest.skip("openssh-server is not installed")
    root = tmp_path_factory.mktemp("sshd")
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    other_key = asyncssh.generate_private_key("ssh-ed25519")
    (root / "host_key").write_bytes(host_key.export_private_key())
    (root / "host_key").chmod(0o600)
    (root / "authorized_keys").write_bytes(client_key.export_public_key())
    port = _free_port()
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"Port {port}",
                f"HostKey {root / 'host_key'}",
                f"AuthorizedKeysFile {root / 'authorized_keys'}",
                f"PidFile {root / 'sshd.pid'}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    process = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=(root / "sshd.log").open("wb"),
        start_new_session=True,
    )
    try:
        _wait_listening("127.0.0.1", port, process)
        yield LocalSSHD(
            address="127.0.0.1",
            port=port,
            host_key=host_key.export_public_key().decode().strip(),
            client_key=client_key.export_private_key(),
            other_key=other_key.export_private_key(),
            root=root,
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
