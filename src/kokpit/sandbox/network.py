"""The sandbox hosts' network: a bridge, a namespace and veth per host, routes, and ip_forward.

The commands are built by pure functions (`bridge_commands`, `host_commands`) and run by thin ones
(`run`), so the tests can read exactly what `up` does. Removal checks what exists (`/sys/class/net`,
`/run/netns`, `ip route show`) before deleting, so `down` is idempotent and also cleans a
half-finished `up`.

Processes enter a host with `nsenter --net=/run/netns/<ns>`, never `ip netns exec`: the latter
also remounts `/sys` in a new mount namespace, and a kubelet started that way no longer sees the
machine's `/sys/fs/cgroup`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from kokpit.errors import KokpitError
from kokpit.sandbox.hostplan import BRIDGE, GATEWAY, HOST_DEVICE, NODE_NETWORK, HostPlan

IP = "ip"
NSENTER = "nsenter"
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
SYS_NET = Path("/sys/class/net")
NETNS_DIR = Path("/run/netns")


class NetworkError(KokpitError):
    """A network command failed; the message names the command and what the kernel said."""


def bridge_commands(
    owner: str, *, bridge: str = BRIDGE, address: str = f"{GATEWAY}/{NODE_NETWORK.prefixlen}"
) -> list[list[str]]:
    """The commands that create `bridge` with `address` (default: the hosts' bridge and gateway);
    `owner` (the directory) goes into the bridge's alias, so another directory's `up` can say
    whose it is."""
    return [
        [IP, "link", "add", bridge, "type", "bridge"],
        [IP, "link", "set", "dev", bridge, "alias", owner],
        [IP, "addr", "add", address, "dev", bridge],
        [IP, "link", "set", "dev", bridge, "up"],
    ]


def host_commands(host: HostPlan) -> list[list[str]]:
    """The commands that make `host`'s network: namespace, veth into the bridge, address, lo,
    default route, ip_forward inside (so its pods can be routed), and the root namespace's route
    to its pod subnet."""
    ns = host.netns
    return [
        [IP, "netns", "add", ns],
        [IP, "link", "add", host.veth, "type", "veth", "peer", "name", HOST_DEVICE, "netns", ns],
        [IP, "link", "set", "dev", host.veth, "master", BRIDGE, "up"],
        [IP, "-n", ns, "link", "set", "dev", "lo", "up"],
        [IP, "-n", ns, "addr", "add", f"{host.address}/{NODE_NETWORK.prefixlen}", "dev", HOST_DEVICE],
        [IP, "-n", ns, "link", "set", "dev", HOST_DEVICE, "up"],
        [IP, "-n", ns, "route", "add", "default", "via", GATEWAY],
        nsenter(host, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]),
        [IP, "route", "add", host.pod_cidr, "via", host.address, "dev", BRIDGE],
    ]


def nsenter(host: HostPlan, argv: Sequence[str]) -> list[str]:
    """`argv` run in `host`'s network namespace only (mounts, /sys and cgroups stay the machine's)."""
    return nsenter_netns(host.netns_path, argv)


def nsenter_netns(netns_path: str, argv: Sequence[str]) -> list[str]:
    """`argv` run in the network namespace at `netns_path` only. nsenter execs `argv` in place
    (no fork without `--pid`), so the process started is `argv` itself, with nsenter's pid."""
    return [NSENTER, f"--net={netns_path}", *argv]


def run(argv: Sequence[str]) -> None:
    """Runs one network command; a failure is a `NetworkError` with the command and its stderr."""
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        said = result.stderr.strip() or f"exit code {result.returncode}"
        raise NetworkError(f"{' '.join(argv)}: {said}")


# --- what exists ---------------------------------------------------------------------------------


def link_exists(name: str) -> bool:
    return (SYS_NET / name).exists()


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def bridge_owner(bridge: str = BRIDGE) -> str | None:
    """The alias of `bridge` (the directory that made it), None when there is no such bridge."""
    try:
        return (SYS_NET / bridge / "ifalias").read_text().strip()
    except FileNotFoundError:
        return None


def route_exists(cidr: str) -> bool:
    result = subprocess.run(
        [IP, "route", "show", "exact", cidr], capture_output=True, text=True, timeout=30, check=False
    )
    return result.returncode == 0 and bool(result.stdout.strip())


def netns_inode(name: str) -> int | None:
    """The namespace's identity (the inode `/proc/<pid>/ns/net` links name), None when absent."""
    try:
        return (NETNS_DIR / name).stat().st_ino
    except FileNotFoundError:
        return None


def pids_in_netns(inode: int) -> list[int]:
    """Every process whose network namespace is `inode` (what `ip netns pids` lists)."""
    wanted = f"net:[{inode}]"
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.readlink(proc / "ns" / "net") == wanted:
                found.append(int(proc.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


# --- making and removing ---------------------------------------------------------------------------


def ensure_bridge(owner: str) -> None:
    """Creates the bridge for `owner`, or uses the one there: `owner`'s own (a retried `up`), or
    one made by hand that has the gateway address (it is then left in place by `down`).

    A bridge another hosts directory made is refused: two sets of hosts would share addresses.
    """
    current = bridge_owner()
    if current is None:
        for argv in bridge_commands(owner):
            run(argv)
        return
    if current == owner:
        return
    if current:
        raise NetworkError(
            f"the bridge {BRIDGE} belongs to the sandbox hosts in {current}; "
            f"run: kokpit sandbox hosts down --dir {current}"
        )
    if not has_gateway_address():
        raise NetworkError(
            f"a bridge {BRIDGE} exists without the address {GATEWAY}/{NODE_NETWORK.prefixlen}; "
            f"remove it (ip link del {BRIDGE}) or give it that address"
        )


def has_gateway_address() -> bool:
    """Whether the bridge holds the gateway address (`10.77.0.1/24`)."""
    result = subprocess.run(
        [IP, "-4", "-o", "addr", "show", "dev", BRIDGE],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return f" {GATEWAY}/{NODE_NETWORK.prefixlen} " in result.stdout


def create_host(host: HostPlan) -> None:
    """Makes `host`'s network; raises on the first failing command (`remove_host` undoes it)."""
    for argv in host_commands(host):
        run(argv)


def remove_host(host: HostPlan) -> None:
    """Removes `host`'s route, veth and namespace, whichever exist. Its processes must be gone
    first: a namespace with a process in it outlives `ip netns del`."""
    if route_exists(host.pod_cidr):
        run([IP, "route", "del", host.pod_cidr])
    remove_veth_and_netns(host.veth, host.netns)


def remove_veth_and_netns(veth: str, netns: str) -> None:
    """Removes the root namespace's end of a veth, then the namespace, whichever exist."""
    if link_exists(veth):  # first: the kernel removes a namespace's devices asynchronously
        try:
            run([IP, "link", "del", "dev", veth])
        except NetworkError:
            if link_exists(veth):
                raise
    if netns_exists(netns):
        run([IP, "netns", "del", netns])


def remove_bridge(owner: str, *, bridge: str = BRIDGE) -> bool:
    """Deletes `bridge` if `owner` made it (not one made by hand); returns whether it did."""
    if bridge_owner(bridge) != owner:
        return False
    run([IP, "link", "del", "dev", bridge])
    return True


def read_ip_forward() -> str:
    return IP_FORWARD.read_text().strip()


def write_ip_forward(value: str) -> None:
    IP_FORWARD.write_text(f"{value}\n")
