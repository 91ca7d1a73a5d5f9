"""A Component's status from its plan and the Works of its hub objects: only a Work carrying the
current rendering, applied since it changed, counts; conditions say what is missing."""

from __future__ import annotations

from typing import Any

from kokpit.api.component import Component
from kokpit.components.builtin import builtin_templates
from kokpit.components.plan import HASH_ANNOTATION, ComponentPlan, object_key, plan_component, rendered_hash
from kokpit.components.selection import Candidate
from kokpit.components.status import ClusterReport, component_status, work_report

BUILTINS = [Candidate(t, builtin=True) for t in builtin_templates()]


def plan(*clusters: tuple[str, int], language: str = "go") -> ComponentPlan:
    component = Component.model_validate(
        {
            "metadata": {"name": "api", "namespace": "shop"},
            "spec": {
                "workloadType": "Deployment",
                "language": language,
                "runType": "worker",
                "image": "api:1",
                "placement": {"clusters": [{"name": c, "replicas": r} for c, r in clusters]},
            },
        }
    )
    return plan_component(component, BUILTINS, {"member1": {}, "member2": {}})


def work(
    hash_: str, *, generation: int = 2, observed: int = 2, applied: str = "True", **status: Any
) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"workload": {"manifests": [{"metadata": {"annotations": {HASH_ANNOTATION: hash_}}}]}},
        "status": {
            "conditions": [
                {"type": "Applied", "status": applied, "observedGeneration": observed, "message": "forbidden"}
            ],
            "manifestStatuses": [{"identifier": {}, "status": status}],
        },
    }


def test_a_work_counts_only_with_the_current_rendering_applied_since_it_changed() -> None:
    assert work_report(work("old"), "new") is None
    assert work_report(work("new", generation=3, observed=2), "new") is None
    assert work_report(None, "new") is None
    report = work_report(work("new", readyReplicas=2), "new")
    assert report == ClusterReport(applied=True, message="forbidden", status={"readyReplicas": 2})


def reports_for(p: ComponentPlan, **per_cluster: ClusterReport) -> dict[Any, dict[str, ClusterReport]]:
    return {object_key(o): dict(per_cluster) for o in p.objects}


def conditions(view: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in view.conditions}


def test_waiting_for_the_members_is_progressing() -> None:
    p = plan(("member1", 2))
    view = component_status(p, {}, generation=4)
    assert conditions(view) == {
        "Rendered": ("True", "Rendered"),
        "Applied": ("False", "Applying"),
        "Available": ("False", "Unavailable"),
        "Progressing": ("True", "Progressing"),
    }
    assert view.fields["observedGeneration"] == 4 and not view.settled


def test_applied_and_available_everywhere_is_complete_with_the_sums() -> None:
    p = plan(("member1", 2), ("member2", 1))
    ready = {"readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 2}
    reports = {object_key(o): {"member1": ClusterReport(True, status=ready)} for o in p.objects}
    for o in p.objects:
        reports[object_key(o)]["member2"] = ClusterReport(
            True, status={"readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1}
        )
    view = component_status(p, reports, generation=1)
    assert conditions(view)["Available"] == ("True", "Available")
    assert conditions(view)["Progressing"] == ("False", "Complete")
    assert view.fields["readyReplicas"] == 3 and view.fields["replicas"] == 3
    assert [(c["name"], c["applied"], c["readyReplicas"]) for c in view.fields["clusters"]] == [
        ("member1", True, 2),
        ("member2", True, 1),
    ]
    assert view.settled


def test_old_pods_still_available_are_not_enough() -> None:
    p = plan(("member1", 2))
    stale = {"readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 0}
    view = component_status(p, reports_for(p, member1=ClusterReport(True, status=stale)), generation=1)
    assert conditions(view)["Available"] == ("False", "Unavailable")


def test_a_member_refusing_is_an_apply_failure_that_blocks() -> None:
    p = plan(("member1", 1))
    view = component_status(
        p, reports_for(p, member1=ClusterReport(False, message="quota exceeded")), generation=1
    )
    assert conditions(view)["Applied"] == ("False", "ApplyFailed")
    assert conditions(view)["Progressing"] == ("False", "Blocked")
    assert view.failures == [("member1", "quota exceeded")]


def test_a_cluster_that_cannot_be_rendered_blocks_with_its_reason() -> None:
    view = component_status(plan(("member1", 1), language="cobol"), {}, generation=1)
    assert conditions(view)["Rendered"] == ("False", "NoTemplate")
    assert conditions(view)["Progressing"] == ("False", "Blocked")
    assert view.fields["clusters"] == [
        {"name": "member1", "rendered": False, "replicas": 1, "image": "api:1", "applied": False}
    ]


def test_the_hash_is_of_the_planned_object() -> None:
    p = plan(("member1", 1))
    assert len({rendered_hash(o) for o in p.objects}) == len(p.objects)
