"""Every command that talks to the hub answers a kubeconfig it cannot use with one line, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kokpit.cli.main import main

GOOD_SHAPE = """\
apiVersion: v1
kind: Config
clusters: [{name: hub, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: hub, context: {cluster: hub, user: hub}}]
users: [{name: hub, user: {token: t}}]
current-context: hub
"""

KUBECONFIGS: dict[str, str | None] = {
    "bad YAML": "clusters: [\n  a: b: c\n",
    "missing user": GOOD_SHAPE.replace("users: [{name: hub, user: {token: t}}]\n", ""),
    "wrong shape": "- just\n- a list\n",
    "clusters not a list": GOOD_SHAPE.replace('[{name: hub, cluster: {server: "https://127.0.0.1:1"}}]', "x"),
    "empty file": "",
    "unknown context": GOOD_SHAPE.replace("current-context: hub", "current-context: nope"),
    "missing file": None,
    "a directory": "DIR",
    "unreachable server": GOOD_SHAPE,
}

COMMANDS: dict[str, list[str]] = {
    "get clusters": ["get", "clusters"],
    "get kubeconfig": ["get", "kubeconfig", "demo"],
    "plan KIND/NAME": ["plan", "deployment/web"],
    "plan -f": ["plan", "-f", "TEMPLATE"],
    "create cluster": ["create", "cluster", "demo", "--no-wait"],
    "delete cluster": ["delete", "cluster", "demo", "--no-wait"],
    "upgrade clusters": ["upgrade", "clusters", "--to", "v1.36.5"],
    "install": ["install", "--timeout", "1"],
    "join": ["join", "m1", "--kubeconfig", "MEMBER"],
    "unjoin": ["unjoin", "m1"],
    "etcd backup": ["etcd", "backup", "e1", "--timeout", "1"],
    "etcd status": ["etcd", "status", "e1"],
    "hub run": ["hub", "run", "--metrics-port", "0"],
}


def _kubeconfig(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "hub.kubeconfig"
    text = KUBECONFIGS[kind]
    if text == "DIR":
        path.mkdir()
    elif text is not None:
        path.write_text(text)
    return path


@pytest.mark.parametrize("kind", list(KUBECONFIGS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_bad_hub_kubeconfig_is_one_line(
    command: str,
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if kind == "unreachable server" and command in ("install", "hub run"):
        pytest.skip("these wait for (or retry) the hub by design")
    template = tmp_path / "web.yaml"
    template.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n")
    member = tmp_path / "member.kubeconfig"
    member.write_text(GOOD_SHAPE)
    hub = _kubeconfig(tmp_path, kind)
    argv = [{"TEMPLATE": str(template), "MEMBER": str(member)}.get(a, a) for a in COMMANDS[command]]
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KOKPIT_KUBECONFIG", str(hub))
    monkeypatch.setattr(sys, "argv", ["kokpit", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code not in (0, None)
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("kokpit: error: ")
    if kind != "unreachable server":
        assert str(hub) in err, err
        assert "$KOKPIT_KUBECONFIG" in err, err
