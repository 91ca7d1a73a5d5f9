"""The policy checks: each policy's `Ready` condition, and the watches of the kinds propagation policies
select.

Each policy gets a `Ready` condition: True (`Accepted`) when it parses and every kind it names is
watched; False with `InvalidPolicy`, `UnknownKind` or `UnsupportedKind` and a message otherwise. Override
policies get the same check (`InvalidPolicy` when they do not parse) but start no watch. `Ready` is
written through `kokpit.runtime.status_writer` as the field manager `POLICY_STATUS_FIELD_MANAGER`.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ValidationError

from kokpit.errors import validation_message
from kokpit.propagation.kind_watches import RETRY_UNKNOWN, KindRegistry, selected_kinds
from kokpit.propagation.kinds import KindError, UnknownKind, reserved_kind
from kokpit.runtime import Condition, Informer, Key, Result, status_writer

log = logging.getLogger("kokpit.propagation.policy_checker")

POLICY_STATUS_FIELD_MANAGER = "kokpit-policy-checker"
READY = "Ready"


class PolicyReconciler:
    """Checks one kind of policy (key: the policy), starts the watches of the kinds it selects (for
    propagation policies), and writes its `Ready` condition."""

    def __init__(
        self,
        registry: KindRegistry,
        informer: Informer,
        resource: type[Any],
        model: type[BaseModel],
        *,
        watch_kinds: bool,
    ) -> None:
        self.registry = registry
        self.informer = informer
        self.resource = resource
        self.model = model
        self.watch_kinds = watch_kinds

    async def reconcile(self, key: Key) -> Result:
        policy = self.informer.get(key.name, key.namespace)
        if policy is None:
            return Result()
        async with status_writer(
            self.registry.context.client,
            self.resource,
            policy,
            owned=(READY,),
            field_manager=POLICY_STATUS_FIELD_MANAGER,
        ) as status:
            ready, result = await self._check(policy)
            status.set(ready)
        return result

    async def _check(self, policy: Any) -> tuple[Condition, Result]:
        """The policy's `Ready` condition, and when to look again."""
        try:
            self.model.model_validate(dict(policy))
        except ValidationError as error:
            return Condition.false(READY, "InvalidPolicy", validation_message(error)), Result()
        result = Result()
        problem: Condition | None = None
        watched: list[str] = []
        for api_version, kind in selected_kinds(policy):
            if not self.watch_kinds:
                reason = reserved_kind(api_version, kind)
                if reason is not None:
                    problem = Condition.false(READY, KindError.reason, reason)
                continue
            try:
                await self.registry.ensure(api_version, kind)
                watched.append(f"{kind}.{api_version}")
            except KindError as error:
                problem = Condition.false(READY, error.reason, str(error))
                if isinstance(error, UnknownKind):
                    result = Result(requeue_after=RETRY_UNKNOWN)
        if problem is not None:
            return problem, result
        message = f"watching {', '.join(watched)}" if watched else "valid"
        return Condition.true(READY, "Accepted", message), result
