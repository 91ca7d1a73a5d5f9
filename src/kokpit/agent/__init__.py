"""The kokpit agent: runs next to a Pull-mode member, dials out to the hub, and serves its cluster.

It watches its cluster's Works on the hub and applies them to its member with the same execution
reconciler the hub uses for Push members, writes its Cluster's status, and renews a Lease by which
the hub judges its health. `kokpit agent` runs it as a process; `run_agent` runs it in-process.
"""

from kokpit.agent.run import Agent, AgentOptions, build_agent, run_agent

__all__ = ["Agent", "AgentOptions", "build_agent", "run_agent"]
