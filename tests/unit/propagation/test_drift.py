"""Drift: which kokpit-owned fields of a member copy changed since kokpit's last apply."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kokpit.propagation.drift import already_carried, describe_drift, drifted_fields


def deployment(image: str = "nginx:1.27", replicas: int | None = 2, **labels: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"name": "web", "image": image, "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                    {"name": "log", "image": "busybox"},
                ]
            },
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"kokpit.io/managed-by": "kokpit", **labels},
        },
        "spec": spec,
    }


def member(obj: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The member's copy: what the member stores, with its own additions."""
    copy_ = copy.deepcopy(obj)
    copy_["metadata"].update(
        generation=3, resourceVersion="42", annotations={"deployment.kubernetes.io/revision": "1"}
    )
    copy_["spec"].setdefault("strategy", {"type": "RollingUpdate"})
    copy_["status"] = {"readyReplicas": 2}
    for path, value in changes.items():
        node = copy_
        *parents, leaf = path.split("__")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[leaf] = value
    return copy_


APPLIED = member(deployment())


@pytest.mark.parametrize(
    ("desired", "observed", "fields"),
    [
        pytest.param(deployment(), APPLIED, [], id="unchanged copy: nothing drifted"),
        pytest.param(
            deployment(),
            member(deployment(), status={"readyReplicas": 1}),
            [],
            id="status and the member's own annotations are not drift",
        ),
        pytest.param(
            deployment(),
            member(deployment("nginx:evil")),
            ["spec.template.spec.containers[web].image"],
            id="a hand-edited image is drift, named by container",
        ),
        pytest.param(
            deployment(replicas=None),
            member(deployment(replicas=5)),
            [],
            id="replicas left to an HPA (not in the body) are not drift",
        ),
        pytest.param(
            deployment(),
            member(deployment(replicas=5)),
            ["spec.replicas"],
            id="replicas kokpit owns, scaled by hand, are drift",
        ),
        pytest.param(
            deployment(),
            member(deployment(), metadata__labels={"app": "web"}),
            ["metadata.labels.kokpit.io/managed-by"],
            id="a removed kokpit label is drift",
        ),
        pytest.param(
            deployment(),
            member(deployment(), spec__template__spec__containers=[{"name": "web", "image": "nginx:1.27"}]),
            [
                "spec.template.spec.containers[web].ports",
                "spec.template.spec.containers[log]",
            ],
            id="a removed container and a removed port list are drift",
        ),
    ],
)
def test_drifted_fields(desired: dict[str, Any], observed: dict[str, Any], fields: list[str]) -> None:
    assert drifted_fields(desired, APPLIED, observed) == fields


def test_values_the_member_normalized_are_compared_in_its_own_form() -> None:
    desired = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l"}, "spec": {"cpu": "0.5"}}
    applied = {**desired, "spec": {"cpu": "500m"}}
    assert drifted_fields(desired, applied, copy.deepcopy(applied)) == []


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        pytest.param(["a"], "a", id="one field"),
        pytest.param(
            [f"f{i}" for i in range(10)], "f0, f1, f2, f3, f4, f5, f6, f7 and 2 more", id="ten fields"
        ),
    ],
)
def test_describe_drift(fields: list[str], text: str) -> None:
    assert describe_drift(fields) == text


CARRIED_CASES = [
    pytest.param(
        {"spec": {"replicas": 1}},
        {"metadata": {"generation": 3}, "spec": {"replicas": 1, "paused": False}, "status": {"x": 1}},
        True,
        id="a member copy holding every applied field, plus its defaults and status, is already carried",
    ),
    pytest.param(
        {"spec": {"replicas": 2}},
        {"spec": {"replicas": 1}},
        False,
        id="a field the member holds with another value needs the write",
    ),
    pytest.param(
        {"data": {"A": "1", "B": "2"}},
        {"data": {"A": "1"}},
        False,
        id="a field the member lacks needs the write",
    ),
    pytest.param(
        {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}},
        {"spec": {"containers": [{"name": "app", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent"}]}},
        True,
        id="named list items are compared by the fields kokpit applies",
    ),
    pytest.param(
        {"spec": {"containers": [{"name": "app"}, {"name": "sidecar"}]}},
        {"spec": {"containers": [{"name": "app"}]}},
        False,
        id="a named item the member lacks needs the write",
    ),
    pytest.param(
        {"spec": {"resources": {"cpu": "0.5"}}},
        {"spec": {"resources": {"cpu": "500m"}}},
        False,
        id="a value spelled otherwise than the member's normal form errs towards a write",
    ),
    pytest.param(
        {"metadata": {"name": "a", "labels": {"x": "1"}}},
        {"metadata": {"name": "a", "labels": {"x": "1", "other": "2"}, "resourceVersion": "9"}},
        True,
        id="labels others added do not make kokpit write",
    ),
]


@pytest.mark.parametrize(("desired", "observed", "carried"), CARRIED_CASES)
def test_already_carried(desired: dict[str, Any], observed: dict[str, Any], carried: bool) -> None:
    assert already_carried(desired, observed) is carried
