"""Kernel settings the sandbox hosts change for the whole machine, recorded by `up`, restored by `down`.

Sandbox hosts share one kernel, and a kubelet always sets a few kernel-wide settings (its
`setupKernelTunables`), whatever host it runs on. A real machine keeps them until it is reinstalled;
the sandbox's machine must be as it was once its hosts are gone, so `up` records them and `down`
writes the recorded values back.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

PROC_SYS = Path("/proc/sys")
KUBELET_SETTINGS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
"""What a kubelet sets on start (unless `protectKernelDefaults`), as paths below /proc/sys."""


def read_settings(names: tuple[str, ...] = KUBELET_SETTINGS) -> dict[str, str]:
    """The current values of `names` (those the kernel has)."""
    values = {}
    for name in names:
        with contextlib.suppress(OSError):
            values[name] = (PROC_SYS / name).read_text().strip()
    return values


def restore_settings(values: dict[str, str]) -> list[str]:
    """Writes `values` back where they differ from the current ones; returns the names it changed."""
    changed = []
    for name, value in sorted(values.items()):
        path = PROC_SYS / name
        with contextlib.suppress(OSError):
            if path.read_text().strip() != value:
                path.write_text(f"{value}\n")
                changed.append(name)
    return changed
