"""Template selection: the most specific matching template wins, ties broken by rule, never by order."""

from __future__ import annotations

from typing import Any

import pytest

from kokpit.api.component import ComponentTemplate
from kokpit.components.builtin import builtin_templates
from kokpit.components.selection import Candidate, select_template


def template(name: str, *, builtin: bool = False, **selector: Any) -> Candidate:
    return Candidate(
        ComponentTemplate.model_validate(
            {"metadata": {"name": name}, "spec": {"selector": selector, "template": "x"}}
        ),
        builtin=builtin,
    )


EDGE: dict[str, Any] = {"clusterSelector": {"matchLabels": {"tier": "edge"}}}
CASES = [
    pytest.param(
        [template("any"), template("java", languages=["java"])],
        {},
        "java",
        id="a language template beats a catch-all",
    ),
    pytest.param(
        [
            template("java", languages=["java"]),
            template("java-server", languages=["java"], runTypes=["server"]),
        ],
        {},
        "java-server",
        id="two dimensions beat one",
    ),
    pytest.param(
        [template("java", languages=["java"]), template("edge", **EDGE)],
        {"tier": "edge"},
        "edge",
        id="a cluster selector beats a language at one dimension each",
    ),
    pytest.param(
        [template("java", languages=["java"]), template("edge", **EDGE)],
        {"tier": "core"},
        "java",
        id="a cluster selector that does not match is not a candidate",
    ),
    pytest.param(
        [template("server", runTypes=["server"]), template("java", languages=["java"])],
        {},
        "java",
        id="a language beats a run type at one dimension each",
    ),
    pytest.param(
        [
            template("edge", **EDGE),
            template("edge-eu", clusterSelector={"matchLabels": {"tier": "edge", "region": "eu"}}),
        ],
        {"tier": "edge", "region": "eu"},
        "edge-eu",
        id="more cluster requirements win",
    ),
    pytest.param(
        [template("jvm", languages=["java", "kotlin"]), template("java", languages=["java"])],
        {},
        "java",
        id="fewer listed values win",
    ),
    pytest.param(
        [
            template("kokpit-java", builtin=True, languages=["java"]),
            template("team-java", languages=["java"]),
        ],
        {},
        "team-java",
        id="a hub template beats a built-in of the same specificity",
    ),
    pytest.param(
        [template("b", languages=["java"]), template("a", languages=["java"])],
        {},
        "a",
        id="equal templates go by name",
    ),
    pytest.param(
        [template("a", clusterSelector={})],
        {},
        "a",
        id="an empty cluster selector matches and counts for nothing",
    ),
    pytest.param(
        [template("python", languages=["python"]), template("stateful", workloadTypes=["StatefulSet"])],
        {},
        None,
        id="nothing matches an unknown combination",
    ),
]


@pytest.mark.parametrize(("candidates", "labels", "winner"), CASES)
def test_the_most_specific_template_wins(
    candidates: list[Candidate], labels: dict[str, str], winner: str | None
) -> None:
    for ordered in (candidates, list(reversed(candidates))):
        chosen = select_template(
            ordered, workload_type="Deployment", language="java", run_type="server", cluster_labels=labels
        )
        assert (chosen.name if chosen else None) == winner


@pytest.mark.parametrize(
    ("workload", "language", "run_type", "winner"),
    [
        pytest.param(
            "Deployment", "python", "server", "kokpit-deployment-python", id="python server Deployment"
        ),
        pytest.param(
            "StatefulSet", "java", "worker", "kokpit-statefulset-java", id="java worker StatefulSet"
        ),
        pytest.param("Deployment", "node", "server", "kokpit-deployment-node", id="node server Deployment"),
        pytest.param("Deployment", "go", "server", "kokpit-deployment-go", id="go server Deployment"),
        pytest.param("Deployment", "cobol", "server", None, id="an unknown language has no template"),
        pytest.param("Deployment", "go", "cron", None, id="cron has no built-in template"),
    ],
)
def test_built_in_templates_serve_each_language(
    workload: str, language: str, run_type: str, winner: str | None
) -> None:
    candidates = [Candidate(t, builtin=True) for t in builtin_templates()]
    chosen = select_template(candidates, workload_type=workload, language=language, run_type=run_type)
    assert (chosen.name if chosen else None) == winner
