"""Suspension: whether changes of a template are dispatched to a cluster for now.

Two ways to ask, one meaning (Karmada's `suspension`): the propagation policy's `spec.suspension`
(`dispatching: true` for every cluster, `dispatchingOnClusters.clusterNames` for some) covers every
template it selects; the annotation `kokpit.io/suspend-dispatching` on one template covers that
template, with the value `true` (every cluster) or a comma-separated list of cluster names. A cluster
suspended by either is suspended.

Suspending stops dispatching, not rendering: the binding controller still writes each cluster's Work
with the template as it now is, marked `spec.suspendDispatching`, and the execution side leaves the
member's copy alone (no apply, no drift correction) until the mark goes; resuming applies the Work as
it is by then.
"""

from __future__ import annotations

from collections.abc import Mapping

from kokpit.api.policy import Suspension
from kokpit.propagation import names

SUSPEND_DISPATCHING_ANNOTATION = f"{names.PREFIX}suspend-dispatching"
"""Template annotation: `true` suspends dispatching to every cluster, `a,b` to clusters a and b."""


def annotation_clusters(value: str | None) -> frozenset[str] | None:
    """`annotation_clusters` reads `kokpit.io/suspend-dispatching`: None when it suspends every
    cluster (`true`), else the cluster names it lists (empty when unset, `false` or blank)."""
    text = (value or "").strip()
    if text.lower() == "true":
        return None
    if text.lower() in ("", "false"):
        return frozenset()
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def dispatching_suspended(
    cluster: str,
    *,
    suspension: Suspension | None = None,
    annotations: Mapping[str, str] | None = None,
) -> bool:
    """`dispatching_suspended` tells whether changes are kept from `cluster`, by the policy's
    `suspension` or the template's `annotations` (see the module docstring)."""
    if suspension is not None:
        if suspension.dispatching:
            return True
        on = suspension.dispatching_on_clusters
        if on is not None and cluster in (on.cluster_names or ()):
            return True
    clusters = annotation_clusters((annotations or {}).get(SUSPEND_DISPATCHING_ANNOTATION))
    return clusters is None or cluster in clusters


__all__ = ["SUSPEND_DISPATCHING_ANNOTATION", "annotation_clusters", "dispatching_suspended"]
