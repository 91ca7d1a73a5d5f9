"""How each binary is built and recognised: pure data and functions, no processes, no files.

A `Recipe` says which wrapper module under `tools/` to build, which packages, with which tags,
linker flags and environment, and which files come out. A `VersionCheck` says how to ask a built
binary for its version and what it must answer. `build.py` does the I/O around them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kokpit.binaries.versions import (
    CONTAINERD_VERSION,
    KWOK_KUBE_VERSION,
    KWOK_VERSION,
    parse_go_version,
    parse_version,
    staging_version,
    validate_etcd_version,
    validate_kubernetes_version,
)
from kokpit.errors import KokpitError


class GoTooOldError(KokpitError):
    """The local Go cannot build a wrapper module, not even by fetching a newer toolchain."""


KUBE_COMPONENTS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
)
"""Names under which the multi-call `kube` binary is linked; each is a symlink to `kube`."""

ETCD_BINARIES = ("etcd", "etcdctl", "etcdutl")

KUBE_BUILD_TAGS = ("selinux", "notest", "grpcnotrace")
"""The tags Kubernetes' own build (hack/lib/golang.sh) compiles its binaries with."""

KUBE_VERSION_PACKAGES = ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version")
ETCD_GIT_SHA_SYMBOL = "go.etcd.io/etcd/api/v3/version.GitSHA"
ETCD_GIT_SHA_UNKNOWN = "GitNotFound"
"""What etcd's build_lib.sh stamps when git is unavailable; the module proxy carries no commit."""

ETCD_MODULES = (
    "go.etcd.io/etcd/api/v3",
    "go.etcd.io/etcd/client/pkg/v3",
    "go.etcd.io/etcd/client/v3",
    "go.etcd.io/etcd/etcdctl/v3",
    "go.etcd.io/etcd/etcdutl/v3",
    "go.etcd.io/etcd/pkg/v3",
    "go.etcd.io/etcd/server/v3",
)
"""etcd's modules, all required and `replace`d at one version by tools/etcd/go.mod."""

CONTAINERD_MODULE = "github.com/containerd/containerd/v2"
CONTAINERD_BINARIES = ("containerd", "ctr", "containerd-shim-runc-v2")
CONTAINERD_BUILD_TAGS = ("no_btrfs",)
"""containerd's btrfs snapshotter needs btrfs headers; nodes use overlayfs or native instead."""

KWOK_MODULE = "sigs.k8s.io/kwok"
KWOK_CONSTS = "sigs.k8s.io/kwok/pkg/consts"


@dataclass(frozen=True)
class VersionCheck:
    """`args` run against a binary must print a line that is `expect`, or `expect` then a space and more.

    So `Kubernetes v1.36.5` does not accept `Kubernetes v1.36.5-rc.0`, and `kwok version v0.8.0`
    accepts `kwok version v0.8.0 go1.26.8 (linux/amd64)`.
    """

    binary: str
    args: tuple[str, ...]
    expect: str

    def matches(self, output: str) -> bool:
        """`matches` tells whether `output` of the version command contains the expected line."""
        lines = (line.strip() for line in output.splitlines())
        return any(line == self.expect or line.startswith(self.expect + " ") for line in lines)


@dataclass(frozen=True)
class Recipe:
    """One `go build` of a wrapper module under `tools/`.

    `targets` pairs each output file name with the package building it; `links` are symlinks made
    next to the outputs (`name -> target`). `anchor` is the module whose required version in the
    wrapper's go.mod is the version being built; when it differs from `version`, the go.mod is
    re-pinned with `repin_edit_args` before building.
    """

    module: str
    version: str
    targets: tuple[tuple[str, str], ...]
    ldflags: str
    tags: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()
    anchor: str = ""
    checks: tuple[VersionCheck, ...] = ()

    @property
    def outputs(self) -> tuple[str, ...]:
        """Every file name this recipe leaves in the bin directory, built files first."""
        return tuple(name for name, _ in self.targets) + tuple(name for name, _ in self.links)

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(package for _, package in self.targets)


def kubernetes_ldflags(version: str, *, build_date: str) -> str:
    """`kubernetes_ldflags` stamps `version` the way Kubernetes' release build does, and strips symbols.

    `build_date` is UTC in `2006-01-02T15:04:05Z` form. The same variables are set in client-go
    and component-base, so `--version` and `kubectl version` agree.
    """
    version = validate_kubernetes_version(version)
    major, minor, _ = parse_version(version)
    values = {
        "gitVersion": version,
        "gitMajor": str(major),
        "gitMinor": str(minor),
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    flags = [
        f"-X {package}.{name}={value}" for package in KUBE_VERSION_PACKAGES for name, value in values.items()
    ]
    return " ".join([*flags, "-s", "-w"])


def etcd_ldflags(*, git_sha: str = ETCD_GIT_SHA_UNKNOWN) -> str:
    """`etcd_ldflags` stamps etcd's Git SHA as its scripts/build_lib.sh does; the version is in the source."""
    return f"-X={ETCD_GIT_SHA_SYMBOL}={git_sha}"


def kwok_ldflags(version: str = KWOK_VERSION, *, kube_version: str = KWOK_KUBE_VERSION) -> str:
    """`kwok_ldflags` sets the variables kwok's hack/releases.sh sets for `make build`."""
    return f"-X {KWOK_CONSTS}.Version={version} -X {KWOK_CONSTS}.KubeVersion={kube_version}"


def kubernetes_recipe(version: str, *, build_date: str) -> Recipe:
    """`kubernetes_recipe` builds the multi-call `kube` from tools/kubernetes at `version`."""
    version = validate_kubernetes_version(version)
    servers = [name for name in KUBE_COMPONENTS if name != "kubectl"]
    checks = [VersionCheck(name, ("--version",), f"Kubernetes {version}") for name in servers]
    checks.append(VersionCheck("kubectl", ("version", "--client"), f"Client Version: {version}"))
    return Recipe(
        module="kubernetes",
        version=version,
        targets=(("kube", "."),),
        ldflags=kubernetes_ldflags(version, build_date=build_date),
        tags=KUBE_BUILD_TAGS,
        links=tuple((name, "kube") for name in KUBE_COMPONENTS),
        anchor="k8s.io/kubernetes",
        checks=tuple(checks),
    )


def etcd_recipe(version: str) -> Recipe:
    """`etcd_recipe` builds etcd, etcdctl and etcdutl from tools/etcd at `version`, statically."""
    version = validate_etcd_version(version)
    bare = version.removeprefix("v")
    return Recipe(
        module="etcd",
        version=version,
        targets=(
            ("etcd", "."),
            ("etcdctl", "go.etcd.io/etcd/etcdctl/v3"),
            ("etcdutl", "go.etcd.io/etcd/etcdutl/v3"),
        ),
        ldflags=etcd_ldflags(),
        env={"CGO_ENABLED": "0"},
        anchor="go.etcd.io/etcd/server/v3",
        checks=(
            VersionCheck("etcd", ("--version",), f"etcd Version: {bare}"),
            VersionCheck("etcdctl", ("version",), f"etcdctl version: {bare}"),
            VersionCheck("etcdutl", ("version",), f"etcdutl version: {bare}"),
        ),
    )


def kwok_recipe() -> Recipe:
    """`kwok_recipe` builds kwok from tools/kwok at the pinned `KWOK_VERSION`, statically."""
    return Recipe(
        module="kwok",
        version=KWOK_VERSION,
        targets=(("kwok", f"{KWOK_MODULE}/cmd/kwok"),),
        ldflags=kwok_ldflags(),
        env={"CGO_ENABLED": "0"},
        anchor=KWOK_MODULE,
        checks=(VersionCheck("kwok", ("--version",), f"kwok version {KWOK_VERSION}"),),
    )


def containerd_ldflags(version: str, *, revision: str = "kokpit") -> str:
    """`containerd_ldflags` stamps the version as containerd's Makefile does, and strips symbols.

    The module proxy carries no commit, so the revision says who built it.
    """
    package = f"{CONTAINERD_MODULE}/version"
    return f"-X {package}.Version={version} -X {package}.Revision={revision} -s -w"


def containerd_recipe(version: str = CONTAINERD_VERSION) -> Recipe:
    """`containerd_recipe` builds containerd, ctr and the runc shim from tools/containerd, statically."""
    stamp = f"{CONTAINERD_MODULE} {version}"
    return Recipe(
        module="containerd",
        version=version,
        targets=tuple((name, f"{CONTAINERD_MODULE}/cmd/{name}") for name in CONTAINERD_BINARIES),
        ldflags=containerd_ldflags(version),
        tags=CONTAINERD_BUILD_TAGS,
        env={"CGO_ENABLED": "0"},
        anchor=CONTAINERD_MODULE,
        checks=(
            VersionCheck("containerd", ("--version",), f"containerd {stamp}"),
            VersionCheck("ctr", ("--version",), f"ctr {stamp}"),
        ),
    )


_REQUIRE_BLOCK = re.compile(r"^require\s*\((.*?)^\)", re.MULTILINE | re.DOTALL)
_REQUIRE_LINE = re.compile(r"^require\s+(\S+)\s+(\S+)", re.MULTILINE)
_GO_DIRECTIVE = re.compile(r"^go\s+(\S+)\s*$", re.MULTILINE)


def go_mod_requirements(gomod: str) -> dict[str, str]:
    """`go_mod_requirements` maps each required module of a go.mod text to its version.

    Both the block form `require ( ... )` and single `require m v` lines are read; comments such
    as `// indirect` are ignored.
    """
    lines: list[str] = []
    for block in _REQUIRE_BLOCK.finditer(gomod):
        lines.extend(block[1].splitlines())
    requirements: dict[str, str] = {}
    for line in lines:
        fields = line.split("//", 1)[0].split()
        if len(fields) == 2:
            requirements[fields[0]] = fields[1]
    for match in _REQUIRE_LINE.finditer(gomod):
        if match[1] != "(":
            requirements[match[1]] = match[2]
    return requirements


def go_directive(gomod: str) -> str | None:
    """`go_directive` returns the `go` line's version of a go.mod text (`1.26.0`), or None."""
    match = _GO_DIRECTIVE.search(gomod)
    return match[1] if match else None


def staging_modules(kubernetes_gomod: str) -> list[str]:
    """`staging_modules` lists, sorted, the `k8s.io/*` modules k8s.io/kubernetes requires at `v0.0.0`.

    Those are the staging repositories that its own go.mod `replace`s with `./staging/...`; a module
    depending on k8s.io/kubernetes must replace each with its published `v0.X.Y` release.
    """
    return sorted(
        module
        for module, version in go_mod_requirements(kubernetes_gomod).items()
        if module.startswith("k8s.io/") and version == "v0.0.0"
    )


def staging_replaces(kubernetes_gomod: str, kubernetes_version: str) -> list[tuple[str, str]]:
    """`staging_replaces` pairs each staging module with the version it must be replaced by."""
    version = staging_version(kubernetes_version)
    return [(module, version) for module in staging_modules(kubernetes_gomod)]


def needs_repin(recipe: Recipe, committed_gomod: str) -> bool:
    """`needs_repin` tells whether the committed wrapper go.mod builds another version than `recipe`'s."""
    return go_mod_requirements(committed_gomod).get(recipe.anchor) != recipe.version


def repin_edit_args(
    recipe: Recipe,
    *,
    current_requires: Iterable[str],
    current_replaces: Iterable[str],
    kubernetes_gomod: str = "",
) -> list[str]:
    """`repin_edit_args` returns the flags of one `go mod edit` moving a wrapper module to `recipe.version`.

    The anchor module (for etcd: all of etcd's modules) is required at the new version; for
    Kubernetes every staging module listed in `kubernetes_gomod` (the target k8s.io/kubernetes
    go.mod) is `replace`d by its `v0.X.Y` release, and staging modules the wrapper imports directly
    are required at that version. Every other requirement is dropped, so that `go mod tidy`
    recomputes them from the new version instead of keeping newer ones from the old.
    """
    current = list(current_requires)
    requires: dict[str, str]
    replaces: dict[str, str]
    if recipe.module == "kubernetes":
        staging = dict(staging_replaces(kubernetes_gomod, recipe.version))
        requires = {recipe.anchor: recipe.version}
        requires.update({module: staging[module] for module in current if module in staging})
        replaces = staging
    elif recipe.module == "etcd":
        requires = dict.fromkeys(ETCD_MODULES, recipe.version)
        replaces = dict(requires)
    else:
        requires = {recipe.anchor: recipe.version}
        replaces = {}
    args = [f"-droprequire={module}" for module in current if module not in requires]
    args += [f"-dropreplace={module}" for module in current_replaces if module not in replaces]
    args += [f"-require={module}@{version}" for module, version in sorted(requires.items())]
    args += [f"-replace={module}={module}@{version}" for module, version in sorted(replaces.items())]
    return args


def looks_like_package(line: str) -> bool:
    """`looks_like_package` tells whether a `go build -v` output line names a package being built."""
    text = line.strip()
    return bool(text) and " " not in text and not text.startswith(("#", "go:"))


def go_toolchain_note(local: str, required: str, *, what: str) -> str | None:
    """`go_toolchain_note` decides whether the local Go (`go1.26.8`) can build `what`, which needs `required`.

    Returns None when it can, a note when Go itself will fetch the newer toolchain from the module
    proxy (`GOTOOLCHAIN=auto`, Go 1.21 and later), and raises `GoTooOldError` when it cannot.
    """
    have = parse_go_version(local)
    need = parse_go_version(required)
    if have >= need:
        return None
    if have >= (1, 21, 0):
        return f"go {local} is older than the go {required} that {what} needs; fetching go{required}"
    raise GoTooOldError(
        f"go {local} is too old: {what} needs go {required} or newer; install it from https://go.dev/dl/"
    )
