"""What sandbox hosts are made of: names, addresses, subnets, paths, sshd config and inventory.

Pure: `plan_hosts(3, directory)` always gives the same three hosts, so `up`, `down`, `status` and
the tests agree on every name and address without asking the kernel. The I/O that makes a plan
real lives in `sandbox/network.py` (namespaces, veths, routes) and `sandbox/hosts.py` (keys,
sshd, state).

The layout mirrors a real machine: each host's directory is its "disk" and the Host's `prefix`,
with sshd's files where a machine keeps them (`etc/ssh/`, `run/`, `var/log/`), so the operator
writes below the prefix on a sandbox host exactly what it writes below `/` on a real one.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BRIDGE = "kokpit0"
"""The bridge in the root network namespace that every host's veth joins."""
NODE_NETWORK = ipaddress.IPv4Network("10.77.0.0/24")
GATEWAY = "10.77.0.1"
"""The bridge's address: the hosts' default route, and where hosted clusters serve for kubelets."""
FIRST_HOST_OFFSET = 10
"""Host i gets `10.77.0.(10+i)`: .2 to .10 stay free for the operator's own services."""
POD_NETWORK = ipaddress.IPv4Network("10.78.0.0/16")
"""Host i's pods get `10.78.i.0/24`, routed in the root namespace via the host's address."""
MAX_HOSTS = 200
SSH_PORT = 22
SSH_USER = "root"
NETNS_PREFIX = "kokpit-"
"""Namespace (and root-side veth) names are `kokpit-<host>`: nothing else on the machine uses them."""
HOST_DEVICE = "eth0"
"""The host's end of its veth, named as on a machine with one network card."""
SECRET_TYPE = "kubernetes.io/ssh-auth"
SECRET_KEY = "ssh-privatekey"
HOST_API_VERSION = "machines.kokpit.io/v1alpha1"
POOL_LABEL = "machines.kokpit.io/pool"
POOL = "sandbox"
"""Every sandbox Host carries `machines.kokpit.io/pool: sandbox`, for a MachineSet's hostSelector."""


def host_name(index: int) -> str:
    """`host_name(1)` is `host-1`; hosts count from one."""
    return f"host-{index}"


def secret_name(host: str) -> str:
    """The Secret with the host's private key: `host-1-ssh`."""
    return f"{host}-ssh"


@dataclass(frozen=True)
class HostPlan:
    """One sandbox host: everything `up` creates for it and `down` removes."""

    name: str
    index: int
    netns: str
    veth: str
    """The root namespace's end of the host's veth (its other end is `eth0` inside the host)."""
    address: str
    pod_cidr: str
    prefix: str
    """The host's directory: its disk, and the Host's `prefix`."""
    cgroup_root: str

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"

    @property
    def sshd_config(self) -> Path:
        return Path(self.prefix) / "etc" / "ssh" / "sshd_config"

    @property
    def host_key(self) -> Path:
        return Path(self.prefix) / "etc" / "ssh" / "ssh_host_ed25519_key"

    @property
    def authorized_keys(self) -> Path:
        return Path(self.prefix) / "etc" / "ssh" / "authorized_keys"

    @property
    def sshd_pidfile(self) -> Path:
        return Path(self.prefix) / "run" / "sshd.pid"

    @property
    def sshd_log(self) -> Path:
        return Path(self.prefix) / "var" / "log" / "sshd.log"


def hosts_root(directory: Path) -> Path:
    """Where the hosts' disks are: `DIR/hosts/` (removed whole by `down`)."""
    return directory / "hosts"


def plan_hosts(count: int, directory: Path) -> list[HostPlan]:
    """`plan_hosts` names `count` hosts `host-1..N` with their addresses, subnets and paths under
    `directory` (which should be absolute: the paths end up in sshd's config and the inventory)."""
    if not 1 <= count <= MAX_HOSTS:
        raise ValueError(f"--count must be between 1 and {MAX_HOSTS}, got {count}")
    plans = []
    for index in range(1, count + 1):
        name = host_name(index)
        plans.append(
            HostPlan(
                name=name,
                index=index,
                netns=f"{NETNS_PREFIX}{name}",
                veth=f"{NETNS_PREFIX}{name}",
                address=str(NODE_NETWORK.network_address + FIRST_HOST_OFFSET + index),
                pod_cidr=str(ipaddress.IPv4Network((int(POD_NETWORK.network_address) + (index << 8), 24))),
                prefix=str(hosts_root(directory) / name),
                cgroup_root=f"/kokpit-{name}",
            )
        )
    return plans


def render_sshd_config(host: HostPlan) -> str:
    """`render_sshd_config` is the host's own sshd_config: root by key only, on its address only.

    `StrictModes no` because sshd's check walks every directory up to `/` and refuses a world-
    writable one, and sandbox directories often live under `/tmp`; the files themselves are 0600
    in 0700 directories. `UsePAM no`: nothing here needs PAM, and without it the config is all
    there is. SFTP is served in-process (`internal-sftp`), so uploads need no helper binary.
    """
    lines = [
        f"# sshd of sandbox host {host.name}, written by `kokpit sandbox hosts up`.",
        f"ListenAddress {host.address}:{SSH_PORT}",
        f"HostKey {host.host_key}",
        f"PidFile {host.sshd_pidfile}",
        f"AuthorizedKeysFile {host.authorized_keys}",
        f"AllowUsers {SSH_USER}",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitEmptyPasswords no",
        "UsePAM no",
        "StrictModes no",
        "PrintMotd no",
        "X11Forwarding no",
        "Subsystem sftp internal-sftp",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class HostCredentials:
    """A host's keys: its public host key line (pinned) and the authorised client private key."""

    host_key: str
    """`ssh-ed25519 AAAA...`: what the Host pins."""
    private_key: str
    """The client's private key in OpenSSH format: the Secret's `ssh-privatekey`."""


def secret_document(host: HostPlan, credentials: HostCredentials, *, namespace: str | None) -> dict[str, Any]:
    """The host's credentials Secret (`kubernetes.io/ssh-auth`, key `ssh-privatekey`)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(secret_name(host.name), namespace),
        "type": SECRET_TYPE,
        "data": {SECRET_KEY: base64.b64encode(credentials.private_key.encode()).decode()},
    }


def host_document(host: HostPlan, credentials: HostCredentials, *, namespace: str | None) -> dict[str, Any]:
    """The `Host` resource for `host`: address, SSH port and user, its Secret, pinned host key,
    prefix, cgroup root and pod subnet (field names as in `machines.kokpit.io/v1alpha1`)."""
    return {
        "apiVersion": HOST_API_VERSION,
        "kind": "Host",
        "metadata": _metadata(host.name, namespace),
        "spec": {
            "address": host.address,
            "port": SSH_PORT,
            "user": SSH_USER,
            "credentialsSecretRef": {"name": secret_name(host.name)},
            "hostKey": credentials.host_key,
            "prefix": host.prefix,
            "cgroupRoot": host.cgroup_root,
            "podCIDR": host.pod_cidr,
        },
    }


def _metadata(name: str, namespace: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = {POOL_LABEL: POOL}
    return metadata


def inventory_documents(
    hosts: list[HostPlan], credentials: dict[str, HostCredentials], *, namespace: str | None = None
) -> list[dict[str, Any]]:
    """Each host's Secret followed by its Host, in host order (a Secret before the Host naming it)."""
    documents = []
    for host in hosts:
        documents.append(secret_document(host, credentials[host.name], namespace=namespace))
        documents.append(host_document(host, credentials[host.name], namespace=namespace))
    return documents


def render_inventory(documents: list[dict[str, Any]]) -> str:
    """`render_inventory` is `hosts.yaml`: the documents as a multi-document YAML stream for
    `kubectl apply -f`, with a header saying what it is (it holds private keys: 0600)."""
    header = (
        "# Sandbox hosts written by `kokpit sandbox hosts up`: a Secret and a Host per host.\n"
        "# Holds private keys. Apply with: kubectl apply -f hosts.yaml (add -n NAMESPACE).\n"
    )
    return header + yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True)


@dataclass(frozen=True)
class InventoryHost:
    """A host as the inventory describes it: what a client needs to log in."""

    name: str
    address: str
    port: int
    user: str
    host_key: str
    private_key: str
    prefix: str
    cgroup_root: str
    pod_cidr: str


def parse_inventory(text: str) -> list[InventoryHost]:
    """`parse_inventory` reads `hosts.yaml` back: each Host joined with the Secret it names.

    Raises ValueError when a Host names a Secret the file does not hold.
    """
    documents = [doc for doc in yaml.safe_load_all(text) if doc]
    secrets = {
        doc["metadata"]["name"]: doc for doc in documents if doc.get("kind") == "Secret" and "data" in doc
    }
    hosts = []
    for doc in documents:
        if doc.get("kind") != "Host":
            continue
        spec = doc["spec"]
        secret = secrets.get(spec["credentialsSecretRef"]["name"])
        if secret is None:
            raise ValueError(f"Host {doc['metadata']['name']} names a Secret hosts.yaml does not hold")
        hosts.append(
            InventoryHost(
                name=doc["metadata"]["name"],
                address=spec["address"],
                port=int(spec["port"]),
                user=spec["user"],
                host_key=spec["hostKey"],
                private_key=base64.b64decode(secret["data"][SECRET_KEY]).decode(),
                prefix=spec["prefix"],
                cgroup_root=spec["cgroupRoot"],
                pod_cidr=spec["podCIDR"],
            )
        )
    return hosts
