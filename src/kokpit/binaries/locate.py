"""Where built binaries live, and finding a complete set of them.

The cache is outside any repository so that every checkout and every test run shares one build:

    <root>/<kubernetes-version>/   kube + kube-apiserver, kube-controller-manager, kube-scheduler,
                                   kubelet, kube-proxy, kubectl (symlinks to kube), etcd,
                                   etcdctl, etcdutl (the default etcd version) and kwok
    <root>/etcd/<etcd-version>/    etcd, etcdctl, etcdutl of any other etcd version
    <root>/containerd/<version>/   containerd, ctr and containerd-shim-runc-v2 (what nodes run)

`<root>` is `$KOKPIT_BIN_DIR`, else `~/.cache/kokpit/bin`. Nothing here runs a binary.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kokpit.binaries.recipes import ETCD_BINARIES, KUBE_COMPONENTS
from kokpit.binaries.versions import (
    CONTAINERD_VERSION,
    DEFAULT_ETCD_VERSION,
    DEFAULT_KUBERNETES_VERSION,
    validate_etcd_version,
    validate_kubernetes_version,
)
from kokpit.errors import KokpitError

BIN_DIR_ENV = "KOKPIT_BIN_DIR"

NODE_COMPONENTS = ("kubelet", "kube-proxy")

KUBERNETES_DIR_FILES = (
    "kube",
    *(name for name in KUBE_COMPONENTS if name not in NODE_COMPONENTS),
    *ETCD_BINARIES,
    "kwok",
)
"""Every file a local control plane with kwok nodes needs from `<root>/<kubernetes-version>/`; the
node components beside them (kubelet, kube-proxy) are found by the machine operator."""


class MissingBinariesError(KokpitError):
    """Some binaries kokpit needs are not built yet."""


@dataclass(frozen=True)
class BinarySet:
    """Paths of every binary a local control plane with kwok nodes needs, all existing."""

    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    etcd: Path
    etcdctl: Path
    etcdutl: Path
    kwok: Path
    kubernetes_version: str


def cache_root() -> Path:
    """`cache_root` is `$KOKPIT_BIN_DIR` if set and non-empty, else `~/.cache/kokpit/bin`."""
    configured = os.environ.get(BIN_DIR_ENV, "")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "kokpit" / "bin"


def kubernetes_dir(kubernetes_version: str) -> Path:
    """`kubernetes_dir` is the directory holding the binaries for `kubernetes_version`."""
    return cache_root() / validate_kubernetes_version(kubernetes_version)


def etcd_dir(etcd_version: str) -> Path:
    """`etcd_dir` is where `etcd_version` lives: the default Kubernetes directory for the default
    etcd version, `<root>/etcd/<version>/` for any other."""
    version = validate_etcd_version(etcd_version)
    if version == DEFAULT_ETCD_VERSION:
        return kubernetes_dir(DEFAULT_KUBERNETES_VERSION)
    return cache_root() / "etcd" / version


def containerd_dir(version: str = CONTAINERD_VERSION) -> Path:
    """`containerd_dir` is where containerd `version` lives: `<root>/containerd/<version>/`."""
    return cache_root() / "containerd" / version


def etcd_binaries(version: str) -> tuple[Path, Path, Path]:
    """`etcd_binaries` returns the paths of (etcd, etcdctl, etcdutl) at `version`, existing or not."""
    directory = etcd_dir(version)
    etcd, etcdctl, etcdutl = (directory / name for name in ETCD_BINARIES)
    return etcd, etcdctl, etcdutl


def missing_files(directory: Path, names: tuple[str, ...]) -> list[str]:
    """`missing_files` lists those of `names` that are not executable files in `directory`."""
    return [name for name in names if not os.access(directory / name, os.X_OK)]


def build_hint(kubernetes_version: str) -> str:
    """The command that builds what `find_binaries` found missing."""
    return f"kokpit binaries build --kubernetes-version {kubernetes_version}"


def find_binaries(kubernetes_version: str | None = None) -> BinarySet:
    """`find_binaries` returns the complete binary set for `kubernetes_version` (default: the default).

    Raises `MissingBinariesError`, whose one-line message names the missing files, the directory
    and the command that builds them.
    """
    version = validate_kubernetes_version(kubernetes_version or DEFAULT_KUBERNETES_VERSION)
    directory = kubernetes_dir(version)
    missing = missing_files(directory, KUBERNETES_DIR_FILES)
    if missing:
        raise MissingBinariesError(f"missing {', '.join(missing)} in {directory}; run: {build_hint(version)}")
    return BinarySet(
        kube_apiserver=directory / "kube-apiserver",
        kube_controller_manager=directory / "kube-controller-manager",
        kube_scheduler=directory / "kube-scheduler",
        kubectl=directory / "kubectl",
        etcd=directory / "etcd",
        etcdctl=directory / "etcdctl",
        etcdutl=directory / "etcdutl",
        kwok=directory / "kwok",
        kubernetes_version=version,
    )


def tools_dir() -> Path:
    """`tools_dir` finds the Go wrapper modules: `kokpit/_tools` in an installed wheel, else the
    repository's `tools/` next to `src/`. Raises `KokpitError` if neither is there."""
    package_dir = Path(__file__).resolve().parent.parent
    candidates = (package_dir / "_tools", package_dir.parent.parent / "tools")
    for candidate in candidates:
        if (candidate / "kubernetes" / "go.mod").is_file():
            return candidate
    raise KokpitError(
        f"cannot find kokpit's Go wrapper modules (looked in {', '.join(str(c) for c in candidates)}); "
        "reinstall kokpit"
    )
