"""Artifacts on the operator's side: the local file behind a rendered `source`, and its sha256.

A `file://` source is a file on the machine the operator runs on (kokpit's binary cache, its image
archives); an `https://` source is downloaded once into a cache beside the binaries, named by its
sha256, which the component must then state (a download that does not match is refused, so a
compromised mirror cannot put another binary on every node). Hashes of local files are remembered
by (path, size, mtime), so a steady pass does not re-read 170 MB binaries every 20 seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx2

from kokpit.errors import KokpitError
from kokpit.machines.ssh import local_sha256


class ArtifactUnavailable(KokpitError):
    """An artifact's source cannot be had or does not match its sha256."""


@dataclass
class ArtifactCache:
    """Finds artifacts' local files and hashes; `downloads` is where `https://` sources are kept."""

    downloads: Path
    _hashes: dict[tuple[str, int, int], str] = field(default_factory=dict)

    async def local(self, source: str, expected: str | None) -> tuple[Path, str]:
        """`local` is the local file of `source` and its sha256; raises `ArtifactUnavailable` when
        it is missing, cannot be downloaded, or differs from `expected`."""
        parts = urlsplit(source)
        if parts.scheme == "file":
            path = Path(unquote(parts.path))
            if not await asyncio.to_thread(path.is_file):
                raise ArtifactUnavailable(f"artifact {source}: no such file on the operator's machine")
            digest = await self._hash(path)
        elif parts.scheme == "https":
            if not expected:
                raise ArtifactUnavailable(f"artifact {source}: an https source needs its sha256")
            path = self.downloads / expected
            if not await asyncio.to_thread(path.is_file):
                await self._download(source, path, expected)
            digest = await self._hash(path)
        else:
            raise ArtifactUnavailable(f"artifact {source}: only file:// and https:// sources are supported")
        if expected and digest != expected:
            raise ArtifactUnavailable(
                f"artifact {source}: sha256 {digest} differs from the expected {expected}"
            )
        return path, digest

    async def _hash(self, path: Path) -> str:
        resolved = await asyncio.to_thread(path.resolve)
        stat = await asyncio.to_thread(resolved.stat)
        key = (str(resolved), stat.st_size, stat.st_mtime_ns)
        cached = self._hashes.get(key)
        if cached is None:
            cached = await asyncio.to_thread(local_sha256, resolved)
            self._hashes[key] = cached
        return cached

    async def _download(self, source: str, path: Path, expected: str) -> None:
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        partial = path.with_suffix(f".part-{os.getpid()}")
        digest = hashlib.sha256()
        try:
            async with (
                httpx2.AsyncClient(follow_redirects=True, timeout=60.0) as client,
                client.stream("GET", source) as response,
            ):
                response.raise_for_status()
                with partial.open("wb") as handle:
                    async for chunk in response.aiter_bytes():
                        digest.update(chunk)
                        handle.write(chunk)
        except (httpx2.HTTPError, OSError) as error:
            partial.unlink(missing_ok=True)
            raise ArtifactUnavailable(f"artifact {source}: download failed: {error}") from None
        if digest.hexdigest() != expected:
            partial.unlink(missing_ok=True)
            raise ArtifactUnavailable(
                f"artifact {source}: downloaded sha256 {digest.hexdigest()} differs from {expected}"
            )
        partial.replace(path)
