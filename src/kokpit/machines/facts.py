"""What a host is: OS, distribution and architecture, read over SSH and named as components name them.

The variant of a NodeComponent is chosen from these facts, so they are spelt the way the catalogue
spells them: `uname -s` lower-cased (`linux`), the os-release `ID` (`debian`), and the architecture
as Go and Kubernetes name it (`amd64`, `arm64`; `uname -m` says `x86_64`, `aarch64`).
"""

from __future__ import annotations

from dataclasses import dataclass

FACTS_SCRIPT = """\
if [ -r /etc/os-release ]; then . /etc/os-release; fi
echo "os=$(uname -s)"
echo "distribution=${ID:-}"
echo "machine=$(uname -m)"
"""
"""Prints `key=value` lines `parse_facts` reads (run as `sh -eu`, so unset os-release fields are
spelt with defaults)."""

ARCHITECTURES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}
"""`uname -m` to the GOARCH name; a machine not listed keeps its `uname -m`."""


@dataclass(frozen=True)
class HostFacts:
    """A host's platform, as the variants of components select on it."""

    os: str
    distribution: str
    architecture: str


def parse_facts(output: str) -> HostFacts:
    """`parse_facts` reads the output of `FACTS_SCRIPT`; ValueError when the OS or the machine is
    missing (the script did not run as expected)."""
    values: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    os_name = values.get("os", "").lower()
    machine = values.get("machine", "").lower()
    if not os_name or not machine:
        raise ValueError(f"unexpected output of the facts script: {output.strip()[:200]!r}")
    distribution = values.get("distribution", "").strip("\"'").lower()
    return HostFacts(os=os_name, distribution=distribution, architecture=ARCHITECTURES.get(machine, machine))
