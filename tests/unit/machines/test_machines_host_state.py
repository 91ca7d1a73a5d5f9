"""What to do to a component, given its record on the host, what it renders to and what the host has."""

from __future__ import annotations

import pytest

from kokpit.machines.host_state import (
    Action,
    Recorded,
    Wanted,
    parse_recorded,
    plan_component,
    should_roll_back,
    state_path,
    under_prefix,
)

WANTED = Wanted(
    version="v1.36.5",
    digest="d2",
    files={"/h/etc/kubelet.yaml": "f1", "/h/etc/flags": "f2"},
    artifacts={"/h/bin/kubelet": "a1"},
)
ON_HOST = {"/h/etc/kubelet.yaml": "f1", "/h/etc/flags": "f2", "/h/bin/kubelet": "a1"}


@pytest.mark.parametrize(
    ("recorded", "observed", "action", "reason", "files", "artifacts", "drifted"),
    [
        pytest.param(
            None,
            {},
            Action.INSTALL,
            "NotInstalled",
            ("/h/etc/flags", "/h/etc/kubelet.yaml"),
            ("/h/bin/kubelet",),
            (),
            id="never installed: install with every file and artifact",
        ),
        pytest.param(
            None,
            ON_HOST,
            Action.INSTALL,
            "NotInstalled",
            ("/h/etc/flags", "/h/etc/kubelet.yaml"),
            (),
            (),
            id="no record but the binary is there already: install without uploading it again",
        ),
        pytest.param(
            Recorded("v1.35.4", "d1"),
            {**ON_HOST, "/h/bin/kubelet": "old"},
            Action.INSTALL,
            "VersionChanged",
            ("/h/etc/flags", "/h/etc/kubelet.yaml"),
            ("/h/bin/kubelet",),
            (),
            id="another version recorded: install the new one",
        ),
        pytest.param(
            Recorded("v1.36.5", "d2"),
            {**ON_HOST, "/h/bin/kubelet": "corrupt"},
            Action.INSTALL,
            "ArtifactDrifted",
            ("/h/etc/flags", "/h/etc/kubelet.yaml"),
            ("/h/bin/kubelet",),
            ("/h/bin/kubelet",),
            id="a changed binary: reinstall, reported as drift",
        ),
        pytest.param(
            Recorded("v1.36.5", "d1"),
            {**ON_HOST, "/h/etc/flags": "old"},
            Action.CONFIGURE,
            "ConfigChanged",
            ("/h/etc/flags",),
            (),
            (),
            id="same version, other digest: rewrite what differs and configure",
        ),
        pytest.param(
            Recorded("v1.36.5", "d2"),
            {**ON_HOST, "/h/etc/kubelet.yaml": "edited"},
            Action.CONFIGURE,
            "FilesDrifted",
            ("/h/etc/kubelet.yaml",),
            (),
            ("/h/etc/kubelet.yaml",),
            id="a hand-edited config: restore it and configure, reported as drift",
        ),
        pytest.param(
            Recorded("v1.36.5", "d2"),
            {**ON_HOST, "/h/etc/flags": None},
            Action.CONFIGURE,
            "FilesDrifted",
            ("/h/etc/flags",),
            (),
            ("/h/etc/flags",),
            id="a deleted config file is drift too",
        ),
        pytest.param(
            Recorded("v1.36.5", "d2"),
            ON_HOST,
            Action.CHECK,
            "UpToDate",
            (),
            (),
            (),
            id="everything matches: check only",
        ),
    ],
)
def test_plan_component(
    recorded: Recorded | None,
    observed: dict[str, str | None],
    action: Action,
    reason: str,
    files: tuple[str, ...],
    artifacts: tuple[str, ...],
    drifted: tuple[str, ...],
) -> None:
    plan = plan_component(recorded, WANTED, observed)
    assert (plan.action, plan.reason, plan.files, plan.artifacts, plan.drifted) == (
        action,
        reason,
        files,
        artifacts,
        drifted,
    )


@pytest.mark.parametrize(
    ("action", "failed", "expected"),
    [
        pytest.param(Action.INSTALL, "install", True, id="install failed during install: roll back"),
        pytest.param(Action.INSTALL, "check", True, id="check failed right after install: roll back"),
        pytest.param(Action.CONFIGURE, "configure", True, id="configure failed: roll back"),
        pytest.param(Action.CHECK, "check", False, id="check of an unchanged component: report, keep"),
        pytest.param(Action.INSTALL, None, False, id="nothing failed: nothing to undo"),
    ],
)
def test_should_roll_back(action: Action, failed: str | None, expected: bool) -> None:
    assert should_roll_back(action, failed) is expected


def test_a_record_reads_back() -> None:
    record = WANTED.record()
    assert parse_recorded(record.to_json("kubelet")) == record
    assert record.files == ("/h/etc/flags", "/h/etc/kubelet.yaml")


@pytest.mark.parametrize(
    "text",
    [None, "", "{not json", "[]", '{"version": "v1"}'],
    ids=["absent", "empty", "not JSON", "not an object", "no digest"],
)
def test_an_unreadable_record_is_no_record(text: str | None) -> None:
    assert parse_recorded(text) is None


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("/", "/var/lib/kokpit/components/kubelet.json"),
        ("/srv/h1", "/srv/h1/var/lib/kokpit/components/kubelet.json"),
    ],
    ids=["whole machine", "a prefix"],
)
def test_state_path(prefix: str, expected: str) -> None:
    assert state_path(prefix, "kubelet") == expected
    assert under_prefix(prefix, "/etc/x").endswith("/etc/x")
