"""How the sandbox runs `kwok` to give member clusters nodes that "run" pods.

A sandbox member is a real control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler) with no kubelets. `kwok` (sigs.k8s.io/kwok v0.8.0) plays the kubelet for Node
objects we create: it takes the node's Lease in `kube-node-lease` and renews it, marks the node
Ready, moves pods bound to it to Running/Ready with made-up pod IPs, completes pods owned by Jobs,
and finalises pods being deleted. Deployments, scheduling, rollouts and node-lifecycle behave as on a
real cluster, at the cost of a single small process per member and no containers at all.

It is run as the plain `kwok` binary (not through `kwokctl`), with:

- an admin kubeconfig (a `system:masters` client certificate): kwok then needs no RBAC objects, and
  with `--enable-crds` left unset no CRDs either: the Stages come from `--config` files;
- `--manage-nodes-with-annotation-selector`, so it touches only nodes carrying `NODE_ANNOTATION`
  (see `fake_node`) and leaves any other node alone;
- the Stage files packaged beside this module (`stage_files`). The `kwok` binary has no built-in
  stages: `kwokctl` writes these same defaults into its config for it, and a bare `kwok` given none
  exits with "no stages found". We ship kwok's "fast" set: node-initialize,
  node-heartbeat-with-lease, pod-ready, pod-complete, pod-delete;
- `--node-lease-duration-seconds`, which switches on kwok's lease heartbeat (renewed every quarter
  of the duration, like the kubelet). The node-heartbeat-with-lease stage only refreshes node
  conditions every ~10 minutes, so leases are what keeps kube-controller-manager from marking the
  nodes NotReady; the two go together;
- `--server-address` for its HTTP server (`/healthz`, `/readyz`, `/livez`, `/metrics`). That
  server starts only once kwok has reached the API server and started its controllers, so
  `healthz_url` answering is the signal that kwok is up. Plain HTTP and HTTPS (a self-signed
  certificate) share the one port.

kwok reads `$KWOK_WORKDIR/kwok.yaml` (default `~/.kwok/kwok.yaml`) in addition to `--config` when it
exists; `kwok_env` points that at a per-sandbox directory so a user's own kwok setup cannot leak in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

NODE_ANNOTATION = "kwok.x-k8s.io/node"
"""Annotation key kwok selects its nodes by (the key kwok's own manifests use)."""

NODE_ANNOTATION_VALUE = "fake"
NODE_SELECTOR = f"{NODE_ANNOTATION}={NODE_ANNOTATION_VALUE}"
"""The value of `--manage-nodes-with-annotation-selector`."""

# Capacity of every kwok node: big enough that a demo never runs out, small enough that the
# dynamic replica division later has something to divide.
NODE_CPU = "32"
NODE_MEMORY = "256Gi"
NODE_PODS = "110"

DEFAULT_NODE_IP = "10.0.0.1"
DEFAULT_POD_CIDR = "10.244.0.0/16"
DEFAULT_NODE_LEASE_DURATION_SECONDS = 40
"""The kubelet's default lease duration; kwok renews every quarter of it (10 s)."""

STAGE_DIR = Path(__file__).parent / "kwok_stages"

_STAGE_NAMES = (
    "node-initialize.yaml",
    "node-heartbeat-with-lease.yaml",
    "pod-ready.yaml",
    "pod-complete.yaml",
    "pod-delete.yaml",
)


def stage_files() -> list[Path]:
    """`stage_files` returns the packaged kwok Stage files, one Stage per file, in a fixed order.

    Each is passed to kwok with its own `--config` flag (`kwok_argv` does this).
    """
    return [STAGE_DIR / name for name in _STAGE_NAMES]


def kwok_argv(
    *,
    kwok: Path,
    kubeconfig: Path,
    server_address: str,
    stage_files: Sequence[Path],
    node_ip: str = DEFAULT_NODE_IP,
    pod_cidr: str = DEFAULT_POD_CIDR,
    node_lease_duration_seconds: int = DEFAULT_NODE_LEASE_DURATION_SECONDS,
) -> list[str]:
    """`kwok_argv` is the command line that runs `kwok` against one member cluster.

    `kubeconfig` must exist when kwok starts: kwok silently falls back to in-cluster configuration
    when the file is missing. kwok gives up (exit 1) if it cannot list nodes within about 30 s, so
    start it once the API server is ready. `server_address` is `host:port` for its HTTP server.
    `node_ip` becomes each node's InternalIP (and pods' hostIP) unless the Node already carries one;
    pod IPs come from the node's `spec.podCIDR` when set, else from `pod_cidr`.
    """
    if not stage_files:
        raise ValueError("kwok needs at least one Stage file; it has none built in")
    if node_lease_duration_seconds <= 0:
        raise ValueError("the packaged node heartbeat stage relies on node leases; use a positive duration")
    for path in stage_files:
        # --config is a string slice flag: a comma inside a path would split it in two.
        if "," in str(path):
            raise ValueError(f"kwok cannot take a --config path containing a comma: {path}")
    argv = [
        str(kwok),
        f"--kubeconfig={kubeconfig}",
        f"--manage-nodes-with-annotation-selector={NODE_SELECTOR}",
        f"--node-ip={node_ip}",
        f"--cidr={pod_cidr}",
        f"--node-lease-duration-seconds={node_lease_duration_seconds}",
        f"--server-address={server_address}",
    ]
    argv.extend(f"--config={path}" for path in stage_files)
    return argv


def kwok_env(workdir: Path) -> dict[str, str]:
    """`kwok_env` is the environment to add for kwok: its work directory, so only our config counts."""
    return {"KWOK_WORKDIR": str(workdir)}


def _client_host_port(server_address: str) -> str:
    host, sep, port = server_address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"server address must be host:port, got {server_address!r}")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host in ("[::]", "::"):
        host = "[::1]"
    return f"{host}:{port}"


def healthz_url(server_address: str) -> str:
    """`healthz_url` is where kwok answers `ok` once it is running (plain HTTP on `--server-address`).

    A wildcard listen address is turned into the matching loopback address.
    """
    return f"http://{_client_host_port(server_address)}/healthz"


def metrics_url(server_address: str) -> str:
    """`metrics_url` is kwok's own Prometheus endpoint on `--server-address`."""
    return f"http://{_client_host_port(server_address)}/metrics"


def fake_node(
    name: str,
    *,
    cpu: str,
    memory: str,
    pods: str,
    labels: Mapping[str, str],
    pod_cidr: str | None = None,
    internal_ip: str | None = None,
) -> dict[str, Any]:
    """`fake_node` is a Node manifest that kwok will manage, to be created with POST (or apply).

    The API server keeps `status` only when a Node is created (later writes need the `status`
    subresource), so capacity and allocatable given here are what the scheduler sees: kwok's
    node-initialize stage keeps them and fills in conditions, nodeInfo and, unless given here,
    addresses (InternalIP from `--node-ip`). The node has no taints, so ordinary pods schedule onto
    it without tolerations. `labels` (for example `topology.kubernetes.io/region` and `zone`) are
    added last and win over the defaults.
    """
    node_labels: dict[str, str] = {
        "type": "kwok",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node-role.kubernetes.io/agent": "",
    }
    node_labels.update(labels)
    resources = {"cpu": cpu, "memory": memory, "pods": pods}
    status: dict[str, Any] = {
        "capacity": dict(resources),
        "allocatable": dict(resources),
        "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux"},
    }
    if internal_ip is not None:
        status["addresses"] = [
            {"type": "InternalIP", "address": internal_ip},
            {"type": "Hostname", "address": name},
        ]
    spec: dict[str, Any] = {}
    if pod_cidr is not None:
        spec["podCIDR"] = pod_cidr
        spec["podCIDRs"] = [pod_cidr]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {
                NODE_ANNOTATION: NODE_ANNOTATION_VALUE,
                "node.alpha.kubernetes.io/ttl": "0",
            },
            "labels": node_labels,
        },
        "spec": spec,
        "status": status,
    }
