"""Building the binaries kokpit runs, from the Go module proxy, once per version.

`build_binaries` is idempotent: a binary that exists and reports the right version is left
alone. Anything missing is built from the wrapper modules under `tools/` in a work directory
outside the repository (`~/.cache/kokpit/build/<module>-<version>/`), re-pinned with
`go mod edit` + `go mod tidy` when another version than the committed one is wanted, and moved
into the bin directory atomically, so a crash never leaves a half-written binary behind.

Go's own environment (GOPROXY, GOSUMDB, GOFLAGS, the build cache) is respected as is, except
`GOSUMDB=off` when unset, `GOTOOLCHAIN=auto` (a newer Go comes from the module proxy when a
go.mod asks for one) and `GOMAXPROCS`, limited like `-p` to the CPUs this process may use.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from kokpit.binaries import recipes
from kokpit.binaries.locate import containerd_dir, etcd_dir, kubernetes_dir, tools_dir
from kokpit.binaries.recipes import Recipe, VersionCheck
from kokpit.binaries.versions import (
    DEFAULT_ETCD_VERSION,
    DEFAULT_KUBERNETES_VERSION,
    parse_go_version,
    validate_etcd_version,
    validate_kubernetes_version,
)
from kokpit.errors import KokpitError

ERROR_TAIL_LINES = 12
VERSION_CHECK_TIMEOUT = 60.0


class GoCommandError(KokpitError):
    """A go command failed; the message ends with the last lines of its output."""


@dataclass(frozen=True)
class BuildResult:
    """What happened to one recipe: built (and how long it took) or already up to date."""

    name: str
    version: str
    directory: Path
    built: bool
    seconds: float


def build_root() -> Path:
    """`build_root` holds the wrapper modules' work directories: `~/.cache/kokpit/build`."""
    return Path.home() / ".cache" / "kokpit" / "build"


def cpu_count() -> int:
    """`cpu_count` is the number of CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def plan(kubernetes_version: str, etcd_version: str, *, build_date: str) -> list[tuple[Recipe, Path]]:
    """`plan` lists the recipes a complete set for `kubernetes_version` needs, with their directories.

    The Kubernetes directory gets kube, the default etcd and kwok; containerd (what nodes run) is
    built into its own directory, and so is an `etcd_version` other than the default.
    """
    directory = kubernetes_dir(kubernetes_version)
    wanted = [
        (recipes.kubernetes_recipe(kubernetes_version, build_date=build_date), directory),
        (recipes.etcd_recipe(DEFAULT_ETCD_VERSION), directory),
        (recipes.kwok_recipe(), directory),
        (recipes.containerd_recipe(), containerd_dir()),
    ]
    if etcd_version != DEFAULT_ETCD_VERSION:
        wanted.append((recipes.etcd_recipe(etcd_version), etcd_dir(etcd_version)))
    return wanted


def build_binaries(
    kubernetes_version: str | None = None,
    *,
    etcd_version: str | None = None,
    console: Console | None = None,
) -> list[BuildResult]:
    """`build_binaries` makes sure every binary for `kubernetes_version` (and `etcd_version`) is built.

    Binaries that exist and report the right version are kept; the rest are built with `go`.
    Raises `KokpitError` (one line) for a bad version, a missing or too old `go`, a failed go
    command, or a built binary reporting another version than asked for.
    """
    version = validate_kubernetes_version(kubernetes_version or DEFAULT_KUBERNETES_VERSION)
    etcd = validate_etcd_version(etcd_version or DEFAULT_ETCD_VERSION)
    out = console or Console(stderr=True, highlight=False)
    build_date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    results: list[BuildResult] = []
    for recipe, directory in plan(version, etcd, build_date=build_date):
        label = f"{'/'.join(name for name, _ in recipe.targets)} {recipe.version}"
        # Checked under the recipe's lock: another process (the tests' background build of the
        # upgrade releases) may have been building it while this one waited.
        with _locked(build_root() / f"{recipe.module}-{recipe.version}.lock"):
            if _up_to_date(recipe, directory):
                results.append(BuildResult(label, recipe.version, directory, built=False, seconds=0.0))
                continue
            started = time.monotonic()
            _Builder(recipe, directory, console=out, label=label).run()
            seconds = time.monotonic() - started
        out.print(f"built {label} into {directory} in {_duration(seconds)}", soft_wrap=True)
        results.append(BuildResult(label, recipe.version, directory, built=True, seconds=seconds))
    return results


def check_binary(path: Path, check: VersionCheck) -> str | None:
    """`check_binary` runs `check` against `path`; returns None if it passes, else why not."""
    if not os.access(path, os.X_OK):
        return f"{path} is missing"
    try:
        completed = subprocess.run(
            [str(path), *check.args],
            capture_output=True,
            text=True,
            timeout=VERSION_CHECK_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`{path.name} {' '.join(check.args)}` failed: {error}"
    output = completed.stdout + completed.stderr
    if completed.returncode == 0 and check.matches(output):
        return None
    first = output.strip().splitlines()[0] if output.strip() else f"exit status {completed.returncode}"
    return f"`{path.name} {' '.join(check.args)}` printed {first!r}, expected {check.expect!r}"


def _up_to_date(recipe: Recipe, directory: Path) -> bool:
    if any(not os.access(directory / name, os.X_OK) for name, _ in recipe.targets):
        return False
    _link(recipe, directory)
    return all(check_binary(directory / check.binary, check) is None for check in recipe.checks)


def _link(recipe: Recipe, directory: Path) -> None:
    """Points each of `recipe.links` at its target, replacing whatever was there, atomically."""
    for name, target in recipe.links:
        path = directory / name
        if path.is_symlink() and os.readlink(path) == target:
            continue
        temporary = directory / f".{name}.{os.getpid()}.link"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(target)
        os.replace(temporary, path)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Holds an exclusive lock on `path` so two builds of one module do not share a work dir, and a
    second process waiting for a build finds it done instead of building it again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _Builder:
    """One recipe's build: work dir, re-pin, go build with progress, install, verify."""

    def __init__(self, recipe: Recipe, directory: Path, *, console: Console, label: str) -> None:
        self.recipe = recipe
        self.directory = directory
        self.console = console
        self.label = label
        self.jobs = cpu_count()
        self.work = build_root() / f"{recipe.module}-{recipe.version}"
        self.log = self.work / "build.log"
        # The checksum database is off unless the caller chose one: the committed go.sum files pin
        # every module of the default versions, and build machines may reach only the module proxy
        # (docs/decisions.md).
        self.env = {
            "GOSUMDB": "off",
            **os.environ,
            "GOTOOLCHAIN": "auto",
            "GOMAXPROCS": str(self.jobs),
        }

    def run(self) -> None:
        go = shutil.which("go")
        if go is None:
            raise KokpitError(
                "go not found on PATH: building kokpit's binaries needs Go, see https://go.dev/dl/"
            )
        self.go = go
        self._prepare()
        self._build()

    def _prepare(self) -> None:
        source = tools_dir() / self.recipe.module
        self.work.mkdir(parents=True, exist_ok=True)
        self.log.write_text("")
        for path in source.iterdir():
            if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
                shutil.copyfile(path, self.work / path.name)
        committed = (source / "go.mod").read_text()
        repin = recipes.needs_repin(self.recipe, committed)
        required_go = recipes.go_directive(committed) or "1.21"
        with self._status(f"{self.label}: preparing {self.work}"):
            kubernetes_gomod = ""
            if repin and self.recipe.module == "kubernetes":
                kubernetes_gomod = self._kubernetes_gomod()
                wanted = recipes.go_directive(kubernetes_gomod) or required_go
                required_go = max(required_go, wanted, key=parse_go_version)
            self._check_go(required_go)
            if repin:
                self._repin(kubernetes_gomod)

    def _kubernetes_gomod(self) -> str:
        # On failure `go mod download -json` exits 1 and explains in the JSON's Error field.
        output = self._go(
            ["mod", "download", "-json", f"k8s.io/kubernetes@{self.recipe.version}"],
            cwd=build_root(),
            check=False,
        )
        try:
            info = json.loads(output)
        except json.JSONDecodeError:
            info = {"Error": output.strip() or "no output from go mod download"}
        if info.get("Error"):
            reason = " ".join(str(info["Error"]).split())
            raise GoCommandError(f"cannot fetch k8s.io/kubernetes {self.recipe.version}: {reason}")
        return Path(info["GoMod"]).read_text()

    def _check_go(self, required: str) -> None:
        local_env = {**self.env, "GOTOOLCHAIN": "local"}
        local = self._go(["env", "GOVERSION"], cwd=build_root(), env=local_env).strip().removeprefix("go")
        note = recipes.go_toolchain_note(local, required, what=f"{self.recipe.module} {self.recipe.version}")
        if note:
            self.console.print(note)

    def _repin(self, kubernetes_gomod: str) -> None:
        module = json.loads(self._go(["mod", "edit", "-json"], cwd=self.work))
        args = recipes.repin_edit_args(
            self.recipe,
            current_requires=[entry["Path"] for entry in module.get("Require") or []],
            current_replaces=[entry["Old"]["Path"] for entry in module.get("Replace") or []],
            kubernetes_gomod=kubernetes_gomod,
        )
        self._go(["mod", "edit", *args], cwd=self.work)
        self._go(["mod", "tidy"], cwd=self.work)

    def _build(self) -> None:
        recipe = self.recipe
        flags = ["-mod=mod", "-trimpath"]
        if recipe.tags:
            flags.append(f"-tags={','.join(recipe.tags)}")
        env = {**self.env, **recipe.env}
        packages = self._go(["list", *flags, "-deps", *recipe.packages], cwd=self.work, env=env).split()
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = self.directory / f".build-{recipe.module}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            # One target is written to its file; several into the directory, named after their packages.
            single = len(recipe.targets) == 1
            output = str(staging / recipe.targets[0][0]) if single else f"{staging}{os.sep}"
            command = [
                "build",
                "-v",
                "-p",
                str(self.jobs),
                *flags,
                f"-ldflags={recipe.ldflags}",
                "-o",
                output,
            ]
            with self._progress() as progress:
                task = progress.add_task(f"{self.label}: compiling", total=len(packages))

                def advance(line: str) -> None:
                    if recipes.looks_like_package(line):
                        progress.advance(task)

                self._go([*command, *recipe.packages], cwd=self.work, env=env, on_line=advance)
                progress.update(task, completed=len(packages), description=f"{self.label}: installing")
            for name, _ in recipe.targets:
                os.replace(staging / name, self.directory / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        _link(recipe, self.directory)
        for check in recipe.checks:
            problem = check_binary(self.directory / check.binary, check)
            if problem:
                raise KokpitError(f"built {self.label} in {self.directory}, but {problem}")

    def _progress(self) -> Progress:
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("packages"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not self.console.is_terminal,
        )

    def _status(self, message: str) -> contextlib.AbstractContextManager[object]:
        """A spinner on a terminal; elsewhere (logs, CI) just the message, once."""
        if self.console.is_terminal:
            return self.console.status(message)
        self.console.print(message, soft_wrap=True)
        return contextlib.nullcontext()

    def _go(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        on_line: Callable[[str], None] | None = None,
        check: bool = True,
    ) -> str:
        """Runs `go args` in `cwd`; returns stdout, or raises `GoCommandError` with the output's tail.

        With `on_line`, stdout and stderr are merged and streamed line by line (for `go build -v`).
        With `check=False`, stdout is returned whatever the exit status.
        Every command and its output is appended to the work dir's build.log.
        """
        cwd.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        tail: collections.deque[str] = collections.deque(maxlen=200)
        with self.log.open("a") as log:
            log.write(f"$ go {' '.join(args)}  (in {cwd})\n")
            log.flush()
            process = subprocess.Popen(
                [self.go, *args],
                cwd=cwd,
                env=dict(env or self.env),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if on_line else subprocess.PIPE,
                text=True,
            )
            if on_line is not None:
                assert process.stdout is not None
                for line in process.stdout:
                    log.write(line)
                    tail.append(line.rstrip("\n"))
                    on_line(line)
                stdout = ""
                returncode = process.wait()
            else:
                stdout, stderr = process.communicate()
                log.write(stdout + stderr)
                tail.extend(stderr.splitlines())
                returncode = process.returncode
        if returncode != 0 and check:
            raise GoCommandError(self._failure(args, returncode, list(tail)))
        return stdout

    def _failure(self, args: Sequence[str], returncode: int, lines: list[str]) -> str:
        verb = " ".join(arg for arg in args[:2] if not arg.startswith("-"))
        interesting = [
            line.strip() for line in lines if line.strip() and not recipes.looks_like_package(line)
        ]
        summary = " | ".join(interesting[-ERROR_TAIL_LINES:]) or f"exit status {returncode}"
        hint = "; if sum.golang.org is unreachable, set GOSUMDB=off" if "sum.golang.org" in summary else ""
        return f"go {verb} failed for {self.label}: {summary}{hint} (full log: {self.log})"


def bin_dir_summary(results: Sequence[BuildResult]) -> str:
    """`bin_dir_summary` says in one line what `build_binaries` did."""
    built = [result for result in results if result.built]
    directories = sorted({str(result.directory) for result in results})
    if not built:
        return f"nothing to build: all binaries present with the right versions in {', '.join(directories)}"
    total = sum(result.seconds for result in built)
    names = ", ".join(result.name for result in built)
    return f"built {names} in {_duration(total)}; binaries in {', '.join(directories)}"
