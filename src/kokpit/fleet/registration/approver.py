"""The hub's approver of agent CSRs: decide (`approval.decide`), then carry the decision out.

For each CSR it reads the CSR from the cache and the requester's token Secret and the named Cluster
live from the hub (both can change between two events; a stale cache must not approve a used
token), then approves or denies through the CSR's approval subresource. A first registration is
carried out in an order that a crash at any line repairs on the next pass:

1. the token is marked used by this CSR and its expiration cut to `token_grace` seconds, so no second
   CSR may use it and it stops authenticating soon, yet the registering client can still read its
   issued certificate;
2. the `Cluster` (`syncMode: Pull`) is created, then its execution namespace and the agent's RBAC;
3. the CSR is approved; the controller-manager signs it;
4. once the grace is over, the token's Secret is deleted (the token cleaner would, too).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lightkube import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.certificates_v1 import CertificateSigningRequest, CertificateSigningRequestApproval
from lightkube.resources.core_v1 import Namespace, Secret
from lightkube.types import PatchType

from kokpit.api.cluster import CLUSTER
from kokpit.controlplane.bootstrap_tokens import (
    TOKEN_NAMESPACE,
    TokenRecord,
    read_token_secret,
    token_id_of_user,
    token_secret_name,
)
from kokpit.fleet.members import ClusterResource
from kokpit.fleet.registration.approval import ClusterView, Decision, Verdict, csr_view, decide
from kokpit.fleet.registration.names import AGENT_SIGNER, USED_BY_ANNOTATION
from kokpit.fleet.registration.rbac import agent_rbac
from kokpit.runtime import EventRecorder, Key, Manager, Result, apply, format_time, get_or_none

log = logging.getLogger("kokpit.fleet.registration")

CONTROLLER_NAME = "agent-registration"
FIELD_MANAGER = "kokpit"
TOKEN_GRACE = 60.0
"""Seconds a used token keeps authenticating, for the registering client to fetch its certificate."""


@dataclass(frozen=True)
class ExecutionNamespaces:
    """How delivery names the hub namespace of a cluster's Works, and what it labels it with.

    Passed in by the hub process (`propagation.names`), because delivery builds on the fleet and the
    fleet may not import it back."""

    name: Callable[[str], str]
    metadata: Callable[[str], tuple[dict[str, str], dict[str, str]]]


class CSRApprover:
    """Approves and denies agent CSRs; see the module docstring."""

    def __init__(
        self,
        manager: Manager,
        *,
        namespaces: ExecutionNamespaces,
        hub: str = "hub",
        token_grace: float = TOKEN_GRACE,
    ) -> None:
        self.manager = manager
        self.hub = hub
        self.namespaces = namespaces
        self.token_grace = token_grace
        self.csrs = manager.informer(hub, CertificateSigningRequest)
        self._recorder: EventRecorder | None = None

    def setup(self) -> None:
        self.manager.controller(CONTROLLER_NAME, self, workers=2).watch(self.csrs)

    @property
    def recorder(self) -> EventRecorder:
        if self._recorder is None:
            self._recorder = EventRecorder(
                self.manager.clients.get(self.hub), component="kokpit-registration"
            )
        return self._recorder

    async def reconcile(self, key: Key) -> Result:
        csr = self.csrs.get(key.name)
        if csr is None:
            return Result()
        view = csr_view(csr)
        if view.signer != AGENT_SIGNER or view.cluster is None:
            return Result()
        if view.decided:
            return await self._use_up_token(csr)
        now = datetime.now(UTC)
        token = await self._token(view.username)
        cluster = await self._cluster(view.cluster)
        decision = decide(
            view,
            token=token,
            cluster=None
            if cluster is None
            else ClusterView(str((cluster.get("spec") or {}).get("syncMode"))),
            now=now,
        )
        if decision.verdict is Verdict.IGNORE:
            return Result()
        if decision.verdict is Verdict.DENY:
            log.info("denied CSR %s: %s", view.name, decision.message)
            await self._decide(csr, "Denied", decision, now)
            return Result()
        if decision.registration:
            assert token is not None
            await self._mark_used(token, view.name, now)
            cluster = await self._register(decision)
        await self._decide(csr, "Approved", decision, now)
        log.info("approved CSR %s: %s", view.name, decision.message)
        if cluster is not None:
            await self.recorder.normal(cluster, decision.reason, decision.message, action="Approve")
        return Result(requeue_after=self.token_grace + 1 if decision.registration else None)

    async def _token(self, username: str) -> TokenRecord | None:
        token_id = token_id_of_user(username)
        if token_id is None:
            return None
        secret = await get_or_none(
            self.manager.clients.get(self.hub), Secret, token_secret_name(token_id), namespace=TOKEN_NAMESPACE
        )
        if secret is None:
            return None
        try:
            return read_token_secret(secret)
        except ValueError:
            return None

    async def _cluster(self, name: str) -> Any:
        return await get_or_none(self.manager.clients.get(self.hub), ClusterResource, name)

    async def _mark_used(self, token: TokenRecord, csr: str, now: datetime) -> None:
        """Marks `token` used by `csr` and cuts its life to the grace (never lengthens it)."""
        expiration = now + timedelta(seconds=self.token_grace)
        if token.expiration is not None:
            expiration = min(expiration, token.expiration)
        body = {
            "metadata": {"annotations": {USED_BY_ANNOTATION: csr}},
            "stringData": {"expiration": format_time(expiration)},
        }
        await self.manager.clients.get(self.hub).patch(
            Secret, token_secret_name(token.id), body, namespace=TOKEN_NAMESPACE, patch_type=PatchType.MERGE
        )

    async def _register(self, decision: Decision) -> Any:
        """Creates the Pull `Cluster` unless it exists, then its namespace and the agent's RBAC."""
        hub = self.manager.clients.get(self.hub)
        name = decision.cluster
        assert name is not None
        cluster = await self._cluster(name)
        if cluster is None:
            manifest = {
                "apiVersion": CLUSTER.api_version,
                "kind": CLUSTER.kind,
                "metadata": {"name": name, "labels": {"kokpit.io/registered": "true"}},
                "spec": {"syncMode": "Pull", **decision.topology},
            }
            try:
                cluster = await hub.create(ClusterResource.from_dict(manifest))
            except ApiError as error:
                if error.status.code != 409:
                    raise
                cluster = await hub.get(ClusterResource, name)
        if (cluster.get("spec") or {}).get("syncMode") != "Pull":
            raise RuntimeError(f"cluster {name} appeared as a Push cluster while registering")
        namespace = self.namespaces.name(name)
        labels, annotations = self.namespaces.metadata(name)
        try:
            await hub.create(
                Namespace(metadata=ObjectMeta(name=namespace, labels=labels, annotations=annotations))
            )
        except ApiError as error:
            if error.status.code != 409:
                raise
        for obj in agent_rbac(name, namespace=namespace, cluster_uid=str(cluster["metadata"]["uid"])):
            await apply(hub, obj, field_manager=FIELD_MANAGER, force=True)
        return cluster

    async def _decide(self, csr: Any, condition: str, decision: Decision, now: datetime) -> None:
        body = {
            "metadata": {"resourceVersion": csr.metadata.resourceVersion},
            "status": {
                "conditions": [
                    {
                        "type": condition,
                        "status": "True",
                        "reason": f"Kokpit{decision.reason}",
                        "message": decision.message,
                        "lastUpdateTime": format_time(now),
                    }
                ]
            },
        }
        await self.manager.clients.get(self.hub).patch(
            CertificateSigningRequestApproval, csr.metadata.name, body, patch_type=PatchType.MERGE
        )

    async def _use_up_token(self, csr: Any) -> Result:
        """After the grace, deletes the Secret of the token an approved CSR used."""
        token_id = token_id_of_user(str(csr.spec.username or ""))
        if token_id is None:
            return Result()
        token = await self._token(str(csr.spec.username))
        if token is None or token.annotations.get(USED_BY_ANNOTATION) != csr.metadata.name:
            return Result()
        now = datetime.now(UTC)
        if token.expiration is not None and token.expiration > now:
            return Result(requeue_after=(token.expiration - now).total_seconds() + 1)
        hub = self.manager.clients.get(self.hub)
        try:
            await hub.delete(Secret, token_secret_name(token_id), namespace=TOKEN_NAMESPACE)
        except ApiError as error:
            if error.status.code != 404:
                raise
        return Result()


def setup_registration(
    manager: Manager, *, namespaces: ExecutionNamespaces, hub: str = "hub", token_grace: float = TOKEN_GRACE
) -> CSRApprover:
    """Adds the approver of agent CSRs to `manager`; returns it."""
    approver = CSRApprover(manager, namespaces=namespaces, hub=hub, token_grace=token_grace)
    approver.setup()
    return approver
