"""The text of `kokpit get components` and `kokpit describe component`, from plain objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kokpit.cli.components import (
    CLUSTER_COLUMNS,
    COLUMNS,
    WATCH_WIDTHS,
    cluster_rows,
    component_row,
    describe_component,
    watch_line,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

WEB: dict[str, Any] = {
    "metadata": {
        "name": "web", "namespace": "shop", "generation": 2, "creationTimestamp": "2026-01-01T11:58:00Z"
    },
    "spec": {
        "workloadType": "Deployment",
        "language": "python",
        "runType": "server",
        "image": "demo:1",
        "exposure": {"port": 8080},
    },
    "status": {
        "observedGeneration": 2,
        "replicas": 4,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "clusters": [
            {"name": "member1", "template": "builtin-deployment", "rendered": True, "applied": True,
             "replicas": 3, "readyReplicas": 3, "availableReplicas": 3, "image": "demo:1"},
            {"name": "member2", "template": "builtin-deployment", "rendered": True, "applied": False,
             "replicas": 1, "readyReplicas": 0, "availableReplicas": 0, "image": "demo:2"},
        ],
        "conditions": [
            {"type": "Available", "status": "False", "reason": "Unavailable",
             "message": "member2: 0/1 available"},
            {"type": "Progressing", "status": "True", "reason": "Applying", "message": "waiting for member2"},
        ],
    },
}  # fmt: skip


def test_a_row_shows_language_workload_clusters_ready_of_wanted_available_and_progress() -> None:
    assert component_row(WEB, NOW) == ["web", "python", "Deployment", "2", "3/4", "False", "Applying", "2m"]
    assert component_row(WEB, NOW, namespaced=True)[:2] == ["shop", "web"]
    assert len(component_row(WEB, NOW)) == len(COLUMNS)


def test_a_component_not_yet_reconciled_has_empty_cells_not_zeros() -> None:
    fresh = {"metadata": {"name": "new"}, "spec": {"language": "go", "workloadType": "StatefulSet"}}
    assert component_row(fresh, NOW) == ["new", "go", "StatefulSet", "0", "", "", "", ""]


def test_watch_lines_keep_their_columns_and_a_long_cell_pushes_the_rest() -> None:
    header = watch_line(COLUMNS, WATCH_WIDTHS)
    row = watch_line(component_row(WEB, NOW), WATCH_WIDTHS)
    assert header.index("LANGUAGE") == row.index("python")
    assert header.rindex("AGE") == row.index("2m")
    long = watch_line(["x" * 30, *component_row(WEB, NOW)[1:]], WATCH_WIDTHS)
    assert long.startswith("x" * 30 + "  python")


def test_the_cluster_table_has_one_row_per_cluster_in_its_columns() -> None:
    rows = cluster_rows(WEB)
    assert rows == [
        ["member1", "builtin-deployment", "yes", "yes", "3", "3", "3", "demo:1"],
        ["member2", "builtin-deployment", "yes", "no", "1", "0", "0", "demo:2"],
    ]
    assert all(len(r) == len(CLUSTER_COLUMNS) for r in rows)


def test_describe_shows_spec_clusters_conditions_and_events() -> None:
    events: list[dict[str, Any]] = [
        {"type": "Normal", "reason": "Rendered", "note": "2 clusters"},
        {"type": "Warning", "reason": "ApplyFailed", "note": "member2: quota", "series": {"count": 3}},
    ]
    text = describe_component(WEB, events)
    assert "Spec:       Deployment python server, image demo:1, port 8080" in text
    assert "Managed:    yes, controller group default" in text
    assert "Replicas:   4 wanted, 3 ready, 3 available\n" in text
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.strip().startswith("CLUSTER"))
    assert lines[header + 2].split() == [
        "member2",
        "builtin-deployment",
        "yes",
        "no",
        "1",
        "0",
        "0",
        "demo:2",
    ]
    assert "  Available=False Unavailable: member2: 0/1 available" in lines
    assert "  Warning ApplyFailed (x3): member2: quota" in lines


def test_describe_says_when_kokpit_leaves_it_alone_and_when_status_is_behind() -> None:
    unmanaged = {
        **WEB,
        "metadata": {
            **WEB["metadata"],
            "generation": 3,
            "labels": {"apps.kokpit.io/controller-id": "blue"},
            "annotations": {"apps.kokpit.io/unmanaged": "true"},
        },
    }
    text = describe_component(unmanaged)
    assert "Managed:    no (apps.kokpit.io/unmanaged is true), controller group blue" in text
    assert "(status of generation 2, spec is 3)" in text
    assert text.endswith("Events:\n  (none)")


def test_describe_before_any_status_says_nothing_was_reported() -> None:
    text = describe_component({"metadata": {"name": "new", "namespace": "shop"}, "spec": {}})
    assert "Clusters:\n  (none reported yet)" in text
