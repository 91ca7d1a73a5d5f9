"""Pure decisions of the hosted-cluster controller: which version each component runs now, whether a
dead component is restarted or left to back off, and the conditions and phase that sum it all up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kokpit.hosted import names
from kokpit.runtime import Condition

READY = "Ready"

CONDITION_OF = {
    names.APISERVER: "APIServerAvailable",
    names.CONTROLLER_MANAGER: "ControllerManagerReady",
    names.SCHEDULER: "SchedulerReady",
}
READY_INPUTS = (
    "VersionAccepted",
    "EtcdReady",
    "CertificatesReady",
    "APIServerAvailable",
    "ControllerManagerReady",
    "SchedulerReady",
    "NodesReady",
    "AddonsReady",
)
"""The conditions Ready is derived from, in the order a problem is reported."""


def component_versions(
    target: str, running: Mapping[str, str | None], healthy: Mapping[str, bool]
) -> dict[str, str]:
    """`component_versions` says which version each control-plane component runs now, on the way to
    `target`.

    Components go in `names.CONTROL_PLANE` order (the API server first). One not running yet starts
    at `target`. The first one not at `target` moves to it; those after it keep their version until
    every component before them runs `target` and is healthy, so an upgrade advances one component
    per healthy step and stops where one fails.
    """
    result: dict[str, str] = {}
    gate_open = True
    for component in names.CONTROL_PLANE:
        current = running.get(component)
        if current is None:
            result[component] = target
        elif current == target:
            result[component] = target
            gate_open = gate_open and healthy.get(component, False)
        elif gate_open:
            result[component] = target
            gate_open = False
        else:
            result[component] = current
    return result


def cluster_version(running: Mapping[str, str | None]) -> str | None:
    """`cluster_version` is the version every control-plane component runs, None while they differ."""
    versions = {running.get(c) for c in names.CONTROL_PLANE}
    if len(versions) != 1:
        return None
    return next(iter(versions))


def upgrading_component(target: str, running: Mapping[str, str | None]) -> str | None:
    """`upgrading_component` is the first component (in upgrade order) not yet at `target`."""
    for component in names.CONTROL_PLANE:
        current = running.get(component)
        if current is not None and current != target:
            return component
    return None


@dataclass
class RestartHistory:
    """When one component was restarted after dying, for crash-loop detection."""

    times: list[float] = field(default_factory=list)
    total: int = 0
    last_wall: str | None = None

    def record(self, now: float, *, wall: str | None = None) -> None:
        self.times.append(now)
        self.total += 1
        self.last_wall = wall
        del self.times[:-32]

    def recent(self, now: float, window: float) -> int:
        return sum(1 for t in self.times if now - t <= window)


@dataclass(frozen=True)
class RestartPolicy:
    """How dead components are brought back: at once, unless they died `max_restarts` times within
    `window` seconds; then only every `backoff` seconds, and the component is reported crash-looping."""

    max_restarts: int = 3
    window: float = 120.0
    backoff: float = 30.0


def restart_decision(history: RestartHistory, policy: RestartPolicy, now: float) -> tuple[bool, bool]:
    """`restart_decision` returns (restart now, crash-looping) for a component found dead at `now`."""
    recent = history.recent(now, policy.window)
    if recent < policy.max_restarts:
        return True, False
    last = history.times[-1] if history.times else 0.0
    return now - last >= policy.backoff, True


def ready_condition(conditions: Mapping[str, Condition]) -> Condition:
    """`ready_condition` is True when every input in `READY_INPUTS` that is present is True; otherwise
    False with the first failing input's reason and message."""
    for type_ in READY_INPUTS:
        value = conditions.get(type_)
        if value is not None and not value.is_true:
            return Condition.false(READY, value.reason, f"{type_}: {value.message}")
    return Condition.true(READY, "ClusterReady", "every component is healthy")


def phase(
    *,
    deleting: bool,
    ready: bool,
    upgrading: bool,
    ever_ready: bool,
) -> str:
    """`phase` sums the cluster up in one word: Deleting, Upgrading, Ready, Provisioning (never Ready
    yet) or NotReady (was Ready, is not now)."""
    if deleting:
        return "Deleting"
    if upgrading:
        return "Upgrading"
    if ready:
        return "Ready"
    return "NotReady" if ever_ready else "Provisioning"


def nodes_to_delete(existing: Sequence[str], wanted: Sequence[str]) -> list[str]:
    """`nodes_to_delete` lists kokpit's nodes that are no longer wanted, sorted."""
    keep = set(wanted)
    return sorted(n for n in existing if n not in keep)
