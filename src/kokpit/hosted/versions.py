"""Which Kubernetes versions a hosted cluster may run, and which version changes are allowed.

The supported list is data (`kokpit/hosted/versions.yaml`, or any file of the same shape passed
in), so a release is added without touching code. The rules are Kubernetes' own version-skew policy
for a control plane: go up one minor at a time, never down (patch releases of the same minor move
freely in both directions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kokpit.binaries.versions import InvalidVersionError, parse_version
from kokpit.errors import KokpitError

VERSIONS_FILE = Path(__file__).resolve().parent / "versions.yaml"


class VersionsFileError(KokpitError):
    """The supported-versions file cannot be read or has the wrong shape."""


@dataclass(frozen=True)
class SupportedVersion:
    """One Kubernetes release kokpit can run, with the etcd it pairs it with."""

    version: str
    etcd: str


@dataclass(frozen=True)
class SupportedVersions:
    """The supported releases, newest first, and the default one."""

    versions: tuple[SupportedVersion, ...]
    default: str

    def get(self, version: str) -> SupportedVersion | None:
        """`get` returns the entry of `version` (with or without the leading v), or None."""
        wanted = version if version.startswith("v") else f"v{version}"
        return next((v for v in self.versions if v.version == wanted), None)

    @property
    def names(self) -> list[str]:
        """`names` lists the supported versions, newest first."""
        return [v.version for v in self.versions]


def parse_supported(data: Mapping[str, Any], *, source: str = "versions") -> SupportedVersions:
    """`parse_supported` reads `{default: v, versions: [{version, etcd}, ...]}`, sorted newest first.

    Raises `VersionsFileError` naming `source` when an entry is malformed or the default is not listed.
    """
    entries = data.get("versions")
    if not isinstance(entries, Sequence) or not entries:
        raise VersionsFileError(f"{source}: `versions` must be a non-empty list")
    versions: list[SupportedVersion] = []
    for entry in entries:
        if not isinstance(entry, Mapping) or "version" not in entry or "etcd" not in entry:
            raise VersionsFileError(f"{source}: every entry needs `version` and `etcd`, got {entry!r}")
        try:
            parse_version(str(entry["version"]))
            parse_version(str(entry["etcd"]))
        except InvalidVersionError as error:
            raise VersionsFileError(f"{source}: {error}") from None
        versions.append(SupportedVersion(str(entry["version"]), str(entry["etcd"])))
    versions.sort(key=lambda v: parse_version(v.version), reverse=True)
    default = str(data.get("default") or versions[0].version)
    if not any(v.version == default for v in versions):
        raise VersionsFileError(f"{source}: default {default} is not in the list")
    return SupportedVersions(tuple(versions), default)


def load_supported(path: Path | None = None) -> SupportedVersions:
    """`load_supported` reads the supported versions from `path` (default: the packaged file)."""
    path = path or VERSIONS_FILE
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise VersionsFileError(f"cannot read {path}: {error}") from None
    if not isinstance(data, Mapping):
        raise VersionsFileError(f"{path}: expected a mapping")
    return parse_supported(data, source=str(path))


@dataclass(frozen=True)
class VersionVerdict:
    """Whether a wanted version may be run now; `reason`/`message` explain a refusal."""

    allowed: bool
    reason: str
    message: str


def check_version_change(wanted: str, current: str | None, supported: SupportedVersions) -> VersionVerdict:
    """`check_version_change` decides whether a cluster running `current` (None: nothing runs yet) may
    move to `wanted`.

    Refused: a version not in `supported` (UnsupportedVersion), lower than `current` by minor or
    major (Downgrade), or more than one minor above it (SkippedMinor). The message is one line a
    user can act on.
    """
    if supported.get(wanted) is None:
        return VersionVerdict(
            False,
            "UnsupportedVersion",
            f"Kubernetes {wanted} is not supported; supported: {', '.join(supported.names)}",
        )
    if current is None or current == wanted:
        return VersionVerdict(True, "VersionAccepted", f"Kubernetes {wanted}")
    new, old = parse_version(wanted), parse_version(current)
    if new[:2] < old[:2]:
        return VersionVerdict(
            False, "Downgrade", f"cannot downgrade from {current} to {wanted}; the cluster keeps {current}"
        )
    if new[0] != old[0] or new[1] > old[1] + 1:
        step = f"v{old[0]}.{old[1] + 1}"
        return VersionVerdict(
            False,
            "SkippedMinor",
            f"cannot upgrade from {current} to {wanted} in one step: upgrade to {step} first; "
            f"the cluster keeps {current}",
        )
    return VersionVerdict(True, "VersionAccepted", f"upgrade from {current} to {wanted}")
