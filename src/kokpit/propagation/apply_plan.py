"""Pure decisions of applying one Work's manifests to its member: which API version to write, whether
an object already in the member may be touched, what exactly is applied, and what an API error means.

The execution controller gathers the snapshot (the member's `status.apiEnablements` from its Cluster,
the member's copy of each object) and does what these functions decide.

Version choice: a manifest is written in its own apiVersion when the member serves it; otherwise in the
member's newest served version of the same group that has the same kind (GA before beta before alpha,
higher numbers first, as Kubernetes orders versions). Nothing is converted beyond `apiVersion`: fields
the other version does not know are the member's to reject. A group or kind the member does not serve is
reported, never retried quickly.

Ownership: an object in a member is kokpit's when it carries `kokpit.io/managed-by=kokpit`. Another
object of the same name is left alone under `Abort` (the Work reports a Conflict) and taken over by a
forced apply under `Overwrite`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kokpit.api.policy import ConflictResolution
from kokpit.propagation import names
from kokpit.runtime.resources import ServedKind

WORK_NAMESPACE_ANNOTATION = names.WORK_NAMESPACE_ANNOTATION
WORK_NAME_ANNOTATION = names.WORK_NAME_ANNOTATION

# Server-written metadata that must not be sent back in an apply.
_SERVER_METADATA = (
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "managedFields",
    "selfLink",
    "ownerReferences",
    "generateName",
)

_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


# --- version choice --------------------------------------------------------------------------------------


class UnservedReason(StrEnum):
    """Why a manifest cannot be written to a member."""

    ENABLEMENTS_UNKNOWN = "APIEnablementsUnknown"
    """The member's served APIs have not been observed yet."""
    GROUP_NOT_SERVED = "APIGroupNotServed"
    """The member serves no version of the manifest's API group."""
    KIND_NOT_SERVED = "KindNotServed"
    """The member serves the group but no version of it has the kind."""
    MALFORMED = "InvalidManifest"
    """The manifest has no apiVersion, kind or name."""


@dataclass(frozen=True)
class Unserved:
    """A manifest the member cannot take, and a message saying so."""

    reason: UnservedReason
    message: str


def split_api_version(api_version: str) -> tuple[str, str]:
    """`split_api_version("apps/v1")` is `("apps", "v1")`; the core group is `""` (`"v1"` -> `("", "v1")`)."""
    group, _, version = api_version.rpartition("/")
    return group, version


def version_priority(version: str) -> tuple[int, int, int, str]:
    """`version_priority` is a sort key putting the preferred Kubernetes version first: GA before beta
    before alpha, higher major then higher minor first; versions not of the `vN[alpha|betaM]` form last,
    alphabetically."""
    match = _KUBE_VERSION.match(version)
    if match is None:
        return (3, 0, 0, version)
    major = int(match[1])
    level = {None: 0, "beta": 1, "alpha": 2}[match[2]]
    minor = int(match[3]) if match[3] else 0
    return (level, -major, -minor, version)


def choose_version(
    manifest: Mapping[str, Any],
    enablements: Sequence[Mapping[str, Any]] | None,
    *,
    cluster: str,
) -> ServedKind | Unserved:
    """`choose_version` picks the version `manifest` is written in to `cluster`, given the Cluster's
    `status.apiEnablements` ([{groupVersion, resources: [{name, kind, namespaced}]}]).

    The manifest's own version when served, else the newest served version of its group with the same
    kind; `Unserved` with a message naming the kind and the cluster otherwise.
    """
    api_version = str(manifest.get("apiVersion") or "")
    kind = str(manifest.get("kind") or "")
    if not api_version or not kind:
        return Unserved(UnservedReason.MALFORMED, "the manifest has no apiVersion or kind")
    if not enablements:
        return Unserved(
            UnservedReason.ENABLEMENTS_UNKNOWN,
            f"the API versions cluster {cluster} serves are not known yet",
        )
    group, version = split_api_version(api_version)
    served: dict[str, Mapping[str, Any]] = {}
    group_seen = False
    for enablement in enablements:
        gv_group, gv_version = split_api_version(str(enablement.get("groupVersion") or ""))
        if gv_group != group:
            continue
        group_seen = True
        for resource in enablement.get("resources") or ():
            plural = str(resource.get("name") or "")
            if resource.get("kind") == kind and plural and "/" not in plural:
                served.setdefault(gv_version, resource)
    if not served:
        if not group_seen:
            what = f"API group {group!r}" if group else "the core API group"
            return Unserved(
                UnservedReason.GROUP_NOT_SERVED,
                f"cluster {cluster} does not serve {what}, so it cannot hold {kind} ({api_version})",
            )
        return Unserved(
            UnservedReason.KIND_NOT_SERVED,
            f"cluster {cluster} serves no version of {group or 'core'} with kind {kind} ({api_version})",
        )
    chosen = version if version in served else sorted(served, key=version_priority)[0]
    resource = served[chosen]
    return ServedKind(
        group=group,
        version=chosen,
        kind=kind,
        plural=str(resource["name"]),
        namespaced=bool(resource.get("namespaced")),
    )


def served_kinds(enablements: Sequence[Mapping[str, Any]] | None) -> set[tuple[str, str, str]]:
    """`served_kinds` is every (group, version, kind) in a Cluster's `status.apiEnablements`."""
    kinds: set[tuple[str, str, str]] = set()
    for enablement in enablements or ():
        group, version = split_api_version(str(enablement.get("groupVersion") or ""))
        for resource in enablement.get("resources") or ():
            kinds.add((group, version, str(resource.get("kind") or "")))
    return kinds


# --- what is applied -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkRef:
    """The Work on the hub a member object comes from."""

    namespace: str
    name: str


def work_ref_from_metadata(annotations: Mapping[str, str] | None) -> WorkRef | None:
    """`work_ref_from_metadata` is the Work recorded on a member object by `desired_object`, or None."""
    annotations = annotations or {}
    namespace = annotations.get(WORK_NAMESPACE_ANNOTATION)
    name = annotations.get(WORK_NAME_ANNOTATION)
    if not namespace or not name:
        return None
    return WorkRef(namespace=namespace, name=name)


def target_namespace(manifest: Mapping[str, Any], served: ServedKind) -> str | None:
    """`target_namespace` is where the object goes in the member: its own namespace (`default` when a
    namespaced manifest has none), None for cluster-scoped kinds."""
    if not served.namespaced:
        return None
    return str((manifest.get("metadata") or {}).get("namespace") or "default")


def desired_object(
    manifest: Mapping[str, Any],
    served: ServedKind,
    *,
    work: WorkRef,
    cluster: str,
    work_labels: Mapping[str, str] | None = None,
    work_annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`desired_object` is what kokpit applies to the member for `manifest`: the manifest in the chosen
    version, without server-written metadata and status, labelled `kokpit.io/managed-by=kokpit` with the
    binding routing of its Work (`names.binding_metadata`) and annotated with the Work itself."""
    body = copy.deepcopy(dict(manifest))
    body["apiVersion"] = served.api_version
    body.pop("status", None)
    metadata = dict(body.get("metadata") or {})
    for field in _SERVER_METADATA:
        metadata.pop(field, None)
    namespace = target_namespace(manifest, served)
    if namespace is None:
        metadata.pop("namespace", None)
    else:
        metadata["namespace"] = namespace
    labels = dict(metadata.get("labels") or {})
    annotations = dict(metadata.get("annotations") or {})
    ref = names.binding_ref_from_metadata(work_labels, work_annotations)
    if ref is not None:
        routing_labels, routing_annotations = names.binding_metadata(ref, cluster=cluster)
    else:
        routing_labels = {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE}
        routing_annotations = {}
    labels.update(routing_labels)
    annotations.update(routing_annotations)
    annotations[WORK_NAMESPACE_ANNOTATION] = work.namespace
    annotations[WORK_NAME_ANNOTATION] = work.name
    metadata["labels"] = labels
    metadata["annotations"] = annotations
    body["metadata"] = metadata
    return body


def manifest_identifier(
    manifest: Mapping[str, Any], ordinal: int, served: ServedKind | None = None
) -> dict[str, Any]:
    """`manifest_identifier` is the `identifier` of a manifest's status: the group, version and kind it is
    written in (the manifest's own when no version was chosen), its namespace in the member and name."""
    metadata = manifest.get("metadata") or {}
    if served is not None:
        group, version, kind = served.group, served.version, served.kind
        namespace = target_namespace(manifest, served)
    else:
        group, version = split_api_version(str(manifest.get("apiVersion") or ""))
        kind = str(manifest.get("kind") or "")
        namespace = metadata.get("namespace") or None
    identifier: dict[str, Any] = {
        "ordinal": ordinal,
        "group": group,
        "version": version or "unknown",
        "kind": kind or "Unknown",
        "name": str(metadata.get("name") or "unknown"),
    }
    if namespace:
        identifier["namespace"] = namespace
    return identifier


def describe(identifier: Mapping[str, Any]) -> str:
    """`describe` names a manifest for people: `Deployment shop/web`, `ClusterRole admin`."""
    namespace = identifier.get("namespace")
    name = identifier.get("name", "")
    return (
        f"{identifier.get('kind', '')} {namespace}/{name}"
        if namespace
        else f"{identifier.get('kind', '')} {name}"
    )


# --- conflicts -------------------------------------------------------------------------------------------


class Action(StrEnum):
    """What to do with one manifest."""

    CREATE = "Create"
    """Nothing is there: apply (without force, so a concurrent creation shows up as a conflict)."""
    UPDATE = "Update"
    """kokpit's own object: apply with force."""
    TAKE_OVER = "TakeOver"
    """Someone else's object, and the Work says Overwrite: apply with force."""
    ABORT = "Abort"
    """Someone else's object, and the Work says Abort: leave it alone."""


@dataclass(frozen=True)
class ConflictDecision:
    action: Action
    message: str = ""

    @property
    def force(self) -> bool:
        """`force` is whether the apply takes fields from other managers."""
        return self.action in (Action.UPDATE, Action.TAKE_OVER)

    @property
    def proceed(self) -> bool:
        return self.action != Action.ABORT


def is_managed(obj: Mapping[str, Any] | None) -> bool:
    """`is_managed` tells whether a member object is kokpit's (`kokpit.io/managed-by=kokpit`)."""
    if obj is None:
        return False
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(names.MANAGED_BY_LABEL) == names.MANAGED_BY_VALUE


def decide_conflict(
    existing: Mapping[str, Any] | None,
    resolution: ConflictResolution | str | None,
    *,
    what: str,
    cluster: str,
) -> ConflictDecision:
    """`decide_conflict` decides how to apply `what` (`describe(...)`) given the member's current copy
    `existing` (None when absent) and the Work's conflict resolution (Abort when unset)."""
    if existing is None:
        return ConflictDecision(Action.CREATE)
    if is_managed(existing):
        return ConflictDecision(Action.UPDATE)
    if str(resolution or ConflictResolution.ABORT) == ConflictResolution.OVERWRITE:
        return ConflictDecision(
            Action.TAKE_OVER, f"{what} already existed in cluster {cluster}; taken over (Overwrite)"
        )
    return ConflictDecision(
        Action.ABORT,
        f"{what} already exists in cluster {cluster} and is not managed by kokpit; left alone "
        "(conflictResolution is Abort; set it to Overwrite to take the object over)",
    )


def belongs_to(obj: Mapping[str, Any] | None, work: WorkRef) -> bool:
    """`belongs_to` tells whether a member object was applied from `work` (so deleting the Work may delete
    it): managed by kokpit and annotated with this Work (or with no Work at all)."""
    if obj is None or not is_managed(obj):
        return False
    recorded = work_ref_from_metadata((obj.get("metadata") or {}).get("annotations"))
    return recorded is None or recorded == work


# --- errors ----------------------------------------------------------------------------------------------


class FailureKind(StrEnum):
    """How an apply failed, as the Applied condition's reason."""

    INVALID = "Invalid"
    FORBIDDEN = "Forbidden"
    CONFLICT = "Conflict"
    NOT_FOUND = "NotFound"
    REJECTED = "Rejected"
    UNAVAILABLE = "ClusterUnavailable"


@dataclass(frozen=True)
class ApplyFailure:
    """An API error of a member, classified."""

    kind: FailureKind
    permanent: bool
    """True when retrying the same manifest soon cannot help (the Work or the member must change)."""


def classify_api_error(code: int | None) -> ApplyFailure:
    """`classify_api_error` maps a member's HTTP status code to a failure: 400/422 invalid, 403 forbidden
    (RBAC or quota), 409 conflict and 404 are permanent until something changes; 429, 5xx and no answer
    at all are transient and retried with backoff."""
    if code in (400, 422):
        return ApplyFailure(FailureKind.INVALID, permanent=True)
    if code == 403:
        return ApplyFailure(FailureKind.FORBIDDEN, permanent=True)
    if code == 409:
        return ApplyFailure(FailureKind.CONFLICT, permanent=True)
    if code == 404:
        return ApplyFailure(FailureKind.NOT_FOUND, permanent=True)
    if code is None:
        return ApplyFailure(FailureKind.UNAVAILABLE, permanent=False)
    if code == 429 or code >= 500:
        return ApplyFailure(FailureKind.REJECTED, permanent=False)
    return ApplyFailure(FailureKind.REJECTED, permanent=True)


def missing_namespace(code: int | None, message: str) -> str | None:
    """`missing_namespace` is the namespace named by a member's 404 `namespaces "x" not found`, or None."""
    if code != 404:
        return None
    match = re.search(r'namespaces "([^"]+)" not found', message)
    return match[1] if match else None
