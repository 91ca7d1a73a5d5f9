"""The EtcdCluster controller: observe members, ask the planner for one step, do it, write status.

Each pass gathers a snapshot (`kokpit.etcd.observe`), turns it into planner views, executes the
single action `plan` returns and writes the status once through `kokpit.runtime.status_writer`,
also when a step failed or raised. Backups that are due are taken on a steady cluster after the step.

Host paths are confined (`kokpit.etcd.storage`): member data lives under the hub's etcd root only,
and a restore snapshot is checked off the event loop, regular files only.

The kubernetes runtime's real limit: it renders Pods, a headless Service, PVCs and Secrets into the
meta cluster, in the namespace named after the EtcdCluster's namespace on the hub (which must exist
there), and the members advertise `<pod>.<cluster>-peers.<namespace>.svc` names. Those resolve only
inside the meta cluster; the hub dials them from outside and gets no answer, so such a cluster never
becomes Available: its status says `EndpointsUnreachable` with the endpoints and the meta cluster
rather than pretending. Ready is True only when kokpit itself got the member list from etcd.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import Secret
from pydantic import ValidationError

from kokpit.api.etcd import EtcdClusterSpec, EtcdRuntime
from kokpit.binaries import etcd_binaries
from kokpit.binaries.versions import InvalidVersionError, validate_etcd_version
from kokpit.controlplane.runtime import (
    ComponentRuntime,
    Group,
    KubernetesRuntime,
    ProcessRuntime,
)
from kokpit.etcd import names
from kokpit.etcd.backup import enforce_retention, next_due, parse_interval, take_snapshot
from kokpit.etcd.client import EtcdClient, EtcdError
from kokpit.etcd.members import EtcdProgram, container_program, member_spec
from kokpit.etcd.observe import Snapshot, observe, unreachable, views
from kokpit.etcd.pki import (
    EtcdPKI,
    client_secret_data,
    new_etcd_pki,
    pki_from_secret_data,
    pki_secret_data,
)
from kokpit.etcd.planner import Action, Desired, Kind, MemberView, Observed, Policy, normalize_version, plan
from kokpit.etcd.resources import EtcdClusterResource
from kokpit.etcd.status import BASE_CONDITIONS, MemberReport, Problem, cluster_status, owned_conditions
from kokpit.etcd.storage import DataDirOutsideRoot, confine_data_dir, snapshot_problem
from kokpit.runtime import (
    Condition,
    EventRecorder,
    Informer,
    Key,
    Result,
    StatusPatch,
    ensure_finalizer,
    get_or_none,
    parse_time,
    remove_finalizer,
    status_writer,
)

log = logging.getLogger("kokpit.etcd.controller")


def local_program(version: str) -> EtcdProgram | None:
    """`local_program` finds the built binaries of `version` in kokpit's cache; None when not built
    (or not a version at all)."""
    try:
        etcd, _, etcdutl = etcd_binaries(validate_etcd_version(version))
    except InvalidVersionError:
        return None
    if not (etcd.exists() and etcdutl.exists()):
        return None
    return EtcdProgram(version=version, etcd=etcd, etcdutl=etcdutl)


@dataclass
class EtcdSettings:
    """How the etcd controllers run members and where they keep things."""

    process_root: Path
    """The hub's etcd root: member directories of the process runtime live under it (a cluster's
    storage.dataDirRoot must resolve inside it, or the cluster is refused)."""
    backup_root: Path
    """Default directory of one-off backups without a destination."""
    replace_after: float = 60.0
    """Seconds a member may stay unhealthy before it is replaced."""
    resync_seconds: float = 2.0
    """How often a steady cluster is looked at again (how fast a failure is noticed)."""
    busy_seconds: float = 0.5
    """How soon a cluster in the middle of a change is looked at again."""
    tie_to_parent: bool = False
    """Tie member processes to this process (tests, foreground runs)."""
    programs: Callable[[str], EtcdProgram | None] = local_program
    """Finds etcd of a version for the process runtime."""
    meta_clients: Callable[[str], Awaitable[AsyncClient | None]] | None = None
    """The API client of a meta cluster (kubernetes runtime), by member cluster name; None: no meta
    cluster is reachable (`add_etcd_controllers` fills it from the manager's member clients)."""


class EtcdClusterReconciler:
    """`EtcdClusterReconciler` reconciles EtcdCluster objects of the hub (read from `clusters`)."""

    def __init__(
        self,
        client: AsyncClient,
        clusters: Informer,
        settings: EtcdSettings,
        *,
        recorder: EventRecorder | None = None,
        cluster: str = "hub",
    ) -> None:
        self.client = client
        self.clusters = clusters
        self.settings = settings
        self.recorder = recorder
        self.cluster = cluster
        self._process_runtimes: dict[Path, ProcessRuntime] = {}
        self._etcd: dict[tuple[str, str], tuple[bytes, EtcdClient]] = {}

    async def aclose(self) -> None:
        for _, etcd in self._etcd.values():
            await etcd.aclose()
        self._etcd.clear()

    # -- reconcile ------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> Result:
        obj = self.clusters.get(key.name, key.namespace)
        if obj is None:
            await self._forget(key)
            return Result()
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        group = names.group_of(namespace, name)
        if obj.metadata.deletionTimestamp is not None:
            return await self._delete(obj, group)
        try:
            spec = EtcdClusterSpec.model_validate(obj.get("spec") or {})
        except ValidationError as error:
            await self._write_problem(obj, Problem("InvalidSpec", _first_error(error)))
            return Result()
        obj = await ensure_finalizer(self.client, obj, names.FINALIZER)
        owned = owned_conditions(size=spec.size, backups_scheduled=spec.backup is not None)
        now = datetime.now(UTC)
        async with status_writer(self.client, EtcdClusterResource, obj, owned=owned, now=now) as status:
            return await self._reconcile(obj, spec, group, status, now)

    async def _reconcile(
        self, obj: Any, spec: EtcdClusterSpec, group: Group, status: StatusPatch, now: datetime
    ) -> Result:
        previous = status.current
        action = Action(Kind.WAIT, "Observing", "observing members")
        problem: Problem | None = None
        backup_problem: Problem | None = None
        unreachable_problem: Problem | None = None
        last_backup = previous.get("lastBackup")
        reports: list[MemberReport] = []
        reachable = False
        program = self._program(spec, spec.version)
        version_available = program is not None
        try:
            runtime = await self._runtime(spec)
            pki = await self._pki(obj, runtime, group)
            etcd = self._etcd_client(group, pki)
            snap = await observe(runtime, group, etcd)
            reachable = snap.member_list is not None
            unreachable_problem = unreachable(runtime, group, snap, meta_cluster=spec.meta_cluster)
            member_views, reports = views(runtime, group, snap, pki, program, previous, now)
            formed = reachable or any(m.get("id") for m in previous.get("members") or [])
            desired = Desired(
                cluster=group.name,
                size=spec.size,
                version=spec.version,
                version_available=version_available,
                paused=spec.paused,
            )
            observed = Observed(
                members=tuple(member_views), reachable=reachable, formed=formed, strays=tuple(snap.strays)
            )
            action = plan(desired, observed, Policy(replace_after=self.settings.replace_after))
            problem = await self._precheck(spec, runtime, action)
            if problem is None:
                await self._execute(obj, spec, runtime, group, etcd, pki, snap, member_views, action)
            if spec.backup is not None and problem is None and action.kind in (Kind.NONE, Kind.BLOCKED):
                last_backup, backup_problem = await self._scheduled_backup(
                    obj, spec, group, etcd, snap, last_backup, now
                )
        except ProblemError as error:
            problem = error.problem
        except (EtcdError, ApiError, OSError) as error:
            problem = Problem("StepFailed", f"{action.kind.value} {action.member or ''}: {error}".strip())
        finally:  # also when a step raised something else: the status says what was seen so far
            cluster_status(
                size=spec.size,
                generation=obj.metadata.generation,
                members=reports,
                reachable=reachable,
                action=action,
                version=spec.version,
                version_available=version_available,
                client_secret=names.client_secret_name(group.name),
                problem=problem,
                unreachable=unreachable_problem,
                backup=backup_problem,
                backups_scheduled=spec.backup is not None,
                last_backup=last_backup,
            ).write(status)
        if problem is not None:
            await self._event(obj, "Warning", problem.reason, problem.message)
        return Result(requeue_after=self._requeue(spec, action, problem, last_backup, now))

    def _requeue(
        self,
        spec: EtcdClusterSpec,
        action: Action,
        problem: Problem | None,
        last_backup: Mapping[str, Any] | None,
        now: datetime,
    ) -> float:
        if problem is not None:
            return max(self.settings.resync_seconds, 5.0)
        if action.kind in (Kind.NONE, Kind.BLOCKED):
            delay = self.settings.resync_seconds
            if spec.backup is not None:
                due = next_due(_time(last_backup), parse_interval(spec.backup.schedule))
                delay = min(delay, max(0.5, (due - now).total_seconds()))
            return delay
        return self.settings.busy_seconds

    # -- the world ------------------------------------------------------------------------------

    def _program(self, spec: EtcdClusterSpec, version: str) -> EtcdProgram | None:
        if spec.runtime is EtcdRuntime.KUBERNETES:
            return container_program(version)
        return self.settings.programs(version)

    async def _runtime(self, spec: EtcdClusterSpec) -> ComponentRuntime:
        if spec.runtime is EtcdRuntime.KUBERNETES:
            meta = spec.meta_cluster or ""
            client = await self.settings.meta_clients(meta) if self.settings.meta_clients else None
            if client is None:
                raise ProblemError("MetaClusterUnavailable", f"no client for meta cluster {meta!r}")
            return KubernetesRuntime(client)
        try:
            root = confine_data_dir(
                self.settings.process_root, spec.storage.data_dir_root if spec.storage else None
            )
        except DataDirOutsideRoot as error:
            raise ProblemError("DataDirOutsideRoot", str(error)) from error
        runtime = self._process_runtimes.get(root)
        if runtime is None:
            runtime = ProcessRuntime(root, tie_to_parent=self.settings.tie_to_parent)
            self._process_runtimes[root] = runtime
        return runtime

    async def _pki(self, obj: Any, runtime: ComponentRuntime, group: Group) -> EtcdPKI:
        pki_name = names.pki_secret_name(group.name)
        secret: Secret | None = await get_or_none(self.client, Secret, pki_name, namespace=group.namespace)
        if secret is None:
            dns, ips = runtime.certificate_hosts(group)
            pki = new_etcd_pki(group.name, dns_names=dns, ip_addresses=ips)
            secret = await self._create_secret(obj, pki_name, pki_secret_data(pki))
        pki = pki_from_secret_data(secret.data or {})
        client_name = names.client_secret_name(group.name)
        if await get_or_none(self.client, Secret, client_name, namespace=group.namespace) is None:
            await self._create_secret(obj, client_name, client_secret_data(pki))
        return pki

    async def _create_secret(self, obj: Any, name: str, data: dict[str, str]) -> Secret:
        owner = OwnerReference(
            apiVersion=obj.apiVersion,
            kind=obj.kind,
            name=obj.metadata.name,
            uid=obj.metadata.uid,
            controller=True,
        )
        secret = Secret(
            metadata=ObjectMeta(
                name=name,
                namespace=obj.metadata.namespace,
                labels={names.CLUSTER_LABEL: obj.metadata.name, "app.kubernetes.io/managed-by": "kokpit"},
                ownerReferences=[owner],
            ),
            type="Opaque",
            data=data,
        )
        try:
            created: Secret = await self.client.create(secret)
            return created
        except ApiError as error:
            if error.status.code != 409:
                raise
            existing: Secret = await self.client.get(Secret, name, namespace=obj.metadata.namespace)
            return existing

    def _etcd_client(self, group: Group, pki: EtcdPKI) -> EtcdClient:
        key = (group.namespace, group.name)
        cached = self._etcd.get(key)
        if cached is not None and cached[0] == pki.client.cert_pem:
            return cached[1]
        client = EtcdClient(pki.client_tls)
        self._etcd[key] = (pki.client.cert_pem, client)
        return client

    async def _forget(self, key: Key) -> None:
        cached = self._etcd.pop((key.namespace or "", key.name), None)
        if cached is not None:
            await cached[1].aclose()

    # -- doing ----------------------------------------------------------------------------------

    async def _precheck(
        self, spec: EtcdClusterSpec, runtime: ComponentRuntime, action: Action
    ) -> Problem | None:
        if action.kind is not Kind.BOOTSTRAP or spec.restore_from is None:
            return None
        if runtime.kind != "process":
            return Problem(
                "RestoreUnsupported", "restoring from a snapshot needs the process runtime for now"
            )
        # Off the event loop: a slow disk must not stall other clusters' reconciles.
        found = await asyncio.to_thread(snapshot_problem, Path(spec.restore_from.path))
        if found is not None:
            return Problem("SnapshotInvalid", f"{found}; nothing was started")
        return None

    async def _execute(
        self,
        obj: Any,
        spec: EtcdClusterSpec,
        runtime: ComponentRuntime,
        group: Group,
        etcd: EtcdClient,
        pki: EtcdPKI,
        snap: Snapshot,
        views: Sequence[MemberView],
        action: Action,
    ) -> None:
        if action.kind in (Kind.NONE, Kind.WAIT, Kind.BLOCKED):
            return
        token = names.cluster_token(group.namespace, group.name, str(obj.metadata.uid))
        storage = spec.storage.size if spec.storage else None
        endpoint = snap.list_endpoint
        current = [snap.named[m.id] for m in snap.member_list or [] if m.id in snap.named]

        def spec_for(
            name: str, program: EtcdProgram, initial: Sequence[str], state: str, restore: bool = False
        ) -> Any:
            return member_spec(
                runtime,
                group,
                name,
                program=program,
                pki=pki,
                initial_cluster=initial,
                initial_cluster_state=state,
                cluster_token=token,
                restore_from=Path(spec.restore_from.path) if restore and spec.restore_from else None,
                storage_size=storage,
            )

        if action.kind is Kind.BOOTSTRAP:
            program = self._require(spec, spec.version)
            for name in action.members:
                await runtime.ensure(spec_for(name, program, action.members, "new", restore=True))
            await self._event(obj, "Normal", action.reason, action.message)
            return
        member = action.member or ""
        if action.kind is Kind.START:
            program = self._start_program(spec, views)
            initial = current if member in current else [*current, member]
            if not initial or snap.member_list is None:
                initial = sorted({*snap.states, member})
            await runtime.ensure(spec_for(member, program, initial, "existing"))
            await self._event(obj, "Normal", action.reason, action.message)
            return
        if endpoint is None:
            raise ProblemError("NoEndpoint", "no member answers the member list")
        if action.kind is Kind.ADD:
            program = self._start_program(spec, views)
            await runtime.stop(group, member, wipe_data=True)
            added = await etcd.member_add(endpoint, runtime.addresses(group, member).peer_url, learner=True)
            log.info("added learner %s (%x) to %s", member, added.id, group)
            await runtime.ensure(spec_for(member, program, [*current, member], "existing"))
        elif action.kind is Kind.PROMOTE and action.member_id is not None:
            try:
                await etcd.member_promote(endpoint, action.member_id)
            except EtcdError as error:
                if "in sync" in error.detail or "not ready" in error.detail:
                    return  # still catching up: try again on the next pass
                raise
        elif action.kind is Kind.REMOVE:
            if action.member_id is not None:
                target = endpoint
                if member and snap.statuses.get(member) and snap.statuses[member].endpoint == endpoint:
                    others = [s.endpoint for n, s in snap.statuses.items() if n != member]
                    target = others[0] if others else endpoint
                await etcd.member_remove(target, action.member_id)
            if member:
                await runtime.stop(group, member, wipe_data=True)
        elif action.kind is Kind.UPGRADE:
            program = self._require(spec, spec.version)
            await runtime.ensure(spec_for(member, program, current, "existing"))
        await self._event(obj, "Normal", action.reason, action.message)

    def _require(self, spec: EtcdClusterSpec, version: str) -> EtcdProgram:
        program = self._program(spec, version)
        if program is None:
            raise ProblemError("VersionUnavailable", f"etcd {version} is not available")
        return program

    def _start_program(self, spec: EtcdClusterSpec, views: Sequence[MemberView]) -> EtcdProgram:
        """The wanted version when available, else the lowest version members run now."""
        program = self._program(spec, spec.version)
        if program is not None:
            return program
        for version in sorted({v.version for v in views if v.version}):
            program = self._program(spec, f"v{normalize_version(version)}")
            if program is not None:
                return program
        raise ProblemError(
            "VersionUnavailable", f"etcd {spec.version} is not available, nor any running version"
        )

    async def _scheduled_backup(
        self,
        obj: Any,
        spec: EtcdClusterSpec,
        group: Group,
        etcd: EtcdClient,
        snap: Snapshot,
        last_backup: Mapping[str, Any] | None,
        now: datetime,
    ) -> tuple[Mapping[str, Any] | None, Problem | None]:
        assert spec.backup is not None
        if now < next_due(_time(last_backup), parse_interval(spec.backup.schedule)):
            return last_backup, None
        if snap.list_endpoint is None:
            return last_backup, Problem("ClusterUnavailable", "no member answers; backup postponed")
        directory = Path(spec.backup.destination)
        try:
            taken = await take_snapshot(
                etcd, snap.list_endpoint, directory, namespace=group.namespace, cluster=group.name, now=now
            )
            enforce_retention(
                directory, namespace=group.namespace, cluster=group.name, keep=spec.backup.retention
            )
        except (EtcdError, OSError) as error:
            await self._event(obj, "Warning", "BackupFailed", str(error))
            return last_backup, Problem("BackupFailed", str(error))
        await self._event(obj, "Normal", "BackupTaken", f"{taken.path} ({taken.size} bytes)")
        return taken.record(), None

    async def _delete(self, obj: Any, group: Group) -> Result:
        try:
            spec = EtcdClusterSpec.model_validate(obj.get("spec") or {})
            runtime = await self._runtime(spec)
            await runtime.remove_group(group)
        except (ValidationError, ProblemError) as error:
            log.warning("%s: cannot remove members: %s", group, error)
        await self._forget(Key(self.cluster, group.namespace, group.name))
        await remove_finalizer(self.client, obj, names.FINALIZER)
        return Result()

    async def _write_problem(self, obj: Any, problem: Problem) -> None:
        """Records a spec the controller cannot read; the rest of the status stays as it was."""
        async with status_writer(self.client, EtcdClusterResource, obj, owned=BASE_CONDITIONS) as status:
            status.fields = status.current_fields(*(k for k in status.current if k != "conditions"))
            status.set(Condition.false("Progressing", problem.reason, problem.message))
        await self._event(obj, "Warning", problem.reason, problem.message)

    async def _event(self, obj: Any, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            await self.recorder.event(obj, type_, reason, message)


class ProblemError(Exception):
    """A step cannot proceed; carries the condition to show."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(reason, message)


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"spec.{where}: {first.get('msg', 'invalid')}"


def _time(record: Mapping[str, Any] | None) -> datetime | None:
    return None if not record else parse_time(record.get("time"))
