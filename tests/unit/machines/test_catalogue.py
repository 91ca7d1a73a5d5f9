"""The built-in NodeComponents: valid objects, an install order, and templates that render (with
StrictUndefined, in the operator's sandbox) into configuration their daemons can parse and scripts
`sh` accepts."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from kokpit.api.machine import NodeComponent
from kokpit.machines.catalogue import DEFAULT_COMPONENTS, builtin_components, catalogue_files
from kokpit.machines.components import install_order, select_variant, validate_parameters
from kokpit.machines.facts import HostFacts
from kokpit.machines.rendering import (
    ClusterContext,
    HostContext,
    MachineContext,
    RenderedComponent,
    TemplateContext,
    render,
)

CATALOGUE = {
    manifest["metadata"]["name"]: NodeComponent.model_validate(manifest) for manifest in builtin_components()
}
DEBIAN_AMD64 = HostFacts(os="linux", distribution="debian", architecture="amd64")

SANDBOX_HOST = HostContext(
    name="host-1",
    address="10.77.0.11",
    prefix="/srv/kokpit/hosts/host-1",
    cgroup_root="/kokpit/host-1",
    pod_cidr="10.78.1.0/24",
    os="linux",
    distribution="debian",
    architecture="amd64",
)
WHOLE_MACHINE = HostContext(
    name="worker-7",
    address="192.0.2.7",
    prefix="/",
    cgroup_root="/",
    pod_cidr="10.244.7.0/24",
    os="linux",
    distribution="debian",
    architecture="amd64",
)
HOSTS = {"sandbox host": SANDBOX_HOST, "whole machine": WHOLE_MACHINE}
DOUBLED_SLASH = re.compile(r"(?<![:/])//(etc|opt|run|srv|usr|var)/")
"""A prefix of `/` joined naively (`{{ host.prefix }}/etc`) would give `//etc/...`."""


def context(host: HostContext, name: str, version: str, *, labelled: bool = True) -> TemplateContext:
    component = CATALOGUE[name]
    return TemplateContext(
        version=version,
        parameters=validate_parameters(component.spec.parameters, {}, component=name),
        host=host,
        machine=MachineContext(
            name="prod-0",
            node_name="prod-0",
            labels={"pool": "a", "kokpit.io/set": "prod"} if labelled else {},
            taints=[{"key": "dedicated", "value": "web", "effect": "NoSchedule"}] if labelled else [],
        ),
        cluster=ClusterContext(
            server="https://10.77.0.1:6443",
            ca_data="LS0tLS1CRUdJTg==",
            bootstrap_kubeconfig=host.prefix.rstrip("/") + "/var/lib/kokpit/bootstrap/kubeconfig",
        ),
        binaries="/root/.cache/kokpit/bin",
    )


def rendered(name: str, version: str, host: HostContext, *, labelled: bool = True) -> RenderedComponent:
    variant = select_variant(CATALOGUE[name], DEBIAN_AMD64)
    return render(variant, context(host, name, version, labelled=labelled), component=name)


def file_content(component: RenderedComponent, path: str) -> str:
    return next(f.content for f in component.files if f.path == path)


CASES = [
    pytest.param(name, version, host_id, id=f"{name} {version} on a {host_id}")
    for name in sorted(CATALOGUE)
    for version in CATALOGUE[name].spec.versions
    for host_id in HOSTS
]


def test_one_file_per_component_named_after_it() -> None:
    assert catalogue_files() == [f"{name}.yaml" for name in sorted(CATALOGUE)]
    assert sorted(CATALOGUE) == sorted(DEFAULT_COMPONENTS)


def test_default_components_are_in_install_order() -> None:
    wanted = [(name, CATALOGUE[name].spec.versions[-1]) for name in DEFAULT_COMPONENTS]
    assert [name for name, _ in install_order(wanted, CATALOGUE)] == list(DEFAULT_COMPONENTS)


@pytest.mark.parametrize(("name", "version", "host_id"), CASES)
def test_every_template_renders_and_every_script_parses(name: str, version: str, host_id: str) -> None:
    component = rendered(name, version, HOSTS[host_id])
    assert component.scripts, "every component has steps"
    for step, script in component.scripts.items():
        result = subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True, check=False)
        assert result.returncode == 0, f"{name} {step}: {result.stderr}"
        assert not DOUBLED_SLASH.search(script), f"{name} {step}: a doubled slash in a path"
    prefix = HOSTS[host_id].prefix.rstrip("/")
    for file in component.files:
        assert file.host_path == (prefix + file.path if prefix else file.path)
        assert not DOUBLED_SLASH.search(file.content), f"{name} {file.path}: a doubled slash"


@pytest.mark.parametrize("host_id", HOSTS)
def test_containerd_config_is_toml_with_what_this_machine_needs(host_id: str) -> None:
    host = HOSTS[host_id]
    prefix = host.prefix.rstrip("/")
    config = tomllib.loads(
        file_content(rendered("containerd", "v2.4.2", host), "/etc/containerd/config.toml")
    )
    assert config["version"] == 4
    assert config["root"] == f"{prefix}/var/lib/containerd"
    assert config["state"] == f"{prefix}/run/containerd"
    plugins = config["plugins"]
    assert plugins["io.containerd.server.v1.grpc"]["address"] == f"{prefix}/run/containerd/containerd.sock"
    runtime = plugins["io.containerd.cri.v1.runtime"]
    assert runtime["restrict_oom_score_adj"] is True
    assert runtime["tolerate_missing_hugetlb_controller"] is True
    assert runtime["netns_mounts_under_state_dir"] is True
    runc = runtime["containerd"]["runtimes"]["runc"]
    assert runc["options"]["SystemdCgroup"] is False
    assert runc["options"]["Root"] == f"{prefix}/run/runc"
    assert runtime["cni"] == {"bin_dirs": [f"{prefix}/opt/cni/bin"], "conf_dir": f"{prefix}/etc/cni/net.d"}
    assert plugins["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"] == "kokpit.local/pause:3.10"


def test_containerd_uploads_kokpits_images_from_the_cache() -> None:
    component = rendered("containerd", "v2.4.2", SANDBOX_HOST)
    sources = {a.path: a.source for a in component.artifacts}
    assert (
        sources["/var/lib/kokpit/images/pause-3.10.tar"]
        == "file:///root/.cache/kokpit/bin/../images/pause-3.10.tar"
    )
    assert (
        sources["/opt/kokpit/bin/containerd"] == "file:///root/.cache/kokpit/bin/containerd/v2.4.2/containerd"
    )


def kubelet_config(version: str, host: HostContext, *, labelled: bool = True) -> dict[str, Any]:
    component = rendered("kubelet", version, host, labelled=labelled)
    loaded: dict[str, Any] = yaml.safe_load(file_content(component, "/etc/kubernetes/kubelet-config.yaml"))
    return loaded


@pytest.mark.parametrize("version", ["v1.35.4", "v1.36.5"])
def test_kubelet_configuration(version: str) -> None:
    config = kubelet_config(version, SANDBOX_HOST)
    assert config["kind"] == "KubeletConfiguration"
    assert config["failCgroupV1"] is False
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["cgroupRoot"] == "/kokpit/host-1"
    assert (
        config["containerRuntimeEndpoint"] == "unix:///srv/kokpit/hosts/host-1/run/containerd/containerd.sock"
    )
    assert config["registerWithTaints"] == [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]
    assert config["maxPods"] == 110
    assert config["authorization"] == {"mode": "Webhook"}


@pytest.mark.parametrize(
    ("labelled", "labels_flag"),
    [
        pytest.param(True, "--node-labels=kokpit.io/set=prod,pool=a", id="labels sorted in one flag"),
        pytest.param(False, None, id="no labels, no flag"),
    ],
)
def test_kubelet_flags(labelled: bool, labels_flag: str | None) -> None:
    component = rendered("kubelet", "v1.36.5", SANDBOX_HOST, labelled=labelled)
    flags = file_content(component, "/etc/kubernetes/kubelet.flags").split()
    assert "--node-ip=10.77.0.11" in flags
    assert "--hostname-override=prod-0" in flags
    assert "--bootstrap-kubeconfig=/srv/kokpit/hosts/host-1/var/lib/kokpit/bootstrap/kubeconfig" in flags
    assert "--root-dir=/srv/kokpit/hosts/host-1/var/lib/kubelet" in flags
    assert [f for f in flags if f.startswith("--node-labels")] == ([labels_flag] if labels_flag else [])
    assert {a.source for a in component.artifacts} == {"file:///root/.cache/kokpit/bin/v1.36.5/kubelet"}


def test_bridge_network_uses_the_hosts_pod_subnet_below_its_prefix() -> None:
    component = rendered("cni-plugins", "1.1.1", SANDBOX_HOST)
    conflist = json.loads(file_content(component, "/etc/cni/net.d/10-kokpit.conflist"))
    bridge = conflist["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.78.1.0/24"}]]
    assert bridge["ipam"]["dataDir"] == "/srv/kokpit/hosts/host-1/var/lib/cni/networks"
    assert [plugin["type"] for plugin in conflist["plugins"]] == ["bridge", "portmap"]


def test_kube_proxy_uses_the_kubelets_kubeconfig_and_leaves_conntrack_alone() -> None:
    component = rendered("kube-proxy", "v1.36.5", SANDBOX_HOST)
    config = yaml.safe_load(file_content(component, "/etc/kubernetes/kube-proxy.yaml"))
    assert config["mode"] == "iptables"
    assert config["clientConnection"]["kubeconfig"] == "/srv/kokpit/hosts/host-1/etc/kubernetes/kubelet.conf"
    assert config["conntrack"]["maxPerCore"] == 0
    assert config["hostnameOverride"] == "prod-0"


def test_every_component_has_a_check_repair_and_remove() -> None:
    for name, component in CATALOGUE.items():
        for variant in component.spec.variants:
            missing = [step for step in ("install", "check", "repair") if getattr(variant, step) is None]
            assert missing == [], f"{name} lacks {missing}"
            if name != "runc":  # a distribution package stays (remove leaves it)
                assert variant.remove is not None, f"{name} lacks remove"


def test_catalogue_files_ship_in_the_package() -> None:
    directory = Path(__file__).resolve().parents[3] / "src" / "kokpit" / "machines" / "catalogue"
    assert sorted(p.name for p in directory.glob("*.yaml")) == catalogue_files()
