"""Which versions kokpit builds by default, and how version strings are read and checked.

Everything here is pure: version strings come from users (`--kubernetes-version`), so they are
validated once, here, with an error that says what a good one looks like.
"""

from __future__ import annotations

import re

from kokpit.errors import KokpitError

DEFAULT_KUBERNETES_VERSION = "v1.36.5"
DEFAULT_ETCD_VERSION = "v3.6.16"
CONTAINERD_VERSION = "v2.4.2"
"""The containerd that nodes run: 2.x, since kubelet 1.36 no longer supports containerd 1.x."""

KWOK_VERSION = "v0.8.0"
# kwok's release build passes the newest Kubernetes release it supports as its default KubeVersion:
# the first line of supported_releases.txt in sigs.k8s.io/kwok v0.8.0.
KWOK_KUBE_VERSION = "v1.36.1"

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z][0-9A-Za-z.-]*)?$")
_GO_VERSION = re.compile(r"^(?:go)?(\d+)\.(\d+)(?:\.(\d+))?")


class InvalidVersionError(KokpitError):
    """A version string given by the user is not a release version of the expected project."""


def parse_version(version: str) -> tuple[int, int, int]:
    """`parse_version` turns `v1.36.5` (or `1.36.5`, or `v1.37.0-rc.1`) into `(1, 36, 5)`.

    A pre-release suffix is accepted and dropped; anything else raises `InvalidVersionError`.
    """
    match = _VERSION.match(version.strip())
    if match is None:
        raise InvalidVersionError(
            f"invalid version {version!r}: expected vMAJOR.MINOR.PATCH, e.g. {DEFAULT_KUBERNETES_VERSION}"
        )
    return int(match[1]), int(match[2]), int(match[3])


def _normalize(version: str, *, project: str, major: int, example: str) -> str:
    text = version.strip()
    match = _VERSION.match(text)
    if match is None:
        raise InvalidVersionError(
            f"invalid {project} version {version!r}: expected vMAJOR.MINOR.PATCH, e.g. {example}"
        )
    if int(match[1]) != major:
        raise InvalidVersionError(
            f"invalid {project} version {version!r}: kokpit builds {project} {major}.x, e.g. {example}"
        )
    return text if text.startswith("v") else f"v{text}"


def validate_kubernetes_version(version: str) -> str:
    """`validate_kubernetes_version` returns `version` as `vX.Y.Z[-pre]`, or raises `InvalidVersionError`.

    A missing leading `v` is added; only Kubernetes 1.x exists, so another major is rejected.
    """
    return _normalize(version, project="Kubernetes", major=1, example=DEFAULT_KUBERNETES_VERSION)


def validate_etcd_version(version: str) -> str:
    """`validate_etcd_version` returns `version` as `vX.Y.Z[-pre]`, or raises `InvalidVersionError`.

    The wrapper module builds etcd's v3 modules, so only 3.x is accepted.
    """
    return _normalize(version, project="etcd", major=3, example=DEFAULT_ETCD_VERSION)


def staging_version(kubernetes_version: str) -> str:
    """`staging_version` maps Kubernetes `v1.X.Y[-pre]` to the staging modules' `v0.X.Y[-pre]`."""
    version = validate_kubernetes_version(kubernetes_version)
    return "v0" + version[version.index(".") :]


def parse_go_version(version: str) -> tuple[int, int, int]:
    """`parse_go_version` reads `go1.26.8`, `1.26.0` or `1.26` (as in a go.mod) into `(1, 26, 8)`.

    Suffixes such as `rc1` or ` X:nocoverageredesign` are ignored; garbage raises `ValueError`.
    """
    match = _GO_VERSION.match(version.strip())
    if match is None:
        raise ValueError(f"not a Go version: {version!r}")
    return int(match[1]), int(match[2]), int(match[3] or 0)
