"""Host facts as the catalogue spells them."""

from __future__ import annotations

import pytest

from kokpit.machines.facts import HostFacts, parse_facts


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        pytest.param(
            "os=Linux\ndistribution=debian\nmachine=x86_64\n",
            HostFacts("linux", "debian", "amd64"),
            id="debian on x86_64 is linux/debian/amd64",
        ),
        pytest.param(
            "os=Linux\ndistribution=ubuntu\nmachine=aarch64\n",
            HostFacts("linux", "ubuntu", "arm64"),
            id="ubuntu on aarch64 is arm64",
        ),
        pytest.param(
            "os=Linux\ndistribution=\nmachine=riscv64\n",
            HostFacts("linux", "", "riscv64"),
            id="no os-release leaves the distribution empty",
        ),
        pytest.param(
            'noise\nos=Linux\ndistribution="Fedora"\nmachine=mips\n',
            HostFacts("linux", "fedora", "mips"),
            id="an unknown machine keeps its uname name, quotes dropped",
        ),
    ],
)
def test_parse_facts(output: str, expected: HostFacts) -> None:
    assert parse_facts(output) == expected


def test_output_without_the_os_is_refused() -> None:
    with pytest.raises(ValueError, match="unexpected output"):
        parse_facts("sh: 1: uname: not found\n")
