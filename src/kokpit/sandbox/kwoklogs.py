"""Logs for kwok's pods, so `kubectl logs [-f]` works on a sandbox member as on a real cluster.

kwok (v0.8.0) can play the kubelet's log endpoint (`/containerLogs/...`) on its server port: a
`ClusterLogs` configuration names the file every matching container's log is read from (in the
CRI log format a kubelet reads, one `<time> <stream> F <line>` per line) and whether to follow it.
The API server reaches that endpoint the way it reaches a kubelet: at the node's InternalIP and
`status.daemonEndpoints.kubeletEndpoint.Port`; so the sandbox's nodes carry loopback (kwok runs
beside the API server) and kwok's port. The API server checks no kubelet serving certificate
(no `--kubelet-certificate-authority`), so kwok's self-signed one is accepted.

Every container of a member shares one file, `DIR/clusters/<member>/kwok/containers.log`:
appending a line to it (`append_log_line`) shows up in every `kubectl logs -f` on that member.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

NODE_IP = "127.0.0.1"
"""The nodes' InternalIP: where the API server dials kwok for logs (kwok listens on loopback)."""
LOG_FILE = "containers.log"
CONFIG_FILE = "logs.yaml"
FIRST_LINES = ("kokpit sandbox: this container runs on a kwok node; its log is this file",)


def cluster_logs_config(log_file: Path) -> str:
    """The kwok `ClusterLogs` that serves `log_file`, followed, as every container's log."""
    document = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "ClusterLogs",
        "metadata": {"name": "sandbox-containers"},
        "spec": {"selector": {}, "logs": [{"logsFile": str(log_file), "follow": True}]},
    }
    return yaml.safe_dump(document, sort_keys=False)


def cri_log_lines(lines: Iterable[str], *, now: datetime) -> str:
    """`lines` in the CRI log format (RFC 3339 nano time, stream, `F` for a full line)."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
    return "".join(f"{stamp} stdout F {line}\n" for line in lines)


def with_kubelet_endpoint(node: dict[str, Any], port: int) -> dict[str, Any]:
    """`node` (a `fake_node` manifest) with kwok's server as its kubelet endpoint."""
    status = dict(node.get("status") or {})
    status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": port}}
    return {**node, "status": status}


def write_log_files(workdir: Path, *, now: datetime | None = None) -> Path:
    """Writes the log file (if missing) and the `ClusterLogs` config into kwok's `workdir`;
    returns the config's path, for kwok's `--config`."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_file = workdir / LOG_FILE
    if not log_file.exists():
        log_file.write_text(cri_log_lines(FIRST_LINES, now=now or datetime.now(UTC)))
    config = workdir / CONFIG_FILE
    config.write_text(cluster_logs_config(log_file))
    return config


def append_log_line(workdir: Path, line: str) -> None:
    """Appends `line` to the log every container of the member shows (`kubectl logs -f` sees it)."""
    with (workdir / LOG_FILE).open("a") as log:
        log.write(cri_log_lines([line], now=datetime.now(UTC)))
