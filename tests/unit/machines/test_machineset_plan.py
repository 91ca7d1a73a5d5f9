"""MachineSet decisions: scale out in parallel, scale in by preference, roll in place, canary gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kokpit.machines.machineset_plan import (
    PAUSED,
    SCALED,
    UP_TO_DATE,
    Create,
    HostView,
    MachineView,
    SetPlan,
    SetView,
    machine_name,
    plan_set,
    resolve_count,
    revision_of,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NEW = "rev-new"
OLD = "rev-old"


def ms(replicas: int = 3, **kwargs: object) -> SetView:
    values: dict[str, object] = {"name": "pool", "replicas": replicas, "revision": NEW}
    values.update(kwargs)
    return SetView(**values)  # type: ignore[arg-type]


def machine(
    host: str,
    *,
    revision: str = NEW,
    ready: bool = True,
    deleting: bool = False,
    age: int = 0,
    labels: dict[str, str] | None = None,
) -> MachineView:
    return MachineView(
        name=f"pool-{host}",
        host=host,
        revision=revision,
        ready=ready,
        deleting=deleting,
        created=T0 - timedelta(minutes=age),
        labels=labels or {},
    )


def hosts(*names: str, labels: dict[str, str] | None = None, free: bool = True) -> list[HostView]:
    return [HostView(name, labels=labels or {}, free=free) for name in names]


def condition(plan: SetPlan, type_: str) -> tuple[str, str]:
    found = next(c for c in plan.conditions if c.type == type_)
    return found.status, found.reason


# -- revisions and names --------------------------------------------------------------------------


def test_revision_is_stable_across_key_order_and_changes_with_content() -> None:
    a = {"components": [{"name": "kubelet", "version": "v1.35.4"}], "labels": {"x": "1"}}
    b = {"labels": {"x": "1"}, "components": [{"version": "v1.35.4", "name": "kubelet"}]}
    assert revision_of(a) == revision_of(b)
    c = {"labels": {"x": "1"}, "components": [{"version": "v1.36.5", "name": "kubelet"}]}
    assert revision_of(a) != revision_of(c)
    assert len(revision_of(a)) == 10
    assert revision_of(None) == revision_of({})


def test_machine_name_is_set_dash_host_and_fits_a_label_value() -> None:
    assert machine_name("pool", "host-1") == "pool-host-1"
    long = machine_name("p" * 40, "h" * 40)
    assert len(long) <= 63
    assert long != machine_name("p" * 40, "h" * 39 + "x")


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [
        pytest.param(None, 10, False, 1, id="unset -> the default"),
        pytest.param(2, 10, False, 2, id="an int is a count"),
        pytest.param("2", 10, False, 2, id="a numeric string is a count"),
        pytest.param("40%", 4, False, 1, id="40% of 4 rounds down to 1"),
        pytest.param("40%", 4, True, 2, id="40% of 4 rounds up to 2"),
        pytest.param("100%", 3, False, 3, id="100% of 3 is 3"),
    ],
)
def test_resolve_count(value: int | str | None, total: int, round_up: bool, expected: int) -> None:
    assert resolve_count(value, total, default=1, round_up=round_up) == expected


@pytest.mark.parametrize("value", ["many", "-1%", -1, True])
def test_resolve_count_refuses_nonsense(value: object) -> None:
    with pytest.raises(ValueError):
        resolve_count(value, 3, default=1, round_up=False)  # type: ignore[arg-type]


# -- scale out ------------------------------------------------------------------------------------


def test_scale_out_claims_several_free_hosts_in_one_pass_by_name() -> None:
    plan = plan_set(ms(3), [], hosts("h3", "h1", "h2", "h4"))
    assert plan.creates == (Create("pool-h1", "h1"), Create("pool-h2", "h2"), Create("pool-h3", "h3"))
    assert condition(plan, SCALED) == ("False", "ScalingUp")
    assert plan.replicas == 3
    assert plan.busy


def test_scale_out_skips_claimed_hosts_hosts_held_by_machines_and_unmatched_labels() -> None:
    free = [
        HostView("a", labels={"pool": "blue"}, free=False),
        HostView("b", labels={"pool": "blue"}),
        HostView("c", labels={"pool": "green"}),
        HostView("d", labels={"pool": "blue"}),
        HostView("e", labels={"pool": "blue"}),
    ]
    plan = plan_set(ms(3, host_selector={"pool": "blue"}), [machine("d")], free)
    assert [c.host for c in plan.creates] == ["b", "e"]


def test_scale_out_with_a_label_selector_expression() -> None:
    selector = {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}
    free = [HostView("x", labels={"zone": "c"}), HostView("y", labels={"zone": "b"})]
    assert [c.host for c in plan_set(ms(2, host_selector=selector), [], free).creates] == ["y"]


def test_too_few_hosts_creates_what_it_can_and_says_how_many_are_missing() -> None:
    plan = plan_set(ms(3, host_selector={"pool": "blue"}), [], hosts("h1", labels={"pool": "blue"}))
    assert plan.creates == (Create("pool-h1", "h1"),)
    status, reason = condition(plan, SCALED)
    assert (status, reason) == ("False", "InsufficientHosts")
    message = next(c.message for c in plan.conditions if c.type == SCALED)
    assert "1 of 3 machines" in message and "pool=blue" in message


def test_steady_set_does_nothing_and_is_ready() -> None:
    plan = plan_set(ms(2), [machine("h1"), machine("h2")], hosts("h3"))
    assert (plan.creates, plan.deletes, plan.updates) == ((), (), ())
    assert condition(plan, SCALED) == ("True", "Scaled")
    assert condition(plan, UP_TO_DATE) == ("True", "UpToDate")
    assert condition(plan, PAUSED) == ("False", "NotPaused")
    assert not plan.busy
    assert (plan.replicas, plan.ready_replicas, plan.updated_replicas) == (2, 2, 2)


# -- scale in -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machines", "replicas", "expected"),
    [
        pytest.param(
            [machine("h1", age=3), machine("h2", age=2), machine("h3", age=1)],
            1,
            ("pool-h3", "pool-h2"),
            id="3 -> 1, all ready: the newest two",
        ),
        pytest.param(
            [machine("h1", age=3), machine("h2", age=2, ready=False), machine("h3", age=1)],
            2,
            ("pool-h2",),
            id="3 -> 2: the not-ready one before the newest",
        ),
        pytest.param(
            [machine("h1", age=3), machine("h2", age=2, revision=OLD), machine("h3", age=1)],
            2,
            ("pool-h2",),
            id="3 -> 2: an old revision before the newest",
        ),
        pytest.param(
            [machine("h1"), machine("h2"), machine("h3")],
            2,
            ("pool-h3",),
            id="3 -> 2, same age: the last name",
        ),
        pytest.param(
            [machine("h1"), machine("h2", deleting=True), machine("h3")],
            1,
            ("pool-h3",),
            id="a machine already deleting is not counted",
        ),
    ],
)
def test_scale_in_preference(machines: list[MachineView], replicas: int, expected: tuple[str, ...]) -> None:
    plan = plan_set(ms(replicas), machines, [])
    assert plan.deletes == expected
    assert condition(plan, SCALED) == ("False", "ScalingDown")
    assert plan.replicas == replicas


def test_waiting_for_deletions_is_not_scaled_yet() -> None:
    plan = plan_set(ms(1), [machine("h1"), machine("h2", deleting=True)], [])
    assert plan.deletes == ()
    assert condition(plan, SCALED) == ("False", "ScalingDown")


def test_scale_to_zero() -> None:
    plan = plan_set(ms(0), [machine("h1"), machine("h2")], [])
    assert set(plan.deletes) == {"pool-h1", "pool-h2"}


# -- rolling update in place ----------------------------------------------------------------------


def test_rolling_update_takes_one_ready_machine_at_a_time() -> None:
    machines = [machine("h1", revision=OLD), machine("h2", revision=OLD), machine("h3", revision=OLD)]
    plan = plan_set(ms(3), machines, [])
    assert plan.updates == ("pool-h1",)
    assert condition(plan, UP_TO_DATE) == ("False", "RollingOut")
    assert plan.updated_replicas == 1


def test_rolling_update_waits_while_an_updated_machine_is_not_ready() -> None:
    machines = [machine("h1", ready=False), machine("h2", revision=OLD), machine("h3", revision=OLD)]
    assert plan_set(ms(3), machines, []).updates == ()


def test_rolling_update_continues_once_the_updated_machine_is_ready() -> None:
    machines = [machine("h1"), machine("h2", revision=OLD), machine("h3", revision=OLD)]
    assert plan_set(ms(3), machines, []).updates == ("pool-h2",)


def test_max_unavailable_two_updates_two_at_once() -> None:
    machines = [machine(f"h{i}", revision=OLD) for i in range(1, 5)]
    assert plan_set(ms(4, max_unavailable=2), machines, []).updates == ("pool-h1", "pool-h2")


def test_max_unavailable_as_a_percentage() -> None:
    machines = [machine(f"h{i}", revision=OLD) for i in range(1, 5)]
    assert len(plan_set(ms(4, max_unavailable="50%"), machines, []).updates) == 2


def test_max_unavailable_zero_still_moves_one_at_a_time() -> None:
    machines = [machine("h1", revision=OLD), machine("h2", revision=OLD)]
    assert plan_set(ms(2, max_unavailable=0), machines, []).updates == ("pool-h1",)


def test_not_ready_old_machines_are_updated_first_at_no_cost() -> None:
    machines = [
        machine("h1", revision=OLD),
        machine("h2", revision=OLD, ready=False),
        machine("h3", revision=OLD),
    ]
    # h2 is unavailable already: 2 available, 3 - 1 = 2 must stay, so only h2 moves.
    assert plan_set(ms(3), machines, []).updates == ("pool-h2",)


def test_no_rolling_update_while_scaling_out_leaves_no_budget() -> None:
    machines = [machine("h1", revision=OLD), machine("h2", revision=OLD)]
    plan = plan_set(ms(3), machines, hosts("h3"))
    assert plan.creates == (Create("pool-h3", "h3"),)
    assert plan.updates == ()


def test_relabel_when_only_the_template_labels_changed() -> None:
    machines = [machine("h1", labels={"tier": "a"}), machine("h2", labels={"tier": "b"})]
    plan = plan_set(ms(2, template_labels={"tier": "b"}), machines, [])
    assert plan.relabels == ("pool-h1",)
    assert plan.updates == ()


# -- canary ---------------------------------------------------------------------------------------


def test_canary_updates_exactly_n_machines_then_pauses() -> None:
    machines = [machine("h1", revision=OLD), machine("h2", revision=OLD), machine("h3", revision=OLD)]
    plan = plan_set(ms(3, canary=1, max_unavailable=3), machines, [])
    assert plan.updates == ("pool-h1",)
    assert plan.paused
    assert condition(plan, PAUSED) == ("True", "AwaitingPromotion")
    assert condition(plan, UP_TO_DATE) == ("False", "AwaitingPromotion")


def test_canary_stays_paused_and_touches_nothing_else() -> None:
    machines = [machine("h1"), machine("h2", revision=OLD), machine("h3", revision=OLD)]
    plan = plan_set(ms(3, canary=1), machines, [])
    assert plan.updates == ()
    assert plan.paused
    message = next(c.message for c in plan.conditions if c.type == PAUSED)
    assert "pool-h1" in message and "kokpit machines promote pool" in message


def test_canary_of_two_with_max_unavailable_one_goes_one_by_one() -> None:
    machines = [machine(f"h{i}", revision=OLD) for i in range(1, 5)]
    first = plan_set(ms(4, canary=2), machines, [])
    assert first.updates == ("pool-h1",)
    assert not first.paused
    machines[0] = machine("h1")
    second = plan_set(ms(4, canary=2), machines, [])
    assert second.updates == ("pool-h2",)
    assert second.paused


def test_promotion_releases_the_rest_with_max_unavailable() -> None:
    machines = [machine("h1"), machine("h2", revision=OLD), machine("h3", revision=OLD)]
    plan = plan_set(ms(3, canary=1, promoted_revision=NEW), machines, [])
    assert plan.updates == ("pool-h2",)
    assert not plan.paused
    assert condition(plan, PAUSED) == ("False", "Promoted")


def test_promotion_of_an_earlier_revision_does_not_release_a_new_one() -> None:
    machines = [machine("h1"), machine("h2", revision=OLD), machine("h3", revision=OLD)]
    assert plan_set(ms(3, canary=1, promoted_revision=OLD), machines, []).paused


def test_a_fresh_set_never_pauses_for_its_canary() -> None:
    plan = plan_set(ms(3, canary=1), [], hosts("h1", "h2", "h3"))
    assert len(plan.creates) == 3
    assert not plan.paused


def test_a_finished_rollout_is_not_paused() -> None:
    machines = [machine("h1"), machine("h2"), machine("h3")]
    plan = plan_set(ms(3, canary=1), machines, [])
    assert not plan.paused
    assert condition(plan, UP_TO_DATE) == ("True", "UpToDate")


def test_a_second_template_change_during_the_pause_starts_a_new_canary() -> None:
    machines = [machine("h1", revision="rev-mid"), machine("h2", revision=OLD), machine("h3", revision=OLD)]
    plan = plan_set(ms(3, canary=1, max_unavailable=3), machines, [])
    assert len(plan.updates) == 1
    assert plan.paused


def test_scale_out_during_a_pause_starts_on_the_current_revision_and_counts_as_updated() -> None:
    machines = [machine("h1"), machine("h2", revision=OLD)]
    plan = plan_set(ms(3, canary=1), machines, hosts("h3"))
    assert plan.creates == (Create("pool-h3", "h3"),)
    assert plan.updates == ()
    assert plan.paused
    assert plan.updated_replicas == 2


def test_a_machine_whose_drain_began_stays_the_one_to_go() -> None:
    machines = [
        machine("h1", ready=False),
        MachineView(name="pool-h2", host="h2", revision=NEW, ready=True, draining=True, created=T0),
        machine("h3"),
    ]
    assert plan_set(ms(2), machines, []).deletes == ("pool-h2",)
