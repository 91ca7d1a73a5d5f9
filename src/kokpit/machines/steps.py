"""Running one component's plan on a host: upload, write, `install`, `configure`, `check`, record;
and `remove` when a step failed or the machine goes.

The decision of what to do is `host_state.plan_component` (pure); this module only carries it out
over an SSH `Session` and says how it went (`Outcome`), with the tail of a failing step's output.
A step that fails while the component is being changed is rolled back here: `remove` runs, then the
files, artifacts and record the operator wrote are deleted, so the host holds either a converged
component or none of it.
"""

from __future__ import annotations

import hashlib
import logging
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kokpit.errors import KokpitError
from kokpit.machines.host_state import Action, ComponentPlan, Recorded, Wanted, should_roll_back, state_path
from kokpit.machines.ssh import Result, Session, SSHError

log = logging.getLogger("kokpit.machines.steps")

TAIL_LINES = 20
"""Output lines a failed step's message keeps: the catalogue's scripts print their reason, then at
most 15 lines of the program's log, so the reason is never the line cut off."""
STEPS = ("install", "configure", "check", "repair", "remove")


class UploadFailed(KokpitError):
    """The host refused a file or artifact (no space, a read-only path)."""


@dataclass(frozen=True)
class FileToWrite:
    path: str
    mode: int
    content: str


@dataclass(frozen=True)
class ArtifactToUpload:
    path: str
    mode: int
    local: Path
    """The artifact's bytes on the operator's machine (a `file://` source, or a download)."""
    sha256: str


@dataclass(frozen=True)
class Prepared:
    """A component rendered for one host, with its artifacts found on the operator's machine."""

    name: str
    version: str
    digest: str
    files: tuple[FileToWrite, ...] = ()
    artifacts: tuple[ArtifactToUpload, ...] = ()
    scripts: Mapping[str, str] = field(default_factory=dict)
    """Step name to rendered script; a missing or blank step has nothing to do."""

    def wanted(self) -> Wanted:
        """`wanted` is the host state this component asks for: each path to its sha256."""
        return Wanted(
            version=self.version,
            digest=self.digest,
            files={f.path: hashlib.sha256(f.content.encode()).hexdigest() for f in self.files},
            artifacts={a.path: a.sha256 for a in self.artifacts},
        )


@dataclass(frozen=True)
class Outcome:
    """How one component's pass went."""

    name: str
    action: Action
    healthy: bool
    failed_step: str | None = None
    exit_status: int | None = None
    tail: str = ""
    rolled_back: bool = False
    remove_tail: str = ""
    """When the rollback's own `remove` failed: its output tail."""
    drifted: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """The ComponentsReady reason: `InstallFailed`, `ConfigureFailed`, `CheckFailed`, ..."""
        return f"{(self.failed_step or 'step').capitalize()}Failed"

    @property
    def message(self) -> str:
        """One line naming the component, the step and the exit status, then the output tail."""
        if self.failed_step is None:
            return ""
        exit_part = f" (exit {self.exit_status})" if self.exit_status is not None else ""
        head = f"{self.name}: {self.failed_step} failed{exit_part}"
        if self.rolled_back:
            head += "; rolled back (remove ran)" if not self.remove_tail else "; remove failed as well"
        body = self.tail or "(no output)"
        if self.remove_tail:
            body += f"\n--- remove:\n{self.remove_tail}"
        return f"{head}\n{body}"


def step_env(prepared: Prepared, step: str, prefix: str) -> dict[str, str]:
    """The variables every step script gets besides its template."""
    return {
        "KOKPIT_COMPONENT": prepared.name,
        "KOKPIT_VERSION": prepared.version,
        "KOKPIT_STEP": step,
        "KOKPIT_PREFIX": prefix,
    }


async def run_step(session: Session, prepared: Prepared, step: str, prefix: str) -> Result:
    """`run_step` runs the component's `step` script (success when it has none)."""
    script = prepared.scripts.get(step) or ""
    if not script.strip():
        return Result(0, "")
    result = await session.run(script, env=step_env(prepared, step, prefix))
    log.info("%s: %s %s exited %d", session.target.name, prepared.name, step, result.exit_status)
    return result


async def converge(session: Session, prepared: Prepared, plan: ComponentPlan, *, prefix: str) -> Outcome:
    """`converge` carries out `plan` for `prepared` on the host and records the result; a failing
    step during an install or configure is rolled back (see the module docstring)."""
    if plan.action is not Action.CHECK:
        try:
            await _write(session, prepared, plan)
        except UploadFailed as error:
            remove_tail = await remove_component(session, prepared, prefix=prefix)
            return Outcome(
                prepared.name,
                plan.action,
                healthy=False,
                failed_step="upload",
                exit_status=None,
                tail=str(error),
                rolled_back=True,
                remove_tail=remove_tail,
                drifted=plan.drifted,
            )
    steps: Sequence[str] = {
        Action.INSTALL: ("install", "configure", "check"),
        Action.CONFIGURE: ("configure", "check"),
        Action.CHECK: ("check",),
    }[plan.action]
    for step in steps:
        result = await run_step(session, prepared, step, prefix)
        if result.ok:
            continue
        outcome = Outcome(
            prepared.name,
            plan.action,
            healthy=False,
            failed_step=step,
            exit_status=result.exit_status,
            tail=result.tail(TAIL_LINES),
            drifted=plan.drifted,
        )
        if should_roll_back(plan.action, step):
            remove_tail = await remove_component(session, prepared, prefix=prefix)
            outcome = Outcome(
                outcome.name,
                outcome.action,
                healthy=False,
                failed_step=step,
                exit_status=result.exit_status,
                tail=outcome.tail,
                rolled_back=True,
                remove_tail=remove_tail,
                drifted=plan.drifted,
            )
        return outcome
    if plan.action is not Action.CHECK:
        record = Recorded(
            prepared.version,
            prepared.digest,
            tuple(sorted(f.path for f in prepared.files)),
            tuple(sorted(a.path for a in prepared.artifacts)),
        )
        await session.upload(record.to_json(prepared.name).encode(), state_path(prefix, prepared.name), 0o644)
    return Outcome(prepared.name, plan.action, healthy=True, drifted=plan.drifted)


async def _write(session: Session, prepared: Prepared, plan: ComponentPlan) -> None:
    """Uploads the plan's artifacts and files; a write the host refuses is `UploadFailed` (a lost
    connection stays `HostUnreachable`)."""
    artifacts = {a.path: a for a in prepared.artifacts}
    files = {f.path: f for f in prepared.files}
    try:
        for path in plan.artifacts:
            artifact = artifacts[path]
            await session.upload(artifact.local, artifact.path, artifact.mode)
        for path in plan.files:
            file = files[path]
            await session.upload(file.content.encode(), file.path, file.mode)
    except SSHError:
        raise
    except KokpitError as error:
        raise UploadFailed(str(error)) from None


async def remove_component(
    session: Session,
    prepared: Prepared | None,
    *,
    prefix: str,
    name: str | None = None,
    recorded: Recorded | None = None,
) -> str:
    """`remove_component` runs `remove` (when the component could be rendered) and deletes the files,
    artifacts and record the operator wrote (those rendered now and those recorded). Returns the
    output tail of a failed `remove`, empty when it succeeded."""
    component = prepared.name if prepared is not None else name
    assert component is not None
    tail = ""
    if prepared is not None:
        result = await run_step(session, prepared, "remove", prefix)
        if not result.ok:
            tail = f"(exit {result.exit_status})\n{result.tail(TAIL_LINES)}"
    paths: set[str] = set()
    if prepared is not None:
        paths.update(f.path for f in prepared.files)
        paths.update(a.path for a in prepared.artifacts)
    if recorded is not None:
        paths.update(recorded.files)
        paths.update(recorded.artifacts)
    paths.add(state_path(prefix, component))
    quoted = " ".join(shlex.quote(p) for p in sorted(paths))
    await session.run(f"rm -f -- {quoted}")
    return tail
