"""The HostedCluster controller: one reconcile over one `plane.ControlPlane` interface.

Each pass recomputes everything from the hub and the runtime, in steps of their own files:

1. validation and the version check (`versions`), the same for every runtime;
2. etcd: the owned `EtcdCluster` or the shared one, and its client access (`etcd`);
3. the control plane through its runtime (`process_plane` or `kubernetes_plane`), which makes the
   PKI (`pki_step`) and the admin kubeconfig and reports whether kokpit reached the API server;
4. inside the cluster, when the runtime can (kwok nodes, addons: `inside`, `addons_step`), and the
   MachineSet of its machine-backed workers (`workers_step`);
5. the fleet join (`join`);
6. the status (`status`), written once through `kokpit.runtime.status_writer`, also when a step
   raised.
"""

from __future__ import annotations

import logging
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.resources.core_v1 import Secret
from pydantic import ValidationError

from kokpit.api.hostedcluster import HOSTED_CLUSTER, HostedClusterSpec, HostedRuntime, NetworkingSpec
from kokpit.errors import validation_message
from kokpit.fleet.members import ClusterResource
from kokpit.hosted import addons, inside, names, plan
from kokpit.hosted import etcd as hosted_etcd
from kokpit.hosted.addons_step import ensure_addons
from kokpit.hosted.context import Pass, StepContext, Stop, lowest
from kokpit.hosted.join import ensure_joined, made_for, unjoin
from kokpit.hosted.kubernetes_plane import KubernetesControlPlane
from kokpit.hosted.plane import ControlPlane, Reached
from kokpit.hosted.process_plane import ProcessControlPlane
from kokpit.hosted.settings import HostedSettings, default_process_root
from kokpit.hosted.status import CONDITION_TYPES, fill_status, transition_events
from kokpit.hosted.versions import check_version_change
from kokpit.hosted.workers_step import ensure_workers, remove_workers
from kokpit.runtime import (
    EventRecorder,
    Informer,
    Key,
    Result,
    delete_if_present,
    ensure_finalizer,
    get_or_none,
    remove_finalizer,
    status_writer,
)
from kokpit.runtime.resources import resource_class

log = logging.getLogger("kokpit.hosted")

HostedClusterResource = resource_class(HOSTED_CLUSTER)

__all__ = ["HostedClusterReconciler", "HostedClusterResource", "HostedSettings", "default_process_root"]


class HostedClusterReconciler:
    """`HostedClusterReconciler` reconciles HostedCluster objects of the hub (read from `clusters`)."""

    def __init__(
        self,
        client: AsyncClient,
        clusters: Informer,
        settings: HostedSettings,
        *,
        recorder: EventRecorder | None = None,
    ) -> None:
        self.client = client
        self.clusters = clusters
        self.settings = settings
        self.ctx = StepContext(client, settings, recorder)
        self.planes: dict[HostedRuntime, ControlPlane] = {
            HostedRuntime.PROCESS: ProcessControlPlane(self.ctx),
            HostedRuntime.KUBERNETES: KubernetesControlPlane(self.ctx),
        }

    async def aclose(self) -> None:
        for control_plane in self.planes.values():
            await control_plane.aclose()

    # -- reconcile ------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> Result:
        obj = self.clusters.get(key.name, key.namespace)
        if obj is None:
            await self._forget(key.namespace or "", key.name)
            return Result()
        if obj.metadata.deletionTimestamp is not None:
            return await self._delete(obj)
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        try:
            spec = HostedClusterSpec.model_validate(obj.get("spec") or {})
        except ValidationError as error:
            message = f"invalid spec: {validation_message(error)}"
            await self.ctx.event(obj, "Warning", "InvalidSpec", message)
            async with self._status(obj) as patch:
                fill_status(patch, obj, Pass(), {}, invalid=message)
            return Result()
        obj = await ensure_finalizer(self.client, obj, names.FINALIZER)
        control_plane = self.planes[spec.runtime]
        state = Pass()
        async with self._status(obj) as patch:
            try:
                await self._reconcile(obj, spec, patch.current, control_plane, state)
            except Stop:
                pass
            except (ApiError, OSError, addons.AddonError) as error:
                state.set("Progressing", False, "StepFailed", f"{type(error).__name__}: {error}")
                state.busy = True
                log.warning("%s/%s: %s", namespace, name, error)
            finally:
                fill_status(patch, obj, state, control_plane.restarts(namespace, name))
            await transition_events(self.ctx, obj, patch)
        return Result(
            requeue_after=self.settings.busy_seconds if state.busy else self.settings.resync_seconds
        )

    def _status(self, obj: Any) -> Any:
        return status_writer(self.client, HostedClusterResource, obj, owned=CONDITION_TYPES)

    async def _reconcile(
        self,
        obj: Any,
        spec: HostedClusterSpec,
        previous: dict[str, Any],
        control_plane: ControlPlane,
        state: Pass,
    ) -> None:
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)

        # What runs now, and the version to go to.
        await control_plane.observe(obj, spec, state)
        current = previous.get("version") or lowest(state.running)
        supported = self.settings.versions()
        verdict = check_version_change(spec.kubernetes_version, current, supported)
        state.set("VersionAccepted", verdict.allowed, verdict.reason, verdict.message)
        target = spec.kubernetes_version if verdict.allowed else current
        if target is None:
            raise Stop
        state.target = target
        control_plane.check_target(obj, target, state)

        # etcd.
        target_etcd = hosted_etcd.target_of(namespace, name, spec)
        if target_etcd.owned:
            entry = supported.get(target) or supported.get(supported.default)
            assert entry is not None
            await hosted_etcd.ensure_owned(self.client, obj, spec, etcd_version=entry.etcd)
        readiness = await hosted_etcd.read_access(self.client, namespace, target_etcd)
        state.set("EtcdReady", readiness.access is not None, readiness.reason, readiness.message)
        if readiness.access is None:
            state.busy = True
            raise Stop

        # The control plane, PKI and admin kubeconfig.
        networking = spec.networking or NetworkingSpec()
        reached = await control_plane.ensure(obj, spec, readiness.access, networking, state)
        if reached is None:
            raise Stop

        # Inside the cluster, then the fleet.
        if reached.client is not None:
            await self._inside(obj, reached, spec, name, target, networking, state)
        ready = plan.ready_condition(state.conditions)
        if not ready.is_true:
            state.busy = True
        await ensure_joined(self.ctx, obj, spec, state.endpoint or "", reached.admin, ready.is_true, state)

    async def _inside(
        self,
        obj: Any,
        reached: Reached,
        spec: HostedClusterSpec,
        name: str,
        target: str,
        networking: NetworkingSpec,
        state: Pass,
    ) -> None:
        client = reached.client
        assert client is not None
        # Nodes follow the control plane: the workers run the oldest version it runs.
        node_version = lowest(state.running) or target
        wanted_workers, problem = await ensure_workers(self.ctx, obj, spec, node_version, networking)
        ready_nodes, wanted_nodes = await inside.ensure_nodes(client, name, spec.nodes)
        if spec.workers is not None:
            ready_nodes += await inside.ready_real_nodes(client)
            wanted_nodes += wanted_workers
        state.ready_nodes = ready_nodes
        if problem is not None:
            state.set("NodesReady", False, "WorkersInvalid", problem)
        else:
            state.set(
                "NodesReady",
                ready_nodes >= wanted_nodes,
                "NodesReady" if ready_nodes >= wanted_nodes else "NodesNotReady",
                f"{ready_nodes}/{wanted_nodes} nodes Ready",
            )
        await ensure_addons(self.ctx, client, spec, name, target, state, networking)
        if not await inside.default_service_account(client):
            state.set(
                "APIServerAvailable",
                False,
                "ServiceAccountsPending",
                "the default service account does not exist yet",
            )

    # -- deletion -------------------------------------------------------------------------------

    async def _delete(self, obj: Any) -> Result:
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        if names.FINALIZER not in (obj.metadata.finalizers or []):
            return Result()
        # The machines first: they drain their nodes through this control plane and free their Hosts.
        if not await remove_workers(self.ctx, obj):
            return Result(requeue_after=self.settings.busy_seconds)
        try:
            spec: HostedClusterSpec | None = HostedClusterSpec.model_validate(obj.get("spec") or {})
        except ValidationError:
            spec = None
        existing = await get_or_none(self.client, ClusterResource, names.fleet_cluster_name(name))
        if made_for(existing, namespace, name):
            await unjoin(self.ctx, names.fleet_cluster_name(name))
        await self._forget(namespace, name)
        runtime = spec.runtime if spec is not None else HostedRuntime.PROCESS
        await self.planes[runtime].delete(obj, spec)
        if spec is not None:
            await hosted_etcd.delete_owned(
                self.client, namespace, hosted_etcd.target_of(namespace, name, spec)
            )
        for secret_name in (names.pki_secret_name(name), names.admin_kubeconfig_secret_name(name)):
            await delete_if_present(self.client, Secret, secret_name, namespace=namespace)
        await self.ctx.event(obj, "Normal", "Deleted", "control plane stopped, etcd and Secrets deleted")
        await remove_finalizer(self.client, obj, names.FINALIZER)
        return Result()

    async def _forget(self, namespace: str, name: str) -> None:
        for control_plane in self.planes.values():
            await control_plane.forget(namespace, name)
