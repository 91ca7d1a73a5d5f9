"""Status of delivery: health of member objects, a Work's status, a binding's and a template's aggregate."""

from __future__ import annotations

from typing import Any

import pytest

from kokpit.api.work import Health
from kokpit.propagation.status import (
    ClusterReport,
    ManifestOutcome,
    WorkProblem,
    aggregated_status,
    fully_applied_condition,
    judge_health,
    replicas_carried,
    report_from_work,
    template_status,
    work_report,
    worst,
)

H, U, K = Health.HEALTHY, Health.UNHEALTHY, Health.UNKNOWN


def workload(
    kind: str,
    *,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    generation: int = 2,
) -> dict[str, Any]:
    group = {"Job": "batch/v1", "Pod": "v1", "ConfigMap": "v1"}.get(kind, "apps/v1")
    obj: dict[str, Any] = {
        "apiVersion": group,
        "kind": kind,
        "metadata": {"name": "x", "generation": generation},
        "spec": spec or {},
    }
    if status is not None:
        obj["status"] = status
    return obj


def deploy(replicas: int, **status: Any) -> dict[str, Any]:
    return workload("Deployment", spec={"replicas": replicas}, status={"observedGeneration": 2, **status})


@pytest.mark.parametrize(
    ("obj", "health", "needle"),
    [
        pytest.param(None, K, "not observed", id="not in the member yet"),
        pytest.param(
            deploy(3, readyReplicas=3, availableReplicas=3, updatedReplicas=3),
            H,
            "",
            id="deployment all ready",
        ),
        pytest.param(
            deploy(3, readyReplicas=1, availableReplicas=1, updatedReplicas=3),
            U,
            "1/3 replicas ready",
            id="deployment short of ready",
        ),
        pytest.param(
            deploy(3, readyReplicas=3, availableReplicas=3, updatedReplicas=2),
            U,
            "2/3 updated",
            id="deployment rolling out",
        ),
        pytest.param(
            workload(
                "Deployment", spec={"replicas": 3}, status={"observedGeneration": 1, "readyReplicas": 3}
            ),
            K,
            "observed",
            id="deployment old generation observed",
        ),
        pytest.param(
            workload("Deployment", spec={"replicas": 1}), K, "observed", id="deployment without status"
        ),
        pytest.param(deploy(0), H, "", id="deployment scaled to zero"),
        pytest.param(
            workload(
                "Deployment",
                spec={},
                status={
                    "observedGeneration": 2,
                    "readyReplicas": 1,
                    "availableReplicas": 1,
                    "updatedReplicas": 1,
                },
            ),
            H,
            "",
            id="deployment replicas default to 1",
        ),
        pytest.param(
            deploy(
                2,
                readyReplicas=2,
                availableReplicas=2,
                updatedReplicas=2,
                conditions=[
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": "too slow",
                    }
                ],
            ),
            U,
            "too slow",
            id="deployment past its progress deadline",
        ),
        pytest.param(
            workload(
                "StatefulSet",
                spec={"replicas": 2},
                status={
                    "observedGeneration": 2,
                    "readyReplicas": 2,
                    "availableReplicas": 2,
                    "updatedReplicas": 2,
                },
            ),
            H,
            "",
            id="statefulset ready",
        ),
        pytest.param(
            workload(
                "StatefulSet",
                spec={"replicas": 2},
                status={"observedGeneration": 2, "readyReplicas": 1, "updatedReplicas": 2},
            ),
            U,
            "1/2",
            id="statefulset short",
        ),
        pytest.param(
            workload(
                "ReplicaSet",
                spec={"replicas": 2},
                status={"observedGeneration": 2, "readyReplicas": 2, "availableReplicas": 2},
            ),
            H,
            "",
            id="replicaset ready",
        ),
        pytest.param(
            workload(
                "DaemonSet",
                status={
                    "observedGeneration": 2,
                    "desiredNumberScheduled": 3,
                    "numberReady": 3,
                    "updatedNumberScheduled": 3,
                    "numberAvailable": 3,
                },
            ),
            H,
            "",
            id="daemonset ready",
        ),
        pytest.param(
            workload(
                "DaemonSet",
                status={
                    "observedGeneration": 2,
                    "desiredNumberScheduled": 3,
                    "numberReady": 2,
                    "updatedNumberScheduled": 3,
                    "numberAvailable": 2,
                },
            ),
            U,
            "2/3 pods ready",
            id="daemonset short",
        ),
        pytest.param(
            workload("Job", status={"conditions": [{"type": "Complete", "status": "True"}]}),
            H,
            "",
            id="job complete",
        ),
        pytest.param(
            workload(
                "Job",
                status={
                    "conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]
                },
            ),
            U,
            "BackoffLimit",
            id="job failed",
        ),
        pytest.param(workload("Job", status={"active": 1}), K, "not finished", id="job running"),
        pytest.param(
            workload("Pod", status={"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
            H,
            "",
            id="pod ready",
        ),
        pytest.param(workload("Pod", status={"phase": "Pending"}), U, "Pending", id="pod pending"),
        pytest.param(workload("Pod", status={"phase": "Succeeded"}), H, "", id="pod succeeded"),
        pytest.param(
            workload("Pod", status={"phase": "Failed", "reason": "Evicted"}), U, "Evicted", id="pod failed"
        ),
        pytest.param(workload("Pod"), K, "no status", id="pod without status"),
        pytest.param(workload("ConfigMap"), H, "", id="other kinds healthy once there"),
    ],
)
def test_judge_health(obj: dict[str, Any] | None, health: Health, needle: str) -> None:
    verdict = judge_health(obj)
    assert verdict.health == health
    assert needle in verdict.message


@pytest.mark.parametrize(
    ("healths", "expected"),
    [
        pytest.param([H, H], H, id="all healthy"),
        pytest.param([H, K], K, id="one unknown"),
        pytest.param([K, U, H], U, id="one unhealthy wins"),
        pytest.param([], K, id="nothing"),
    ],
)
def test_worst(healths: list[Health], expected: Health) -> None:
    assert worst(healths) == expected


DEPLOY_ID = {
    "ordinal": 0,
    "group": "apps",
    "version": "v1",
    "kind": "Deployment",
    "namespace": "shop",
    "name": "web",
}
CM_ID = {"ordinal": 1, "group": "", "version": "v1", "kind": "ConfigMap", "namespace": "shop", "name": "cfg"}
READY = deploy(2, readyReplicas=2, availableReplicas=2, updatedReplicas=2)
SHORT = deploy(2, readyReplicas=0, availableReplicas=0, updatedReplicas=2)
CM = workload("ConfigMap")


@pytest.mark.parametrize(
    ("outcomes", "problem", "applied", "applied_reason", "available", "available_reason"),
    [
        pytest.param(
            [ManifestOutcome(DEPLOY_ID, True, observed=READY), ManifestOutcome(CM_ID, True, observed=CM)],
            None,
            "True",
            "AppliedSuccessful",
            "True",
            "Healthy",
            id="all applied and healthy",
        ),
        pytest.param(
            [ManifestOutcome(DEPLOY_ID, True, observed=SHORT)],
            None,
            "True",
            "AppliedSuccessful",
            "False",
            "Unhealthy",
            id="applied, pods not ready",
        ),
        pytest.param(
            [ManifestOutcome(DEPLOY_ID, True, observed=None)],
            None,
            "True",
            "AppliedSuccessful",
            "Unknown",
            "HealthUnknown",
            id="applied, not observed yet",
        ),
        pytest.param(
            [
                ManifestOutcome(DEPLOY_ID, True, observed=READY),
                ManifestOutcome(CM_ID, False, "Conflict", "ConfigMap shop/cfg already exists in member1"),
            ],
            None,
            "False",
            "Conflict",
            "Unknown",
            "NotApplied",
            id="one conflict",
        ),
        pytest.param(
            [],
            WorkProblem("ClusterUnavailable", "no kubeconfig"),
            "False",
            "ClusterUnavailable",
            "Unknown",
            "NotApplied",
            id="member unreachable",
        ),
    ],
)
def test_work_status(
    outcomes: list[ManifestOutcome],
    problem: WorkProblem | None,
    applied: str,
    applied_reason: str,
    available: str,
    available_reason: str,
) -> None:
    report = work_report(outcomes, cluster="member1", problem=problem)
    assert (report.applied.type, report.available.type) == ("Applied", "Available")
    assert (report.applied.status, report.applied.reason) == (applied, applied_reason)
    assert (report.available.status, report.available.reason) == (available, available_reason)
    assert len(report.manifest_statuses) == len(outcomes)
    for outcome in outcomes:
        if not outcome.applied:
            assert outcome.message in report.applied.message


def test_work_report_carries_the_member_status_and_health() -> None:
    short = work_report([ManifestOutcome(DEPLOY_ID, True, observed=SHORT)], cluster="m")
    entry = short.manifest_statuses[0]
    assert entry["identifier"] == DEPLOY_ID
    assert entry["health"] == "Unhealthy"
    assert entry["status"]["readyReplicas"] == 0
    assert (short.applied.status, short.available.status) == ("True", "False")
    ready = work_report([ManifestOutcome(DEPLOY_ID, True, observed=READY)], cluster="m")
    assert (ready.applied.status, ready.available.status) == ("True", "True")
    assert ready.manifest_statuses[0]["health"] == "Healthy"


def work(
    applied: str | None, *, health: str = "Healthy", ready: int = 2, generation: int = 1, observed: int = 1
) -> dict[str, Any]:
    conditions = []
    if applied is not None:
        conditions.append(
            {
                "type": "Applied",
                "status": applied,
                "reason": "R",
                "message": "bad field",
                "observedGeneration": observed,
            }
        )
        conditions.append(
            {"type": "Available", "status": "False", "reason": "R", "message": "0/2 replicas ready"}
        )
    return {
        "metadata": {"name": "shop.web-deployment", "generation": generation},
        "status": {
            "conditions": conditions,
            "manifestStatuses": [
                {"identifier": CM_ID, "health": "Healthy"},
                {
                    "identifier": DEPLOY_ID,
                    "health": health,
                    "status": {"replicas": 2, "readyReplicas": ready},
                },
            ],
        },
    }


TEMPLATE = {"kind": "Deployment", "name": "web", "namespace": "shop"}


@pytest.mark.parametrize(
    ("found", "applied", "health", "message", "ready"),
    [
        pytest.param(None, None, K, "no Work", None, id="no Work yet"),
        pytest.param(work(None), None, K, "not reported", None, id="Work not reported yet"),
        pytest.param(
            work("True", generation=2, observed=1),
            None,
            K,
            "not reported",
            None,
            id="report of an older generation",
        ),
        pytest.param(work("True"), True, H, "", 2, id="applied and healthy; template's manifest picked"),
        pytest.param(work("True", health="Unhealthy", ready=0), True, U, "", 0, id="applied, unhealthy"),
        pytest.param(work("False"), False, K, "bad field", 2, id="not applied"),
    ],
)
def test_report_from_work(
    found: dict[str, Any] | None, applied: bool | None, health: Health, message: str, ready: int | None
) -> None:
    report = report_from_work("member1", found, template=TEMPLATE)
    assert (report.applied, report.health) == (applied, health)
    assert message in report.applied_message
    assert (report.status or {}).get("readyReplicas") == ready
    if health == U:
        assert "0/2" in report.health_message


def test_aggregated_status_is_sorted_and_says_why() -> None:
    items = aggregated_status(
        [
            ClusterReport("member2", applied=False, applied_message="quota exceeded"),
            ClusterReport("member1", applied=True, health=H, status={"readyReplicas": 2}),
            ClusterReport("member3", applied=None, applied_message="no Work for cluster member3 yet"),
        ]
    )
    assert items == [
        {"clusterName": "member1", "health": "Healthy", "applied": True, "status": {"readyReplicas": 2}},
        {"clusterName": "member2", "health": "Unknown", "applied": False, "appliedMessage": "quota exceeded"},
        {"clusterName": "member3", "health": "Unknown", "appliedMessage": "no Work for cluster member3 yet"},
    ]


@pytest.mark.parametrize(
    ("reports", "status", "reason", "needles"),
    [
        pytest.param(
            [ClusterReport("m1", True, health=H), ClusterReport("m2", True, health=U)],
            "True",
            "FullyApplied",
            ["m1, m2"],
            id="all applied (health does not matter)",
        ),
        pytest.param(
            [ClusterReport("m1", True), ClusterReport("m2", False, applied_message="422 bad")],
            "False",
            "ApplyFailed",
            ["m2: 422 bad", "1 of 2"],
            id="one failed",
        ),
        pytest.param(
            [ClusterReport("m1", True), ClusterReport("m2", None)],
            "False",
            "NotYetApplied",
            ["m2"],
            id="one not reported",
        ),
        pytest.param([], "False", "NoClusters", [], id="no cluster chosen"),
    ],
)
def test_fully_applied_condition(
    reports: list[ClusterReport], status: str, reason: str, needles: list[str]
) -> None:
    condition = fully_applied_condition(reports)
    assert (condition.type, condition.status, condition.reason) == ("FullyApplied", status, reason)
    for needle in needles:
        assert needle in condition.message


def deployment_status(replicas: int, ready: int) -> dict[str, Any]:
    return {
        "replicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "updatedReplicas": replicas,
    }


@pytest.mark.parametrize(
    ("reports", "summed", "applied", "available", "needles"),
    [
        pytest.param(
            [
                ClusterReport("m1", True, health=H, status=deployment_status(2, 2)),
                ClusterReport("m2", True, health=H, status=deployment_status(3, 3)),
            ],
            {"replicas": 5, "readyReplicas": 5, "availableReplicas": 5, "updatedReplicas": 5},
            "True",
            "True",
            ["m1, m2"],
            id="2+3 ready",
        ),
        pytest.param(
            [
                ClusterReport("m1", True, health=H, status=deployment_status(2, 2)),
                ClusterReport(
                    "m2",
                    True,
                    health=U,
                    health_message="Deployment shop/web: 0/2 replicas ready",
                    status=deployment_status(2, 0),
                ),
            ],
            {"replicas": 4, "readyReplicas": 2, "availableReplicas": 2},
            "True",
            "False",
            ["m2: Deployment shop/web: 0/2 replicas ready"],
            id="pods not starting in m2",
        ),
        pytest.param(
            [
                ClusterReport("m1", True, health=H, status=deployment_status(2, 2)),
                ClusterReport("m2", False, applied_message="exceeded quota"),
            ],
            {"replicas": 2, "readyReplicas": 2},
            "False",
            "False",
            ["m2: exceeded quota"],
            id="quota in m2",
        ),
        pytest.param(
            [ClusterReport("m1", True, health=K, status=None)],
            {"replicas": 0, "readyReplicas": 0, "unavailableReplicas": 0},
            "True",
            "Unknown",
            ["m1"],
            id="nothing reported yet",
        ),
    ],
)
def test_template_status_of_a_deployment(
    reports: list[ClusterReport], summed: dict[str, int], applied: str, available: str, needles: list[str]
) -> None:
    status = template_status("apps", "Deployment", reports, generation=7)
    assert status is not None
    assert status.fields["observedGeneration"] == 7
    for field, value in summed.items():
        assert status.fields[field] == value, field
    assert status.applied.status == applied
    assert status.available.status == available
    message = status.available.message + status.applied.message
    for needle in needles:
        assert needle in message


@pytest.mark.parametrize(
    ("group", "kind", "fields"),
    [
        pytest.param(
            "apps", "StatefulSet", {"replicas", "readyReplicas", "currentReplicas"}, id="statefulset"
        ),
        pytest.param("apps", "ReplicaSet", {"replicas", "fullyLabeledReplicas"}, id="replicaset"),
        pytest.param(
            "apps",
            "DaemonSet",
            {"desiredNumberScheduled", "numberReady", "numberMisscheduled"},
            id="daemonset",
        ),
    ],
)
def test_template_status_of_other_workloads(group: str, kind: str, fields: set[str]) -> None:
    reports = [
        ClusterReport("m1", True, health=H, status=dict.fromkeys(fields, 1)),
        ClusterReport("m2", True, health=H, status=dict.fromkeys(fields, 2)),
    ]
    status = template_status(group, kind, reports, generation=1)
    assert status is not None
    for field in fields:
        assert status.fields[field] == 3


@pytest.mark.parametrize(("group", "kind"), [("", "ConfigMap"), ("batch", "Job"), ("example.com", "Widget")])
def test_template_status_only_for_summed_kinds(group: str, kind: str) -> None:
    assert template_status(group, kind, [], generation=1) is None


def _work_with(*manifests: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"workload": {"manifests": list(manifests)}}}


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": replicas},
    }


@pytest.mark.parametrize(
    ("work", "expected"),
    [
        pytest.param(_work_with(_deployment("web", 3)), 3, id="the share of the template's copy"),
        pytest.param(
            _work_with(_deployment("other", 5), _deployment("web", 2)),
            2,
            id="the copy of the template, not another",
        ),
        pytest.param(_work_with(_deployment("other", 5)), None, id="a Work without the template's copy"),
        pytest.param(None, None, id="no Work yet"),
    ],
)
def test_replicas_carried_reads_the_share_a_work_holds(
    work: dict[str, Any] | None, expected: int | None
) -> None:
    assert replicas_carried(work, {"kind": "Deployment", "name": "web", "namespace": "shop"}) == expected
