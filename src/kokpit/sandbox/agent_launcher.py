"""The process a sandbox's Pull member runs as its `kokpit-agent` component.

    python -m kokpit.sandbox.agent_launcher '{"hub_kubeconfig": ..., "register": [...], "agent": [...]}'

It runs `kokpit register ...` while the agent's credentials (`hub_kubeconfig`) do not exist yet,
then replaces itself with `kokpit agent ...`. One process from start to end, so the sandbox
follows, kills and restarts it like any component: its pid and its first argument (the Python
interpreter) stay the same across the exec, as does the kernel's "die with the parent" setting.
A restarted agent finds its credentials and skips registration (the token is spent by then).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Registration ends when this launcher does (it is not the launched process itself)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    hub_kubeconfig = Path(spec["hub_kubeconfig"])
    register: list[str] = spec["register"]
    agent: list[str] = spec["agent"]
    if not hub_kubeconfig.exists():
        print(f"registering: {' '.join(register[:4])} ...", flush=True)
        code = subprocess.run(register, check=False, preexec_fn=_die_with_parent).returncode
        if code != 0:
            return code
    print(f"starting: {' '.join(agent)}", flush=True)
    os.execv(agent[0], agent)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
