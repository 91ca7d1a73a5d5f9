"""The Kubernetes, etcd and kwok binaries kokpit runs: where they are cached and how they are built.

`find_binaries` is all most callers need; `build_binaries` fills the cache
(`kokpit binaries build` on the command line).
"""

from __future__ import annotations

from kokpit.binaries.build import BuildResult, GoCommandError, build_binaries
from kokpit.binaries.locate import (
    BinarySet,
    MissingBinariesError,
    cache_root,
    etcd_binaries,
    find_binaries,
    kubernetes_dir,
)
from kokpit.binaries.versions import (
    DEFAULT_ETCD_VERSION,
    DEFAULT_KUBERNETES_VERSION,
    KWOK_VERSION,
    InvalidVersionError,
)

__all__ = [
    "DEFAULT_ETCD_VERSION",
    "DEFAULT_KUBERNETES_VERSION",
    "KWOK_VERSION",
    "BinarySet",
    "BuildResult",
    "GoCommandError",
    "InvalidVersionError",
    "MissingBinariesError",
    "build_binaries",
    "cache_root",
    "etcd_binaries",
    "find_binaries",
    "kubernetes_dir",
]
