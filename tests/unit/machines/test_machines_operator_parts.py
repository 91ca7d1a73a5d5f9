"""The operator's small pure parts: scripts with env, sha256sum output, claims, node conditions,
failure messages, and preparing components for a host."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kokpit.api.machine import MachineSpec
from kokpit.machines.artifacts import ArtifactCache
from kokpit.machines.facts import HostFacts
from kokpit.machines.hash_cache import HashCache
from kokpit.machines.health_plan import DONE_ANNOTATION, REMEDIATION_ANNOTATION, REQUESTED_ANNOTATION
from kokpit.machines.host_claims import claim_problem
from kokpit.machines.host_state import Action
from kokpit.machines.joining import NodeView, label_patch, node_conditions, node_view, uses_bootstrap
from kokpit.machines.prepare import ContextInputs, resolve
from kokpit.machines.remediation import pending_remediation
from kokpit.machines.ssh import parse_sha256sum, script_with_env
from kokpit.machines.steps import Outcome

A = "a" * 64
B = "b" * 64


def test_script_with_env_exports_quoted_values_first() -> None:
    assert script_with_env("echo $X", {"X": "it's", "A": "1"}).splitlines() == [
        "export A=1",
        "export X='it'\"'\"'s'",
        "echo $X",
    ]
    with pytest.raises(ValueError, match="not a shell variable"):
        script_with_env("true", {"A-B": "1"})


def test_parse_sha256sum_reads_text_and_binary_mode_lines() -> None:
    output = f"{A}  /etc/a conf\n{B} */bin/b\nsha256sum: /x: No such file or directory\n"
    assert parse_sha256sum(output) == {"/etc/a conf": A, "/bin/b": B}


def _host(holder: str | None) -> Any:
    status = {"machineRef": {"name": holder}} if holder else {}
    return SimpleNamespace(
        metadata=SimpleNamespace(name="h1"),
        get=lambda key, default=None: {"status": status}.get(key, default),
    )


@pytest.mark.parametrize(
    ("holder", "alive", "problem"),
    [
        pytest.param(None, set(), False, id="a free host may be claimed"),
        pytest.param("m1", {"m1"}, False, id="a host already ours stays ours"),
        pytest.param("m2", {"m2"}, True, id="a host held by a live machine is refused"),
        pytest.param("m2", set(), False, id="a claim by a machine that is gone is taken over"),
    ],
)
def test_claim_problem(holder: str | None, alive: set[str], problem: bool) -> None:
    found = claim_problem(_host(holder), "m1", lambda name: name in alive)
    assert (found is not None) is problem


@pytest.mark.parametrize(
    ("node", "joined", "healthy"),
    [
        pytest.param(None, ("False", "WaitingForNode"), ("Unknown", "WaitingForNode"), id="not registered"),
        pytest.param(
            {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}},
            ("True", "NodeRegistered"),
            ("True", "KubeletReady"),
            id="registered and Ready",
        ),
        pytest.param(
            {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]}},
            ("True", "NodeRegistered"),
            ("False", "KubeletNotReady"),
            id="registered, kubelet not ready",
        ),
        pytest.param(
            {
                "status": {
                    "conditions": [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}]
                }
            },
            ("True", "NodeRegistered"),
            ("Unknown", "NodeStatusUnknown"),
            id="kubelet stopped posting status",
        ),
    ],
)
def test_node_conditions(
    node: dict[str, Any] | None, joined: tuple[str, str], healthy: tuple[str, str]
) -> None:
    got_joined, got_healthy = node_conditions("n1", node_view(node))
    assert (got_joined.status, got_joined.reason) == joined
    assert (got_healthy.status, got_healthy.reason) == healthy


def test_label_patch_is_only_what_the_node_lacks() -> None:
    view = NodeView(registered=True, labels={"a": "1", "b": "2"})
    assert label_patch(view, {"a": "1", "b": "3", "c": "4"}) == {"b": "3", "c": "4"}


def test_uses_bootstrap_looks_for_the_path_in_any_rendered_text() -> None:
    assert uses_bootstrap(
        ["--bootstrap-kubeconfig=/p/var/lib/kokpit/b.kubeconfig"], "/p/var/lib/kokpit/b.kubeconfig"
    )
    assert not uses_bootstrap(["containerd --config x"], "/p/var/lib/kokpit/b.kubeconfig")


def test_a_failure_message_names_component_step_exit_and_rollback() -> None:
    outcome = Outcome(
        "kubelet",
        Action.INSTALL,
        healthy=False,
        failed_step="install",
        exit_status=2,
        tail="no space",
        rolled_back=True,
    )
    assert outcome.reason == "InstallFailed"
    assert outcome.message == "kubelet: install failed (exit 2); rolled back (remove ran)\nno space"
    failed_remove = Outcome(
        "kubelet",
        Action.INSTALL,
        healthy=False,
        failed_step="check",
        exit_status=1,
        tail="t",
        rolled_back=True,
        remove_tail="r",
    )
    assert failed_remove.reason == "CheckFailed"
    assert "remove failed as well" in failed_remove.message and failed_remove.message.endswith(
        "--- remove:\nr"
    )


def _component(name: str, *, depends: list[str] | None = None, artifact: str | None = None) -> Any:
    variant: dict[str, Any] = {
        "os": "linux",
        "architectures": ["amd64"],
        "files": [
            {
                "path": "/etc/{{ version }}/" + name,
                "content": "server={{ cluster.server }} p={{ parameters.p }}",
            }
        ],
        "install": "echo {{ host.prefix }}",
    }
    if artifact:
        variant["artifacts"] = [{"source": f"file://{artifact}", "path": "/opt/bin/" + name}]
    body = {
        "apiVersion": "machines.kokpit.io/v1alpha1",
        "kind": "NodeComponent",
        "metadata": {"name": name},
        "spec": {
            "versions": ["v1"],
            "dependsOn": depends or [],
            "parameters": {"type": "object", "properties": {"p": {"type": "integer", "default": 1}}},
            "variants": [variant],
        },
    }
    return body


def _inputs(spec: MachineSpec) -> ContextInputs:
    host = SimpleNamespace(
        metadata=SimpleNamespace(name="h1"),
        get=lambda key, default=None: {"spec": {"address": "10.0.0.1", "prefix": "/srv/h1"}}.get(
            key, default
        ),
    )
    return ContextInputs(
        machine="m1",
        spec=spec,
        host=host,
        facts=HostFacts("linux", "debian", "amd64"),
        node_name="h1",
        server="https://10.0.0.254:6443",
        ca_data="Q0E=",
        bootstrap_kubeconfig="/srv/h1/var/lib/kokpit/bootstrap-kubelet.kubeconfig",
        binaries="/bin",
    )


def _spec(components: list[dict[str, Any]]) -> MachineSpec:
    return MachineSpec.model_validate(
        {
            "hostRef": {"name": "h1"},
            "clusterRef": {"kind": "HostedCluster", "name": "c"},
            "components": components,
        }
    )


async def test_resolve_orders_renders_below_the_prefix_and_hashes_artifacts(tmp_path: Path) -> None:
    binary = tmp_path / "tool"
    binary.write_bytes(b"tool")
    catalogue = [_component("b", depends=["a"], artifact=str(binary)), _component("a")]
    spec = _spec([{"name": "b", "version": "v1", "parameters": {"p": 7}}, {"name": "a", "version": "v1"}])
    resolved = await resolve(
        spec, catalogue_objects=catalogue, inputs=_inputs(spec), artifacts=ArtifactCache(tmp_path)
    )
    assert resolved.problem is None
    assert resolved.order == ("a", "b")
    a, b = resolved.prepared
    assert a.files[0].path == "/srv/h1/etc/v1/a"
    assert b.files[0].content == "server=https://10.0.0.254:6443 p=7"
    assert b.artifacts[0].path == "/srv/h1/opt/bin/b" and b.artifacts[0].local == binary
    assert a.scripts["install"] == "echo /srv/h1"
    # The digest follows the artifact's content.
    before = b.digest
    binary.write_bytes(b"other tool")
    again = await resolve(
        spec, catalogue_objects=catalogue, inputs=_inputs(spec), artifacts=ArtifactCache(tmp_path)
    )
    assert again.prepared[1].digest != before


@pytest.mark.parametrize(
    ("components", "reason"),
    [
        pytest.param(
            [{"name": "zz", "version": "v1"}], "UnknownComponent", id="a component not in the catalogue"
        ),
        pytest.param([{"name": "a", "version": "v9"}], "UnknownComponentVersion", id="a version not offered"),
        pytest.param([{"name": "b", "version": "v1"}], "MissingDependency", id="a dependency not listed"),
        pytest.param(
            [{"name": "a", "version": "v1", "parameters": {"p": "x"}}],
            "InvalidParameters",
            id="a parameter refused",
        ),
        pytest.param(
            [{"name": "c", "version": "v1"}], "ArtifactUnavailable", id="an artifact that is not there"
        ),
    ],
)
async def test_resolve_names_what_does_not_fit(
    components: list[dict[str, Any]], reason: str, tmp_path: Path
) -> None:
    catalogue = [
        _component("a"),
        _component("b", depends=["a"]),
        _component("c", artifact=str(tmp_path / "absent")),
    ]
    spec = _spec(components)
    resolved = await resolve(
        spec, catalogue_objects=catalogue, inputs=_inputs(spec), artifacts=ArtifactCache(tmp_path)
    )
    assert resolved.problem is not None and resolved.problem.reason == reason


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, None, id="nothing asked"),
        pytest.param({REMEDIATION_ANNOTATION: "repair"}, "repair", id="repair asked, never done"),
        pytest.param(
            {
                REMEDIATION_ANNOTATION: "reinstall",
                REQUESTED_ANNOTATION: "2026-01-01T00:00:10Z",
                DONE_ANNOTATION: "2026-01-01T00:00:05Z",
            },
            "reinstall",
            id="asked again after the last answer",
        ),
        pytest.param(
            {
                REMEDIATION_ANNOTATION: "repair",
                REQUESTED_ANNOTATION: "2026-01-01T00:00:10Z",
                DONE_ANNOTATION: "2026-01-01T00:00:10Z",
            },
            None,
            id="answered",
        ),
        pytest.param({REMEDIATION_ANNOTATION: "replace"}, None, id="replace is not the machine's to do"),
    ],
)
def test_pending_remediation(annotations: dict[str, str], expected: str | None) -> None:
    assert pending_remediation(annotations) == expected


def test_a_kept_hash_needs_the_same_signature_and_is_refreshed_after_a_while() -> None:
    now = [0.0]
    cache = HashCache(rehash_seconds=600, clock=lambda: now[0])
    cache.put("h", "/bin/x", "sig1", A)
    assert cache.get("h", "/bin/x", "sig1") == A
    assert cache.get("h", "/bin/x", "sig2") is None
    assert cache.get("other", "/bin/x", "sig1") is None
    now[0] = 601
    assert cache.get("h", "/bin/x", "sig1") is None
    cache.forget("h")
    now[0] = 0
    assert cache.get("h", "/bin/x", "sig1") is None
