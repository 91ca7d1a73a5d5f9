"""Registration of Pull-mode members: bootstrap tokens in, an agent identity with its own RBAC out.

`kokpit token create` makes a token (`names.agent_groups`); `kokpit register` (in `kokpit.agent`)
turns it into a CSR; the approver here (`approver.CSRApprover`, pure core `approval.decide`) approves
it only for a valid token bound to that name, creates the Pull `Cluster`, its execution namespace
and the agent's RBAC (`rbac.agent_rbac`), and uses the token up. Renewals by the agent itself are
approved the same way.
"""

from kokpit.fleet.registration.approver import CSRApprover, ExecutionNamespaces, setup_registration
from kokpit.runtime import Manager
from kokpit.settings import HubSettings


def setup(manager: Manager, settings: HubSettings, *, namespaces: ExecutionNamespaces) -> None:
    """`setup` adds the approver of agent CSRs to the hub's `manager`."""
    setup_registration(manager, namespaces=namespaces, hub=settings.hub)


__all__ = ["CSRApprover", "ExecutionNamespaces", "setup", "setup_registration"]
