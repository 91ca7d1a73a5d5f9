"""Member data directories stay under the hub's etcd root: `confine_data_dir`."""

from __future__ import annotations

from pathlib import Path

import pytest

from kokpit.api.etcd import EtcdClusterSpec
from kokpit.etcd.storage import DataDirOutsideRoot, confine_data_dir


def test_no_data_dir_root_means_the_hub_root(tmp_path: Path) -> None:
    assert confine_data_dir(tmp_path / "etcd", None) == (tmp_path / "etcd").resolve()


@pytest.mark.parametrize(
    "relative",
    ["etcd", "etcd/team-a", "etcd/team-a/../team-b"],
    ids=["the root itself", "a directory inside", "dot-dot that stays inside"],
)
def test_paths_inside_the_root_are_accepted(tmp_path: Path, relative: str) -> None:
    root = tmp_path / "etcd"
    got = confine_data_dir(root, str(tmp_path / relative))
    assert got == root.resolve() or got.is_relative_to(root.resolve())


@pytest.mark.parametrize(
    "requested",
    ["{tmp}/elsewhere", "{tmp}/etcd/../elsewhere", "{tmp}/etcd-sibling", "/", "/etc", "relative/dir"],
    ids=[
        "a sibling directory",
        "dot-dot out of the root",
        "a prefix-sharing sibling",
        "/",
        "/etc",
        "relative",
    ],
)
def test_paths_outside_the_root_are_refused(tmp_path: Path, requested: str) -> None:
    with pytest.raises(DataDirOutsideRoot):
        confine_data_dir(tmp_path / "etcd", requested.format(tmp=tmp_path))


def test_a_symlink_inside_the_root_pointing_out_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "etcd"
    root.mkdir()
    (tmp_path / "victim").mkdir()
    (root / "link").symlink_to(tmp_path / "victim")
    with pytest.raises(DataDirOutsideRoot, match="resolves to"):
        confine_data_dir(root, str(root / "link"))


@pytest.mark.parametrize("path", ["relative/dir", "/srv/../etc", "/srv/.."])
def test_the_schema_refuses_relative_paths_and_dot_dot(path: str) -> None:
    with pytest.raises(ValueError, match="absolute path without"):
        EtcdClusterSpec.model_validate({"version": "v3.6.16", "storage": {"dataDirRoot": path}})
