"""The `process` runtime: components as supervised local processes, data under one root directory.

Each component gets a directory `<root>/<namespace>/<group>/<name>/` holding `data/` (its data
directory), `files/` (certificates and the like), `ports.json` (its two loopback ports, chosen once
and kept, so its addresses never move), `state.json` (pid, program and revision of the process we
started) and `component.log`. Processes are started and stopped through `kokpit.controlplane.processes`:
own process group, optionally tied to the caller's life.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

from kokpit.controlplane import processes
from kokpit.controlplane.files import write_private
from kokpit.controlplane.runtime.interface import Addresses, ComponentSpec, ComponentState, Group, Layout
from kokpit.errors import KokpitError

HOST = "127.0.0.1"
STATE_FILE = "state.json"
PORTS_FILE = "ports.json"
LOG_FILE = "component.log"
INIT_TIMEOUT = 120.0


class InitFailedError(KokpitError):
    """A component's init command (e.g. a snapshot restore) failed; the message ends with its output."""


class ProcessRuntime:
    """`ProcessRuntime` runs components as local processes under `root`, on `host`'s loopback ports.

    `tie_to_parent` ties every process to the thread that starts it (tests, foreground commands):
    call `ensure` from the event loop's thread, never from a worker thread that may exit.
    """

    kind = "process"

    def __init__(
        self,
        root: Path,
        *,
        host: str = HOST,
        tie_to_parent: bool = False,
        stop_grace_seconds: float = 10.0,
    ) -> None:
        self.root = root
        self.host = host
        self.tie_to_parent = tie_to_parent
        self.stop_grace_seconds = stop_grace_seconds
        self._given: set[int] = set()

    # -- where things are ---------------------------------------------------------------------

    def group_dir(self, group: Group) -> Path:
        return self.root / group.namespace / group.name

    def component_dir(self, group: Group, name: str) -> Path:
        return self.group_dir(group) / name

    def layout(self, group: Group, name: str) -> Layout:
        directory = self.component_dir(group, name)
        return Layout(
            data_dir=PurePosixPath(directory / "data"), files_dir=PurePosixPath(directory / "files")
        )

    def log_path(self, group: Group, name: str) -> Path:
        return self.component_dir(group, name) / LOG_FILE

    def addresses(self, group: Group, name: str) -> Addresses:
        path = self.component_dir(group, name) / PORTS_FILE
        ports = _read_json(path)
        if ports is None:
            ports = {"client": self._free_port(), "peer": self._free_port()}
            _write_json(path, ports)
        client = f"https://{self.host}:{int(ports['client'])}"
        peer = f"https://{self.host}:{int(ports['peer'])}"
        return Addresses(client_url=client, peer_url=peer, listen_client_url=client, listen_peer_url=peer)

    def _free_port(self) -> int:
        """A port the kernel says is free, never one handed out before by this runtime nor recorded
        by a component under `root` (a stopped one keeps its ports: after a restart of kokpit, or
        with several runtimes sharing the root, a new component must not take them)."""
        recorded = self._recorded_ports()
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((self.host, 0))
                port = int(sock.getsockname()[1])
            if port not in self._given and port not in recorded:
                self._given.add(port)
                return port

    def _recorded_ports(self) -> set[int]:
        ports: set[int] = set()
        for path in self.root.glob(f"*/*/*/{PORTS_FILE}"):
            for value in (_read_json(path) or {}).values():
                if isinstance(value, int):
                    ports.add(value)
        return ports

    def certificate_hosts(self, group: Group) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return ("localhost",), (self.host,)

    # -- running ------------------------------------------------------------------------------

    async def ensure(self, spec: ComponentSpec) -> bool:
        directory = self.component_dir(spec.group, spec.name)
        layout = self.layout(spec.group, spec.name)
        for relative, content in spec.files.items():
            _write_file(Path(layout.files_dir) / relative, content)
        record = _read_json(directory / STATE_FILE)
        if record is not None and _alive(record):
            if record.get("revision") == spec.revision:
                return False
            await self._stop_record(record)
        data_dir = Path(layout.data_dir)
        if spec.init_argv is not None and not _exists(data_dir):
            await _run_init(spec.init_argv, log_path=directory / LOG_FILE)
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        # Launched from the caller's thread: with tie_to_parent the process lives as long as it.
        launched = processes.launch(
            processes.ProcessSpec(name=spec.name, argv=spec.argv, log_path=directory / LOG_FILE),
            tie_to_parent=self.tie_to_parent,
        )
        _write_json(
            directory / STATE_FILE,
            {"pid": launched.pid, "argv0": spec.argv[0], "revision": spec.revision},
        )
        return True

    async def stop(self, group: Group, name: str, *, wipe_data: bool = False) -> None:
        directory = self.component_dir(group, name)
        record = _read_json(directory / STATE_FILE)
        if record is not None:
            await self._stop_record(record)
        if wipe_data:
            shutil.rmtree(directory / "data", ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                (directory / STATE_FILE).unlink()

    async def state(self, group: Group, name: str) -> ComponentState:
        directory = self.component_dir(group, name)
        record = _read_json(directory / STATE_FILE)
        data_present = (directory / "data" / "member").is_dir()
        running = record is not None and _alive(record)
        detail = ""
        if record is not None and not running:
            code = processes.exit_code(int(record.get("pid", 0)))
            tail = processes.log_tail(directory / LOG_FILE, lines=2)
            detail = f"exited{'' if code is None else f' with {code}'}: " + " | ".join(tail)
        return ComponentState(
            name=name,
            exists=record is not None or data_present,
            running=running,
            data_present=data_present,
            revision=None if record is None else str(record.get("revision")),
            detail=detail[:500],
        )

    async def names(self, group: Group) -> list[str]:
        directory = self.group_dir(group)
        if not directory.is_dir():
            return []
        return sorted(
            child.name
            for child in directory.iterdir()
            if (child / STATE_FILE).exists() or (child / "data").exists()
        )

    async def remove_group(self, group: Group) -> None:
        directory = self.group_dir(group)
        if not directory.is_dir():
            return
        for child in directory.iterdir():
            record = _read_json(child / STATE_FILE)
            if record is not None:
                await self._stop_record(record)
        shutil.rmtree(directory, ignore_errors=True)

    async def _stop_record(self, record: dict[str, Any]) -> None:
        pid, argv0 = int(record.get("pid", 0)), record.get("argv0")
        await asyncio.to_thread(
            processes.stop,
            [(pid, None if argv0 is None else str(argv0))],
            grace_seconds=self.stop_grace_seconds,
        )


def _exists(path: Path) -> bool:
    return path.exists()


def _alive(record: dict[str, Any]) -> bool:
    argv0 = record.get("argv0")
    return processes.is_alive(int(record.get("pid", 0)), argv0=None if argv0 is None else str(argv0))


async def _run_init(argv: tuple[str, ...], *, log_path: Path) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = await asyncio.to_thread(
            subprocess.run, list(argv), capture_output=True, text=True, timeout=INIT_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InitFailedError(f"{Path(argv[0]).name}: {error}") from error
    with log_path.open("a") as log:
        log.write(f"--- init: {' '.join(argv)}\n{result.stdout}{result.stderr}")
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()][-3:]
        raise InitFailedError(f"{Path(argv[0]).name} exited with {result.returncode}: {' | '.join(lines)}")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    _write_file(path, json.dumps(data).encode())


def _write_file(path: Path, content: bytes) -> None:
    """Writes atomically (a reader never sees half a certificate), 0600: files may hold keys."""
    write_private(path, content, unchanged_ok=True)
