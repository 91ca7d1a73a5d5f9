"""The sha256 of files on hosts, re-computed only when a file changed.

A steady pass checks every file and artifact of every component for drift; hashing the binaries
(kubelet, kube-proxy and containerd are ~470 MB together) on every pass would cost the host a few
CPU-seconds every 20 seconds. So a hash is kept with the file's signature (`Session.stat`: inode,
size, modification and change time) and reused while the signature is the same; a write of any kind
changes the change time, which no user can set back. Every `rehash_seconds` each file is hashed
again anyway (bit rot, a clock set back).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kokpit.machines.ssh import Session


@dataclass
class HashCache:
    """Hashes by (host, path) with the signature they were computed for."""

    rehash_seconds: float = 600.0
    clock: Callable[[], float] = time.monotonic
    _entries: dict[tuple[str, str], tuple[str, str, float]] = field(default_factory=dict)

    def get(self, host: str, path: str, signature: str) -> str | None:
        """The kept hash of `path` when its signature is still `signature` and it is recent enough."""
        entry = self._entries.get((host, path))
        if entry is None or entry[0] != signature or self.clock() - entry[2] > self.rehash_seconds:
            return None
        return entry[1]

    def put(self, host: str, path: str, signature: str, digest: str) -> None:
        self._entries[(host, path)] = (signature, digest, self.clock())

    def forget(self, host: str) -> None:
        """Drops what is known of `host` (its Machine went)."""
        for key in [k for k in self._entries if k[0] == host]:
            del self._entries[key]


async def observe_hashes(session: Session, paths: Iterable[str], cache: HashCache) -> dict[str, str | None]:
    """`observe_hashes` is the sha256 of each of `paths` on the host of `session` (None when missing),
    hashing on the host only the files whose signature changed since the last look."""
    host = session.target.name
    signatures = await session.stat(paths)
    result: dict[str, str | None] = {}
    stale = []
    for path, signature in signatures.items():
        if signature is None:
            result[path] = None
            continue
        kept = cache.get(host, path, signature)
        if kept is None:
            stale.append(path)
        else:
            result[path] = kept
    if stale:
        hashed = await session.sha256(stale)
        for path in stale:
            digest = hashed.get(path)
            result[path] = digest
            signature = signatures[path]
            if digest is not None and signature is not None:
                cache.put(host, path, signature, digest)
    return result
