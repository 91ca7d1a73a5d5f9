"""Observing an EtcdCluster: what the runtime runs, what each member says, and what kokpit can reach.

One pass gathers a `Snapshot` (the runtime's components, every member's status over the gateway, the
member list from the leader); `views` turns it into the planner's member views and the status'
member reports; `unreachable` says why no member answered when the reason is structural rather than
a failure (the kubernetes runtime's in-cluster DNS names, see `kokpit.etcd.controller`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kokpit.controlplane.runtime import ComponentRuntime, ComponentState, Group
from kokpit.etcd.client import EtcdClient, EtcdError, Member, Status
from kokpit.etcd.members import EtcdProgram, revision
from kokpit.etcd.members import etcd_member as runtime_member
from kokpit.etcd.pki import EtcdPKI
from kokpit.etcd.planner import MemberView
from kokpit.etcd.status import MemberReport, Problem
from kokpit.runtime import parse_time


@dataclass
class Snapshot:
    """What one pass observed."""

    states: dict[str, ComponentState]
    statuses: dict[str, Status]
    """By member name."""
    member_list: list[Member] | None
    list_endpoint: str | None
    named: dict[int, str]
    """Member ID -> component name."""
    strays: list[int]
    errors: dict[str, str] = field(default_factory=dict)
    """By member name: why its status request failed."""


async def observe(runtime: ComponentRuntime, group: Group, etcd: EtcdClient) -> Snapshot:
    """`observe` asks the runtime for the group's components and every one of them for its status,
    then the leader (or any member that answered) for the member list."""
    component_names = await runtime.names(group)
    states = {name: await runtime.state(group, name) for name in component_names}
    urls = {name: runtime.addresses(group, name) for name in component_names}
    results = await asyncio.gather(
        *(etcd.status(urls[name].client_url) for name in component_names), return_exceptions=True
    )
    statuses = {
        name: result
        for name, result in zip(component_names, results, strict=True)
        if isinstance(result, Status)
    }
    errors = {
        name: str(result)
        for name, result in zip(component_names, results, strict=True)
        if isinstance(result, BaseException)
    }
    # The member list from the leader when one is known, else from any member that answered.
    leaders = {s.leader for s in statuses.values() if s.leader}
    ordered = sorted(statuses.values(), key=lambda s: (s.member_id not in leaders, s.endpoint))
    member_list: list[Member] | None = None
    list_endpoint: str | None = None
    for status in ordered:
        try:
            member_list = await etcd.member_list(status.endpoint)
            list_endpoint = status.endpoint
            break
        except EtcdError:
            continue
    named: dict[int, str] = {}
    strays: list[int] = []
    by_peer = {urls[name].peer_url: name for name in component_names}
    for member in member_list or []:
        if member.name:
            named[member.id] = member.name
        elif any(url in by_peer for url in member.peer_urls):
            named[member.id] = next(by_peer[url] for url in member.peer_urls if url in by_peer)
        else:
            strays.append(member.id)
    return Snapshot(states, statuses, member_list, list_endpoint, named, strays, errors)


def views(
    runtime: ComponentRuntime,
    group: Group,
    snap: Snapshot,
    pki: EtcdPKI,
    program: EtcdProgram | None,
    previous: Mapping[str, Any],
    now: datetime,
) -> tuple[list[MemberView], list[MemberReport]]:
    """`views` turns a snapshot into the planner's member views and the status' member reports;
    `previous` (the status read back) carries when each member was first seen unhealthy."""
    listed = {m.id: m for m in snap.member_list or []}
    by_name = {name: member_id for member_id, name in snap.named.items()}
    previous_since = {
        str(m.get("name")): m.get("unhealthySince") for m in previous.get("members") or [] if m.get("name")
    }
    files = pki.member_files()
    views: list[MemberView] = []
    reports: list[MemberReport] = []
    for name in sorted(set(snap.states) | set(by_name)):
        state = snap.states.get(name) or ComponentState(
            name=name, exists=False, running=False, data_present=False
        )
        member_id = by_name.get(name)
        member = listed.get(member_id) if member_id is not None else None
        status = snap.statuses.get(name)
        if status is not None and member_id is not None and status.member_id != member_id:
            status = None  # an old incarnation answering on the same address
        healthy = status is not None and status.leader != 0 and not status.errors and state.running
        since: datetime | None = None
        if not healthy and (state.exists or member_id is not None):
            since = parse_time(previous_since.get(name)) or now
        wanted_revision = None
        if program is not None:
            wanted_revision = revision(program, runtime_member(runtime, group, name), files)
        view = MemberView(
            name=name,
            id=member_id,
            learner=bool(member and member.learner),
            started=bool(member and member.name),
            exists=state.exists,
            running=state.running,
            data_present=state.data_present,
            healthy=healthy,
            leader=status is not None and status.leader == status.member_id and status.leader != 0,
            version=status.version if status is not None else None,
            revision_current=wanted_revision is None or state.revision == wanted_revision,
            unhealthy_for=0.0 if since is None else (now - since).total_seconds(),
        )
        if not view.exists and view.id is None:
            continue
        views.append(view)
        addresses = runtime.addresses(group, name)
        reports.append(
            MemberReport(
                view=view,
                client_url=addresses.client_url,
                peer_url=addresses.peer_url,
                db_size=status.db_size if status is not None else None,
                unhealthy_since=since,
            )
        )
    return views, reports


def unreachable(
    runtime: ComponentRuntime, group: Group, snap: Snapshot, *, meta_cluster: str | None
) -> Problem | None:
    """`unreachable` explains, for the kubernetes runtime, why kokpit got no member list: the members
    advertise `<pod>.<service>.<namespace>.svc` names, which resolve only inside the meta cluster,
    and the hub dials them from outside. None when a member answered, or for the process runtime
    (whose loopback addresses the hub can reach; a silence there is a failure, shown as NoQuorum)."""
    if runtime.kind != "kubernetes" or snap.member_list is not None:
        return None
    hosts = sorted({runtime.addresses(group, name).client_url for name in snap.states}) or [
        _pattern(runtime, group)
    ]
    first = next(iter(sorted(snap.errors.items())), None)
    detail = f" (last error: {first[0]}: {first[1]})" if first else ""
    return Problem(
        "EndpointsUnreachable",
        f"member endpoints {', '.join(hosts)} resolve only inside meta cluster {meta_cluster}; "
        f"kokpit cannot reach them from the hub, so it cannot tell whether etcd runs{detail}",
    )


def _pattern(runtime: ComponentRuntime, group: Group) -> str:
    dns, _ = runtime.certificate_hosts(group)
    return next((name for name in dns if name.endswith(".svc")), f"*.{group.name}.{group.namespace}.svc")
