"""Hosted-cluster fault tests use the hosted suite's fixtures (a test environment on the session sandbox)."""

from tests.integration.hosted.conftest import hosted_env, hosted_sandbox

__all__ = ["hosted_env", "hosted_sandbox"]
