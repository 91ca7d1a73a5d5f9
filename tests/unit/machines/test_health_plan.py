"""MachineHealthCheck decisions: what is unhealthy, the maxUnhealthy guard, and escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kokpit.machines.health_plan import (
    DONE_ANNOTATION,
    MACHINES_HEALTHY,
    REMEDIATION_ALLOWED,
    REMEDIATION_ANNOTATION,
    REQUESTED_ANNOTATION,
    CheckView,
    HealthPlan,
    MachineView,
    NodeConditionView,
    Policy,
    Step,
    UnhealthyCondition,
    clear_annotations,
    judge,
    plan_health,
    request_annotations,
)
from kokpit.runtime.conditions import format_time

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
CHECK = CheckView(
    name="workers",
    unhealthy_conditions=(
        UnhealthyCondition("Ready", "False", 30.0),
        UnhealthyCondition("Ready", "Unknown", 30.0),
    ),
    check_components=True,
)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def node_machine(
    name: str,
    *,
    ready: str = "True",
    for_seconds: float = 600.0,
    components: tuple[tuple[str, str], ...] = (),
    components_since: datetime | None = None,
    annotations: dict[str, str] | None = None,
    phase: str = "Ready",
    owned: bool = True,
    node_found: bool = True,
) -> MachineView:
    return MachineView(
        name=name,
        phase=phase,
        created=ago(3600),
        owned_by_set=owned,
        node_name=name,
        node_found=node_found,
        node_conditions=(NodeConditionView("Ready", ready, ago(for_seconds)),),
        unhealthy_components=components,
        components_unhealthy_since=components_since,
        annotations=annotations or {},
    )


def record(step: Step, requested: float, done: float | None = None) -> dict[str, str]:
    annotations = {REMEDIATION_ANNOTATION: step.value, REQUESTED_ANNOTATION: format_time(ago(requested))}
    if done is not None:
        annotations[DONE_ANNOTATION] = format_time(ago(done))
    return annotations


def condition(plan: HealthPlan, type_: str) -> tuple[str, str, str]:
    found = next(c for c in plan.conditions if c.type == type_)
    return found.status, found.reason, found.message


# -- judging --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "healthy", "reason"),
    [
        pytest.param(node_machine("m"), True, "", id="Ready True: healthy"),
        pytest.param(
            node_machine("m", ready="False", for_seconds=31),
            False,
            "NodeConditionTimeout",
            id="Ready False for 31s, timeout 30s: unhealthy",
        ),
        pytest.param(
            node_machine("m", ready="Unknown", for_seconds=10),
            True,
            "",
            id="Ready Unknown for 10s: not yet",
        ),
        pytest.param(
            node_machine("m", node_found=False),
            False,
            "NodeNotFound",
            id="the node is gone",
        ),
        pytest.param(
            node_machine("m", components=(("kubelet", "no pid"),)),
            False,
            "ComponentUnhealthy",
            id="a component reported unhealthy",
        ),
        pytest.param(
            node_machine("m", components=(("kubelet", "installing"),), phase="Provisioning"),
            True,
            "",
            id="components are not judged while provisioning",
        ),
    ],
)
def test_judge(machine: MachineView, healthy: bool, reason: str) -> None:
    verdict = judge(CHECK, machine, NOW)
    assert verdict.healthy is healthy
    assert verdict.reason == reason


def test_a_condition_inside_its_timeout_schedules_the_next_look() -> None:
    verdict = judge(CHECK, node_machine("m", ready="Unknown", for_seconds=10), NOW)
    assert verdict.recheck_in == pytest.approx(20.0)


def test_components_are_ignored_without_check_components() -> None:
    check = CheckView(name="c", unhealthy_conditions=CHECK.unhealthy_conditions)
    assert judge(check, node_machine("m", components=(("kubelet", "dead"),)), NOW).healthy


def test_node_startup_timeout() -> None:
    check = CheckView(name="c", node_startup_timeout=600.0)
    young = MachineView(name="m", phase="Joining", created=ago(300))
    old = MachineView(name="m", phase="Joining", created=ago(601))
    assert judge(check, young, NOW).healthy and not judge(check, young, NOW).judged
    assert judge(check, young, NOW).recheck_in == pytest.approx(300.0)
    verdict = judge(check, old, NOW)
    assert (verdict.healthy, verdict.reason) == (False, "NodeStartupTimeout")


def test_a_machine_being_deleted_is_neither_judged_nor_counted() -> None:
    plan = plan_health(CHECK, [MachineView(name="m", deleting=True), node_machine("n")], NOW)
    assert plan.expected == 1


def test_component_timeout_holds_a_fresh_component_failure() -> None:
    machine = node_machine("m", components=(("kubelet", "no pid"),), components_since=ago(5))
    plan = plan_health(CHECK, [machine], NOW, Policy(component_timeout=20.0))
    assert plan.requests == ()
    assert plan.recheck_in == pytest.approx(15.0)
    later = plan_health(CHECK, [machine], NOW + timedelta(seconds=16), Policy(component_timeout=20.0))
    assert [r.step for r in later.requests] == [Step.REPAIR]


# -- escalation -----------------------------------------------------------------------------------


def sick(**kwargs: object) -> MachineView:
    return node_machine("m1", ready="False", for_seconds=120, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, ("request", Step.REPAIR), id="first: repair"),
        pytest.param(record(Step.REPAIR, 10), ("hold", None), id="repair asked 10s ago, not done: wait"),
        pytest.param(record(Step.REPAIR, 400), ("request", Step.REINSTALL), id="repair hangs: reinstall"),
        pytest.param(record(Step.REPAIR, 40, 20), ("hold", None), id="repair done 20s ago: let it settle"),
        pytest.param(
            record(Step.REPAIR, 60, 31), ("request", Step.REINSTALL), id="repair done 31s ago: reinstall"
        ),
        pytest.param(
            record(Step.REINSTALL, 90, 40), ("replace", Step.REPLACE), id="reinstall did not help: replace"
        ),
        pytest.param(
            {**record(Step.REPAIR, 10), DONE_ANNOTATION: format_time(ago(100))},
            ("hold", None),
            id="a done older than the request belongs to an earlier one",
        ),
    ],
)
def test_escalation(annotations: dict[str, str], expected: tuple[str, Step | None]) -> None:
    plan = plan_health(CHECK, [sick(annotations=annotations)], NOW)
    kind, step = expected
    if kind == "request":
        assert [r.step for r in plan.requests] == [step]
        assert plan.replaces == ()
    elif kind == "replace":
        assert [r.machine for r in plan.replaces] == ["m1"]
        assert plan.requests == ()
    else:
        assert (plan.requests, plan.replaces) == ((), ())
        assert plan.held == ("m1",)
        assert plan.recheck_in is not None and plan.recheck_in > 0


def test_a_machine_no_set_owns_is_not_replaced() -> None:
    plan = plan_health(CHECK, [sick(annotations=record(Step.REINSTALL, 90, 40), owned=False)], NOW)
    assert plan.replaces == ()
    assert plan.held == ("m1",)


def test_healthy_again_clears_the_record() -> None:
    plan = plan_health(CHECK, [node_machine("m1", annotations=record(Step.REPAIR, 40, 30))], NOW)
    assert plan.clears == ("m1",)


def test_reset_after_keeps_the_record_for_a_while() -> None:
    machine = node_machine("m1", annotations=record(Step.REPAIR, 40, 30))
    plan = plan_health(CHECK, [machine], NOW, Policy(reset_after=300))
    assert plan.clears == ()
    assert plan.recheck_in == pytest.approx(270.0)


def test_a_machine_being_reprovisioned_keeps_its_record() -> None:
    machine = node_machine("m1", phase="Provisioning", annotations=record(Step.REINSTALL, 10, None))
    machine = MachineView(name="m1", phase="Provisioning", annotations=machine.annotations)
    plan = plan_health(CHECK, [machine], NOW)
    assert plan.clears == ()


def test_request_and_clear_patches() -> None:
    assert request_annotations(Step.REPAIR, NOW) == {
        REMEDIATION_ANNOTATION: "repair",
        REQUESTED_ANNOTATION: "2026-01-01T12:00:00Z",
        DONE_ANNOTATION: None,
    }
    assert set(clear_annotations()) == {REMEDIATION_ANNOTATION, REQUESTED_ANNOTATION, DONE_ANNOTATION}
    assert all(v is None for v in clear_annotations().values())


# -- maxUnhealthy ---------------------------------------------------------------------------------


def fleet(unhealthy: int, total: int) -> list[MachineView]:
    return [
        node_machine(f"m{i}", ready="False" if i < unhealthy else "True", for_seconds=120)
        for i in range(total)
    ]


@pytest.mark.parametrize(
    ("max_unhealthy", "unhealthy", "total", "allowed"),
    [
        pytest.param(None, 4, 4, True, id="unset is 100%: 4 of 4 remediated"),
        pytest.param(1, 1, 4, True, id="maxUnhealthy 1, 1 of 4 sick: allowed"),
        pytest.param(1, 2, 4, False, id="maxUnhealthy 1, 2 of 4 sick: none"),
        pytest.param("40%", 1, 4, True, id="40% of 4 is 1, 1 sick: allowed"),
        pytest.param("40%", 2, 4, False, id="40% of 4 is 1, 2 sick: none"),
        pytest.param("50%", 2, 4, True, id="50% of 4 is 2, 2 sick: allowed"),
        pytest.param(0, 1, 3, False, id="maxUnhealthy 0: never"),
    ],
)
def test_max_unhealthy(max_unhealthy: int | str | None, unhealthy: int, total: int, allowed: bool) -> None:
    check = CheckView(name="c", unhealthy_conditions=CHECK.unhealthy_conditions, max_unhealthy=max_unhealthy)
    plan = plan_health(check, fleet(unhealthy, total), NOW)
    assert plan.remediation_allowed is allowed
    status, reason, message = condition(plan, REMEDIATION_ALLOWED)
    if allowed:
        assert status == "True"
        assert len(plan.requests) == unhealthy
    else:
        assert (status, reason) == ("False", "TooManyUnhealthy")
        assert f"{unhealthy} of {total} machines unhealthy" in message
        assert plan.requests == () and plan.replaces == ()


def test_too_many_unhealthy_still_clears_healthy_records_and_reports_each_machine() -> None:
    check = CheckView(name="c", unhealthy_conditions=CHECK.unhealthy_conditions, max_unhealthy=0)
    machines = [*fleet(1, 2), node_machine("z", annotations=record(Step.REPAIR, 40, 30))]
    plan = plan_health(check, machines, NOW)
    assert plan.clears == ("z",)
    status, reason, message = condition(plan, MACHINES_HEALTHY)
    assert (status, reason) == ("False", "MachinesUnhealthy")
    assert "m0: NodeConditionTimeout" in message
    assert (plan.expected, plan.healthy) == (3, 2)
