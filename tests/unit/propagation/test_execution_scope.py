"""Which driver of the one execution reconciler serves a Work: the hub's (Push) or an agent's (Pull)."""

from __future__ import annotations

from typing import Any

import pytest

from kokpit.propagation.execution_scope import HUB_SCOPE, ExecutionScope, agent_scope


def cluster(name: str, mode: str | None) -> dict[str, Any]:
    spec = {} if mode is None else {"syncMode": mode}
    return {"metadata": {"name": name}, "spec": spec}


@pytest.mark.parametrize(
    ("scope", "member", "obj", "serves"),
    [
        pytest.param(HUB_SCOPE, "m1", cluster("m1", "Push"), True, id="hub: a Push member"),
        pytest.param(HUB_SCOPE, "m1", cluster("m1", None), True, id="hub: no syncMode reads as Push"),
        pytest.param(
            HUB_SCOPE, "edge1", cluster("edge1", "Pull"), False, id="hub: a Pull member is its agent's"
        ),
        pytest.param(HUB_SCOPE, "gone", None, True, id="hub: no Cluster (reports it, releases finalizers)"),
        pytest.param(
            agent_scope("edge1"), "edge1", cluster("edge1", "Pull"), True, id="agent: its own Pull member"
        ),
        pytest.param(
            agent_scope("edge1"), "edge2", cluster("edge2", "Pull"), False, id="agent: another member"
        ),
        pytest.param(
            agent_scope("edge1"), "edge1", cluster("edge1", "Push"), False, id="agent: its member turned Push"
        ),
        pytest.param(
            agent_scope("edge1"), "edge1", None, False, id="agent: its Cluster is gone (the hub lets go)"
        ),
    ],
)
def test_exactly_one_driver_serves_a_work(
    scope: ExecutionScope, member: str, obj: dict[str, Any] | None, serves: bool
) -> None:
    assert scope.serves(member, obj) is serves


@pytest.mark.parametrize("mode", ["Push", "Pull", None])
def test_the_hub_and_the_members_agent_never_both_serve_it(mode: str | None) -> None:
    obj = None if mode is None else cluster("edge1", mode)
    assert [HUB_SCOPE.serves("edge1", obj), agent_scope("edge1").serves("edge1", obj)].count(True) == 1


def test_an_agent_watches_only_its_execution_namespace_and_the_hub_all() -> None:
    assert agent_scope("edge1").namespace == "kokpit-es-edge1"
    assert HUB_SCOPE.namespace is None
