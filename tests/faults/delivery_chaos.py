"""Delivery under chaos: templates created, edited, re-placed and deleted while processes are SIGKILLed.

`Chaos` drives one run against a sandbox: a `kokpit hub run` subprocess (restarted after every kill),
a seeded random stream of template operations through kubectl on the hub, and kills at random
moments of the hub controllers, the hub API server or a member's API server. `Chaos.divergence`
compares every member with the desired state read back from the hub (not from the driver's own
notes: a write cut off by a kill may or may not have happened), counting

- **lost**: a template's copy missing on a cluster its policy selects;
- **unselected**: a copy on a cluster its policy does not select, or of a template that is gone;
- **stale**: a copy on a selected cluster at an older revision than the template.

Every template is a Deployment with its own PropagationPolicy (Duplicated, `clusterNames` a random
non-empty subset of the members); a revision annotation on the template is bumped on each edit, with
its image, so a member copy's revision says which edit it carries.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kokpit.controlplane import processes
from kokpit.sandbox.sandbox import APISERVER
from tests.integration.fleet.conftest import HubReplica, start_hub
from tests.support import SandboxHandle, kubectl_argv

REVISION = "chaos.kokpit.io/revision"
"""The template's edit count, copied to the members with the rest of its metadata."""
NAMES = tuple(f"app-{n}" for n in range(6))
HUB_KILLS = "hub run"
HUB_APISERVER = "hub API server"
MEMBER_APISERVER = "member API server"


@dataclass
class Divergence:
    """How far the members are from the desired state; all zero once delivery converged."""

    lost: int = 0
    unselected: int = 0
    stale: int = 0
    desired: int = 0
    """The copies the members should hold (templates times their selected clusters)."""
    details: list[str] = field(default_factory=list)

    def zero(self) -> bool:
        return self.lost == self.unselected == self.stale == 0

    def counts(self) -> dict[str, int]:
        return {
            "lost": self.lost,
            "unselected": self.unselected,
            "stale": self.stale,
            "desired": self.desired,
        }


@dataclass
class Chaos:
    """One chaos run on `sandbox` in hub namespace `namespace` (see the module docstring)."""

    sandbox: SandboxHandle
    namespace: str
    logs: Path
    seed: int
    rng: random.Random = field(init=False)
    hub: HubReplica | None = None
    operations: int = 0
    failed_operations: int = 0
    kills: dict[str, int] = field(default_factory=dict)
    restart_seconds: list[float] = field(default_factory=list)
    _starts: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # -- processes ----------------------------------------------------------------------------------------

    @property
    def hub_kubeconfig(self) -> Path:
        return self.sandbox.kubeconfig("hub")

    def start_hub(self) -> None:
        """Starts `kokpit hub run` (without leader election: one replica, started again after a kill)."""
        self._starts += 1
        self.hub = start_hub(
            f"chaos-hub-{self._starts}",
            hub=self.hub_kubeconfig,
            logs=self.logs,
            extra=("--no-leader-elect",),
        )

    def stop_hub(self) -> None:
        if self.hub is not None:
            self.hub.stop()
            self.hub = None

    def kill_hub(self) -> None:
        """SIGKILLs the `kokpit hub run` process group and starts a new one."""
        assert self.hub is not None
        processes.signal_group(self.hub.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self.hub.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.hub = None
        self._count(HUB_KILLS)
        self._operate(self.rng.randint(0, 2))  # the world moves on while no controller runs
        started = time.monotonic()
        self.start_hub()
        self.restart_seconds.append(time.monotonic() - started)

    def kill_apiserver(self, cluster: str) -> None:
        """SIGKILLs `cluster`'s API server, lets operations fail against it a moment, restarts it."""
        self.sandbox.kill(cluster, APISERVER)
        self._count(HUB_APISERVER if cluster == "hub" else MEMBER_APISERVER)
        try:
            self._operate(self.rng.randint(0, 2))
            time.sleep(self.rng.uniform(0.0, 2.0))
        finally:
            started = time.monotonic()
            self.sandbox.restart(cluster, APISERVER)
            self.restart_seconds.append(time.monotonic() - started)

    def _count(self, what: str) -> None:
        self.kills[what] = self.kills.get(what, 0) + 1

    @contextlib.contextmanager
    def running(self) -> Iterator[Chaos]:
        """The hub controllers running for the block; stopped after it, whatever happens."""
        self.start_hub()
        try:
            yield self
        finally:
            self.stop_hub()

    # -- the schedule of faults ---------------------------------------------------------------------------

    def run(
        self, *, kills: int, fault: Callable[[], None], between: tuple[float, float] = (0.2, 2.0)
    ) -> None:
        """`kills` times: some operations, a random pause, then `fault()`."""
        for _ in range(kills):
            self._operate(self.rng.randint(1, 4))
            time.sleep(self.rng.uniform(*between))
            fault()
        self._operate(self.rng.randint(1, 4))

    def random_member(self) -> str:
        return self.rng.choice(self.sandbox.members)

    # -- operations on templates --------------------------------------------------------------------------

    def _hub(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = kubectl_argv(self.hub_kubeconfig, "--request-timeout=5s", *args)
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30, check=False)

    def _templates(self) -> dict[str, dict[str, Any]] | None:
        result = self._hub("get", "deployments", "-n", self.namespace, "-o", "json")
        if result.returncode != 0:
            return None
        return {item["metadata"]["name"]: item for item in json.loads(result.stdout)["items"]}

    def _operate(self, count: int) -> None:
        for _ in range(count):
            self.operations += 1
            if not self._one_operation():
                self.failed_operations += 1

    def _one_operation(self) -> bool:
        templates = self._templates()
        if templates is None:
            return False
        name = self.rng.choice(NAMES)
        current = templates.get(name)
        if current is None or (current["metadata"].get("deletionTimestamp") is not None):
            return self._apply(self._policy(name), self._deployment(name, revision=1))
        action = self.rng.choices(("edit", "re-place", "delete"), weights=(4, 3, 2))[0]
        if action == "delete":
            return (
                self._hub("delete", "deployment", name, "-n", self.namespace, "--wait=false").returncode == 0
            )
        if action == "re-place":
            return self._apply(self._policy(name))
        revision = int((current["metadata"].get("annotations") or {}).get(REVISION, "0")) + 1
        return self._apply(self._deployment(name, revision=revision))

    def _apply(self, *docs: dict[str, Any]) -> bool:
        stdin = "\n".join(json.dumps(doc) for doc in docs)
        result = self._hub(
            "apply", "--server-side", "--force-conflicts", "--field-manager=chaos", "-f", "-", stdin=stdin
        )
        return result.returncode == 0

    def _deployment(self, name: str, *, revision: int) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {"app": name},
                "annotations": {REVISION: str(revision)},
            },
            "spec": {
                "replicas": self.rng.randint(1, 3),
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "main", "image": f"nginx:1.{revision}"}]},
                },
            },
        }

    def _policy(self, name: str) -> dict[str, Any]:
        members = self.sandbox.members
        chosen = sorted(self.rng.sample(members, self.rng.randint(1, len(members))))
        return {
            "apiVersion": "policy.kokpit.io/v1alpha1",
            "kind": "PropagationPolicy",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name}],
                "placement": {"clusterAffinity": {"clusterNames": chosen}},
            },
        }

    # -- the verdict --------------------------------------------------------------------------------------

    def desired(self) -> dict[str, tuple[set[str], str]]:
        """Template name -> (the clusters its policy selects, its revision), as the hub has them now."""
        templates = self._templates()
        policies = self._hub(
            "get", "propagationpolicies.policy.kokpit.io", "-n", self.namespace, "-o", "json"
        )
        assert templates is not None and policies.returncode == 0, policies.stderr
        selected = {
            item["metadata"]["name"]: set(item["spec"]["placement"]["clusterAffinity"]["clusterNames"])
            for item in json.loads(policies.stdout)["items"]
        }
        return {
            name: (selected.get(name, set()), (item["metadata"].get("annotations") or {}).get(REVISION, ""))
            for name, item in templates.items()
            if item["metadata"].get("deletionTimestamp") is None
        }

    def on_members(self) -> dict[str, dict[str, str]]:
        """Member -> (copy name -> its revision); a member that does not answer raises."""
        found: dict[str, dict[str, str]] = {}
        for member in self.sandbox.members:
            result = self.sandbox.kubectl(
                member, "--request-timeout=5s", "get", "deployments", "-n", self.namespace, "-o", "json",
                check=False,
            )  # fmt: skip
            if result.returncode != 0 and "NotFound" not in result.stderr:
                raise RuntimeError(f"{member}: {result.stderr.strip()}")
            items = json.loads(result.stdout)["items"] if result.returncode == 0 else []
            found[member] = {
                item["metadata"]["name"]: (item["metadata"].get("annotations") or {}).get(REVISION, "")
                for item in items
            }
        return found

    def divergence(self) -> Divergence:
        desired = self.desired()
        actual = self.on_members()
        result = Divergence(desired=sum(len(clusters) for clusters, _ in desired.values()))
        for member, copies in actual.items():
            for name, (clusters, revision) in desired.items():
                if member in clusters and name not in copies:
                    result.lost += 1
                    result.details.append(f"lost: {name} on {member}")
                elif member in clusters and copies[name] != revision:
                    result.stale += 1
                    result.details.append(
                        f"stale: {name} on {member} at {copies[name]}, template at {revision}"
                    )
            for name in copies:
                if name not in desired or member not in desired[name][0]:
                    result.unselected += 1
                    result.details.append(f"unselected: {name} on {member}")
        return result

    def converge(self, *, timeout: float) -> tuple[Divergence, float]:
        """Waits up to `timeout` seconds for zero divergence; the last divergence and the seconds taken."""
        started = time.monotonic()
        while True:
            try:
                last = self.divergence()
            except (RuntimeError, AssertionError) as error:  # an API server still coming back
                last = Divergence(details=[f"not observable yet: {error}"])
                last.lost = -1
            if last.zero() or time.monotonic() - started > timeout:
                return last, time.monotonic() - started
            time.sleep(1.0)

    def clean_up(self, *, timeout: float = 60.0) -> None:
        """Deletes every template (the hub controllers remove the copies) and then the policies."""
        self._hub("delete", "deployments", "--all", "-n", self.namespace, "--wait=false")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not any(self.on_members().values()) and not self._templates():
                    break
            except RuntimeError:
                pass
            time.sleep(1.0)
        self._hub("delete", "propagationpolicies.policy.kokpit.io", "--all", "-n", self.namespace)
