"""Unit tests of the binaries' pure helpers and cache layout: no network, no go, no builds."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from kokpit.binaries import (
    DEFAULT_ETCD_VERSION,
    DEFAULT_KUBERNETES_VERSION,
    InvalidVersionError,
    MissingBinariesError,
    build,
    etcd_binaries,
    find_binaries,
    locate,
    recipes,
    versions,
)
from kokpit.errors import KokpitError

SAMPLE_KUBERNETES_GOMOD = """\
// This is a generated file. Do not edit directly.

module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
\tgithub.com/spf13/cobra v1.10.2
\tk8s.io/api v0.0.0
\tk8s.io/apimachinery v0.0.0
\tk8s.io/kube-openapi v0.0.0-20250910181357-589584f1c912
\tk8s.io/utils v0.0.0-20251002143259-bc988d571ff4
)

require (
\tgithub.com/go-logr/logr v1.4.3 // indirect
\tk8s.io/streaming v0.0.0 // indirect
)

require k8s.io/kubectl v0.0.0

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/apimachinery => ./staging/src/k8s.io/apimachinery
\tk8s.io/kubectl => ./staging/src/k8s.io/kubectl
\tk8s.io/streaming => ./staging/src/k8s.io/streaming
)
"""


def tools_gomod(module: str) -> str:
    return (locate.tools_dir() / module / "go.mod").read_text()


# --- versions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("v1.36.5", (1, 36, 5), id="with v"),
        pytest.param("1.36.5", (1, 36, 5), id="without v"),
        pytest.param("v1.37.0-rc.1", (1, 37, 0), id="pre-release dropped"),
        pytest.param(" v3.6.16 ", (3, 6, 16), id="surrounding space"),
    ],
)
def test_parse_version(text: str, expected: tuple[int, int, int]) -> None:
    assert versions.parse_version(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("latest", id="word"),
        pytest.param("v1.36", id="no patch"),
        pytest.param("v1.36.5.1", id="four parts"),
        pytest.param("v1.36.x", id="wildcard"),
        pytest.param("vv1.36.5", id="double v"),
    ],
)
def test_parse_version_rejects_garbage(text: str) -> None:
    with pytest.raises(InvalidVersionError, match=re.escape("expected vMAJOR.MINOR.PATCH")):
        versions.parse_version(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("v1.36.5", "v1.36.5", id="as is"),
        pytest.param("1.35.2", "v1.35.2", id="v added"),
        pytest.param("v1.37.0-alpha.2", "v1.37.0-alpha.2", id="pre-release kept"),
    ],
)
def test_validate_kubernetes_version(text: str, expected: str) -> None:
    assert versions.validate_kubernetes_version(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("banana", "invalid Kubernetes version 'banana': expected vMAJOR", id="garbage"),
        pytest.param("v2.0.0", "kokpit builds Kubernetes 1.x", id="wrong major"),
    ],
)
def test_validate_kubernetes_version_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidVersionError, match=re.escape(message)) as raised:
        versions.validate_kubernetes_version(text)
    assert isinstance(raised.value, KokpitError)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("v3.6.16", "v3.6.16", id="default"),
        pytest.param("3.5.21", "v3.5.21", id="v added"),
    ],
)
def test_validate_etcd_version(text: str, expected: str) -> None:
    assert versions.validate_etcd_version(text) == expected


def test_validate_etcd_version_rejects_other_majors() -> None:
    with pytest.raises(InvalidVersionError, match=re.escape("kokpit builds etcd 3.x")):
        versions.validate_etcd_version("v2.3.8")


@pytest.mark.parametrize(
    ("kubernetes", "staging"),
    [
        pytest.param("v1.36.5", "v0.36.5", id="release"),
        pytest.param("1.30.0", "v0.30.0", id="without v"),
        pytest.param("v1.37.0-rc.1", "v0.37.0-rc.1", id="pre-release"),
    ],
)
def test_staging_version(kubernetes: str, staging: str) -> None:
    assert versions.staging_version(kubernetes) == staging


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("go1.26.8", (1, 26, 8), id="go env GOVERSION"),
        pytest.param("1.26.0", (1, 26, 0), id="go.mod go line"),
        pytest.param("1.21", (1, 21, 0), id="no patch"),
        pytest.param("go1.27rc1", (1, 27, 0), id="release candidate"),
    ],
)
def test_parse_go_version(text: str, expected: tuple[int, int, int]) -> None:
    assert versions.parse_go_version(text) == expected


# --- ldflags ------------------------------------------------------------------------------------


def test_kubernetes_ldflags_stamp_both_version_packages() -> None:
    tokens = recipes.kubernetes_ldflags("v1.36.5", build_date="2026-11-24T09:28:58Z").split()
    assert tokens[-2:] == ["-s", "-w"]
    assert set(tokens[:-2:2]) == {"-X"}
    assignments = tokens[1:-2:2]
    expected = [
        f"{package}.{assignment}"
        for package in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version")
        for assignment in (
            "gitVersion=v1.36.5",
            "gitMajor=1",
            "gitMinor=36",
            "gitTreeState=clean",
            "buildDate=2026-11-24T09:28:58Z",
        )
    ]
    assert assignments == expected


def test_kubernetes_ldflags_reject_garbage() -> None:
    with pytest.raises(InvalidVersionError):
        recipes.kubernetes_ldflags("nightly", build_date="2026-11-24T09:28:58Z")


def test_etcd_ldflags_set_git_sha_like_etcd_build() -> None:
    assert recipes.etcd_ldflags() == "-X=go.etcd.io/etcd/api/v3/version.GitSHA=GitNotFound"
    assert recipes.etcd_ldflags(git_sha="abc1234").endswith("version.GitSHA=abc1234")


def test_kwok_ldflags_set_version_and_kube_version() -> None:
    assert recipes.kwok_ldflags() == (
        "-X sigs.k8s.io/kwok/pkg/consts.Version=v0.8.0 -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=v1.36.1"
    )


# --- go.mod parsing -----------------------------------------------------------------------------


def test_go_mod_requirements_reads_blocks_and_single_lines() -> None:
    requirements = recipes.go_mod_requirements(SAMPLE_KUBERNETES_GOMOD)
    assert requirements["github.com/spf13/cobra"] == "v1.10.2"
    assert requirements["github.com/go-logr/logr"] == "v1.4.3"
    assert requirements["k8s.io/kubectl"] == "v0.0.0"
    assert "k8s.io/api =>" not in requirements


def test_staging_modules_are_the_v0_0_0_k8s_requirements() -> None:
    assert recipes.staging_modules(SAMPLE_KUBERNETES_GOMOD) == [
        "k8s.io/api",
        "k8s.io/apimachinery",
        "k8s.io/kubectl",
        "k8s.io/streaming",
    ]


def test_staging_replaces_use_the_v0_release() -> None:
    assert recipes.staging_replaces(SAMPLE_KUBERNETES_GOMOD, "v1.35.4") == [
        ("k8s.io/api", "v0.35.4"),
        ("k8s.io/apimachinery", "v0.35.4"),
        ("k8s.io/kubectl", "v0.35.4"),
        ("k8s.io/streaming", "v0.35.4"),
    ]


def test_go_directive() -> None:
    assert recipes.go_directive(SAMPLE_KUBERNETES_GOMOD) == "1.26.0"
    assert recipes.go_directive("module example.com/x\n") is None


def test_committed_wrappers_match_default_versions() -> None:
    kube = recipes.kubernetes_recipe(DEFAULT_KUBERNETES_VERSION, build_date="2026-01-01T00:00:00Z")
    assert not recipes.needs_repin(kube, tools_gomod("kubernetes"))
    assert not recipes.needs_repin(recipes.etcd_recipe(DEFAULT_ETCD_VERSION), tools_gomod("etcd"))
    assert not recipes.needs_repin(recipes.kwok_recipe(), tools_gomod("kwok"))
    assert recipes.needs_repin(recipes.etcd_recipe("v3.5.21"), tools_gomod("etcd"))


def test_committed_etcd_wrapper_pins_every_etcd_module() -> None:
    gomod = tools_gomod("etcd")
    requirements = recipes.go_mod_requirements(gomod)
    for module in recipes.ETCD_MODULES:
        assert requirements[module] == DEFAULT_ETCD_VERSION
        assert f"{module} => {module} {DEFAULT_ETCD_VERSION}" in gomod


def test_repin_kubernetes_requires_and_replaces_staging() -> None:
    recipe = recipes.kubernetes_recipe("v1.35.4", build_date="2026-01-01T00:00:00Z")
    args = recipes.repin_edit_args(
        recipe,
        current_requires=["github.com/spf13/cobra", "k8s.io/kubectl", "k8s.io/kubernetes"],
        current_replaces=["k8s.io/kubectl", "k8s.io/cri-streaming"],
        kubernetes_gomod=SAMPLE_KUBERNETES_GOMOD,
    )
    assert args == [
        "-droprequire=github.com/spf13/cobra",
        "-dropreplace=k8s.io/cri-streaming",
        "-require=k8s.io/kubectl@v0.35.4",
        "-require=k8s.io/kubernetes@v1.35.4",
        "-replace=k8s.io/api=k8s.io/api@v0.35.4",
        "-replace=k8s.io/apimachinery=k8s.io/apimachinery@v0.35.4",
        "-replace=k8s.io/kubectl=k8s.io/kubectl@v0.35.4",
        "-replace=k8s.io/streaming=k8s.io/streaming@v0.35.4",
    ]


def test_repin_etcd_pins_all_etcd_modules() -> None:
    args = recipes.repin_edit_args(
        recipes.etcd_recipe("v3.5.21"),
        current_requires=["go.etcd.io/etcd/server/v3", "google.golang.org/grpc"],
        current_replaces=list(recipes.ETCD_MODULES),
    )
    assert "-droprequire=google.golang.org/grpc" in args
    assert not any(arg.startswith("-dropreplace") for arg in args)
    for module in recipes.ETCD_MODULES:
        assert f"-require={module}@v3.5.21" in args
        assert f"-replace={module}={module}@v3.5.21" in args


# --- version checks and go toolchains -----------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "ok"),
    [
        pytest.param("Kubernetes v1.36.5\n", True, id="exact"),
        pytest.param("Kubernetes v1.36.5-rc.0\n", False, id="pre-release is another version"),
        pytest.param("Kubernetes v1.36.4\n", False, id="other version"),
        pytest.param("Kubernetes v1.36.5 go1.26.8 (linux/amd64)", True, id="trailing details"),
        pytest.param("", False, id="nothing"),
    ],
)
def test_version_check_matches(output: str, ok: bool) -> None:
    check = recipes.VersionCheck("kube-apiserver", ("--version",), "Kubernetes v1.36.5")
    assert check.matches(output) is ok


def test_recipes_check_the_requested_versions() -> None:
    kube = recipes.kubernetes_recipe("v1.36.5", build_date="2026-01-01T00:00:00Z")
    assert {check.expect for check in kube.checks} == {"Kubernetes v1.36.5", "Client Version: v1.36.5"}
    assert kube.outputs == (
        "kube",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
        "kubectl",
    )
    containerd = recipes.containerd_recipe("v2.4.2")
    assert [check.expect for check in containerd.checks] == [
        "containerd github.com/containerd/containerd/v2 v2.4.2",
        "ctr github.com/containerd/containerd/v2 v2.4.2",
    ]
    assert containerd.env == {"CGO_ENABLED": "0"}
    assert containerd.tags == ("no_btrfs",)
    etcd = recipes.etcd_recipe("v3.5.21")
    assert [check.expect for check in etcd.checks] == [
        "etcd Version: 3.5.21",
        "etcdctl version: 3.5.21",
        "etcdutl version: 3.5.21",
    ]
    assert etcd.env == {"CGO_ENABLED": "0"}


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        pytest.param("github.com/spf13/cobra", True, id="package"),
        pytest.param("k8s.io/kubernetes/pkg/api/v1/pod", True, id="nested package"),
        pytest.param("# k8s.io/foo", False, id="error header"),
        pytest.param("./main.go:3:2: undefined: x", False, id="compile error"),
        pytest.param("go: downloading x v1", False, id="download"),
        pytest.param("   ", False, id="blank"),
    ],
)
def test_looks_like_package(output: str, expected: bool) -> None:
    assert recipes.looks_like_package(output) is expected


def test_go_toolchain_note() -> None:
    assert recipes.go_toolchain_note("1.26.8", "1.26.0", what="kube") is None
    note = recipes.go_toolchain_note("1.24.1", "1.26.0", what="kubernetes v1.36.5")
    assert note is not None and "fetching go1.26.0" in note
    with pytest.raises(recipes.GoTooOldError, match=r"go 1.20.4 is too old: kube needs go 1.26.0 or newer"):
        recipes.go_toolchain_note("1.20.4", "1.26.0", what="kube")


# --- cache layout -------------------------------------------------------------------------------


def make_executables(directory: Path, names: tuple[str, ...]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = directory / name
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)


def test_cache_root_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOKPIT_BIN_DIR", str(tmp_path))
    assert locate.cache_root() == tmp_path
    assert locate.kubernetes_dir("1.36.5") == tmp_path / "v1.36.5"
    monkeypatch.delenv("KOKPIT_BIN_DIR")
    assert locate.cache_root() == Path.home() / ".cache" / "kokpit" / "bin"


def test_find_binaries_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOKPIT_BIN_DIR", str(tmp_path))
    make_executables(tmp_path / "v1.36.5", locate.KUBERNETES_DIR_FILES)
    found = find_binaries()
    assert found.kubernetes_version == "v1.36.5"
    assert found.kube_apiserver == tmp_path / "v1.36.5" / "kube-apiserver"
    assert found.etcd == tmp_path / "v1.36.5" / "etcd"
    assert found.kwok == tmp_path / "v1.36.5" / "kwok"


def test_find_binaries_names_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOKPIT_BIN_DIR", str(tmp_path))
    make_executables(tmp_path / "v1.35.4", ("kube", "kube-apiserver", "kubectl", "etcd", "etcdctl"))
    with pytest.raises(MissingBinariesError) as raised:
        find_binaries("1.35.4")
    message = str(raised.value)
    assert message == (
        f"missing kube-controller-manager, kube-scheduler, etcdutl, kwok in {tmp_path / 'v1.35.4'}; "
        "run: kokpit binaries build --kubernetes-version v1.35.4"
    )


def test_find_binaries_rejects_garbage_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOKPIT_BIN_DIR", str(tmp_path))
    with pytest.raises(InvalidVersionError):
        find_binaries("one-point-thirty-six")


def test_etcd_binaries_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOKPIT_BIN_DIR", str(tmp_path))
    default = tmp_path / DEFAULT_KUBERNETES_VERSION
    assert etcd_binaries(DEFAULT_ETCD_VERSION) == (default / "etcd", default / "etcdctl", default / "etcdutl")
    other = tmp_path / "etcd" / "v3.5.21"
    assert etcd_binaries("3.5.21") == (other / "etcd", other / "etcdctl", other / "etcdutl")


def test_plan_adds_other_etcd_into_its_own_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOKPIT_BIN_DIR", str(tmp_path))
    default = build.plan("v1.36.5", DEFAULT_ETCD_VERSION, build_date="2026-01-01T00:00:00Z")
    assert [(recipe.module, directory) for recipe, directory in default] == [
        ("kubernetes", tmp_path / "v1.36.5"),
        ("etcd", tmp_path / "v1.36.5"),
        ("kwok", tmp_path / "v1.36.5"),
        ("containerd", tmp_path / "containerd" / "v2.4.2"),
    ]
    other = build.plan("v1.36.5", "v3.5.21", build_date="2026-01-01T00:00:00Z")
    assert (other[-1][0].version, other[-1][1]) == ("v3.5.21", tmp_path / "etcd" / "v3.5.21")


def test_tools_dir_holds_every_wrapper_module() -> None:
    tools = locate.tools_dir()
    for module in ("kubernetes", "etcd", "kwok", "containerd"):
        assert (tools / module / "go.mod").is_file()
        assert (tools / module / "go.sum").is_file()


def test_check_binary_reports_missing_and_wrong_versions(tmp_path: Path) -> None:
    check = recipes.VersionCheck("fake", ("--version",), "fake v1")
    assert build.check_binary(tmp_path / "fake", check) == f"{tmp_path / 'fake'} is missing"
    script = tmp_path / "fake"
    script.write_text("#!/bin/sh\necho fake v2\n")
    script.chmod(0o755)
    problem = build.check_binary(script, check)
    assert problem == "`fake --version` printed 'fake v2', expected 'fake v1'"
    script.write_text("#!/bin/sh\necho fake v1\n")
    assert build.check_binary(script, check) is None
    assert os.access(script, os.X_OK)
