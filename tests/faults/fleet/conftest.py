"""Fleet fault tests use the fleet suite's fixtures: kokpit installed on the hub, hub replicas."""

from tests.integration.fleet.conftest import hub_replicas, installed_hub

__all__ = ["hub_replicas", "installed_hub"]
