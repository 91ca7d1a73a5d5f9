"""Each ComponentTemplate's `Accepted` condition: the platform team learns of a broken template when
they write it, not when the first Component using it fails to render.

`Accepted=True` (`Valid`) says which Components the template selects; `Accepted=False` carries the
reason of `kokpit.components.render.template_problem` (`TemplateInvalid`, `DefaultsInvalid`) or
`InvalidSpec` for what the schema cannot refuse. Only the default controller group writes it: a
template serves every group, and one writer keeps the condition from flapping.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from kokpit.api.component import COMPONENT_TEMPLATE, ComponentTemplate
from kokpit.components.render import template_problem
from kokpit.errors import validation_message
from kokpit.runtime import Condition, Key, Manager, Result, status_writer
from kokpit.runtime.resources import resource_class

ACCEPTED = "Accepted"
STATUS_FIELD_MANAGER = "kokpit-template-status"

TemplateResource = resource_class(COMPONENT_TEMPLATE)


def acceptance(raw: Any) -> Condition:
    """`acceptance` is the `Accepted` condition of a ComponentTemplate read from the API; pure."""
    try:
        template = ComponentTemplate.model_validate(dict(raw))
    except ValidationError as error:
        return Condition.false(ACCEPTED, "InvalidSpec", validation_message(error))
    problem = template_problem(template)
    if problem is not None:
        return Condition.false(ACCEPTED, problem.reason, problem.message)
    selector = template.spec.selector
    dimensions = [
        ("workload types", selector.workload_types),
        ("languages", selector.languages),
        ("run types", selector.run_types),
    ]
    chosen = [f"{what} {', '.join(values)}" for what, values in dimensions if values]
    if selector.cluster_selector is not None:
        chosen.append("the clusters its clusterSelector matches")
    return Condition.true(ACCEPTED, "Valid", "selects " + ("; ".join(chosen) or "every Component"))


class TemplateReconciler:
    """Writes the `Accepted` condition of each ComponentTemplate (key: the template)."""

    def __init__(self, manager: Manager, *, hub: str = "hub") -> None:
        self.manager = manager
        self.hub = hub
        self.templates = manager.informer(hub, TemplateResource)

    def setup(self) -> None:
        """Registers the controller, watching the ComponentTemplates."""
        self.manager.controller("component-templates", self, workers=1).watch(self.templates)

    async def reconcile(self, key: Key) -> Result:
        raw = self.templates.get(key.name)
        if raw is None:
            return Result()
        async with status_writer(
            self.manager.clients.get(self.hub),
            TemplateResource,
            raw,
            owned=(ACCEPTED,),
            field_manager=STATUS_FIELD_MANAGER,
        ) as status:
            status.set(acceptance(raw))
        return Result()
