"""Delivery policies (`policy.kokpit.io/v1alpha1`): which resources go to which clusters, and how they change
on the way.

`PropagationPolicy` (namespaced) and `ClusterPropagationPolicy` select resource templates in the hub and
say where they are placed and how their replicas are divided; `OverridePolicy` and
`ClusterOverridePolicy` (in `kokpit.api.override`) rewrite the copy sent to each cluster.

Field names follow Karmada's `policy.karmada.io/v1alpha1` wherever they mean the same, so an existing
Karmada policy reads the same here once its `apiVersion` is changed. Bad input is rejected by the schema
(enums, bounds, patterns, CEL rules) before any controller sees it; the pydantic validators repeat the
cross-field rules so objects built in Python fail the same way.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator
from pydantic.alias_generators import to_snake

from kokpit.api.cluster import LABEL_VALUE_PATTERN, QUALIFIED_NAME_PATTERN, TaintEffect
from kokpit.api.crd import PrinterColumn, ResourceType
from kokpit.api.meta import Conditions, KokpitModel, ObjectMeta, cel, list_map, validations

GROUP = "policy.kokpit.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

JSON_POINTER_PATTERN = r"^(/([^~/]|~[01])*)+$"
"""An RFC 6901 JSON pointer to a field below the root: `/spec/replicas`, `/metadata/labels/a~1b`."""

Name = Annotated[str, Field(min_length=1, max_length=253)]
LabelKey = Annotated[str, Field(min_length=1, max_length=316, pattern=QUALIFIED_NAME_PATTERN)]
LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)]


# --- selectors -------------------------------------------------------------------------------------------


class LabelSelectorOperator(StrEnum):
    """How a label selector requirement compares a label with its values."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class LabelSelectorRequirement(KokpitModel):
    """One requirement on a label: the key, an operator, and the values it is compared with."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",
                "values must be non-empty for In and NotIn, and absent for Exists and DoesNotExist",
                field_path=".values",
            ),
        )
    )

    key: LabelKey
    """The label key the requirement applies to."""
    operator: LabelSelectorOperator
    """In and NotIn compare the label's value with values; Exists and DoesNotExist test the key only."""
    values: Annotated[list[LabelValue], Field(max_length=256)] | None = None
    """The values for In and NotIn; must be empty for Exists and DoesNotExist."""

    @model_validator(mode="after")
    def _values_match_operator(self) -> Self:
        wants_values = self.operator in (LabelSelectorOperator.IN, LabelSelectorOperator.NOT_IN)
        if wants_values != bool(self.values):
            raise ValueError(
                "values must be non-empty for In and NotIn, and absent for Exists and DoesNotExist"
            )
        return self


class LabelSelector(KokpitModel):
    """A Kubernetes label selector: every matchLabels pair and every matchExpressions requirement must hold.
    An empty selector matches everything."""

    match_labels: dict[str, str] | None = None
    """Labels that must be present with exactly these values."""
    match_expressions: Annotated[list[LabelSelectorRequirement], Field(max_length=32)] | None = None
    """Requirements that must all hold."""


class ResourceSelector(KokpitModel):
    """Selects resource templates in the hub by type and, optionally, namespace, name or labels."""

    api_version: Annotated[str, Field(min_length=1, max_length=316)]
    """The apiVersion of the selected resources, for example apps/v1."""
    kind: Annotated[str, Field(min_length=1, max_length=63)]
    """The kind of the selected resources, for example Deployment."""
    namespace: Annotated[str, Field(max_length=63)] | None = None
    """Only resources in this namespace. A namespaced policy always selects in its own namespace."""
    name: Annotated[str, Field(max_length=253)] | None = None
    """Only the resource with this name; labelSelector is ignored when name is set."""
    label_selector: LabelSelector | None = None
    """Only resources whose labels match."""


# --- placement -------------------------------------------------------------------------------------------


class FieldSelectorKey(StrEnum):
    """The Cluster spec fields a field selector can test."""

    PROVIDER = "provider"
    REGION = "region"
    ZONE = "zone"


class FieldSelectorOperator(StrEnum):
    """How a field selector requirement compares a cluster field with its values."""

    IN = "In"
    NOT_IN = "NotIn"


class FieldSelectorRequirement(KokpitModel):
    """One requirement on a topology field of the Cluster spec."""

    key: FieldSelectorKey
    """The Cluster spec field: provider, region or zone."""
    operator: FieldSelectorOperator
    """In: the field's value is one of values. NotIn: it is none of them (or unset)."""
    values: Annotated[list[Annotated[str, Field(min_length=1, max_length=63)]], Field(min_length=1)]
    """The values compared with the field."""


class FieldSelector(KokpitModel):
    """Selects clusters by the provider, region and zone of their spec; every requirement must hold."""

    match_expressions: Annotated[list[FieldSelectorRequirement], Field(min_length=1, max_length=16)]
    """Requirements that must all hold."""


class ClusterAffinity(KokpitModel):
    """Which clusters qualify. A cluster qualifies when every set part agrees: it is named in clusterNames
    (if set), not named in exclude, and matches labelSelector and fieldSelector (if set). An empty affinity
    matches every cluster."""

    cluster_names: Annotated[list[Name], Field(max_length=1024)] | None = None
    """Only these clusters."""
    exclude: Annotated[list[Name], Field(max_length=1024)] | None = None
    """Never these clusters."""
    label_selector: LabelSelector | None = None
    """Only clusters whose labels match."""
    field_selector: FieldSelector | None = None
    """Only clusters whose provider, region or zone match."""


OVERFLOW_AFFINITIES_UNSUPPORTED = (
    "overflowAffinities is not supported: kokpit places a workload in one group of clusterAffinities "
    "at a time (the first feasible one) and does not overflow replicas into further groups"
)


class OverflowClusterAffinity(ClusterAffinity):
    """A further group of clusters taking the replicas its term's group has no room for (Karmada's
    overflowAffinities). Refused (`OVERFLOW_AFFINITIES_UNSUPPORTED`); in the schema so the refusal names
    it."""

    affinity_name: Annotated[str, Field(min_length=1, max_length=32)]
    """The name of the overflow group."""


class ClusterAffinityTerm(ClusterAffinity):
    """A named group of clusters, tried in order among clusterAffinities."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.overflowAffinities)",
                OVERFLOW_AFFINITIES_UNSUPPORTED,
                field_path=".overflowAffinities",
            ),
        )
    )

    affinity_name: Annotated[str, Field(min_length=1, max_length=32)]
    """The name of the group, reported in the binding when the group is chosen."""
    overflow_affinities: Annotated[list[OverflowClusterAffinity], Field(max_length=16)] | None = None
    """Refused (`OVERFLOW_AFFINITIES_UNSUPPORTED`): kept in the schema so that a Karmada policy using it
    is refused with a message instead of losing the field silently."""

    @model_validator(mode="after")
    def _no_overflow(self) -> Self:
        if self.overflow_affinities is not None:
            raise ValueError(OVERFLOW_AFFINITIES_UNSUPPORTED)
        return self


class TolerationOperator(StrEnum):
    """How a toleration compares its value with a taint's."""

    EXISTS = "Exists"
    EQUAL = "Equal"


class Toleration(KokpitModel):
    """Lets resources be placed on clusters with a matching taint (the semantics of core/v1 Toleration)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.operator != 'Exists' || !has(self.value) || self.value == ''",
                "value must be empty when operator is Exists",
                field_path=".value",
            ),
            cel(
                "(has(self.key) && self.key != '') || self.operator == 'Exists'",
                "an empty key tolerates every taint and needs operator Exists",
                field_path=".operator",
            ),
        )
    )

    key: Annotated[str, Field(max_length=316)] | None = None
    """The taint key to tolerate; empty with operator Exists tolerates every taint."""
    operator: TolerationOperator = TolerationOperator.EQUAL
    """Exists tolerates any value; Equal only the value given."""
    value: Annotated[str, Field(max_length=63)] | None = None
    """The taint value to tolerate, for operator Equal."""
    effect: TaintEffect | None = None
    """The taint effect to tolerate; empty tolerates every effect."""
    toleration_seconds: Annotated[int, Field(ge=0, json_schema_extra={"format": "int64"})] | None = None
    """For a NoExecute taint: how long the resource stays on a cluster after the taint was added before it
    is evicted (`kokpit.propagation.failover`); unset tolerates it for ever, 0 evicts at once."""

    @model_validator(mode="after")
    def _operator_rules(self) -> Self:
        if self.operator is TolerationOperator.EXISTS and self.value:
            raise ValueError("value must be empty when operator is Exists")
        if not self.key and self.operator is not TolerationOperator.EXISTS:
            raise ValueError("an empty key tolerates every taint and needs operator Exists")
        return self


class SpreadByField(StrEnum):
    """What a spread constraint groups clusters by."""

    CLUSTER = "cluster"
    REGION = "region"
    ZONE = "zone"
    PROVIDER = "provider"


class SpreadConstraint(KokpitModel):
    """Spreads resources over a bounded number of groups of clusters: clusters themselves, or clusters
    sharing a region, zone, provider or the value of a label."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "has(self.spreadByField) != has(self.spreadByLabel)",
                "exactly one of spreadByField and spreadByLabel must be set",
            ),
            cel(
                "!has(self.maxGroups) || self.maxGroups == 0 || !has(self.minGroups) "
                "|| self.minGroups <= self.maxGroups",
                "minGroups must not be greater than maxGroups",
                field_path=".minGroups",
            ),
        )
    )

    spread_by_field: SpreadByField | None = None
    """Group clusters by this field (cluster: every cluster is its own group)."""
    spread_by_label: LabelKey | None = None
    """Group clusters by the value of this label."""
    max_groups: Annotated[int, Field(ge=0, le=1000)] | None = None
    """Use at most this many groups; 0 or unset means no limit."""
    min_groups: Annotated[int, Field(ge=0, le=1000)] | None = None
    """Fail to schedule when fewer groups than this are feasible; 0 or unset means no minimum."""

    @model_validator(mode="after")
    def _one_key(self) -> Self:
        if (self.spread_by_field is None) == (self.spread_by_label is None):
            raise ValueError("exactly one of spreadByField and spreadByLabel must be set")
        if self.max_groups and self.min_groups is not None and self.min_groups > self.max_groups:
            raise ValueError("minGroups must not be greater than maxGroups")
        return self


class ReplicaSchedulingType(StrEnum):
    """Whether every cluster runs all replicas or the replicas are divided among clusters."""

    DUPLICATED = "Duplicated"
    DIVIDED = "Divided"


class ReplicaDivisionPreference(StrEnum):
    """How Divided replicas are split."""

    AGGREGATED = "Aggregated"
    """Into as few clusters as possible, the ones with the most room first."""
    WEIGHTED = "Weighted"
    """In proportion to weights (static, or each cluster's room for more replicas)."""


class StaticClusterWeight(KokpitModel):
    """A weight for the clusters matching targetCluster."""

    target_cluster: ClusterAffinity
    """The clusters that get this weight."""
    weight: Annotated[int, Field(ge=1)]
    """The weight, at least 1. A cluster matching several entries takes the highest."""


class DynamicWeightFactor(StrEnum):
    """Where dynamic weights come from."""

    AVAILABLE_REPLICAS = "AvailableReplicas"
    """Each cluster's room for more replicas of the workload, from its resource summary."""


class ClusterPreferences(KokpitModel):
    """Weights for Weighted division: a static list or a dynamic factor, not both."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!(has(self.staticWeightList) && has(self.dynamicWeight))",
                "staticWeightList and dynamicWeight are mutually exclusive",
            ),
        )
    )

    static_weight_list: Annotated[list[StaticClusterWeight], Field(min_length=1, max_length=128)] | None = (
        None
    )
    """Fixed weights per group of clusters; clusters matching no entry get no replicas."""
    dynamic_weight: DynamicWeightFactor | None = None
    """Compute weights from each cluster's room for the workload."""

    @model_validator(mode="after")
    def _exclusive(self) -> Self:
        if self.static_weight_list is not None and self.dynamic_weight is not None:
            raise ValueError("staticWeightList and dynamicWeight are mutually exclusive")
        return self


class ReplicaSchedulingStrategy(KokpitModel):
    """How the replicas of a workload (spec.replicas of a Deployment, ...) are spread over the clusters."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.replicaSchedulingType == 'Divided' || !has(self.replicaDivisionPreference)",
                "replicaDivisionPreference applies only to replicaSchedulingType Divided",
                field_path=".replicaDivisionPreference",
            ),
            cel(
                "!has(self.weightPreference) || "
                "(has(self.replicaDivisionPreference) && self.replicaDivisionPreference == 'Weighted')",
                "weightPreference applies only to replicaDivisionPreference Weighted",
                field_path=".weightPreference",
            ),
        )
    )

    replica_scheduling_type: ReplicaSchedulingType = ReplicaSchedulingType.DUPLICATED
    """Duplicated: every selected cluster runs spec.replicas. Divided: the replicas are split among them."""
    replica_division_preference: ReplicaDivisionPreference | None = None
    """For Divided: Aggregated or Weighted (the default)."""
    weight_preference: ClusterPreferences | None = None
    """For Weighted: the weights; unset means equal weights."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (
            self.replica_scheduling_type is not ReplicaSchedulingType.DIVIDED
            and self.replica_division_preference is not None
        ):
            raise ValueError("replicaDivisionPreference applies only to replicaSchedulingType Divided")
        if (
            self.weight_preference is not None
            and self.replica_division_preference is not ReplicaDivisionPreference.WEIGHTED
        ):
            raise ValueError("weightPreference applies only to replicaDivisionPreference Weighted")
        return self


class Placement(KokpitModel):
    """Where selected resources go and how their replicas are divided."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!(has(self.clusterAffinity) && has(self.clusterAffinities))",
                "clusterAffinity and clusterAffinities are mutually exclusive",
                field_path=".clusterAffinities",
            ),
            cel(
                "!has(self.spreadConstraints) || self.spreadConstraints.filter(c, has(c.spreadByField) "
                "&& c.spreadByField == 'cluster').size() <= 1",
                "at most one spread constraint may spread by cluster",
                field_path=".spreadConstraints",
            ),
            cel(
                "!has(self.spreadConstraints) || self.spreadConstraints.filter(c, has(c.spreadByLabel) "
                "|| c.spreadByField != 'cluster').size() <= 1",
                "at most one spread constraint may spread by region, zone, provider or a label",
                field_path=".spreadConstraints",
            ),
        )
    )

    cluster_affinity: ClusterAffinity | None = None
    """The clusters that qualify; unset means every cluster."""
    cluster_affinities: (
        Annotated[
            list[ClusterAffinityTerm],
            Field(min_length=1, max_length=16, json_schema_extra=list_map("affinityName")),
        ]
        | None
    ) = None
    """Groups of clusters tried in order: the first group with a feasible cluster is used. Mutually
    exclusive with clusterAffinity."""
    cluster_tolerations: Annotated[list[Toleration], Field(max_length=64)] | None = None
    """Taints of clusters that the resources tolerate."""
    spread_constraints: Annotated[list[SpreadConstraint], Field(max_length=4)] | None = None
    """Bounds on how many clusters, or groups of clusters, are used."""
    replica_scheduling: ReplicaSchedulingStrategy | None = None
    """How replicas are spread; unset means Duplicated."""

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.cluster_affinity is not None and self.cluster_affinities is not None:
            raise ValueError("clusterAffinity and clusterAffinities are mutually exclusive")
        constraints = self.spread_constraints or []
        by_cluster = [c for c in constraints if c.spread_by_field is SpreadByField.CLUSTER]
        if len(by_cluster) > 1:
            raise ValueError("at most one spread constraint may spread by cluster")
        if len(constraints) - len(by_cluster) > 1:
            raise ValueError("at most one spread constraint may spread by region, zone, provider or a label")
        return self


class ConflictResolution(StrEnum):
    """What to do when the resource already exists in a member and kokpit did not create it."""

    ABORT = "Abort"
    """Leave it alone and report the conflict."""
    OVERWRITE = "Overwrite"
    """Take it over."""


SUSPENSION_EXCLUSIVE = "dispatching and dispatchingOnClusters are mutually exclusive"


class SuspendClusters(KokpitModel):
    """The clusters to which dispatching is suspended."""

    cluster_names: Annotated[list[Name], Field(max_length=1024)] | None = None
    """The names of the clusters."""


class Suspension(KokpitModel):
    """Stops propagating changes of the selected templates, to every cluster or to some (Karmada's
    suspension). The members keep the copies they hold; the Works on the hub still follow the template,
    and resuming applies what they hold by then."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!(has(self.dispatching) && self.dispatching && has(self.dispatchingOnClusters))",
                SUSPENSION_EXCLUSIVE,
            ),
        )
    )

    dispatching: bool | None = None
    """true stops dispatching to every cluster; cannot be combined with dispatchingOnClusters."""
    dispatching_on_clusters: SuspendClusters | None = None
    """Stops dispatching to these clusters only."""

    @model_validator(mode="after")
    def _exclusive(self) -> Self:
        if self.dispatching and self.dispatching_on_clusters is not None:
            raise ValueError(SUSPENSION_EXCLUSIVE)
        return self


class PurgeMode(StrEnum):
    """What happens to the copy on the cluster a workload is evicted from (Karmada's PurgeMode)."""

    IMMEDIATELY = "Immediately"
    """Removed at once, before the replacement runs: for workloads that must never run twice."""
    GRACIOUSLY = "Graciously"
    """Removed once the replacement is healthy elsewhere, or after gracePeriodSeconds at the latest."""
    NEVER = "Never"
    """Kept until someone removes the eviction task from the binding."""


DEFAULT_APPLICATION_TOLERATION_SECONDS = 300
"""Karmada's default decisionConditions.tolerationSeconds."""
DEFAULT_GRACE_PERIOD_SECONDS = 600
"""Karmada's default gracePeriodSeconds of a Graciously purge."""
GRACE_PERIOD_NEEDS_GRACIOUSLY = "gracePeriodSeconds applies only to purgeMode Graciously"


class DecisionConditions(KokpitModel):
    """When an unhealthy workload is moved off a cluster."""

    toleration_seconds: Annotated[int, Field(ge=0, json_schema_extra={"format": "int32"})] | None = None
    """How long the workload may stay unhealthy on a cluster before it is moved (default 300; 0: at
    once)."""


class ApplicationFailoverBehavior(KokpitModel):
    """Moves a workload off a cluster where it stays unhealthy (Karmada's application failover)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.gracePeriodSeconds) || !has(self.purgeMode) || self.purgeMode == 'Graciously'",
                GRACE_PERIOD_NEEDS_GRACIOUSLY,
                field_path=".gracePeriodSeconds",
            ),
        )
    )

    decision_conditions: DecisionConditions = Field(default_factory=DecisionConditions)
    """When to move it."""
    purge_mode: PurgeMode = PurgeMode.GRACIOUSLY
    """What happens to the copy left behind: Immediately, Graciously (default) or Never."""
    grace_period_seconds: Annotated[int, Field(ge=1, json_schema_extra={"format": "int32"})] | None = None
    """With Graciously: the longest wait for the replacement to be healthy before the copy left behind is
    removed anyway (default 600)."""

    @model_validator(mode="after")
    def _grace_needs_graciously(self) -> Self:
        if self.grace_period_seconds is not None and self.purge_mode is not PurgeMode.GRACIOUSLY:
            raise ValueError(GRACE_PERIOD_NEEDS_GRACIOUSLY)
        return self


class FailoverBehavior(KokpitModel):
    """How selected workloads are moved in case of failures. Cluster failures need no field here: a
    NoExecute taint evicts unless `placement.clusterTolerations` tolerate it."""

    application: ApplicationFailoverBehavior | None = None
    """Moves a workload off a cluster where it stays unhealthy; unset: never."""


POD_TEMPLATE_KINDS = frozenset(
    {
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "ReplicaSet"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("v1", "Pod"),
    }
)
"""The kinds whose pod template kokpit reads for `propagateDeps` (`kokpit.propagation.dependencies`)."""

PROPAGATE_DEPS_WITHOUT_POD_TEMPLATE = (
    "propagateDeps needs a resourceSelector of a kind with a pod template (apps/v1 Deployment, "
    "StatefulSet, DaemonSet, ReplicaSet; batch/v1 Job, CronJob; v1 Pod) or of a custom kind, whose "
    "ResourceInterpreter's dependencyInterpretation names them: no other kind has dependencies"
)

CUSTOM_GROUP_PATTERN = "^[^/]*[.][^/]*/"
"""An apiVersion whose group has a dot: a custom kind's (a CRD's group must have one), unless..."""
KUBERNETES_GROUP_PATTERN = "^[^/]*[.]k8s[.]io/"
"""...the group is one of Kubernetes' own (`*.k8s.io`). Character classes, not backslashes, so the
same text is a valid CEL string."""


def may_have_dependencies(api_version: str, kind: str) -> bool:
    """Whether objects of this kind can name dependencies: a pod template, or a custom kind whose
    ResourceInterpreter may declare them (`dependencyInterpretation`)."""
    if (api_version, kind) in POD_TEMPLATE_KINDS:
        return True
    return bool(re.match(CUSTOM_GROUP_PATTERN, api_version)) and not re.match(
        KUBERNETES_GROUP_PATTERN, api_version
    )


def _pod_template_kinds_cel() -> str:
    by_version: dict[str, list[str]] = {}
    for api_version, kind in sorted(POD_TEMPLATE_KINDS):
        by_version.setdefault(api_version, []).append(kind)
    return " || ".join(
        f"(s.apiVersion == '{api_version}' && s.kind in [{', '.join(repr(k) for k in kinds)}])"
        for api_version, kinds in by_version.items()
    )


DEFAULT_SCHEDULER_NAME = "default-scheduler"
"""The name of kokpit's scheduler in `spec.schedulerName` (Karmada's default)."""

UNSUPPORTED_SPEC_FIELDS: dict[str, str] = {
    "preemption": (
        "preemption is not supported: kokpit gives a template to the matching policy of highest priority "
        "(then namespaced over cluster-wide, then the most specific selector) every time it is reconciled, "
        "so neither Always nor Never would hold"
    ),
    "schedulePriority": (
        "schedulePriority is not supported: kokpit schedules bindings as they change and has no priority "
        "queue or preemption between bindings"
    ),
    "activationPreference": (
        "activationPreference is not supported: kokpit applies a policy change to every template it "
        "selects at once"
    ),
    "dependentOverrides": (
        "dependentOverrides is not supported: kokpit applies the override policies present when a "
        "template is rendered and renders it again when an override policy is created"
    ),
    "workloadAffinity": (
        "workloadAffinity is not supported: kokpit does not place a workload by where other workloads are"
    ),
    "association": (
        "association is not supported: it is deprecated in Karmada in favour of propagateDeps, which kokpit "
        "implements"
    ),
}
"""Karmada PropagationSpec fields kokpit refuses, with the message the API server and the model give. They
stay in the schema so that a Karmada policy using one is refused instead of losing the field silently."""

SCHEDULER_NAME_UNSUPPORTED = (
    f"schedulerName must be {DEFAULT_SCHEDULER_NAME} or unset: kokpit has a single scheduler"
)


class PreemptionBehavior(StrEnum):
    """Karmada's preemption values; kokpit refuses both (`UNSUPPORTED_SPEC_FIELDS`)."""

    ALWAYS = "Always"
    NEVER = "Never"


class ActivationPreference(StrEnum):
    """Karmada's activationPreference values; kokpit refuses it (`UNSUPPORTED_SPEC_FIELDS`)."""

    LAZY = "Lazy"


class PriorityClassSource(StrEnum):
    """Where Karmada looks up the PriorityClass of schedulePriority."""

    KUBE_PRIORITY_CLASS = "KubePriorityClass"


class SchedulePriority(KokpitModel):
    """Karmada's scheduling priority of a binding; kokpit refuses it (`UNSUPPORTED_SPEC_FIELDS`)."""

    priority_class_source: PriorityClassSource | None = None
    """Where the PriorityClass is defined."""
    priority_class_name: Annotated[str, Field(max_length=253)] | None = None
    """The name of the PriorityClass."""


class PropagationSpec(KokpitModel):
    """What to propagate and where."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.propagateDeps) || !self.propagateDeps || "
                f"self.resourceSelectors.exists(s, {_pod_template_kinds_cel()} || "
                f"(s.apiVersion.matches('{CUSTOM_GROUP_PATTERN}') && "
                f"!s.apiVersion.matches('{KUBERNETES_GROUP_PATTERN}')))",
                PROPAGATE_DEPS_WITHOUT_POD_TEMPLATE,
                field_path=".propagateDeps",
            ),
            *(
                cel(f"!has(self.{name})", message, field_path=f".{name}")
                for name, message in UNSUPPORTED_SPEC_FIELDS.items()
            ),
            cel(
                f"!has(self.schedulerName) || self.schedulerName == '{DEFAULT_SCHEDULER_NAME}'",
                SCHEDULER_NAME_UNSUPPORTED,
                field_path=".schedulerName",
            ),
        )
    )

    resource_selectors: Annotated[list[ResourceSelector], Field(min_length=1, max_length=128)]
    """The resource templates this policy applies to; a template matching any selector is selected."""
    placement: Placement = Field(default_factory=Placement)
    """Where the selected resources go."""
    priority: int = 0
    """When several policies select a template, the higher priority wins."""
    conflict_resolution: ConflictResolution = ConflictResolution.ABORT
    """What to do when a selected resource already exists in a member and kokpit did not create it."""
    preserve_resources_on_deletion: bool | None = None
    """Keep the propagated copies in the members when the template is deleted."""
    suspension: Suspension | None = None
    """Suspends dispatching of changes to every cluster or to some; unset means none. The template
    annotation `kokpit.io/suspend-dispatching` does the same for one template."""
    failover: FailoverBehavior | None = None
    """How workloads are moved off clusters where they stay unhealthy (`failover.application`)."""
    propagate_deps: bool | None = None
    """Propagate what the selected workloads' pod templates reference (ConfigMaps, Secrets, image pull
    Secrets, ServiceAccounts, PersistentVolumeClaims) to the same clusters, following the workloads
    when they move (Karmada's propagateDeps). Needs a selector of a kind with a pod template."""
    scheduler_name: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    """The scheduler placing the selected templates: only `default-scheduler` (kokpit's own) is accepted."""
    preemption: PreemptionBehavior | None = None
    """Refused (`UNSUPPORTED_SPEC_FIELDS`)."""
    schedule_priority: SchedulePriority | None = None
    """Refused (`UNSUPPORTED_SPEC_FIELDS`)."""
    activation_preference: ActivationPreference | None = None
    """Refused (`UNSUPPORTED_SPEC_FIELDS`)."""
    dependent_overrides: Annotated[list[Name], Field(max_length=128)] | None = None
    """Refused (`UNSUPPORTED_SPEC_FIELDS`)."""
    workload_affinity: dict[str, Any] | None = None
    """Refused (`UNSUPPORTED_SPEC_FIELDS`); any shape, so that every use of it is refused by name."""
    association: bool | None = None
    """Refused (`UNSUPPORTED_SPEC_FIELDS`): Karmada's deprecated name for propagateDeps."""

    @model_validator(mode="after")
    def _deps_need_pod_templates(self) -> Self:
        if self.propagate_deps and not any(
            may_have_dependencies(s.api_version, s.kind) for s in self.resource_selectors
        ):
            raise ValueError(PROPAGATE_DEPS_WITHOUT_POD_TEMPLATE)
        return self

    @model_validator(mode="after")
    def _unsupported(self) -> Self:
        for name, message in UNSUPPORTED_SPEC_FIELDS.items():
            if getattr(self, to_snake(name)) is not None:
                raise ValueError(message)
        if self.scheduler_name is not None and self.scheduler_name != DEFAULT_SCHEDULER_NAME:
            raise ValueError(SCHEDULER_NAME_UNSUPPORTED)
        return self


class PolicyStatus(KokpitModel):
    """What the controllers last observed of a policy."""

    conditions: Conditions | None = None
    """Current state of the policy."""


class PropagationPolicy(KokpitModel):
    """A namespaced propagation policy: selects templates in its own namespace."""

    api_version: Literal["policy.kokpit.io/v1alpha1"] = "policy.kokpit.io/v1alpha1"
    kind: Literal["PropagationPolicy"] = "PropagationPolicy"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PropagationSpec
    status: PolicyStatus | None = None


class ClusterPropagationPolicy(KokpitModel):
    """A cluster-wide propagation policy: selects templates in any namespace and cluster-scoped ones."""

    api_version: Literal["policy.kokpit.io/v1alpha1"] = "policy.kokpit.io/v1alpha1"
    kind: Literal["ClusterPropagationPolicy"] = "ClusterPropagationPolicy"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PropagationSpec
    status: PolicyStatus | None = None


# --- declarations ----------------------------------------------------------------------------------------

READY_COLUMN = PrinterColumn(
    "Ready",
    "string",
    '.status.conditions[?(@.type=="Ready")].status',
    "Whether the policy is valid and applied.",
)
_PROPAGATION_COLUMNS = (
    PrinterColumn("Priority", "integer", ".spec.priority", "Wins over policies of lower priority."),
    PrinterColumn("Conflict", "string", ".spec.conflictResolution", "Abort or Overwrite.", priority=1),
    READY_COLUMN,
)
_PROPAGATION_DESCRIPTION = (
    "selects resource templates in the hub and says which member clusters they are propagated to and how "
    "their replicas are divided."
)

PROPAGATION_POLICY = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="PropagationPolicy",
    plural="propagationpolicies",
    short_names=("pp",),
    description=f"PropagationPolicy {_PROPAGATION_DESCRIPTION} It selects in its own namespace.",
    spec=PropagationSpec,
    status=PolicyStatus,
    printer_columns=_PROPAGATION_COLUMNS,
)
"""The declaration of the PropagationPolicy resource type."""

CLUSTER_PROPAGATION_POLICY = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="ClusterPropagationPolicy",
    plural="clusterpropagationpolicies",
    scope="Cluster",
    short_names=("cpp",),
    description=(
        f"ClusterPropagationPolicy {_PROPAGATION_DESCRIPTION} It selects in every namespace and "
        "cluster-scoped resources."
    ),
    spec=PropagationSpec,
    status=PolicyStatus,
    printer_columns=_PROPAGATION_COLUMNS,
)
"""The declaration of the ClusterPropagationPolicy resource type."""


AnyPropagationPolicy = PropagationPolicy | ClusterPropagationPolicy
