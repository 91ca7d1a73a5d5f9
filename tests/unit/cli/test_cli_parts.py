"""The CLI's pure parts: which flag named the hub kubeconfig, YAML errors as one line, private files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from kokpit.cli.hosted import save_kubeconfig
from kokpit.cli.kubeconfig import HubChoice, hub_choice, resolve_hub_kubeconfig
from kokpit.cli.yamlfiles import yaml_error_line
from kokpit.errors import KokpitError


@pytest.mark.parametrize(
    ("primary", "alias", "environ", "expected"),
    [
        pytest.param("a", None, {"KOKPIT_KUBECONFIG": "e"}, ("a", "--hub-kubeconfig"), id="the flag wins"),
        pytest.param(None, "b", {}, ("b", "--kubeconfig"), id="the hidden alias is named as typed"),
        pytest.param(
            None,
            None,
            {"KOKPIT_KUBECONFIG": "e", "KUBECONFIG": "k"},
            ("e", "$KOKPIT_KUBECONFIG"),
            id="then KOKPIT_KUBECONFIG",
        ),
        pytest.param(None, None, {"KUBECONFIG": ":k:l"}, ("k", "$KUBECONFIG"), id="then KUBECONFIG's first"),
    ],
)
def test_the_hub_kubeconfig_and_its_source(
    primary: str | None, alias: str | None, environ: dict[str, str], expected: tuple[str, str]
) -> None:
    choice = hub_choice(None if primary is None else Path(primary), None if alias is None else Path(alias))
    assert resolve_hub_kubeconfig(choice, environ=environ) == (Path(expected[0]), expected[1])


def test_no_hub_kubeconfig_names_the_real_flag() -> None:
    with pytest.raises(KokpitError, match="pass --hub-kubeconfig, or set"):
        resolve_hub_kubeconfig(HubChoice(), environ={})


def test_two_different_hub_kubeconfigs_are_refused() -> None:
    with pytest.raises(KokpitError, match="not both"):
        hub_choice(Path("a"), Path("b"))


def test_a_yaml_error_is_file_line_column() -> None:
    with pytest.raises(yaml.YAMLError) as raised:
        yaml.safe_load("a: 1\nb: c: d\n")
    assert (
        yaml_error_line(raised.value, path="file.yaml")
        == "file.yaml:2:5: mapping values are not allowed here"
    )


def test_get_kubeconfig_writes_0600_without_chmod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "new" / "admin.kubeconfig"
    monkeypatch.setattr(Path, "chmod", lambda *a, **k: pytest.fail("chmod after writing"))
    save_kubeconfig(target, b"secret")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == b"secret"
