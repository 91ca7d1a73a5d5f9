"""Failover decisions: taint evictions with tolerationSeconds, application failover, eviction tasks, and how
the scheduler re-places what was evicted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kokpit.api.policy import ApplicationFailoverBehavior, Placement, PurgeMode, Toleration
from kokpit.propagation import ClusterInfo, schedule
from kokpit.propagation.clusters import ClusterTaint, cluster_info_from_object
from kokpit.propagation.failover import (
    APPLICATION_FAILURE,
    TAINT_UNTOLERATED,
    EvictionTask,
    application_eviction,
    open_tasks,
    plan_failover,
    settle_tasks,
    taint_eviction,
    unhealthy_since,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
UNREACHABLE = "cluster.kokpit.io/unreachable"


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def tainted(
    name: str, *, effect: str = "NoExecute", added: datetime | None = None, key: str = UNREACHABLE
) -> ClusterInfo:
    return ClusterInfo(name=name, taints=(ClusterTaint(key=key, effect=effect, time_added=added),))


def toleration(**fields: Any) -> Toleration:
    return Toleration.model_validate(
        {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", **fields}
    )


@pytest.mark.parametrize(
    ("cluster", "tolerations", "evicted", "recheck"),
    [
        pytest.param(ClusterInfo(name="m1"), [], False, None, id="an untainted cluster keeps the resource"),
        pytest.param(
            tainted("m1", added=ago(1)),
            [],
            True,
            None,
            id="a NoExecute taint nobody tolerates evicts at once",
        ),
        pytest.param(
            tainted("m1", effect="NoSchedule", added=ago(999)),
            [],
            False,
            None,
            id="a NoSchedule taint never evicts",
        ),
        pytest.param(
            tainted("m1", added=ago(999)),
            [toleration()],
            False,
            None,
            id="a toleration without seconds tolerates for ever",
        ),
        pytest.param(
            tainted("m1", added=ago(4)),
            [toleration(tolerationSeconds=10)],
            False,
            ago(4) + timedelta(seconds=10),
            id="tolerated for 10s, added 4s ago: stays, look again at the tenth second",
        ),
        pytest.param(
            tainted("m1", added=ago(10)),
            [toleration(tolerationSeconds=10)],
            True,
            None,
            id="tolerated for 10s, added 10s ago: evicted",
        ),
        pytest.param(
            tainted("m1", added=ago(30)),
            [toleration(tolerationSeconds=60), toleration(tolerationSeconds=20)],
            True,
            None,
            id="the shortest of two matching tolerations counts",
        ),
        pytest.param(
            tainted("m1", added=ago(30)),
            [toleration(tolerationSeconds=20), toleration()],
            False,
            None,
            id="one matching toleration without seconds keeps it for ever",
        ),
        pytest.param(
            tainted("m1", added=None),
            [toleration(tolerationSeconds=600)],
            True,
            None,
            id="a taint without timeAdded counts as added long ago",
        ),
        pytest.param(
            tainted("m1", added=ago(1)),
            [Toleration.model_validate({"key": "other", "operator": "Exists", "tolerationSeconds": 600})],
            True,
            None,
            id="a toleration of another key does not help",
        ),
    ],
)
def test_taint_eviction(
    cluster: ClusterInfo, tolerations: list[Toleration], evicted: bool, recheck: datetime | None
) -> None:
    eviction, due = taint_eviction(cluster, tolerations, now=NOW)
    assert (eviction is not None) == evicted
    assert due == recheck
    if eviction is not None:
        assert eviction.reason == TAINT_UNTOLERATED
        assert eviction.purge_mode is PurgeMode.GRACIOUSLY


def test_time_added_is_read_from_the_cluster_object() -> None:
    info = cluster_info_from_object(
        {
            "metadata": {"name": "m1"},
            "spec": {
                "taints": [{"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "2026-01-01T11:59:50Z"}]
            },
        }
    )
    assert info.taints[0].time_added == ago(10)


def application(**fields: Any) -> ApplicationFailoverBehavior:
    return ApplicationFailoverBehavior.model_validate(fields)


@pytest.mark.parametrize(
    ("since", "behavior", "evicted", "due"),
    [
        pytest.param(None, application(), False, None, id="a healthy workload stays"),
        pytest.param(
            ago(299),
            application(),
            False,
            ago(299) + timedelta(seconds=300),
            id="unhealthy 299s of the default 300: stays",
        ),
        pytest.param(ago(300), application(), True, None, id="unhealthy for the default 300s: moved"),
        pytest.param(
            ago(5),
            application(decisionConditions={"tolerationSeconds": 0}),
            True,
            None,
            id="tolerationSeconds 0 moves it at once",
        ),
    ],
)
def test_application_eviction(
    since: datetime | None, behavior: ApplicationFailoverBehavior, evicted: bool, due: datetime | None
) -> None:
    eviction, when = application_eviction("m1", since, behavior, now=NOW)
    assert (eviction is not None) == evicted
    assert when == due
    if eviction is not None:
        assert eviction.reason == APPLICATION_FAILURE
        assert eviction.grace_period_seconds == 600, "Karmada's default grace period"


@pytest.mark.parametrize(
    ("work", "since"),
    [
        pytest.param(None, None, id="no Work: not unhealthy"),
        pytest.param(
            {
                "status": {
                    "conditions": [
                        {"type": "Available", "status": "False", "lastTransitionTime": "2026-01-01T11:59:00Z"}
                    ],
                    "manifestStatuses": [{"health": "Unhealthy"}],
                }
            },
            ago(60),
            id="Available False with an Unhealthy manifest: since the condition changed",
        ),
        pytest.param(
            {
                "status": {
                    "conditions": [{"type": "Available", "status": "False"}],
                    "manifestStatuses": [{"health": "Unknown"}],
                }
            },
            None,
            id="unknown health is not unhealthy",
        ),
    ],
)
def test_unhealthy_since(work: dict[str, Any] | None, since: datetime | None) -> None:
    assert unhealthy_since(work, now=NOW) == since


def task(cluster: str = "m1", **fields: Any) -> EvictionTask:
    return EvictionTask(
        from_cluster=cluster,
        reason=TAINT_UNTOLERATED,
        producer="p",
        creation_timestamp=fields.pop("created", ago(10)),
        grace_period_seconds=fields.pop("grace", 600),
        **fields,
    )


@pytest.mark.parametrize(
    ("tasks", "targets", "healthy", "ended"),
    [
        pytest.param(
            [task()],
            ["m2", "m3"],
            {"m2": True, "m3": False},
            [],
            id="kept while a new cluster is not healthy",
        ),
        pytest.param(
            [task()],
            ["m2", "m3"],
            {"m2": True, "m3": True},
            ["m1"],
            id="ended once every new cluster is healthy",
        ),
        pytest.param(
            [task(created=ago(600))],
            ["m2"],
            {"m2": False},
            ["m1"],
            id="ended at the deadline even if unhealthy",
        ),
        pytest.param([task()], [], {}, [], id="kept when nothing replaces it"),
        pytest.param(
            [task(purge_mode=PurgeMode.NEVER, grace=None, suppress_deletion=True)],
            ["m2"],
            {"m2": True},
            [],
            id="Never keeps it however healthy the replacement is",
        ),
        pytest.param(
            [task(purge_mode=PurgeMode.NEVER, grace=None, suppress_deletion=False)],
            ["m2"],
            {"m2": False},
            ["m1"],
            id="Never ends when suppressDeletion is set to false",
        ),
        pytest.param([task()], ["m1", "m2"], {}, ["m1"], id="a cluster chosen again has nothing to purge"),
    ],
)
def test_settle_tasks(
    tasks: list[EvictionTask], targets: list[str], healthy: dict[str, bool], ended: list[str]
) -> None:
    settled = settle_tasks(tasks, targets=targets, healthy=healthy, now=NOW)
    assert [t.from_cluster for t, _ in settled.ended] == ended
    assert len(settled.kept) + len(settled.ended) == len(tasks)


def test_a_kept_task_asks_to_be_woken_at_its_deadline() -> None:
    settled = settle_tasks([task(created=ago(10), grace=60)], targets=["m2"], healthy={}, now=NOW)
    assert settled.recheck == ago(10) + timedelta(seconds=60)


def test_a_task_reads_back_what_it_wrote() -> None:
    written = task(replicas=3, message="taint x not tolerated")
    body = written.to_dict()
    assert body["deadline"] == "2026-01-01T12:09:50Z"
    assert EvictionTask.from_dict(body) == written


@pytest.mark.parametrize(
    ("mode", "opened"),
    [
        pytest.param(PurgeMode.GRACIOUSLY, True, id="Graciously opens a task"),
        pytest.param(PurgeMode.NEVER, True, id="Never opens a task that suppresses deletion"),
        pytest.param(PurgeMode.IMMEDIATELY, False, id="Immediately opens none: the copy goes at once"),
    ],
)
def test_open_tasks(mode: PurgeMode, opened: bool) -> None:
    behavior = application(purgeMode=str(mode))
    eviction, _ = application_eviction("m1", ago(999), behavior, now=NOW)
    assert eviction is not None
    tasks = open_tasks([], [eviction], replicas={"m1": 4}, now=NOW)
    assert bool(tasks) == opened
    if tasks:
        assert tasks[0].replicas == 4
        assert tasks[0].creation_timestamp == NOW
        assert tasks[0].suppress_deletion is (True if mode is PurgeMode.NEVER else None)


def test_an_existing_task_is_not_opened_twice() -> None:
    existing = task(created=ago(100))
    eviction, _ = taint_eviction(tainted("m1", added=ago(1)), [], now=NOW)
    assert eviction is not None
    assert open_tasks([existing], [eviction], replicas={"m1": 2}, now=NOW) == [existing]


def divided(**fields: Any) -> Placement:
    return Placement.model_validate(
        {
            "replicaScheduling": {
                "replicaSchedulingType": "Divided",
                "replicaDivisionPreference": "Weighted",
            },
            **fields,
        }
    )


FIFTEEN_SECONDS_AGO = NOW - timedelta(seconds=15)


def fleet(dead: str | None = None, *, added: datetime = FIFTEEN_SECONDS_AGO) -> list[ClusterInfo]:
    names = ("member1", "member2", "member3")
    return [tainted(n, added=added) if n == dead else ClusterInfo(name=n) for n in names]


@pytest.mark.parametrize(
    ("placement", "replicas", "before", "after"),
    [
        pytest.param(
            divided(clusterTolerations=[toleration(tolerationSeconds=10).to_dict()]),
            6,
            {"member1": 2, "member2": 2, "member3": 2},
            {"member2": 3, "member3": 3},
            id="Divided: member1's 2 of 6 replicas are re-divided over member2 and member3",
        ),
        pytest.param(
            Placement.model_validate({"replicaScheduling": {"replicaSchedulingType": "Duplicated"}}),
            6,
            {"member1": 6, "member2": 6, "member3": 6},
            {"member2": 6, "member3": 6},
            id="Duplicated on every cluster: the evicted one is dropped, the others keep all replicas",
        ),
        pytest.param(
            Placement.model_validate(
                {
                    "replicaScheduling": {"replicaSchedulingType": "Duplicated"},
                    "spreadConstraints": [{"spreadByField": "cluster", "maxGroups": 2, "minGroups": 1}],
                }
            ),
            6,
            {"member1": 6, "member2": 6},
            {"member2": 6, "member3": 6},
            id="Duplicated on 2 of 3: another cluster takes the evicted one's place",
        ),
    ],
)
def test_evicted_replicas_are_placed_again_by_the_scheduler(
    placement: Placement, replicas: int, before: dict[str, int], after: dict[str, int]
) -> None:
    clusters = fleet("member1")
    plan = plan_failover(
        clusters,
        tolerations=placement.cluster_tolerations or [],
        application=None,
        placed=before,
        unhealthy={},
        tasks=[],
        now=NOW,
    )
    assert [e.cluster for e in plan.evictions] == ["member1"]
    assert [t.from_cluster for t in plan.tasks] == ["member1"]
    assert plan.tasks[0].replicas == before["member1"]
    result = schedule(clusters, placement, replicas=replicas, previous=before, excluded=plan.excluded)
    assert result.replicas_by_cluster() == after
    decision = next(d for d in result.decisions if d.cluster == "member1")
    assert not decision.selected
    assert decision.reason.startswith("evicted: taint cluster.kokpit.io/unreachable:NoExecute")


def test_still_tolerated_nothing_moves_and_a_wake_up_is_asked() -> None:
    placement = divided(clusterTolerations=[toleration(tolerationSeconds=10).to_dict()])
    plan = plan_failover(
        fleet("member1", added=ago(3)),
        tolerations=placement.cluster_tolerations or [],
        application=None,
        placed={"member1": 2, "member2": 2, "member3": 2},
        unhealthy={},
        tasks=[],
        now=NOW,
    )
    assert plan.evictions == [] and plan.excluded == {}
    assert plan.recheck == ago(3) + timedelta(seconds=10)


def test_a_cluster_with_an_open_task_is_not_chosen_even_once_untainted() -> None:
    plan = plan_failover(
        fleet(None),
        tolerations=[],
        application=None,
        placed={"member2": 3, "member3": 3},
        unhealthy={},
        tasks=[task("member1")],
        now=NOW,
    )
    result = schedule(
        fleet(None), divided(), replicas=6, previous={"member2": 3, "member3": 3}, excluded=plan.excluded
    )
    assert result.replicas_by_cluster() == {"member2": 3, "member3": 3}


def test_an_unhealthy_workload_is_moved_by_application_failover() -> None:
    plan = plan_failover(
        fleet(None),
        tolerations=[],
        application=application(decisionConditions={"tolerationSeconds": 30}),
        placed={"member1": 2, "member2": 2, "member3": 2},
        unhealthy={"member2": ago(31)},
        tasks=[],
        now=NOW,
    )
    assert [(e.cluster, e.reason) for e in plan.evictions] == [("member2", APPLICATION_FAILURE)]
    assert "member2" in plan.excluded
