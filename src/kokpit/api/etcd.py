"""`EtcdCluster` and `EtcdBackup` (`etcd.kokpit.io/v1alpha1`): etcd clusters as resources.

An `EtcdCluster` asks for `size` members of etcd `version`, run by a component runtime (local
processes, or Pods in a meta cluster), optionally backed up on an interval and optionally seeded
from a snapshot. Its status says which members exist, which is leader, and whether the cluster is
Available (has a healthy quorum) and Healthy (every wanted member is healthy). An `EtcdBackup` is one
snapshot of a cluster written to a directory, with its sha256.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator

from kokpit.api.crd import PrinterColumn, ResourceType
from kokpit.api.meta import DNS_LABEL_PATTERN, Conditions, KokpitModel, ObjectMeta, cel, list_map, validations

GROUP = "etcd.kokpit.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

ETCD_VERSION_PATTERN = r"^v?3\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$"
INTERVAL_PATTERN = r"^([0-9]+[smhd])+$"
"""A backup interval: one or more number+unit pairs, units s, m, h, d ("10m", "1h30m")."""

MIN_SIZE = 1
MAX_SIZE = 7


class EtcdRuntime(StrEnum):
    """Where the members run."""

    PROCESS = "process"
    """Supervised local processes on the machine running the controller."""
    KUBERNETES = "kubernetes"
    """Pods with stable names, a headless Service, PVCs and Secrets in a meta cluster."""


class EtcdPhase(StrEnum):
    """A one-word summary of an EtcdCluster; the conditions carry the detail."""

    PENDING = "Pending"
    CREATING = "Creating"
    RUNNING = "Running"
    SCALING = "Scaling"
    REPAIRING = "Repairing"
    UPGRADING = "Upgrading"
    DEGRADED = "Degraded"
    PAUSED = "Paused"
    FAILED = "Failed"


class EtcdStorage(KokpitModel):
    """Where member data lives."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.dataDirRoot) || (self.dataDirRoot.startsWith('/')"
                " && !self.dataDirRoot.contains('/../') && !self.dataDirRoot.endsWith('/..'))",
                "dataDirRoot must be an absolute path without '..'",
                field_path=".dataDirRoot",
                reason="FieldValueInvalid",
            ),
        )
    )

    size: Annotated[str, Field(max_length=32)] | None = None
    """Requested size of each member's PersistentVolumeClaim (kubernetes runtime), e.g. 8Gi."""
    data_dir_root: Annotated[str, Field(max_length=4096)] | None = None
    """Directory under which each member gets its data directory (process runtime): an absolute path
    inside the hub's etcd root (symlinks resolved), else the cluster is refused with
    DataDirOutsideRoot; the hub's etcd root when unset."""

    @field_validator("data_dir_root")
    @classmethod
    def _absolute_without_dotdot(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("/") or ".." in value.split("/")):
            raise ValueError("dataDirRoot must be an absolute path without '..'")
        return value


class EtcdBackupSchedule(KokpitModel):
    """Periodic snapshots of the cluster."""

    schedule: Annotated[str, Field(max_length=32, pattern=INTERVAL_PATTERN)]
    """How often to take a snapshot, as an interval such as 10m, 1h or 1h30m (cron expressions are
    not supported)."""
    retention: Annotated[int, Field(ge=1, le=1000)] = 5
    """How many scheduled snapshots to keep; older ones are deleted."""
    destination: Annotated[str, Field(min_length=1, max_length=4096)]
    """Directory the snapshots are written to, on the machine running the controller."""


class EtcdRestoreSource(KokpitModel):
    """A snapshot to seed a new cluster from."""

    path: Annotated[str, Field(min_length=1, max_length=4096)]
    """Path of the snapshot file, on the machine running the controller."""


class EtcdClusterSpec(KokpitModel):
    """The etcd cluster wanted."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.runtime != 'kubernetes' || has(self.metaCluster)",
                "metaCluster is required when runtime is kubernetes",
                field_path=".metaCluster",
                reason="FieldValueRequired",
            ),
            cel(
                "self.runtime == oldSelf.runtime",
                "runtime cannot be changed",
                field_path=".runtime",
                reason="FieldValueForbidden",
            ),
        )
    )

    size: Annotated[int, Field(ge=MIN_SIZE, le=MAX_SIZE)] = 3
    """Number of voting members, 1 to 7. Even sizes are allowed but tolerate no more failures than
    the odd size below them; the status carries a warning."""
    version: Annotated[str, Field(max_length=64, pattern=ETCD_VERSION_PATTERN)]
    """The etcd version, e.g. v3.6.16. Changing it rolls the members one at a time, leader last."""
    runtime: EtcdRuntime = EtcdRuntime.PROCESS
    """Where the members run: process or kubernetes."""
    meta_cluster: Annotated[str, Field(max_length=63, pattern=DNS_LABEL_PATTERN)] | None = None
    """The member cluster hosting the Pods (kubernetes runtime)."""
    storage: EtcdStorage | None = None
    """Where member data lives."""
    backup: EtcdBackupSchedule | None = None
    """Periodic snapshots."""
    restore_from: EtcdRestoreSource | None = None
    """Seed a new cluster from this snapshot; read only when the cluster is first created."""
    paused: bool = False
    """Stop reconciling members (status is still reported)."""


class EtcdMemberStatus(KokpitModel):
    """One member as last observed."""

    name: Annotated[str, Field(min_length=1)]
    """Member name (also the runtime component's name)."""
    id: str | None = None
    """etcd member ID in hex."""
    client_url: Annotated[str | None, Field(alias="clientURL")] = None
    """URL clients use."""
    peer_url: Annotated[str | None, Field(alias="peerURL")] = None
    """URL peers use."""
    healthy: bool = False
    """Whether the member answered and knows a leader."""
    is_leader: bool = False
    """Whether the member is the raft leader."""
    is_learner: bool = False
    """Whether the member is a learner still catching up (not voting)."""
    running: bool = False
    """Whether the runtime reports the member's process or Pod as running."""
    db_size: Annotated[int, Field(ge=0)] | None = None
    """Size of the member's backend database in bytes."""
    version: str | None = None
    """etcd version the member runs."""
    unhealthy_since: datetime | None = None
    """When the member was first seen unhealthy in its current spell; replaced after a timeout."""


class SecretRef(KokpitModel):
    """A Secret in the same namespace."""

    name: Annotated[str, Field(min_length=1)]
    """Name of the Secret."""


class BackupRecord(KokpitModel):
    """One snapshot written."""

    path: Annotated[str, Field(min_length=1)]
    """Where the snapshot file is."""
    sha256: Annotated[str, Field(min_length=64, max_length=64)]
    """sha256 of the file, hex."""
    size: Annotated[int, Field(ge=0)]
    """Size of the file in bytes."""
    time: datetime
    """When the snapshot was taken."""


class EtcdClusterStatus(KokpitModel):
    """What the controller last observed of the cluster."""

    phase: EtcdPhase | None = None
    """A one-word summary."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation this status was computed from."""
    size: Annotated[int, Field(ge=0)] | None = None
    """Number of voting members in the etcd member list."""
    ready_members: Annotated[int, Field(ge=0)] | None = None
    """Number of healthy voting members."""
    members: Annotated[list[EtcdMemberStatus], Field(json_schema_extra=list_map("name"))] | None = None
    """Every member known to etcd or to the runtime."""
    leader: str | None = None
    """Name of the leader member."""
    current_version: str | None = None
    """The lowest version any member runs (the cluster's effective version)."""
    client_endpoints: list[str] | None = None
    """Client URLs of the voting members."""
    client_secret_ref: SecretRef | None = None
    """A Secret with ca.crt, tls.crt and tls.key for clients of this cluster."""
    last_backup: BackupRecord | None = None
    """The last scheduled snapshot."""
    conditions: Conditions | None = None
    """Available, Healthy, Progressing, BackupReady and warnings, each with reason and message."""


class EtcdCluster(KokpitModel):
    """An EtcdCluster object as read from or written to the hub."""

    api_version: Literal["etcd.kokpit.io/v1alpha1"] = "etcd.kokpit.io/v1alpha1"
    kind: Literal["EtcdCluster"] = "EtcdCluster"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: EtcdClusterSpec
    status: EtcdClusterStatus | None = None


class EtcdBackupPhase(StrEnum):
    """Where a one-off backup is."""

    PENDING = "Pending"
    COMPLETED = "Completed"
    FAILED = "Failed"


class EtcdBackupSpec(KokpitModel):
    """One snapshot of an EtcdCluster in the same namespace."""

    cluster_ref: Annotated[str, Field(min_length=1, max_length=253)]
    """Name of the EtcdCluster."""
    destination: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    """Directory to write the snapshot to; the cluster's backup destination, or the controller's
    default, when unset."""


class EtcdBackupStatus(KokpitModel):
    """The outcome of the backup."""

    phase: EtcdBackupPhase | None = None
    """Pending, Completed or Failed."""
    path: str | None = None
    """Where the snapshot file is."""
    sha256: str | None = None
    """sha256 of the file, hex."""
    size: Annotated[int, Field(ge=0)] | None = None
    """Size of the file in bytes."""
    completion_time: datetime | None = None
    """When the snapshot was written."""
    conditions: Conditions | None = None
    """Complete (True, or False with the reason)."""


class EtcdBackup(KokpitModel):
    """An EtcdBackup object as read from or written to the hub."""

    api_version: Literal["etcd.kokpit.io/v1alpha1"] = "etcd.kokpit.io/v1alpha1"
    kind: Literal["EtcdBackup"] = "EtcdBackup"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: EtcdBackupSpec
    status: EtcdBackupStatus | None = None


ETCD_CLUSTER = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="EtcdCluster",
    plural="etcdclusters",
    scope="Namespaced",
    short_names=("etcd", "etcdc"),
    description="EtcdCluster is an etcd cluster run by kokpit: size, version, runtime, backups.",
    spec=EtcdClusterSpec,
    status=EtcdClusterStatus,
    spec_required=True,
    printer_columns=(
        PrinterColumn("Size", "integer", ".spec.size", "Wanted number of members."),
        PrinterColumn("Ready", "integer", ".status.readyMembers", "Healthy voting members."),
        PrinterColumn("Leader", "string", ".status.leader", "The leader member."),
        PrinterColumn("Version", "string", ".status.currentVersion", "Lowest version any member runs."),
        PrinterColumn("Phase", "string", ".status.phase", "One-word summary."),
        PrinterColumn("Runtime", "string", ".spec.runtime", "Where the members run.", priority=1),
    ),
)
"""The declaration of the EtcdCluster resource type."""

ETCD_BACKUP = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="EtcdBackup",
    plural="etcdbackups",
    scope="Namespaced",
    short_names=("etcdbk",),
    description="EtcdBackup is one snapshot of an EtcdCluster written to a directory.",
    spec=EtcdBackupSpec,
    status=EtcdBackupStatus,
    spec_required=True,
    printer_columns=(
        PrinterColumn("Cluster", "string", ".spec.clusterRef", "The EtcdCluster."),
        PrinterColumn("Phase", "string", ".status.phase", "Pending, Completed or Failed."),
        PrinterColumn("Size", "integer", ".status.size", "Snapshot size in bytes."),
        PrinterColumn("Path", "string", ".status.path", "Where the snapshot is.", priority=1),
    ),
)
"""The declaration of the EtcdBackup resource type."""
