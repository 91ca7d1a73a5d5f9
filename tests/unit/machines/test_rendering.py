"""Rendering a component's variant for a host in the sandbox, and its config digest."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from kokpit.api.machine import Variant
from kokpit.machines.digest import config_digest
from kokpit.machines.rendering import (
    ClusterContext,
    HostContext,
    MachineContext,
    RenderedComponent,
    TemplateContext,
    TemplateError,
    render,
)

HOST = HostContext(
    name="host-1",
    address="10.77.0.11",
    prefix="/srv/hosts/host-1",
    cgroup_root="/kokpit/host-1",
    pod_cidr="10.78.1.0/24",
    os="linux",
    distribution="debian",
    architecture="amd64",
)
CONTEXT = TemplateContext(
    version="v1.36.5",
    parameters={"maxPods": 110, "clusterDNS": ["10.96.0.10"]},
    host=HOST,
    machine=MachineContext(
        name="m-1",
        node_name="node-1",
        labels={"pool": "a", "zone": "z1"},
        taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
    ),
    cluster=ClusterContext(
        server="https://10.77.0.1:6443",
        ca_data="Q0E=",
        bootstrap_kubeconfig="/srv/hosts/host-1/bootstrap.conf",
    ),
    binaries="/root/.cache/kokpit/bin",
)
VARIANT: dict[str, Any] = {
    "architectures": ["amd64"],
    "artifacts": [
        {"source": "file://{{ binaries }}/{{ version }}/kubelet", "path": "/opt/kokpit/bin/kubelet"},
    ],
    "files": [
        {
            "path": "/etc/kubernetes/kubelet-{{ version }}.yaml",
            "mode": "0600",
            "content": (
                "maxPods: {{ parameters.maxPods }}\n"
                "clusterDNS: {{ parameters.clusterDNS | tojson }}\n"
                "cgroupRoot: {{ host.cgroupRoot }}\n"
                "podCIDR: {{ host.podCIDR }}\n"
                "registerWithTaints: {{ machine.taints | tojson }}\n"
                "server: {{ cluster.server }}\n"
            ),
        },
        {"path": "/etc/kubernetes/kubelet.flags", "content": "--hostname-override={{ machine.nodeName }}\n"},
    ],
    "install": 'P=\'{{ host.prefix.rstrip("/") }}\'\nmkdir -p "$P/var/lib/kubelet"\n',
    "check": "curl -fsS http://{{ host.address }}:10248/healthz\n",
    "remove": "rm -rf '{{ host.prefix }}/var/lib/kubelet'",
}


def variant(**changes: Any) -> Variant:
    return Variant.model_validate({**VARIANT, **changes})


def test_everything_is_rendered_and_placed_below_the_prefix() -> None:
    rendered = render(variant(), CONTEXT, component="kubelet")
    assert (rendered.name, rendered.version) == ("kubelet", "v1.36.5")
    [artifact] = rendered.artifacts
    assert artifact.source == "file:///root/.cache/kokpit/bin/v1.36.5/kubelet"
    assert (artifact.path, artifact.host_path) == (
        "/opt/kokpit/bin/kubelet",
        "/srv/hosts/host-1/opt/kokpit/bin/kubelet",
    )
    assert (artifact.mode, artifact.sha256) == (0o755, None)
    config, flags = rendered.files
    assert config.path == "/etc/kubernetes/kubelet-v1.36.5.yaml"
    assert config.host_path == "/srv/hosts/host-1/etc/kubernetes/kubelet-v1.36.5.yaml"
    assert config.mode == 0o600
    assert config.content == (
        "maxPods: 110\n"
        'clusterDNS: ["10.96.0.10"]\n'
        "cgroupRoot: /kokpit/host-1\n"
        "podCIDR: 10.78.1.0/24\n"
        'registerWithTaints: [{"effect": "NoSchedule", "key": "dedicated", "value": "gpu"}]\n'
        "server: https://10.77.0.1:6443\n"
    )
    assert (flags.mode, flags.content) == (0o644, "--hostname-override=node-1\n")
    assert rendered.scripts == {
        "install": "P='/srv/hosts/host-1'\nmkdir -p \"$P/var/lib/kubelet\"\n",
        "check": "curl -fsS http://10.77.0.11:10248/healthz\n",
        "remove": "rm -rf '/srv/hosts/host-1/var/lib/kubelet'",
    }


def test_a_whole_machine_prefix_leaves_paths_as_they_are() -> None:
    whole = dataclasses.replace(CONTEXT, host=dataclasses.replace(HOST, prefix="/"))
    rendered = render(variant(), whole, component="kubelet")
    assert [f.host_path for f in rendered.files] == [
        "/etc/kubernetes/kubelet-v1.36.5.yaml",
        "/etc/kubernetes/kubelet.flags",
    ]
    assert rendered.scripts["install"].startswith("P=''\n")


def test_labels_iterate_in_a_stable_order() -> None:
    files = [
        {"path": "/f", "content": "{% for k, v in machine.labels | dictsort %}{{ k }}={{ v }},{% endfor %}"}
    ]
    assert render(variant(files=files), CONTEXT, component="kubelet").files[0].content == "pool=a,zone=z1,"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"install": "echo {{ host.prefx }}"},
            "component kubelet: step install: undefined: 'dict object' has no attribute 'prefx'",
            id="misspelt variable",
        ),
        pytest.param(
            {"check": "{% if %}"},
            "component kubelet: step check: syntax error on line 1: Expected an expression, "
            "got 'end of statement block'",
            id="syntax error",
        ),
        pytest.param(
            {"files": [{"path": "/f", "content": "{{ nothing }}"}]},
            "component kubelet: file /f: undefined: 'nothing' is undefined",
            id="undefined in a file",
        ),
        pytest.param(
            {"files": [{"path": "/f", "content": "{{ parameters.clear() }}"}]},
            "component kubelet: file /f: refused by the template sandbox: "
            "access to attribute 'clear' of 'dict' object is unsafe.",
            id="mutating the context",
        ),
        pytest.param(
            {"configure": "{{ ''.__class__.__mro__ }}"},
            "component kubelet: step configure: refused by the template sandbox: "
            "access to attribute '__class__' of 'str' object is unsafe.",
            id="dunder attribute",
        ),
        pytest.param(
            {"files": [{"path": "/x{{ '/..' }}", "content": ""}]},
            "component kubelet: file /x{{ '/..' }} (path): "
            "rendered path '/x/..' must be an absolute path without '..'",
            id="rendered path with ..",
        ),
        pytest.param(
            {
                "artifacts": [
                    {"source": "file:///a", "path": "/{{ '' }}"},
                    {"source": "file:///b", "path": "/x"},
                ],
                "files": [{"path": "/{{ 'x' }}", "content": ""}],
            },
            "component kubelet: artifact /x: another file or artifact is also /x",
            id="two on one path",
        ),
        pytest.param(
            {"artifacts": [{"source": "https://{{ ' ' }}x", "path": "/a"}]},
            "component kubelet: artifact /a (source): rendered source 'https:// x' must be a file:// or "
            "https:// URL without spaces",
            id="source with a space",
        ),
        pytest.param(
            {"install": "{{ 1 // 0 }}"},
            "component kubelet: step install: ZeroDivisionError: integer division or modulo by zero",
            id="arithmetic",
        ),
    ],
)
def test_template_errors_are_one_line(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(variant(**changes), CONTEXT, component="kubelet")
    assert str(caught.value) == message
    assert caught.value.reason == "TemplateError"


def test_the_context_cannot_be_changed_by_a_template() -> None:
    files = [{"path": "/f", "content": "{% set _ = machine.labels.update({'x': 'y'}) %}"}]
    with pytest.raises(TemplateError, match="unsafe"):
        render(variant(files=files), CONTEXT, component="kubelet")
    assert "x" not in CONTEXT.machine.labels


def hashed(rendered: RenderedComponent) -> RenderedComponent:
    return rendered.with_artifact_hashes({"/opt/kokpit/bin/kubelet": "ab" * 32})


def test_the_digest_is_stable_and_needs_artifact_hashes() -> None:
    rendered = render(variant(), CONTEXT, component="kubelet")
    with pytest.raises(ValueError, match="artifact /opt/kokpit/bin/kubelet has no sha256 yet"):
        config_digest(rendered)
    digest = config_digest(hashed(rendered))
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert config_digest(hashed(render(variant(), CONTEXT, component="kubelet"))) == digest
    reordered = dataclasses.replace(hashed(rendered), files=tuple(reversed(rendered.files)))
    assert config_digest(reordered) == digest


def test_the_digest_ignores_the_prefix_and_the_scripts() -> None:
    base = config_digest(hashed(render(variant(), CONTEXT, component="kubelet")))
    other_prefix = dataclasses.replace(CONTEXT, host=dataclasses.replace(HOST, prefix="/srv/hosts/host-2"))
    assert config_digest(hashed(render(variant(), other_prefix, component="kubelet"))) == base
    assert config_digest(hashed(render(variant(check="true"), CONTEXT, component="kubelet"))) == base


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"parameters": {"maxPods": 50, "clusterDNS": ["10.96.0.10"]}}, id="a parameter"),
        pytest.param({"version": "v1.35.4"}, id="the version (in a path and a source)"),
        pytest.param({"binaries": "/elsewhere"}, id="an artifact source"),
    ],
)
def test_the_digest_follows_the_configuration(change: dict[str, Any]) -> None:
    base = config_digest(hashed(render(variant(), CONTEXT, component="kubelet")))
    changed = render(variant(), dataclasses.replace(CONTEXT, **change), component="kubelet")
    hashes = {a.path: "ab" * 32 for a in changed.artifacts}
    assert config_digest(changed.with_artifact_hashes(hashes)) != base


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(
            [{"path": "/etc/kubernetes/kubelet-{{ version }}.yaml", "mode": "0644", "content": "x"}],
            id="mode",
        ),
        pytest.param([{"path": "/etc/kubernetes/other.yaml", "mode": "0600", "content": "x"}], id="path"),
    ],
)
def test_the_digest_follows_modes_and_paths(files: list[dict[str, Any]]) -> None:
    same = [{"path": "/etc/kubernetes/kubelet-{{ version }}.yaml", "mode": "0600", "content": "x"}]
    base = config_digest(hashed(render(variant(files=same), CONTEXT, component="kubelet")))
    assert config_digest(hashed(render(variant(files=files), CONTEXT, component="kubelet"))) != base


def test_another_binary_changes_the_digest() -> None:
    rendered = render(variant(), CONTEXT, component="kubelet")
    first = config_digest(rendered.with_artifact_hashes({"/opt/kokpit/bin/kubelet": "ab" * 32}))
    assert config_digest(rendered.with_artifact_hashes({"/opt/kokpit/bin/kubelet": "cd" * 32})) != first
