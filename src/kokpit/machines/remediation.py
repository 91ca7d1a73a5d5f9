"""The Machine controller's side of remediation: what a MachineHealthCheck asked for (pure).

The health check writes `machines.kokpit.io/remediation` (`repair` or `reinstall`) and
`remediation-requested` on the Machine (see `health_plan` for the contract); the Machine controller
acts once per request and answers with `remediation-done`:

- `repair`: the `repair` step of each component whose `check` fails, then its `check` again; when
  none fails (the Node is what is unhealthy), every component's `repair`;
- `reinstall`: those components installed again from scratch (every file and artifact written,
  `install`, `configure`, `check`), whatever their record says; every component when none fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from kokpit.machines.health_plan import DONE_ANNOTATION, REMEDIATION_ANNOTATION, REQUESTED_ANNOTATION
from kokpit.machines.host_state import Action, ComponentPlan
from kokpit.machines.steps import Prepared
from kokpit.runtime import format_time, parse_time

REPAIR = "repair"
REINSTALL = "reinstall"


def pending_remediation(annotations: Mapping[str, str] | None) -> str | None:
    """`pending_remediation` is the step asked for and not done yet (`repair`, `reinstall`), or None:
    a step is done when `remediation-done` is at or after `remediation-requested`."""
    annotations = annotations or {}
    step = annotations.get(REMEDIATION_ANNOTATION)
    if step not in (REPAIR, REINSTALL):
        return None
    done = parse_time(annotations.get(DONE_ANNOTATION))
    if done is None:
        return step
    requested = parse_time(annotations.get(REQUESTED_ANNOTATION))
    return step if requested is not None and done < requested else None


def remediating(annotations: Mapping[str, str] | None) -> bool:
    """`remediating` is true while a health check's remediation record is on the Machine."""
    return (annotations or {}).get(REMEDIATION_ANNOTATION) in (REPAIR, REINSTALL)


def reinstall_plan(prepared: Prepared) -> ComponentPlan:
    """`reinstall_plan` installs `prepared` from scratch: every file and artifact, then the steps."""
    return ComponentPlan(
        Action.INSTALL,
        "Reinstall",
        f"reinstalling {prepared.version} (remediation)",
        tuple(sorted(f.path for f in prepared.files)),
        tuple(sorted(a.path for a in prepared.artifacts)),
    )


def done_patch(now: datetime) -> dict[str, object]:
    """The metadata patch that answers a request: `remediation-done` is `now`."""
    return {"metadata": {"annotations": {DONE_ANNOTATION: format_time(now)}}}
