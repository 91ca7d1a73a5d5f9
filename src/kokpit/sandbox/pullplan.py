"""What a sandbox's Pull members are made of: their network, firewall and agent, on paper.

A Pull member is a member the hub cannot reach: its processes run in a network namespace of
their own, whose inbound connections are dropped, and whose only way out is a veth into a bridge
in the root namespace. The hub API server listens on the bridge's address, so the member (and
its agent) can reach the hub while nothing can reach the member; the agent registers with a
bootstrap token exactly as a user would (`kokpit token create`, `kokpit register`).

Pure: `plan_pull_network(slot, members)` always gives the same names and addresses, so `up`,
`down`, `status` and the tests agree without asking the kernel. The I/O lives in
`sandbox/pull.py`. The addresses are distinct from the sandbox hosts' (`kokpit0`,
`10.77.0.0/24`, pods `10.78.0.0/16`) so both can exist at once; the slot (one per sandbox with
Pull members) lets several such sandboxes coexist too.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from kokpit.sandbox.network import IP

PULL_NETWORK = ipaddress.IPv4Network("10.79.0.0/16")
"""Slot `s` gets `10.79.s.0/24`: the bridge `.1` (where the hub listens), member `j` `.(10+j)`."""
BRIDGE_PREFIX = "kokpit-p"
"""Slot `s`'s bridge is `kokpit-p<s>`, its veths `kokpit-p<s>-<j>`, its namespaces
`kokpit-p<s>-<member>`: nothing else on the machine (the hosts' `kokpit-host-*`) uses them."""
SLOTS = range(1, 255)
MAX_PULL_MEMBERS = 99
"""`kokpit-p254-99` is 15 characters, the longest name a network device may have."""
FIRST_MEMBER_OFFSET = 10
DEVICE = "eth0"
"""The member's end of its veth, named as on a machine with one network card."""
FIREWALL_TABLE = "kokpit"


@dataclass(frozen=True)
class PullLinkPlan:
    """One Pull member's network: its namespace, the root namespace's end of its veth, its address."""

    cluster: str
    netns: str
    veth: str
    address: str

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"


@dataclass(frozen=True)
class PullNetworkPlan:
    """The bridge of one sandbox's Pull members and each member's link."""

    slot: int
    bridge: str
    gateway: str
    """The bridge's address: where the hub API server (and the hub's proxy and tunnel) listen."""
    prefixlen: int
    links: tuple[PullLinkPlan, ...]

    def link(self, cluster: str) -> PullLinkPlan:
        return next(link for link in self.links if link.cluster == cluster)


def check_pull_members(pull: Sequence[str], members: Sequence[str]) -> str | None:
    """Why `--pull` names cannot be used with these members (None when they can)."""
    unknown = [name for name in pull if name not in members]
    if unknown:
        have = ", ".join(members) or "none"
        return f"--pull {unknown[0]}: no such member (have: {have})"
    if len(set(pull)) != len(pull):
        return "--pull names a member twice"
    if len(pull) > MAX_PULL_MEMBERS:
        return f"at most {MAX_PULL_MEMBERS} Pull members, got {len(pull)}"
    return None


def plan_pull_network(slot: int, members: Sequence[str]) -> PullNetworkPlan:
    """`plan_pull_network` names the bridge, namespaces, veths and addresses of `members` (in
    the given order, counting from one) in `slot`."""
    if slot not in SLOTS:
        raise ValueError(f"slot must be in {SLOTS.start}..{SLOTS.stop - 1}, got {slot}")
    subnet = ipaddress.IPv4Network((int(PULL_NETWORK.network_address) + (slot << 8), 24))
    bridge = f"{BRIDGE_PREFIX}{slot}"
    links = tuple(
        PullLinkPlan(
            cluster=name,
            netns=f"{bridge}-{name}",
            veth=f"{bridge}-{index}",
            address=str(subnet.network_address + FIRST_MEMBER_OFFSET + index),
        )
        for index, name in enumerate(members, start=1)
    )
    return PullNetworkPlan(
        slot=slot,
        bridge=bridge,
        gateway=str(subnet.network_address + 1),
        prefixlen=subnet.prefixlen,
        links=links,
    )


def link_commands(network: PullNetworkPlan, link: PullLinkPlan) -> list[list[str]]:
    """The commands that make `link`: namespace, veth into the bridge, address, lo, default route
    to the bridge. No forwarding: the namespace talks only to the root namespace's own addresses."""
    ns = link.netns
    return [
        [IP, "netns", "add", ns],
        [IP, "link", "add", link.veth, "type", "veth", "peer", "name", DEVICE, "netns", ns],
        [IP, "link", "set", "dev", link.veth, "master", network.bridge, "up"],
        [IP, "-n", ns, "link", "set", "dev", "lo", "up"],
        [IP, "-n", ns, "addr", "add", f"{link.address}/{network.prefixlen}", "dev", DEVICE],
        [IP, "-n", ns, "link", "set", "dev", DEVICE, "up"],
        [IP, "-n", ns, "route", "add", "default", "via", network.gateway],
    ]


def firewall_ruleset() -> str:
    """`firewall_ruleset` is the nftables ruleset loaded inside a Pull member's namespace: every
    new connection arriving on its network card is dropped (silently, as a firewall in front of a
    private data centre does), while loopback and the replies to its own outbound connections pass.

    It lives in the namespace, so it disappears with it: nothing is left in the root namespace's
    rules.
    """
    return "\n".join(
        [
            f"table inet {FIREWALL_TABLE} {{",
            "  chain input {",
            "    type filter hook input priority filter; policy accept;",
            '    iifname "lo" accept',
            "    ct state established,related accept",
            f'    iifname "{DEVICE}" drop',
            "  }",
            "}",
            "",
        ]
    )


def link_state_command(veth: str, *, up: bool) -> list[str]:
    """The command that cuts (`up=False`) or mends a Pull member's link, on the root side.

    The member's own end stays up, so its addresses and routes stay: its components keep talking
    to each other, and connections to and from the hub hang as behind a cut cable.
    """
    return [IP, "link", "set", "dev", veth, "up" if up else "down"]


TOKEN = re.compile(r"\b([a-z0-9]{6}\.[a-z0-9]{16})\b")
CA_HASH = re.compile(r"\b(sha256:[0-9a-f]{64})\b")


def parse_token_output(text: str) -> tuple[str, str]:
    """The bootstrap token and the hub CA hash that `kokpit token create` printed.

    Raises `ValueError` when either is missing (the command's output changed, or it failed).
    """
    token, ca_hash = TOKEN.search(text), CA_HASH.search(text)
    if token is None or ca_hash is None:
        raise ValueError(f"no token and CA hash in the output of kokpit token create: {text.strip()[:200]!r}")
    return token.group(1), ca_hash.group(1)


@dataclass(frozen=True)
class AgentCommands:
    """How a Pull member's agent starts: `register` once (while `hub_kubeconfig` is missing), then
    `agent` for good. Both are kokpit's own CLI, with the flags a user would type."""

    hub_kubeconfig: str
    register: tuple[str, ...]
    agent: tuple[str, ...]

    def describe(self) -> str:
        return f"{shlex.join(self.register)} && {shlex.join(self.agent)}"


def agent_commands(
    kokpit: Sequence[str],
    *,
    cluster: str,
    hub_url: str,
    token: str,
    ca_hash: str,
    member_kubeconfig: str,
    out_dir: str,
    region: str | None = None,
    zone: str | None = None,
    provider: str | None = None,
    lease_duration: float | None = None,
    cert_ttl: str | None = None,
    renew_fraction: float | None = None,
) -> AgentCommands:
    """`agent_commands` are the command lines that register `cluster` with the hub at `hub_url`
    and then run its agent; `kokpit` is how the CLI is invoked (e.g. `python -m kokpit.cli.main`).

    `--timeout 0`: registration waits for as long as it takes, since the hub's controllers (which
    approve the certificate) may start long after the sandbox. `lease_duration` (seconds) is the
    agent's `--lease-duration` (default: the agent's own), `cert_ttl` (e.g. `10m`) the validity of
    its certificates, `kokpit register --cert-ttl` (default: register's own), `renew_fraction` the
    agent's `--renew-fraction` (default: the agent's own).
    """
    register = [
        *kokpit,
        "register",
        cluster,
        "--hub",
        hub_url,
        "--token",
        token,
        "--ca-cert-hash",
        ca_hash,
        "--kubeconfig",
        member_kubeconfig,
        "--out",
        out_dir,
        "--timeout",
        "0",
    ]
    for flag, value in (
        ("--provider", provider),
        ("--region", region),
        ("--zone", zone),
        ("--cert-ttl", cert_ttl),
    ):
        if value:
            register += [flag, value]
    hub_kubeconfig = f"{out_dir}/hub.kubeconfig"
    agent = [*kokpit, "agent", "--hub-kubeconfig", hub_kubeconfig, "--kubeconfig", member_kubeconfig]
    if lease_duration is not None:
        agent += ["--lease-duration", f"{lease_duration:g}"]
    if renew_fraction is not None:
        agent += ["--renew-fraction", f"{renew_fraction:g}"]
    return AgentCommands(hub_kubeconfig=hub_kubeconfig, register=tuple(register), agent=tuple(agent))
