"""Talking to etcd members: the JSON gRPC gateway every member serves on its client URL, over mutual TLS.

Why the gateway with httpx2 rather than the `etcdctl` binary: requests are async and cheap (no process
per call on a small machine), each one is bound to exactly one endpoint with its own timeout (etcdctl
waits out its whole command timeout on a dead endpoint), and the JSON is the same from 3.5 and 3.6
members, which matters in the middle of a rolling upgrade. uint64 fields (member IDs, sizes) arrive as
strings; keys and values as base64. `etcdutl` is still used for what only works offline: restoring a
snapshot into a data directory.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from kokpit.controlplane.files import PRIVATE_FILE, private_dir
from kokpit.errors import KokpitError
from kokpit.etcd.storage import snapshot_problem

DEFAULT_TIMEOUT = 3.0
SNAPSHOT_TIMEOUT = 300.0


class EtcdError(KokpitError):
    """etcd answered with an error, or did not answer; `endpoint` says which member."""

    def __init__(self, endpoint: str, message: str, *, code: int | None = None) -> None:
        super().__init__(f"{endpoint}: {message}")
        self.endpoint = endpoint
        self.code = code
        self.detail = message


@dataclass(frozen=True)
class ClientTLS:
    """The CA that signed the members' certificates and a client certificate they accept (PEM)."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class Member:
    """One entry of the member list; `name` and `client_urls` are empty until the member first starts."""

    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    learner: bool


@dataclass(frozen=True)
class Status:
    """What one member says about itself."""

    endpoint: str
    member_id: int
    leader: int
    version: str
    db_size: int
    raft_index: int
    learner: bool
    errors: tuple[str, ...]


def ssl_context(tls: ClientTLS) -> ssl.SSLContext:
    """`ssl_context` trusts only the cluster's CA and presents the client certificate."""
    context = ssl.create_default_context(cadata=tls.ca_pem.decode())
    # load_cert_chain reads files only; they exist for the duration of the call, 0600 in a private dir.
    with tempfile.TemporaryDirectory(prefix="kokpit-etcd-tls-") as directory:
        cert, key = Path(directory) / "tls.crt", Path(directory) / "tls.key"
        for path, content in ((cert, tls.cert_pem), (key, tls.key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(content)
        context.load_cert_chain(cert, key)
    return context


def _uint(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


def parse_member(data: dict[str, Any]) -> Member:
    """`parse_member` reads a gateway Member object."""
    return Member(
        id=_uint(data.get("ID")),
        name=str(data.get("name", "")),
        peer_urls=tuple(data.get("peerURLs") or ()),
        client_urls=tuple(data.get("clientURLs") or ()),
        learner=bool(data.get("isLearner", False)),
    )


def parse_status(endpoint: str, data: dict[str, Any]) -> Status:
    """`parse_status` reads a gateway StatusResponse."""
    header = data.get("header") or {}
    return Status(
        endpoint=endpoint,
        member_id=_uint(header.get("member_id")),
        leader=_uint(data.get("leader")),
        version=str(data.get("version", "")),
        db_size=_uint(data.get("dbSize")),
        raft_index=_uint(data.get("raftIndex")),
        learner=bool(data.get("isLearner", False)),
        errors=tuple(str(e) for e in data.get("errors") or ()),
    )


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class EtcdClient:
    """`EtcdClient` sends gateway requests to named endpoints with one TLS identity; close with `aclose`."""

    def __init__(self, tls: ClientTLS, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._http = httpx2.AsyncClient(verify=ssl_context(tls), timeout=timeout, trust_env=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> EtcdClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def call(
        self, endpoint: str, path: str, body: dict[str, Any], *, timeout: float | None = None
    ) -> Any:
        """`call` POSTs `body` to `/v3/<path>` of `endpoint` and returns the decoded answer."""
        url = f"{endpoint.rstrip('/')}/v3/{path}"
        try:
            if timeout is None:
                response = await self._http.post(url, json=body)
            else:
                response = await self._http.post(url, json=body, timeout=timeout)
        except httpx2.HTTPError as error:
            raise EtcdError(endpoint, f"{type(error).__name__}: {error}".rstrip(": ")) from error
        try:
            data = response.json()
        except json.JSONDecodeError as error:
            raise EtcdError(endpoint, f"HTTP {response.status_code}: {response.text[:200]}") from error
        if response.status_code != 200 or (isinstance(data, dict) and "code" in data and "message" in data):
            message = data.get("message") or data.get("error") if isinstance(data, dict) else str(data)
            code = data.get("code") if isinstance(data, dict) else None
            raise EtcdError(endpoint, str(message), code=code)
        return data

    async def member_list(self, endpoint: str) -> list[Member]:
        data = await self.call(endpoint, "cluster/member/list", {"linearizable": True})
        return [parse_member(m) for m in data.get("members") or ()]

    async def status(self, endpoint: str) -> Status:
        return parse_status(endpoint, await self.call(endpoint, "maintenance/status", {}))

    async def member_add(self, endpoint: str, peer_url: str, *, learner: bool = True) -> Member:
        data = await self.call(endpoint, "cluster/member/add", {"peerURLs": [peer_url], "isLearner": learner})
        return parse_member(data.get("member") or {})

    async def member_remove(self, endpoint: str, member_id: int) -> None:
        await self.call(endpoint, "cluster/member/remove", {"ID": str(member_id)})

    async def member_promote(self, endpoint: str, member_id: int) -> None:
        await self.call(endpoint, "cluster/member/promote", {"ID": str(member_id)})

    async def put(self, endpoint: str, key: str, value: str) -> int:
        """`put` writes `key`; returns the revision it was committed at."""
        data = await self.call(endpoint, "kv/put", {"key": _b64(key), "value": _b64(value)})
        return _uint((data.get("header") or {}).get("revision"))

    async def get(self, endpoint: str, key: str) -> str | None:
        data = await self.call(endpoint, "kv/range", {"key": _b64(key)})
        kvs = data.get("kvs") or []
        return base64.b64decode(kvs[0].get("value", "")).decode() if kvs else None

    async def get_prefix(self, endpoint: str, prefix: str) -> dict[str, str]:
        """`get_prefix` reads every key starting with `prefix` (a linearizable read)."""
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        data = await self.call(
            endpoint, "kv/range", {"key": _b64(prefix), "range_end": _b64(end)}, timeout=30
        )
        return {
            base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
            for kv in data.get("kvs") or []
        }

    async def snapshot(self, endpoint: str, destination: Path) -> tuple[str, int]:
        """`snapshot` streams a snapshot of `endpoint`'s database into `destination` (written to a
        temporary name, then renamed) and returns (sha256 hex, size). The stream ends with the
        database's own sha256, which is checked; a truncated or corrupt stream raises `EtcdError`.

        A snapshot holds every Secret of its cluster: the file is 0600 from its creation on, and
        missing directories are made 0700 (`kokpit.controlplane.files`)."""
        private_dir(destination.parent)
        tmp = destination.with_name(f".{destination.name}.part")
        digest = hashlib.sha256()
        size = 0
        url = f"{endpoint.rstrip('/')}/v3/maintenance/snapshot"
        try:
            tmp.unlink(missing_ok=True)  # a leftover of a crash: O_EXCL below creates the file anew, 0600
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
            with os.fdopen(fd, "wb") as out:
                async with self._http.stream("POST", url, json={}, timeout=SNAPSHOT_TIMEOUT) as response:
                    if response.status_code != 200:
                        body = (await response.aread()).decode(errors="replace")
                        raise EtcdError(endpoint, f"snapshot: HTTP {response.status_code}: {body[:200]}")
                    async for line in response.aiter_lines():
                        if not line.strip():
                            continue
                        message = json.loads(line)
                        if "error" in message:
                            raise EtcdError(endpoint, f"snapshot: {message['error'].get('message', message)}")
                        blob = base64.b64decode((message.get("result") or {}).get("blob", ""))
                        out.write(blob)
                        digest.update(blob)
                        size += len(blob)
                out.flush()
                os.fsync(out.fileno())
            problem = await asyncio.to_thread(snapshot_problem, tmp)
            if problem is not None:
                raise EtcdError(endpoint, f"snapshot: {problem}")
            os.replace(tmp, destination)
        except httpx2.HTTPError as error:
            raise EtcdError(endpoint, f"snapshot: {type(error).__name__}: {error}") from error
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return digest.hexdigest(), size


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
