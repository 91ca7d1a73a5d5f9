"""What is on a host, what should be, and the one thing to do about each component (pure).

The operator records, per component, `<prefix>/var/lib/kokpit/components/<name>.json` on the host
(the version and config digest it installed, and the files and artifacts it wrote). Each pass
compares that record and the sha256 of those paths on the host with what the NodeComponent renders
to now, and `plan_component` picks one action:

- `INSTALL` when never installed, another version, or an artifact (a binary) differs on the host:
  upload artifacts, write files, run `install`, `configure`, `check`;
- `CONFIGURE` when the digest changed (a parameter, the cluster's address) or a file drifted (a
  hand edit): rewrite the files that differ, run `configure`, `check` (drift is reported with an
  Event `DriftRestored` naming the files);
- `CHECK` when all matches: run `check` only.

A step that fails during `INSTALL` or `CONFIGURE` is rolled back (`should_roll_back`): the
component's `remove` runs and its record goes, so no half-configured component stays and the next
pass starts clean. A failing `check` of a component left alone (`CHECK`) is not rolled back: the
component is reported unhealthy and repairing it is the health check's job, not a reason to tear a
working node apart.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

STATE_DIR = "var/lib/kokpit/components"
"""Where component records live, below the Host's prefix."""
BOOTSTRAP_DIR = "var/lib/kokpit/bootstrap"
"""Where the bootstrap kubeconfig lives below the prefix unless a component says otherwise."""


def under_prefix(prefix: str, path: str) -> str:
    """`under_prefix("/srv/h1", "var/lib/x")` is `/srv/h1/var/lib/x`; prefix `/` gives `/var/lib/x`."""
    return posixpath.join(prefix or "/", path.lstrip("/"))


def state_path(prefix: str, component: str) -> str:
    """`state_path` is the record of `component` on a host with `prefix`."""
    return under_prefix(prefix, f"{STATE_DIR}/{component}.json")


class Action(StrEnum):
    """What a pass does to one component."""

    INSTALL = "Install"
    CONFIGURE = "Configure"
    CHECK = "Check"


@dataclass(frozen=True)
class Recorded:
    """A component as the operator recorded it on the host after it last converged."""

    version: str
    digest: str
    files: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()

    def to_json(self, name: str) -> str:
        return json.dumps(
            {
                "component": name,
                "version": self.version,
                "digest": self.digest,
                "files": list(self.files),
                "artifacts": list(self.artifacts),
            },
            indent=2,
            sort_keys=True,
        )


def parse_recorded(text: str | None) -> Recorded | None:
    """`parse_recorded` reads a record; None when absent or unreadable (treated as never installed,
    so a corrupted record leads to a reinstall rather than to a guess)."""
    if not text:
        return None
    try:
        data: Any = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not data.get("version") or not data.get("digest"):
        return None
    return Recorded(
        version=str(data["version"]),
        digest=str(data["digest"]),
        files=tuple(str(p) for p in data.get("files") or ()),
        artifacts=tuple(str(p) for p in data.get("artifacts") or ()),
    )


@dataclass(frozen=True)
class Wanted:
    """What a rendered component wants on the host: paths to their sha256."""

    version: str
    digest: str
    files: Mapping[str, str] = field(default_factory=dict)
    artifacts: Mapping[str, str] = field(default_factory=dict)

    def record(self) -> Recorded:
        return Recorded(self.version, self.digest, tuple(sorted(self.files)), tuple(sorted(self.artifacts)))


@dataclass(frozen=True)
class ComponentPlan:
    """The action for one component and why; `files`/`artifacts` are the paths to (re)write."""

    action: Action
    reason: str
    message: str
    files: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()
    drifted: tuple[str, ...] = ()
    """Paths found changed on the host although the record says they were written (a drift)."""


def _differing(wanted: Mapping[str, str], observed: Mapping[str, str | None]) -> tuple[str, ...]:
    return tuple(sorted(path for path, digest in wanted.items() if observed.get(path) != digest))


def plan_component(
    recorded: Recorded | None, wanted: Wanted, observed: Mapping[str, str | None]
) -> ComponentPlan:
    """`plan_component` is what to do to a component given its record, what it renders to now, and
    the sha256 of its paths on the host (`observed`, None for a missing file); see the module
    docstring."""
    artifacts = _differing(wanted.artifacts, observed)
    files = _differing(wanted.files, observed)
    if recorded is None:
        return ComponentPlan(
            Action.INSTALL,
            "NotInstalled",
            f"installing {wanted.version}",
            tuple(sorted(wanted.files)),
            artifacts,
        )
    if recorded.version != wanted.version:
        return ComponentPlan(
            Action.INSTALL,
            "VersionChanged",
            f"{recorded.version} -> {wanted.version}",
            tuple(sorted(wanted.files)),
            artifacts,
        )
    if artifacts:
        return ComponentPlan(
            Action.INSTALL,
            "ArtifactDrifted",
            f"changed on the host: {', '.join(artifacts)}",
            tuple(sorted(wanted.files)),
            artifacts,
            drifted=artifacts,
        )
    if recorded.digest != wanted.digest:
        return ComponentPlan(Action.CONFIGURE, "ConfigChanged", "configuration changed", files)
    if files:
        return ComponentPlan(
            Action.CONFIGURE, "FilesDrifted", f"changed on the host: {', '.join(files)}", files, drifted=files
        )
    return ComponentPlan(Action.CHECK, "UpToDate", f"{wanted.version} up to date")


def should_roll_back(action: Action, failed_step: str | None) -> bool:
    """`should_roll_back` is true when a step failed while the pass was changing the component
    (install or configure): its `remove` then runs. A failed `check` of an unchanged component is
    reported, not rolled back."""
    return failed_step is not None and action in (Action.INSTALL, Action.CONFIGURE)
