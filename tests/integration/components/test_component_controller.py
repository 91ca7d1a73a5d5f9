"""Components end to end on the sandbox: rendered on the hub, delivered to the members, status back.

Every hub controller runs in-process; the members are real control planes with kwok nodes, so the
pods a Component asks for become ready. What a user writes is a Component (and, for the platform
team, ComponentTemplates); what they see is the members' workloads and the Component's status.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kokpit.components.builtin import LANGUAGE_DEFAULTS, PARAMETERS_SCHEMA, TEMPLATE
from kokpit.settings import HubSettings
from tests.support import (
    HubThread,
    SandboxHandle,
    Streaming,
    kokpit_cli,
    kubectl,
    kubectl_apply,
    kubectl_get,
    wait_until,
)

pytestmark = pytest.mark.integration

TIMEOUT = 120.0
COMPONENTS = "components.apps.kokpit.io"


@pytest.fixture(autouse=True)
def components_removed(fleet: SandboxHandle, hub_controllers: HubThread) -> Iterator[None]:
    """The fleet is shared: what a test rendered goes with it, so later tests (a drain) see only theirs."""
    yield
    kubectl(
        fleet.kubeconfig("hub"), "delete", COMPONENTS, "--all", "-A", "--cascade=foreground", "--timeout=60s"
    )
    wait_until(
        "the members hold no Component's workload", lambda: not rendered_on_members(fleet), timeout=TIMEOUT
    )


def rendered_on_members(fleet: SandboxHandle) -> list[str]:
    found = []
    for member in ("member1", "member2", "member3"):
        listed = json.loads(
            kubectl(fleet.kubeconfig(member), "get", "deployments", "-A", "-o", "json").stdout
        )
        found += [
            f"{member}/{d['metadata']['namespace']}/{d['metadata']['name']}"
            for d in listed.get("items") or ()
            if d["metadata"]["namespace"].startswith("comp-")
        ]
    return found


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def component(name: str, ns: str, placement: dict[str, Any], **spec: Any) -> dict[str, Any]:
    base = {"workloadType": "Deployment", "language": "python", "runType": "server", "image": "demo:1"}
    return {
        "apiVersion": "apps.kokpit.io/v1beta1",
        "kind": "Component",
        "metadata": {"name": name, "namespace": ns},
        "spec": base | {"placement": placement} | spec,
    }


def on(member: str) -> dict[str, Any]:
    return {"clusters": [{"name": member}]}


def java_template(env: dict[str, str]) -> dict[str, Any]:
    """The platform team's java template: the built-in one with its own environment."""
    defaults = {**LANGUAGE_DEFAULTS["java"], "env": {**LANGUAGE_DEFAULTS["java"]["env"], **env}}
    return {
        "apiVersion": "apps.kokpit.io/v1alpha1",
        "kind": "ComponentTemplate",
        "metadata": {"name": "platform-java"},
        "spec": {
            "selector": {"workloadTypes": ["Deployment"], "languages": ["java"], "runTypes": ["server"]},
            "parametersSchema": PARAMETERS_SCHEMA,
            "defaults": defaults,
            "template": TEMPLATE,
        },
    }


def status_of(hub: Path, name: str, ns: str) -> dict[str, Any]:
    obj = kubectl_get(hub, COMPONENTS, name, ns)
    return dict((obj or {}).get("status") or {})


def condition(hub: Path, name: str, ns: str, type_: str) -> dict[str, Any]:
    conditions = status_of(hub, name, ns).get("conditions") or []
    return next((dict(c) for c in conditions if c.get("type") == type_), {})


def applied(hub: Path, name: str, ns: str) -> Callable[[], bool]:
    return lambda: condition(hub, name, ns, "Applied").get("status") == "True"


def container(deployment: dict[str, Any] | None) -> dict[str, Any]:
    assert deployment is not None
    return dict(deployment["spec"]["template"]["spec"]["containers"][0])


def env_of(deployment: dict[str, Any] | None) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container(deployment).get("env") or []}


def test_a_component_runs_as_placed_and_reports_4_ready(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path
) -> None:
    hub, ns = fleet.kubeconfig("hub"), "comp-placed"
    placement = {
        "clusters": [
            {"name": "member1", "replicas": 3},
            {
                "name": "member2",
                "replicas": 1,
                "image": "demo:2",
                "env": [{"name": "MODE", "value": "canary"}],
            },
        ]
    }
    kubectl_apply(hub, tmp_path, namespace(ns), component("web", ns, placement))

    def landed() -> bool:
        one = kubectl_get(fleet.kubeconfig("member1"), "deployment", "web", ns)
        two = kubectl_get(fleet.kubeconfig("member2"), "deployment", "web", ns)
        return (
            one is not None
            and two is not None
            and one["spec"]["replicas"] == 3
            and container(one)["image"] == "demo:1"
            and two["spec"]["replicas"] == 1
            and container(two)["image"] == "demo:2"
            and env_of(two).get("MODE") == "canary"
        )

    wait_until("web on member1 (3 of demo:1) and member2 (1 of demo:2, MODE=canary)", landed, timeout=TIMEOUT)
    assert "MODE" not in env_of(kubectl_get(fleet.kubeconfig("member1"), "deployment", "web", ns))
    assert kubectl_get(fleet.kubeconfig("member3"), "deployment", "web", ns) is None
    assert kubectl_get(fleet.kubeconfig("member2"), "service", "web", ns) is not None
    wait_until(
        "web available with 4 ready",
        lambda: (
            status_of(hub, "web", ns).get("readyReplicas") == 4
            and condition(hub, "web", ns, "Available").get("status") == "True"
        ),
        timeout=TIMEOUT,
    )
    status = status_of(hub, "web", ns)
    assert [
        (c["name"], c["replicas"], c["readyReplicas"], c["image"], c["applied"]) for c in status["clusters"]
    ] == [
        ("member1", 3, 3, "demo:1", True),
        ("member2", 1, 1, "demo:2", True),
    ]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Rendered": "True",
        "Applied": "True",
        "Available": "True",
        "Progressing": "False",
    }
    # Every step is a plain object on the hub, owned by the Component.
    policies = kubectl(
        hub, "get", "propagationpolicies,overridepolicies", "-n", ns, "-o", "name"
    ).stdout.split()
    assert "propagationpolicy.policy.kokpit.io/web" in policies
    assert "overridepolicy.policy.kokpit.io/web.deployment" in policies
    table = kubectl(hub, "get", "components", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "LANGUAGE", "WORKLOAD", "READY", "AVAILABLE", "AGE"]
    assert table[1].split()[:5] == ["web", "python", "Deployment", "4", "True"]


def test_changing_the_java_template_reaches_java_components_and_no_other(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path
) -> None:
    hub, ns, member = fleet.kubeconfig("hub"), "comp-java", fleet.kubeconfig("member1")
    kubectl_apply(
        hub,
        tmp_path,
        namespace(ns),
        component("orders", ns, on("member1"), language="java"),
        component("billing", ns, on("member2"), language="java"),
        component("search", ns, on("member1"), language="python"),
    )
    for name in ("orders", "billing", "search"):
        wait_until(f"{name} applied", applied(hub, name, ns))
    python_before = kubectl_get(member, "deployment", "search", ns)
    hub_python_before = kubectl_get(hub, "deployment", "search", ns)
    assert python_before is not None and hub_python_before is not None
    try:
        kubectl_apply(hub, tmp_path, java_template({"TEAM": "payments"}))
        wait_until("the java template accepted", lambda: template_accepted(hub, "platform-java") == "True")
        wait_until(
            "the java Components on both members get TEAM",
            lambda: (
                env_of(kubectl_get(member, "deployment", "orders", ns)).get("TEAM") == "payments"
                and env_of(kubectl_get(fleet.kubeconfig("member2"), "deployment", "billing", ns)).get("TEAM")
                == "payments"
            ),
            timeout=TIMEOUT,
        )
        assert [c["template"] for c in status_of(hub, "orders", ns)["clusters"]] == ["platform-java"]
        # Changing it again reaches them again.
        kubectl_apply(hub, tmp_path, java_template({"TEAM": "checkout"}))
        wait_until(
            "TEAM=checkout on member1",
            lambda: env_of(kubectl_get(member, "deployment", "orders", ns)).get("TEAM") == "checkout",
            timeout=TIMEOUT,
        )
        # The python Component was not written, on the hub or on its member.
        hub_python = kubectl_get(hub, "deployment", "search", ns)
        python = kubectl_get(member, "deployment", "search", ns)
        assert hub_python is not None and python is not None
        assert hub_python["metadata"]["generation"] == hub_python_before["metadata"]["generation"]
        assert python["metadata"]["generation"] == python_before["metadata"]["generation"]
        assert "TEAM" not in env_of(python)
    finally:
        kubectl(hub, "delete", "componenttemplate", "platform-java", "--ignore-not-found")


def test_an_unmanaged_component_and_what_it_rendered_are_left_alone(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path
) -> None:
    hub, ns, member = fleet.kubeconfig("hub"), "comp-unmanaged", fleet.kubeconfig("member1")
    kubectl_apply(hub, tmp_path, namespace(ns), component("solo", ns, on("member1")))
    wait_until("solo applied", applied(hub, "solo", ns))
    kubectl(hub, "annotate", COMPONENTS, "solo", "-n", ns, "apps.kokpit.io/unmanaged=true")
    wait_until(
        "solo says it is unmanaged",
        lambda: condition(hub, "solo", ns, "Progressing").get("reason") == "Unmanaged",
    )
    hub_before = kubectl_get(hub, "deployment", "solo", ns)
    assert hub_before is not None
    # A hand change on the member, and a change of the Component itself.
    hand = {"spec": {"template": {"spec": {"containers": [{"name": "solo", "image": "hand:1"}]}}}}
    kubectl(member, "patch", "deployment", "solo", "-n", ns, "--type", "strategic", "-p", json.dumps(hand))
    kubectl(
        hub, "patch", COMPONENTS, "solo", "-n", ns, "--type", "merge", "-p", '{"spec":{"image":"demo:9"}}'
    )
    hand_generation = kubectl_get(member, "deployment", "solo", ns)["metadata"]["generation"]  # type: ignore[index]
    time.sleep(15)  # what drift correction or a re-render would take, several times over
    after = kubectl_get(member, "deployment", "solo", ns)
    assert after is not None
    assert container(after)["image"] == "hand:1"
    assert after["metadata"]["generation"] == hand_generation
    hub_after = kubectl_get(hub, "deployment", "solo", ns)
    assert (
        hub_after is not None and hub_after["metadata"]["generation"] == hub_before["metadata"]["generation"]
    )
    assert container(hub_after)["image"] == "demo:1"
    # It holds because delivery is suspended for it: kokpit's one write at the change.
    policy = kubectl_get(hub, "propagationpolicy", "solo", ns)
    assert policy is not None and policy["spec"]["suspension"] == {"dispatching": True}
    # Removing the annotation resumes: the Component as it now is reaches the member.
    kubectl(hub, "annotate", COMPONENTS, "solo", "-n", ns, "apps.kokpit.io/unmanaged-")
    wait_until(
        "demo:9 on member1",
        lambda: container(kubectl_get(member, "deployment", "solo", ns))["image"] == "demo:9",
        timeout=TIMEOUT,
    )
    resumed = kubectl_get(hub, "propagationpolicy", "solo", ns)
    assert resumed is not None and "suspension" not in resumed["spec"]


def reporters(hub: Path, name: str, ns: str) -> set[str]:
    """Who wrote the Events of Component `name`."""
    events = json.loads(
        kubectl(
            hub,
            "get",
            "events",
            "-n",
            ns,
            "--field-selector",
            f"involvedObject.kind=Component,involvedObject.name={name}",
            "-o",
            "json",
        ).stdout
    )
    return {str(e.get("reportingComponent") or e.get("reportingController")) for e in events["items"]}


def test_two_controller_groups_each_reconcile_only_their_own_components(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path
) -> None:
    hub, ns = fleet.kubeconfig("hub"), "comp-groups"
    blue = HubThread(hub, settings=HubSettings(state_dir=tmp_path / "blue", controller_id="blue")).start()
    try:
        labelled = {"apps.kokpit.io/controller-id": "blue"}
        nobody = {"apps.kokpit.io/controller-id": "green"}
        kubectl_apply(
            hub,
            tmp_path,
            namespace(ns),
            component("plain", ns, on("member1")),
            component("bluebird", ns, on("member2"))
            | {"metadata": {"name": "bluebird", "namespace": ns, "labels": labelled}},
            component("stray", ns, on("member3"))
            | {"metadata": {"name": "stray", "namespace": ns, "labels": nobody}},
        )
        wait_until("plain applied", applied(hub, "plain", ns), timeout=TIMEOUT)
        wait_until("bluebird applied", applied(hub, "bluebird", ns), timeout=TIMEOUT)
        wait_until(
            "both groups' Events",
            lambda: bool(reporters(hub, "plain", ns) and reporters(hub, "bluebird", ns)),
        )
        assert reporters(hub, "plain", ns) == {"kokpit-components"}
        assert reporters(hub, "bluebird", ns) == {"kokpit-components-blue"}
        assert kubectl_get(fleet.kubeconfig("member2"), "deployment", "bluebird", ns) is not None
        # A Component of a group that does not run is nobody's.
        assert status_of(hub, "stray", ns) == {}
        assert kubectl_get(hub, "deployment", "stray", ns) is None
    finally:
        blue.stop()


def template_accepted(hub: Path, name: str) -> str:
    obj = kubectl_get(hub, "componenttemplates", name) or {}
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((str(c["status"]) for c in conditions if c.get("type") == "Accepted"), "")


def test_a_template_with_a_syntax_error_is_not_accepted_when_written(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path
) -> None:
    hub, broken = fleet.kubeconfig("hub"), java_template({})
    broken["metadata"] = {"name": "broken-syntax"}
    broken["spec"] |= {
        "selector": {"languages": ["nosuch"]},
        "template": "kind: Deployment\nmetadata: {name: '{{ component.name | }}'}\n",
    }
    try:
        kubectl_apply(hub, tmp_path, broken)
        wait_until("the template refused", lambda: template_accepted(hub, "broken-syntax") == "False")
        conditions = (kubectl_get(hub, "componenttemplates", "broken-syntax") or {})["status"]["conditions"]
        accepted = next(c for c in conditions if c["type"] == "Accepted")
        assert accepted["reason"] == "TemplateInvalid" and accepted["message"].startswith("line 2: ")
        table = kubectl(hub, "get", "componenttemplates", "broken-syntax").stdout.splitlines()
        assert table[0].split()[-2:] == ["ACCEPTED", "AGE"] and table[1].split()[-2] == "False"
    finally:
        kubectl(hub, "delete", "componenttemplate", "broken-syntax", "--ignore-not-found")


BAD_TEMPLATE = {
    "apiVersion": "apps.kokpit.io/v1alpha1",
    "kind": "ComponentTemplate",
    "metadata": {"name": "leaky"},
    "spec": {
        "selector": {"languages": ["leaky"]},
        "template": "apiVersion: v1\nkind: Secret\nmetadata: {name: '{{ component.name }}'}\n",
    },
}


@pytest.mark.parametrize(
    ("name", "spec", "reason", "fragment"),
    [
        pytest.param("cobol", {"language": "cobol"}, "NoTemplate", "cobol", id="an unknown language"),
        pytest.param(
            "badconfig",
            {"config": {"port": "eighty"}},
            "ConfigInvalid",
            "config.port",
            id="config failing the schema",
        ),
        pytest.param(
            "leaky", {"language": "leaky"}, "KindNotAllowed", "Secret", id="a template rendering a Secret"
        ),
        pytest.param(
            "nowhere", {"placement": on("member9")}, "ClusterNotFound", "member9", id="an unknown cluster"
        ),
    ],
)
def test_what_cannot_be_rendered_is_a_condition_and_reaches_no_member(
    fleet: SandboxHandle,
    hub_controllers: HubThread,
    tmp_path: Path,
    name: str,
    spec: dict[str, Any],
    reason: str,
    fragment: str,
) -> None:
    hub, ns = fleet.kubeconfig("hub"), "comp-bad"
    kubectl_apply(hub, tmp_path, namespace(ns), BAD_TEMPLATE)
    kubectl_apply(
        hub,
        tmp_path,
        component(name, ns, on("member1")) | {"spec": component(name, ns, on("member1"))["spec"] | spec},
    )
    wait_until(f"{name} not rendered", lambda: condition(hub, name, ns, "Rendered").get("reason") == reason)
    rendered = condition(hub, name, ns, "Rendered")
    assert rendered["status"] == "False" and fragment in rendered["message"]
    assert condition(hub, name, ns, "Progressing")["reason"] == "Blocked"
    events = kubectl(hub, "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}").stdout
    assert reason in events
    for member in ("member1", "member2", "member3"):
        assert kubectl_get(fleet.kubeconfig(member), "deployment", name, ns) is None
    assert kubectl_get(hub, "deployment", name, ns) is None


def test_get_and_describe_follow_a_component_live(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path
) -> None:
    hub, ns = fleet.kubeconfig("hub"), "comp-live"
    kubectl_apply(hub, tmp_path, namespace(ns), component("live", ns, {"clusters": [{"name": "member1"}]}))
    cli = [sys.executable, "-m", "kokpit.cli.main"]
    where = ["-n", ns, "-w", "--hub-kubeconfig", str(hub)]

    def member1_row(replicas: str) -> Callable[[str], bool]:
        return lambda line: line.split()[:1] == ["member1"] and line.split()[4:6] == [replicas, replicas]

    def live_row(ready: str) -> Callable[[str], bool]:
        return lambda line: line.split()[:1] == ["live"] and ready in line.split()

    with (
        Streaming([*cli, "get", "components", *where]) as rows,
        Streaming([*cli, "describe", "component", "live", *where]) as described,
    ):
        assert rows.wait_for("the header", lambda line: "LANGUAGE" in line).split()[:3] == [
            "NAME",
            "LANGUAGE",
            "WORKLOAD",
        ]
        rows.wait_for("live with 1/1 ready", live_row("1/1"), timeout=TIMEOUT)
        described.wait_for("member1 with 1 ready", member1_row("1"), timeout=TIMEOUT)
        # The commands were started before this change: what they print next, they saw live.
        two = {"spec": {"placement": {"clusters": [{"name": "member1", "replicas": 2}]}}}
        kubectl(hub, "patch", COMPONENTS, "live", "-n", ns, "--type=merge", "-p", json.dumps(two))
        rows.wait_for("live with 2/2 ready", live_row("2/2"), timeout=TIMEOUT)
        described.wait_for("member1 with 2 ready", member1_row("2"), timeout=TIMEOUT)
        described.wait_for("the Rendered Event", lambda line: line.strip().startswith("Normal Rendered"))
        assert rows.ended(timeout=0) is None and described.ended(timeout=0) is None, "both still follow"

    missing = kokpit_cli("describe", "component", "nope", "-n", ns, hub=hub)
    assert missing.returncode != 0
    assert missing.stderr.strip().splitlines() == [f"kokpit: error: no Component 'nope' in namespace {ns}"]
