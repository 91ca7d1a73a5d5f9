"""What the steps of one HostedCluster reconcile share: the hub, the settings, what the pass learnt.

`Pass` collects what one reconcile observed (conditions, component rows, endpoint...) and becomes
the status at the end; `Stop` ends a pass early once its conditions say why; `StepContext` is the
hub client, the settings and the event recorder the steps (files of their own: `pki_step`,
`addons_step`, `join`, `process_plane`, `kubernetes_plane`, `status`) act through.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import Secret

from kokpit.binaries.versions import parse_version
from kokpit.hosted import names
from kokpit.hosted.settings import HostedSettings
from kokpit.runtime import Condition, EventRecorder, get_or_none


@dataclass
class Pass:
    """What one reconcile learnt; becomes the status."""

    conditions: dict[str, Condition] = field(default_factory=dict)
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    running: dict[str, str | None] = field(default_factory=dict)
    endpoint: str | None = None
    certificates: dict[str, Any] | None = None
    addons: list[dict[str, Any]] | None = None
    ready_nodes: int | None = None
    target: str | None = None
    busy: bool = False

    def set(self, type_: str, status: bool, reason: str, message: str = "") -> None:
        make = Condition.true if status else Condition.false
        self.conditions[type_] = make(type_, reason, message)

    def put(self, condition: Condition) -> None:
        self.conditions[condition.type] = condition


class Stop(Exception):
    """Ends a pass early; the conditions already say why."""


@dataclass
class StepContext:
    """The hub client, settings and event recorder every step acts through."""

    client: AsyncClient
    settings: HostedSettings
    recorder: EventRecorder | None = None

    async def event(self, obj: Any, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            await self.recorder.event(obj, type_, reason, message)

    async def ensure_secret(
        self, obj: Any, name: str, data: dict[str, bytes], *, encoded: dict[str, str] | None = None
    ) -> None:
        """Writes the Secret when missing or different (owned by the HostedCluster)."""
        namespace = str(obj.metadata.namespace)
        wanted = (
            encoded if encoded is not None else {k: base64.b64encode(v).decode() for k, v in data.items()}
        )
        existing = await get_or_none(self.client, Secret, name, namespace=namespace)
        if existing is not None and (existing.data or {}) == wanted:
            return
        secret = Secret(
            metadata=ObjectMeta(
                name=name,
                namespace=namespace,
                labels={names.CLUSTER_LABEL: str(obj.metadata.name), **names.MANAGED_BY},
                ownerReferences=[owner_reference(obj)],
            ),
            type="Opaque",
            data=wanted,
        )
        await self.client.apply(secret, field_manager="kokpit", force=True)


def owner_reference(obj: Any) -> OwnerReference:
    return OwnerReference(
        apiVersion=obj.apiVersion,
        kind=obj.kind,
        name=obj.metadata.name,
        uid=obj.metadata.uid,
        controller=True,
    )


def lowest(running: dict[str, str | None]) -> str | None:
    """`lowest` is the oldest version among the running components (None when none runs)."""
    versions = [v for v in running.values() if v]
    return min(versions, key=parse_version) if versions else None
