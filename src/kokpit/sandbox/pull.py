"""Making and removing a sandbox's Pull network: bridge, namespaces, veths, firewalls; the token.

The names and commands come from `sandbox/pullplan.py`; this module runs them (with the hosts'
`sandbox/network.py` runner), checks what exists before removing it, so `down` also cleans a
half-finished `up`, and asks the hub for a bootstrap token with kokpit's own CLI, as a user would.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from kokpit.errors import KokpitError
from kokpit.sandbox import network, teardown
from kokpit.sandbox.pullplan import (
    SLOTS,
    PullNetworkPlan,
    firewall_ruleset,
    link_commands,
    link_state_command,
    parse_token_output,
    plan_pull_network,
)
from kokpit.sandbox.state import PullLink, PullNetworkState, SandboxState

NFT = "nft"
KOKPIT_CLI = (sys.executable, "-m", "kokpit.cli.main")
"""How the sandbox runs kokpit's CLI: the interpreter it runs in, so the same installation."""
TOKEN_TTL = "24h"
"""Long enough for a hub started a day after the sandbox to approve the registration."""


class PullError(KokpitError):
    """A Pull member's network or registration could not be made or removed."""


def require_root() -> None:
    if os.geteuid() != 0:
        raise PullError("kokpit sandbox up --pull needs root (network namespaces, a bridge, a firewall)")


def free_plan(members: Sequence[str]) -> PullNetworkPlan:
    """The plan in the first slot none of whose bridge, namespaces or veths exist."""
    for slot in SLOTS:
        plan = plan_pull_network(slot, members)
        names = [plan.bridge, *(link.veth for link in plan.links)]
        if any(network.link_exists(name) for name in names):
            continue
        if any(network.netns_exists(link.netns) for link in plan.links):
            continue
        return plan
    raise PullError(f"every Pull network slot ({SLOTS.start}..{SLOTS.stop - 1}) is in use")


def record(state: SandboxState, plan: PullNetworkPlan) -> None:
    """Writes `plan` into `state` (before anything exists, so a failed `up` can be cleaned)."""
    state.pull_network = PullNetworkState(
        slot=plan.slot, bridge=plan.bridge, gateway=plan.gateway, prefixlen=plan.prefixlen
    )
    for link in plan.links:
        state.clusters[link.cluster].pull = PullLink(netns=link.netns, veth=link.veth, address=link.address)


def create(directory: Path, plan: PullNetworkPlan) -> None:
    """Makes the bridge (its alias: `directory`), each member's namespace and link, and loads each
    namespace's firewall. Raises on the first failing command (`remove` undoes it)."""
    for argv in network.bridge_commands(
        str(directory), bridge=plan.bridge, address=f"{plan.gateway}/{plan.prefixlen}"
    ):
        network.run(argv)
    ruleset = directory / "pull-firewall.nft"
    ruleset.write_text(firewall_ruleset())
    for link in plan.links:
        for argv in link_commands(plan, link):
            network.run(argv)
        network.run(network.nsenter_netns(link.netns_path, [NFT, "-f", str(ruleset)]))


def remove(state: SandboxState) -> list[str]:
    """Stops whatever still runs in the Pull members' namespaces, removes their veths and
    namespaces (their firewalls go with them) and the bridge if this sandbox made it.

    Tries everything; returns what could not be removed (empty when all is gone).
    """
    problems: list[str] = []
    for cluster in state.pull_members:
        link = cluster.pull
        assert link is not None
        inode = network.netns_inode(link.netns)
        if inode is not None:
            try:
                teardown.kill_all(functools.partial(network.pids_in_netns, inode))
            except teardown.TeardownError as error:
                problems.append(f"{cluster.name}: {error}")
        try:
            network.remove_veth_and_netns(link.veth, link.netns)
        except network.NetworkError as error:
            problems.append(str(error))
    if state.pull_network is not None:
        try:
            network.remove_bridge(state.dir, bridge=state.pull_network.bridge)
        except network.NetworkError as error:
            problems.append(str(error))
    return problems


def existing_bridges() -> list[str]:
    """The Pull network bridges on the machine (`kokpit-p<slot>`), by slot."""
    found = []
    for slot in SLOTS:
        bridge = plan_pull_network(slot, []).bridge
        if network.link_exists(bridge):
            found.append(bridge)
    return found


def remove_by_name(bridge: str, owner: str) -> list[str]:
    """Removes a Pull network known only by its bridge (its sandbox's state is gone): whatever
    runs in the namespaces named after it, their veths and namespaces, then the bridge if `owner`
    made it. Returns what could not be removed."""
    problems: list[str] = []
    prefix = f"{bridge}-"
    netns_names = sorted(path.name for path in network.NETNS_DIR.glob(f"{prefix}*"))
    for name in netns_names:
        inode = network.netns_inode(name)
        if inode is not None:
            try:
                teardown.kill_all(functools.partial(network.pids_in_netns, inode))
            except teardown.TeardownError as error:
                problems.append(f"{name}: {error}")
    commands = [[network.IP, "link", "del", "dev", path.name] for path in network.SYS_NET.glob(f"{prefix}*")]
    commands += [[network.IP, "netns", "del", name] for name in netns_names]
    for argv in commands:
        try:
            network.run(argv)
        except network.NetworkError as error:
            problems.append(str(error))
    try:
        network.remove_bridge(owner, bridge=bridge)
    except network.NetworkError as error:
        problems.append(str(error))
    return problems


def set_link(link: PullLink, *, up: bool) -> None:
    """Cuts (`up=False`) or mends a Pull member's link to the hub."""
    network.run(link_state_command(link.veth, up=up))


def create_token(hub_kubeconfig: Path, cluster: str, *, hub_url: str) -> tuple[str, str]:
    """`kokpit token create --cluster CLUSTER` against the hub: the token and the hub CA hash."""
    result = subprocess.run(
        [*KOKPIT_CLI, "token", "create", "--cluster", cluster, "--ttl", TOKEN_TTL, "--hub-url", hub_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "KOKPIT_KUBECONFIG": str(hub_kubeconfig)},
    )
    if result.returncode != 0:
        raise PullError(f"kokpit token create --cluster {cluster} failed: {last_words(result)}")
    try:
        return parse_token_output(result.stdout)
    except ValueError as error:
        raise PullError(str(error)) from None


def last_words(result: subprocess.CompletedProcess[str]) -> str:
    """The last meaningful line a failed command printed (without the frame rich draws round it)."""
    for text in (result.stderr, result.stdout):
        lines = [line.strip(" │╭╮╰╯─") for line in text.splitlines()]
        meaningful = [line for line in lines if line]
        if meaningful:
            return meaningful[-1]
    return f"exit code {result.returncode}"
