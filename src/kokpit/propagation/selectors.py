"""Which policies apply to a resource template.

A `ResourceSelector` matches a template when its apiVersion and kind are equal, its namespace and name
are equal if given, and its labelSelector matches if given (labelSelector is ignored when name is set,
as in Karmada). A namespaced policy only ever matches templates in its own namespace, whatever its
selectors say; a cluster-wide policy matches in every namespace and cluster-scoped templates.

**Which propagation policy claims a template** (`select_policy`), among the policies matching it:

1. the highest `spec.priority`;
2. then a namespaced PropagationPolicy before a ClusterPropagationPolicy;
3. then the most specific matching selector: by name, over by labelSelector, over by kind only;
4. then the policy name, alphabetically first.

**Override policies** (`select_overrides`) do not compete: every matching one applies, in this order,
so that later (more specific) ones win where they touch the same field: ClusterOverridePolicies before
OverridePolicies; within each, kind-only matches before labelSelector matches before name matches; then
by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import IntEnum
from typing import Any

from kokpit.api.override import ClusterOverridePolicy, OverridePolicy
from kokpit.api.policy import (
    ClusterPropagationPolicy,
    LabelSelector,
    LabelSelectorOperator,
    PropagationPolicy,
    ResourceSelector,
)


class Specificity(IntEnum):
    """How precisely a selector matched a template; higher is more specific."""

    NONE = 0
    KIND = 1
    LABEL_SELECTOR = 2
    NAME = 3


def label_selector_matches(selector: LabelSelector, labels: Mapping[str, str] | None) -> bool:
    """`label_selector_matches` applies a Kubernetes label selector to `labels`: every matchLabels pair
    must be present; In needs the key with one of the values, NotIn passes when the key is absent or has
    another value, Exists and DoesNotExist test the key. An empty selector matches everything."""
    labels = labels or {}
    for key, wanted in (selector.match_labels or {}).items():
        if labels.get(key) != wanted:
            return False
    for requirement in selector.match_expressions or ():
        present = requirement.key in labels
        value = labels.get(requirement.key)
        values = requirement.values or []
        operator = requirement.operator
        if operator is LabelSelectorOperator.IN and not (present and value in values):
            return False
        if operator is LabelSelectorOperator.NOT_IN and present and value in values:
            return False
        if operator is LabelSelectorOperator.EXISTS and not present:
            return False
        if operator is LabelSelectorOperator.DOES_NOT_EXIST and present:
            return False
    return True


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def specificity(selector: ResourceSelector, obj: Mapping[str, Any]) -> Specificity:
    """`specificity` says how `selector` matches the template `obj` (a dict as the API server returns it):
    NONE when it does not, else NAME, LABEL_SELECTOR or KIND, by the most precise part that was set."""
    metadata = _metadata(obj)
    if obj.get("apiVersion") != selector.api_version or obj.get("kind") != selector.kind:
        return Specificity.NONE
    if selector.namespace and metadata.get("namespace") != selector.namespace:
        return Specificity.NONE
    if selector.name:
        return Specificity.NAME if metadata.get("name") == selector.name else Specificity.NONE
    if selector.label_selector is not None:
        if label_selector_matches(selector.label_selector, metadata.get("labels")):
            return Specificity.LABEL_SELECTOR
        return Specificity.NONE
    return Specificity.KIND


def matches(selector: ResourceSelector, obj: Mapping[str, Any]) -> bool:
    """`matches` says whether `selector` selects the template `obj`."""
    return specificity(selector, obj) is not Specificity.NONE


AnyPolicy = PropagationPolicy | ClusterPropagationPolicy | OverridePolicy | ClusterOverridePolicy


def _namespaced(policy: AnyPolicy) -> bool:
    return isinstance(policy, PropagationPolicy | OverridePolicy)


def policy_specificity(policy: AnyPolicy, obj: Mapping[str, Any]) -> Specificity:
    """`policy_specificity` is the most specific match among the selectors of `policy` for `obj`; NONE
    when no selector matches or `policy` is namespaced and `obj` is in another namespace (or none)."""
    if _namespaced(policy):
        namespace = _metadata(obj).get("namespace")
        if not namespace or namespace != policy.metadata.namespace:
            return Specificity.NONE
    return max(
        (specificity(selector, obj) for selector in policy.spec.resource_selectors),
        default=Specificity.NONE,
    )


def select_policy(
    obj: Mapping[str, Any], policies: Sequence[PropagationPolicy | ClusterPropagationPolicy]
) -> PropagationPolicy | ClusterPropagationPolicy | None:
    """`select_policy` returns the propagation policy that claims the template `obj`, or None when none
    matches. Precedence (see the module docstring): priority, then namespaced over cluster-wide, then
    selector specificity (name > labelSelector > kind), then name."""
    best: tuple[tuple[int, int, int, str], PropagationPolicy | ClusterPropagationPolicy] | None = None
    for policy in policies:
        match = policy_specificity(policy, obj)
        if match is Specificity.NONE:
            continue
        priority = policy.spec.priority
        key = (-priority, 0 if _namespaced(policy) else 1, -int(match), policy.metadata.name or "")
        if best is None or key < best[0]:
            best = (key, policy)
    return None if best is None else best[1]


def select_overrides(
    obj: Mapping[str, Any], policies: Sequence[OverridePolicy | ClusterOverridePolicy]
) -> list[OverridePolicy | ClusterOverridePolicy]:
    """`select_overrides` returns every override policy matching the template `obj`, in the order their
    rules are applied: cluster-wide first, then namespaced; within each, less specific first; then by
    name. Later policies win where they change the same field."""
    matched = [(policy_specificity(policy, obj), policy) for policy in policies]
    return [
        policy
        for _, policy in sorted(
            ((match, policy) for match, policy in matched if match is not Specificity.NONE),
            key=lambda item: (
                1 if _namespaced(item[1]) else 0,
                int(item[0]),
                item[1].metadata.name or "",
            ),
        )
    ]
