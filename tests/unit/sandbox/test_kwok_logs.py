"""kwok serving container logs: the ClusterLogs config, the CRI log format, the node's kubelet port."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from kokpit.controlplane import kwok
from kokpit.sandbox.kwoklogs import (
    append_log_line,
    cluster_logs_config,
    cri_log_lines,
    with_kubelet_endpoint,
    write_log_files,
)

NOW = datetime(2026, 12, 2, 4, 30, 5, 123456, tzinfo=UTC)


def test_every_container_of_every_namespace_reads_the_one_followed_file() -> None:
    config = yaml.safe_load(cluster_logs_config(Path("/s/containers.log")))
    assert (config["apiVersion"], config["kind"]) == ("kwok.x-k8s.io/v1alpha1", "ClusterLogs")
    assert config["spec"]["selector"] == {}  # no namespaces and no names: every pod
    assert config["spec"]["logs"] == [{"logsFile": "/s/containers.log", "follow": True}]


def test_lines_are_in_the_cri_log_format_a_kubelet_reads() -> None:
    assert cri_log_lines(["one", "two"], now=NOW) == (
        "2026-12-02T04:30:05.123456000Z stdout F one\n2026-12-02T04:30:05.123456000Z stdout F two\n"
    )


def test_the_node_names_kwok_s_server_as_its_kubelet_and_keeps_its_capacity() -> None:
    node = kwok.fake_node("n1", cpu="1", memory="1Gi", pods="10", labels={})
    served = with_kubelet_endpoint(node, 12345)
    assert served["status"]["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 12345}}
    assert served["status"]["capacity"] == node["status"]["capacity"]
    assert "daemonEndpoints" not in node["status"]


def test_the_log_file_is_kept_across_restarts_and_appended_to(tmp_path: Path) -> None:
    config = write_log_files(tmp_path, now=NOW)
    assert yaml.safe_load(config.read_text())["spec"]["logs"][0]["logsFile"] == str(
        tmp_path / "containers.log"
    )
    append_log_line(tmp_path, "hello")
    write_log_files(tmp_path, now=NOW)
    lines = (tmp_path / "containers.log").read_text().splitlines()
    assert len(lines) == 2 and lines[-1].endswith(" stdout F hello")
