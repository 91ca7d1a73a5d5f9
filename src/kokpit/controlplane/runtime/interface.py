"""The contract of a component runtime: run named components of a group somewhere, and report on them.

A *group* is one set of components managed together (the members of one etcd cluster); a
*component* is one long-running program in it, with a command line, a few files it reads (certificates)
and a data directory that must survive restarts. Operators decide *what* runs; a runtime decides
*where* and *how*: supervised local processes, or Pods in a meta cluster. Everything the operator
needs to know about the "where" (addresses, paths as the component sees them) it asks the runtime,
so the same operator logic drives both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, order=True)
class Group:
    """A set of components managed together, named like the object that wants them."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Addresses:
    """Where a component is reached (`client_url`, `peer_url`) and where it listens.

    Listening and advertised addresses differ in a Pod (listen on every interface, advertise the
    stable DNS name) and agree for a local process.
    """

    client_url: str
    peer_url: str
    listen_client_url: str
    listen_peer_url: str


@dataclass(frozen=True)
class Layout:
    """Paths as the component sees them: its data directory and the directory holding its files."""

    data_dir: PurePosixPath
    files_dir: PurePosixPath


@dataclass(frozen=True)
class ComponentSpec:
    """What to run for one component.

    `argv[0]` is the program as a local path (the process runtime runs it as is; the kubernetes
    runtime runs `container_command` from `image` with `argv[1:]`). `files` are written under the
    layout's `files_dir` (relative path -> bytes). `init_argv`, when given, runs once before the first
    start while the data directory does not exist yet (seeding data, e.g. restoring a snapshot).
    `revision` is the caller's summary of everything that needs a restart to take effect: a running
    component with another revision is restarted, one with the same revision is left alone, whatever
    else differs in `argv` (flags read only at first start, such as etcd's initial cluster).
    """

    group: Group
    name: str
    argv: tuple[str, ...]
    revision: str
    files: Mapping[str, bytes] = field(default_factory=dict)
    image: str | None = None
    container_command: str | None = None
    init_argv: tuple[str, ...] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    storage_size: str | None = None


@dataclass(frozen=True)
class ComponentState:
    """What the runtime knows of one component."""

    name: str
    exists: bool
    """The runtime holds anything of it: a process record, data, a Pod or a volume."""
    running: bool
    """A live process, or a Pod in phase Running."""
    data_present: bool
    """Its data directory (or volume) exists."""
    revision: str | None = None
    """The revision it was last started with."""
    detail: str = ""
    """A short human-readable explanation (last log lines of a process that died, Pod phase)."""


@runtime_checkable
class ComponentRuntime(Protocol):
    """Runs components of groups; every method is idempotent.

    `addresses` and `layout` are stable for a (group, name) for as long as the component exists, so
    they may be put into command lines and certificates.
    """

    kind: str
    """`process` or `kubernetes`."""

    def addresses(self, group: Group, name: str) -> Addresses: ...

    def layout(self, group: Group, name: str) -> Layout: ...

    def certificate_hosts(self, group: Group) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(DNS names, IP addresses) a serving certificate must carry to be valid for every
        component of `group`."""
        ...

    async def ensure(self, spec: ComponentSpec) -> bool:
        """Makes `spec` run; returns True when it (re)started something."""
        ...

    async def stop(self, group: Group, name: str, *, wipe_data: bool = False) -> None:
        """Stops the component; with `wipe_data` its data directory (or volume) goes too, and the
        component is forgotten."""
        ...

    async def state(self, group: Group, name: str) -> ComponentState: ...

    async def names(self, group: Group) -> list[str]:
        """Names of the components of `group` the runtime holds anything of, sorted."""
        ...

    async def remove_group(self, group: Group) -> None:
        """Stops every component of `group` and deletes everything the runtime holds of it."""
        ...
