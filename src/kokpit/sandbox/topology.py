"""Who is who in a sandbox: cluster names, their regions and zones, and their fake nodes.

Pure: the same request always gives the same fleet, so tests and the demo can count on member1
being in `eu-west` and member2 in `us-east`.
"""

from __future__ import annotations

from dataclasses import dataclass

HUB = "hub"
PROVIDER = "kwok"
REGIONS = ("eu-west", "us-east", "ap-south", "eu-central", "us-west", "ap-east", "sa-east", "af-south")


@dataclass(frozen=True)
class MemberPlan:
    name: str
    region: str
    zone: str
    provider: str
    nodes: tuple[str, ...]


def member_name(index: int) -> str:
    """`member_name(1)` is `member1`; members count from one."""
    return f"member{index}"


def plan_members(count: int, *, nodes_per_member: int) -> list[MemberPlan]:
    """The members of a sandbox: each in its own region (cycling if there are more than regions)."""
    members = []
    for index in range(1, count + 1):
        region = REGIONS[(index - 1) % len(REGIONS)]
        round_ = (index - 1) // len(REGIONS)
        if round_:
            region = f"{region}-{round_ + 1}"
        name = member_name(index)
        members.append(
            MemberPlan(
                name=name,
                region=region,
                zone=f"{region}-a",
                provider=PROVIDER,
                nodes=tuple(f"{name}-node{n}" for n in range(1, nodes_per_member + 1)),
            )
        )
    return members
