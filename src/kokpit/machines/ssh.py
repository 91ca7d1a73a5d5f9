"""SSH to a Host: the only way the machine operator touches a machine.

    target = SSHTarget("default/host-1", "10.77.0.11", 22, "root", host_key_line, private_key)
    async with connect(target) as session:
        result = await session.run("echo $GREETING", env={"GREETING": "hi"})
        await session.upload(Path("kubelet"), "/opt/bin/kubelet", 0o755)
        hashes = await session.sha256(["/opt/bin/kubelet"])

Why it is built this way:

- The host key is pinned: `Host.spec.hostKey` is the only key trusted (known_hosts is built in
  memory from it, never read from disk), so a different key is `HostKeyMismatch`, not a prompt. The
  private key comes from the Host's Secret and never leaves memory; no agent, no ~/.ssh/config.
- Every failure to get a session is one `KokpitError` naming the host and address, of a type the
  controller turns into the `HostReachable` condition's reason: `HostUnreachable`,
  `HostKeyMismatch`, `AuthenticationFailed`.
- Scripts run as `sh -eu` with the script on stdin (no quoting of the script through a command line;
  `-e` stops at the first failing command). Environment variables are exported at the top of the
  script, since sshd accepts only the variables its `AcceptEnv` names.
- Uploads are atomic (a temporary name beside the target, then a rename), so a reader never sees
  half a binary or half a config file, and an interrupted upload leaves the old file in place.
- One connection per host for a reconcile (`connect` is a context manager: it is closed always).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import posixpath
import secrets
import shlex
import signal
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from kokpit.errors import KokpitError

log = logging.getLogger("kokpit.machines.ssh")

CONNECT_TIMEOUT = 10.0
"""Seconds to get an authenticated session (TCP, key exchange, authentication)."""
SCRIPT_TIMEOUT = 600.0
"""Seconds a script may run before it counts as failed (a step must not hang a reconcile forever)."""


class SSHError(KokpitError):
    """A session to a host could not be had or was lost; the subclass says why."""

    reason = "HostUnreachable"
    """The `HostReachable` condition's reason for this error."""


class HostUnreachable(SSHError):
    """No answer from the host's address (refused, no route, timeout) or the connection was lost."""

    reason = "HostUnreachable"


class HostKeyMismatch(SSHError):
    """The host presented a key other than the pinned `hostKey` (or `hostKey` is not a key)."""

    reason = "HostKeyMismatch"


class AuthenticationFailed(SSHError):
    """The host refused the private key of the Host's Secret (or the Secret holds no usable key)."""

    reason = "AuthenticationFailed"


@dataclass(frozen=True)
class SSHTarget:
    """Where and as whom to log in; `name` (namespace/name of the Host) is what errors show."""

    name: str
    address: str
    port: int
    user: str
    host_key: str
    """The pinned OpenSSH public host key line (`ssh-ed25519 AAAA... [comment]`)."""
    private_key: bytes = field(repr=False)
    """The private key (OpenSSH or PEM), from the Secret's `ssh-privatekey`: never logged."""

    @property
    def where(self) -> str:
        """`where` is `host <name> (<user>@<address>:<port>)`, the subject of every error."""
        return f"host {self.name} ({self.user}@{self.address}:{self.port})"


@dataclass(frozen=True)
class Result:
    """What a script did: its exit status and its output (stdout and stderr interleaved)."""

    exit_status: int
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def tail(self, lines: int = 20) -> str:
        """`tail` is the last `lines` lines of the output: what a condition message shows."""
        return "\n".join(self.output.rstrip("\n").splitlines()[-lines:])


def script_with_env(script: str, env: Mapping[str, str] | None) -> str:
    """`script_with_env` prefixes `script` with one quoted `export` per variable of `env`."""
    lines = [f"export {name}={shlex.quote(value)}" for name, value in sorted((env or {}).items())]
    for name in env or {}:
        if not name.isidentifier():
            raise ValueError(f"not a shell variable name: {name!r}")
    return "\n".join([*lines, script])


def parse_sha256sum(output: str) -> dict[str, str]:
    """`parse_sha256sum` reads `sha256sum` output (`<hex>  <path>` per line) into path -> hex."""
    hashes: dict[str, str] = {}
    for line in output.splitlines():
        digest, sep, path = line.partition("  ")
        if not sep or len(digest) != 64:
            # `*path` (binary mode) uses " *" as separator
            digest, sep, path = line.partition(" *")
            if not sep or len(digest) != 64:
                continue
        hashes[path] = digest.lower()
    return hashes


def _import_keys(target: SSHTarget) -> tuple[asyncssh.SSHKey, asyncssh.SSHKey]:
    try:
        host_key = asyncssh.import_public_key(target.host_key.strip())
    except (asyncssh.KeyImportError, ValueError) as error:
        raise HostKeyMismatch(f"{target.where}: hostKey is not an OpenSSH public key ({error})") from None
    try:
        private_key = asyncssh.import_private_key(target.private_key)
    except (asyncssh.KeyImportError, ValueError):
        # The error text of a key import may quote the key: say only that it did not parse.
        raise AuthenticationFailed(
            f"{target.where}: the credentials Secret holds no usable private key"
        ) from None
    return host_key, private_key


async def open_connection(
    target: SSHTarget, *, timeout: float = CONNECT_TIMEOUT
) -> asyncssh.SSHClientConnection:
    """`open_connection` logs in to `target`; raises one of the `SSHError` subclasses on failure."""
    host_key, private_key = _import_keys(target)
    try:
        async with asyncio.timeout(timeout):
            return await asyncssh.connect(
                target.address,
                port=target.port,
                username=target.user,
                client_keys=[private_key],
                known_hosts=([host_key], [], []),
                server_host_key_algs=[alg.decode() for alg in host_key.sig_algorithms],
                config=None,
                agent_path=None,
                password=None,
                kbdint_auth=False,
                gss_auth=False,
                preferred_auth="publickey",
                connect_timeout=timeout,
                login_timeout=timeout,
                keepalive_interval=15,
            )
    except asyncssh.HostKeyNotVerifiable:
        raise HostKeyMismatch(
            f"{target.where}: the host key differs from the pinned hostKey "
            f"({host_key.get_fingerprint()}); refusing to connect"
        ) from None
    except asyncssh.PermissionDenied:
        raise AuthenticationFailed(
            f"{target.where}: the host refused the key of the credentials Secret"
        ) from None
    except TimeoutError:
        raise HostUnreachable(f"{target.where}: no SSH session within {timeout:g}s") from None
    except (OSError, asyncssh.Error) as error:
        raise HostUnreachable(f"{target.where}: {_one_line(error)}") from None


class Session:
    """`Session` is one SSH connection to a host; scripts, uploads and hashes go through it."""

    def __init__(self, target: SSHTarget, connection: asyncssh.SSHClientConnection) -> None:
        self.target = target
        self._connection = connection
        self._sftp: asyncssh.SFTPClient | None = None

    async def run(
        self, script: str, *, env: Mapping[str, str] | None = None, timeout: float = SCRIPT_TIMEOUT
    ) -> Result:
        """`run` runs `script` with `sh -eu` (cwd `/`, the variables of `env` exported) and returns
        its exit status and output. A script still running after `timeout` seconds counts as exit
        status 124 (as `timeout(1)` reports it). Raises `HostUnreachable` when the connection is lost."""
        body = script_with_env(script, env)
        try:
            completed = await self._connection.run(
                "cd / && exec sh -eu",
                input=body,
                stderr=asyncssh.STDOUT,
                check=False,
                timeout=timeout,
            )
        except TimeoutError as error:  # asyncssh's TimeoutError is also a ProcessError: first
            output = _text(getattr(error, "stdout", ""))
            return Result(124, f"{output}the script did not finish within {timeout:g}s")
        except asyncssh.ProcessError as error:  # not raised with check=False, kept for safety
            return Result(int(error.exit_status or 1), _text(error.stdout))
        except (OSError, asyncssh.Error) as error:
            raise HostUnreachable(f"{self.target.where}: {_one_line(error)}") from None
        status = completed.exit_status
        if status is None:  # killed by a signal
            status = 128 + _signal_number(completed.exit_signal)
        return Result(int(status), _text(completed.stdout))

    async def sftp(self) -> asyncssh.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = await self._connection.start_sftp_client()
            except (OSError, asyncssh.Error) as error:
                raise HostUnreachable(f"{self.target.where}: no SFTP: {_one_line(error)}") from None
        return self._sftp

    async def upload(self, source: Path | bytes, remote_path: str, mode: int = 0o644) -> None:
        """`upload` writes `source` (a local file or bytes) to `remote_path` with `mode`, atomically:
        it goes to a temporary name in the same directory (created when missing) and is renamed over
        the target, so the old file stays until the new one is complete."""
        directory = posixpath.dirname(remote_path) or "/"
        temporary = posixpath.join(
            directory, f".{posixpath.basename(remote_path)}.kokpit-{secrets.token_hex(4)}"
        )
        sftp = await self.sftp()
        try:
            await sftp.makedirs(directory, exist_ok=True)
            if isinstance(source, bytes):
                async with sftp.open(temporary, "wb", asyncssh.SFTPAttrs(permissions=0o600)) as remote:
                    await remote.write(source)
            else:
                # The file itself, never a symlink to it (kokpit's binaries are symlinks to `kube`).
                real = await asyncio.to_thread(source.resolve)
                await sftp.put(str(real), temporary, follow_symlinks=True)
            await sftp.chmod(temporary, mode)
            await sftp.posix_rename(temporary, remote_path)
        except (OSError, asyncssh.Error) as error:
            with suppress(OSError, asyncssh.Error):
                await sftp.remove(temporary)
            if isinstance(error, asyncssh.SFTPError):
                raise KokpitError(
                    f"{self.target.where}: cannot write {remote_path}: {_one_line(error)}"
                ) from None
            raise HostUnreachable(f"{self.target.where}: {_one_line(error)}") from None

    async def read_text(self, remote_path: str) -> str | None:
        """`read_text` is the content of `remote_path` (UTF-8), None when it does not exist."""
        sftp = await self.sftp()
        try:
            async with sftp.open(remote_path, "rb") as remote:
                data = await remote.read()
        except asyncssh.SFTPNoSuchFile:
            return None
        except (OSError, asyncssh.Error) as error:
            raise HostUnreachable(
                f"{self.target.where}: cannot read {remote_path}: {_one_line(error)}"
            ) from None
        return _text(data)

    async def sha256(self, paths: Iterable[str]) -> dict[str, str | None]:
        """`sha256` is the sha256 (hex) of each of `paths` on the host, None for a missing or
        unreadable file (`sha256sum` on the host)."""
        wanted = sorted(set(paths))
        found: dict[str, str] = {}
        if wanted:
            quoted = " ".join(shlex.quote(p) for p in wanted)
            result = await self.run(f"sha256sum -- {quoted} 2>/dev/null || true")
            found = parse_sha256sum(result.output)
        return {path: found.get(path) for path in wanted}

    async def stat(self, paths: Iterable[str]) -> dict[str, str | None]:
        """`stat` is a signature of each of `paths` on the host (inode, size, modification and change
        time, in nanoseconds), None for a missing file: any write changes it (the change time cannot
        be set back), so an unchanged signature means unchanged content."""
        wanted = sorted(set(paths))
        found: dict[str, str] = {}
        if wanted:
            quoted = " ".join(shlex.quote(p) for p in wanted)
            result = await self.run(f"stat -L -c '%i:%s:%.9Y:%.9Z %n' -- {quoted} 2>/dev/null || true")
            for line in result.output.splitlines():
                signature, sep, path = line.partition(" ")
                if sep:
                    found[path] = signature
        return {path: found.get(path) for path in wanted}

    async def aclose(self) -> None:
        if self._sftp is not None:
            self._sftp.exit()
            self._sftp = None
        self._connection.close()
        with suppress(TimeoutError, OSError, asyncssh.Error):
            await asyncio.wait_for(self._connection.wait_closed(), 5)


@asynccontextmanager
async def connect(target: SSHTarget, *, timeout: float = CONNECT_TIMEOUT) -> AsyncIterator[Session]:
    """`connect` yields a `Session` to `target` and closes it on the way out, whatever happened."""
    session = Session(target, await open_connection(target, timeout=timeout))
    try:
        yield session
    finally:
        await session.aclose()


def local_sha256(path: Path) -> str:
    """`local_sha256` is the sha256 (hex) of a local file (an artifact before its upload)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _text(data: object) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return str(data)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:300]


def _signal_number(exit_signal: tuple[str, bool, str, str] | None) -> int:
    if not exit_signal:
        return 1
    try:
        return int(signal.Signals[f"SIG{exit_signal[0]}"])
    except KeyError:
        return 1


__all__ = [
    "AuthenticationFailed",
    "HostKeyMismatch",
    "HostUnreachable",
    "Result",
    "SSHError",
    "SSHTarget",
    "Session",
    "connect",
    "local_sha256",
    "open_connection",
    "parse_sha256sum",
    "script_with_env",
]
