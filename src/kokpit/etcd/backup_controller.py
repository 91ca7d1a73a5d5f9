"""The EtcdBackup controller: one snapshot of an EtcdCluster per EtcdBackup object, written once.

The cluster's client Secret and its status (`clientEndpoints`) say how to reach it; the snapshot is
taken from the first endpoint that answers, checked against the hash etcd appends, and recorded with
its sha256 and size. A cluster that is missing or not Available leaves the backup Pending (retried);
a destination that cannot be written fails it for good.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.resources.core_v1 import Secret
from pydantic import ValidationError

from kokpit.api.etcd import EtcdBackupPhase, EtcdBackupSpec, EtcdClusterSpec
from kokpit.etcd import names
from kokpit.etcd.backup import Snapshot, take_snapshot
from kokpit.etcd.client import EtcdClient, EtcdError
from kokpit.etcd.controller import EtcdSettings
from kokpit.etcd.pki import client_tls_from_secret_data
from kokpit.etcd.resources import EtcdBackupResource
from kokpit.runtime import (
    Condition,
    EventRecorder,
    Informer,
    Key,
    Result,
    format_time,
    is_true,
    status_writer,
)
from kokpit.runtime.conditions import FALSE, TRUE

log = logging.getLogger("kokpit.etcd.backup")

RETRY_SECONDS = 3.0


class EtcdBackupReconciler:
    """`EtcdBackupReconciler` reconciles EtcdBackup objects, reading EtcdClusters from `clusters`.

    The snapshot file is 0600 in a 0700 directory (it holds every Secret of the cluster)."""

    def __init__(
        self,
        client: AsyncClient,
        backups: Informer,
        clusters: Informer,
        settings: EtcdSettings,
        *,
        recorder: EventRecorder | None = None,
    ) -> None:
        self.client = client
        self.backups = backups
        self.clusters = clusters
        self.settings = settings
        self.recorder = recorder

    async def reconcile(self, key: Key) -> Result:
        obj = self.backups.get(key.name, key.namespace)
        if obj is None or obj.metadata.deletionTimestamp is not None:
            return Result()
        previous: dict[str, Any] = dict(obj.get("status") or {})
        if previous.get("phase") in (EtcdBackupPhase.COMPLETED.value, EtcdBackupPhase.FAILED.value):
            return Result()
        namespace = str(obj.metadata.namespace)
        try:
            spec = EtcdBackupSpec.model_validate(obj.get("spec") or {})
        except ValidationError as error:
            await self._finish(
                obj, previous, EtcdBackupPhase.FAILED, "InvalidSpec", str(error.errors()[0]["msg"])
            )
            return Result()
        cluster = self.clusters.get(spec.cluster_ref, namespace)
        if cluster is None:
            await self._finish(
                obj,
                previous,
                EtcdBackupPhase.PENDING,
                "ClusterNotFound",
                f"no EtcdCluster {spec.cluster_ref}",
            )
            return Result(requeue_after=RETRY_SECONDS)
        status = cluster.get("status") or {}
        endpoints = list(status.get("clientEndpoints") or [])
        if not is_true(status.get("conditions"), "Available") or not endpoints:
            await self._finish(
                obj,
                previous,
                EtcdBackupPhase.PENDING,
                "ClusterUnavailable",
                f"{spec.cluster_ref} is not Available",
            )
            return Result(requeue_after=RETRY_SECONDS)
        directory = self._destination(spec, cluster, namespace)
        try:
            secret = await self.client.get(
                Secret, names.client_secret_name(spec.cluster_ref), namespace=namespace
            )
            tls = client_tls_from_secret_data(secret.data or {})
        except (ApiError, KeyError) as error:
            await self._finish(obj, previous, EtcdBackupPhase.PENDING, "NoClientSecret", str(error))
            return Result(requeue_after=RETRY_SECONDS)
        errors: list[str] = []
        snapshot: Snapshot | None = None
        async with EtcdClient(tls) as etcd:
            for endpoint in endpoints:
                try:
                    snapshot = await take_snapshot(
                        etcd, endpoint, directory, namespace=namespace, cluster=spec.cluster_ref, tag=key.name
                    )
                    break
                except EtcdError as error:
                    errors.append(str(error))
                except OSError as error:
                    await self._finish(
                        obj, previous, EtcdBackupPhase.FAILED, "DestinationUnwritable", str(error)
                    )
                    return Result()
        if snapshot is None:
            await self._finish(
                obj, previous, EtcdBackupPhase.PENDING, "SnapshotFailed", "; ".join(errors)[:1000]
            )
            return Result(requeue_after=RETRY_SECONDS)
        await self._finish(
            obj,
            previous,
            EtcdBackupPhase.COMPLETED,
            "SnapshotTaken",
            f"{snapshot.path} ({snapshot.size} bytes)",
            extra={
                "path": str(snapshot.path),
                "sha256": snapshot.sha256,
                "size": snapshot.size,
                "completionTime": format_time(snapshot.time),
            },
        )
        return Result()

    def _destination(self, spec: EtcdBackupSpec, cluster: Any, namespace: str) -> Path:
        if spec.destination:
            return Path(spec.destination)
        try:
            cluster_spec = EtcdClusterSpec.model_validate(cluster.get("spec") or {})
        except ValidationError:
            cluster_spec = None
        if cluster_spec is not None and cluster_spec.backup is not None:
            return Path(cluster_spec.backup.destination)
        return self.settings.backup_root / namespace

    async def _finish(
        self,
        obj: Any,
        previous: dict[str, Any],
        phase: EtcdBackupPhase,
        reason: str,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Writes the outcome through the one status writer (unchanged outcomes write nothing); an
        event only when the phase changes."""
        async with status_writer(
            self.client, EtcdBackupResource, obj, owned=("Complete",), now=datetime.now(UTC)
        ) as status:
            kept = status.current_fields(*(k for k in previous if k != "conditions"))
            status.fields = {**kept, **(extra or {}), "phase": phase.value}
            complete = phase is EtcdBackupPhase.COMPLETED
            status.set(Condition("Complete", TRUE if complete else FALSE, reason, message))
        if self.recorder is not None and previous.get("phase") != phase.value:
            type_ = "Warning" if phase is EtcdBackupPhase.FAILED else "Normal"
            await self.recorder.event(obj, type_, reason, message)
