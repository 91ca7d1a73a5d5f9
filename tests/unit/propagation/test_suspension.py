"""Suspension: the policy's `suspension` and the template annotation, per cluster."""

from __future__ import annotations

from typing import Any

import pytest

from kokpit.api.policy import PropagationSpec, Suspension
from kokpit.propagation import names
from kokpit.propagation.suspension import SUSPEND_DISPATCHING_ANNOTATION, dispatching_suspended
from kokpit.propagation.work_render import render_work, strip_template


def suspension(**fields: Any) -> Suspension:
    return Suspension.model_validate(fields)


@pytest.mark.parametrize(
    ("policy", "annotation", "suspended"),
    [
        pytest.param(None, None, {"member1": False, "member2": False}, id="nothing suspended"),
        pytest.param(
            suspension(dispatching=True), None, {"member1": True, "member2": True}, id="policy: every cluster"
        ),
        pytest.param(
            suspension(dispatchingOnClusters={"clusterNames": ["member2"]}),
            None,
            {"member1": False, "member2": True},
            id="policy: member2 only",
        ),
        pytest.param(
            suspension(dispatching=False),
            None,
            {"member1": False, "member2": False},
            id="policy: dispatching false",
        ),
        pytest.param(None, "true", {"member1": True, "member2": True}, id="annotation true: every cluster"),
        pytest.param(
            None, "member1, member3", {"member1": True, "member2": False}, id="annotation lists member1"
        ),
        pytest.param(None, "false", {"member1": False, "member2": False}, id="annotation false"),
        pytest.param(
            suspension(dispatchingOnClusters={"clusterNames": ["member2"]}),
            "member1",
            {"member1": True, "member2": True},
            id="policy and annotation add up",
        ),
    ],
)
def test_dispatching_suspended(
    policy: Suspension | None, annotation: str | None, suspended: dict[str, bool]
) -> None:
    annotations = {SUSPEND_DISPATCHING_ANNOTATION: annotation} if annotation is not None else {}
    for cluster, expected in suspended.items():
        assert dispatching_suspended(cluster, suspension=policy, annotations=annotations) is expected


def test_dispatching_to_all_and_to_some_are_refused_together() -> None:
    with pytest.raises(ValueError, match="mutually exclusive"):
        PropagationSpec.model_validate(
            {
                "resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap"}],
                "suspension": {"dispatching": True, "dispatchingOnClusters": {"clusterNames": ["member1"]}},
            }
        )


def test_the_annotation_is_not_sent_to_members_and_the_work_is_marked() -> None:
    template = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "n", "annotations": {SUSPEND_DISPATCHING_ANNOTATION: "true"}},
    }
    assert "annotations" not in strip_template(template)["metadata"]
    ref = names.BindingRef(namespace="n", name="c-configmap")
    assert render_work(template, cluster="member1", binding=ref, suspend_dispatching=True)["spec"][
        "suspendDispatching"
    ]
    assert "suspendDispatching" not in render_work(template, cluster="member1", binding=ref)["spec"]
