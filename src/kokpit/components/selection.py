"""Choose the ComponentTemplate that renders a Component on one cluster: the most specific match wins.

A template matches when each dimension its selector sets agrees: the Component's workload type is in
`workloadTypes`, its language in `languages`, its run type in `runTypes`, and the cluster's labels
match `clusterSelector`. Among the matches, the winner is decided by, in order:

1. more dimensions set (of workload type, language, run type, cluster selector);
2. among the set dimensions, the earlier one narrower, in the order cluster, language, run type,
   workload type: a template for one cluster group beats one for one language, which beats one for one
   run type (the platform team's per-cluster choices override per-language ones);
3. more cluster selector requirements (matchLabels pairs plus matchExpressions);
4. fewer values listed in total (a template for `[java]` beats one for `[java, go]`);
5. a template on the hub beats a built-in one;
6. the name, alphabetically first.

So ties never depend on list order or timing, and a platform team overrides a built-in template by
writing one that is at least as specific.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kokpit.api.component import ComponentTemplate, TemplateSelector, WorkloadType
from kokpit.api.policy import LabelSelector
from kokpit.propagation.selectors import label_selector_matches


@dataclass(frozen=True)
class Candidate:
    """A template to choose from, and whether it is one of kokpit's built-ins."""

    template: ComponentTemplate
    builtin: bool = False

    @property
    def name(self) -> str:
        """`name` is the template's metadata name."""
        return self.template.metadata.name or ""


def _requirements(selector: LabelSelector | None) -> int:
    if selector is None:
        return 0
    return len(selector.match_labels or {}) + len(selector.match_expressions or [])


def selector_matches(
    selector: TemplateSelector,
    *,
    workload_type: WorkloadType | str,
    language: str,
    run_type: str,
    cluster_labels: Mapping[str, str],
) -> bool:
    """`selector_matches` tells whether a template's selector serves this Component on this cluster."""
    if selector.workload_types is not None and str(workload_type) not in {
        str(w) for w in selector.workload_types
    }:
        return False
    if selector.languages is not None and language not in selector.languages:
        return False
    if selector.run_types is not None and run_type not in selector.run_types:
        return False
    return selector.cluster_selector is None or label_selector_matches(
        selector.cluster_selector, cluster_labels
    )


def specificity(candidate: Candidate) -> tuple[int, ...]:
    """`specificity` is the sort key of the precedence in the module docstring, larger wins (the name
    is applied separately, since it is compared the other way)."""
    selector = candidate.template.spec.selector
    cluster = _requirements(selector.cluster_selector) > 0
    dimensions = (
        cluster,
        selector.languages is not None,
        selector.run_types is not None,
        selector.workload_types is not None,
    )
    listed = sum(
        len(values or []) for values in (selector.languages, selector.run_types, selector.workload_types)
    )
    return (
        sum(dimensions),
        *(int(d) for d in dimensions),
        _requirements(selector.cluster_selector),
        -listed,
        int(not candidate.builtin),
    )


def select_template(
    candidates: Iterable[Candidate],
    *,
    workload_type: WorkloadType | str,
    language: str,
    run_type: str,
    cluster_labels: Mapping[str, str] | None = None,
) -> Candidate | None:
    """`select_template` returns the most specific matching candidate, or None when none matches (an
    unknown language or run type: the caller reports it)."""
    labels = cluster_labels or {}
    matching = [
        c
        for c in candidates
        if selector_matches(
            c.template.spec.selector,
            workload_type=workload_type,
            language=language,
            run_type=run_type,
            cluster_labels=labels,
        )
    ]
    if not matching:
        return None
    best = max(specificity(c) for c in matching)
    return min((c for c in matching if specificity(c) == best), key=lambda c: c.name)
