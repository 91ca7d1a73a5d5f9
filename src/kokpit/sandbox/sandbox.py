"""The sandbox: a hub API server and N member clusters as real processes on this machine.

`up` generates each cluster's PKI, starts etcd and kube-apiserver, then kube-controller-manager,
kube-scheduler and kwok, creates kwok's nodes, and returns once every component is healthy and the
members' nodes are Ready. Members named by `UpOptions.pull` run behind a firewall in network
namespaces of their own (`sandbox/pullplan.py`), with a `kokpit-agent` that registers them with
the hub by token and then runs their agent.

Its state goes to `DIR/sandbox.json` so that `status`, `restart` and `down` work from any later
command. A failure at any point stops whatever was started: there is no
half-started sandbox.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lightkube import Client
from lightkube.config.kubeconfig import KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import ServiceAccount

from kokpit import __version__
from kokpit.binaries import BinarySet, find_binaries
from kokpit.binaries.versions import DEFAULT_ETCD_VERSION, KWOK_VERSION
from kokpit.controlplane import commands, kwok, pki, processes
from kokpit.controlplane.health import ProbeResult, ProbeTLS, probe
from kokpit.controlplane.kwok import NODE_CPU, NODE_MEMORY, NODE_PODS
from kokpit.errors import KokpitError
from kokpit.runtime.resources import PlainNode
from kokpit.sandbox import kwoklogs, network, pull
from kokpit.sandbox.netns import call_in
from kokpit.sandbox.ports import HOST, PortAllocator
from kokpit.sandbox.pullplan import PullNetworkPlan, agent_commands, check_pull_members
from kokpit.sandbox.state import (
    ClusterState,
    ComponentState,
    SandboxState,
    read_state,
    remove_state,
    write_state,
)
from kokpit.sandbox.topology import HUB, plan_members

ETCD = "etcd"
APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
KWOK = "kwok"
AGENT = "kokpit-agent"
"""A Pull member's agent (registration, then `kokpit agent`), in the member's namespace."""
COMPONENTS = (ETCD, APISERVER, CONTROLLER_MANAGER, SCHEDULER, KWOK, AGENT)
FIELD_MANAGER = "kokpit"

Report = Callable[[str], None]

# Components whose port appears only in their own command line: one that lost its port to another
# process between allocation and bind is started again on a new port. etcd's and the API server's
# ports are written into other components' flags and the kubeconfigs, so they are not moved.
RELAUNCHABLE = (CONTROLLER_MANAGER, SCHEDULER, KWOK)
MAX_PORT_RETRIES = 3
_PORT_CONFLICT = "address already in use"


def lost_its_port(log_lines: list[str]) -> bool:
    """Whether the log of the latest start (after the last `starting:` line) says the bind failed."""
    latest: list[str] = []
    for line in log_lines:
        if line.startswith("--- ") and " starting: " in line:
            latest = []
        else:
            latest.append(line)
    return any(_PORT_CONFLICT in line.lower() for line in latest)


def should_relaunch(component: str, log_lines: list[str], *, retries: int) -> bool:
    """A component that died during start-up is started again on a new port when it only lost
    its port, is one whose port nobody else knows, and has not used up its retries."""
    return component in RELAUNCHABLE and retries < MAX_PORT_RETRIES and lost_its_port(log_lines)


class SandboxError(KokpitError):
    """The sandbox could not be started, found or changed."""


@dataclass(frozen=True)
class UpOptions:
    """What `up` builds. `tie_to_parent` ends every process with the calling thread (tests)."""

    members: int = 3
    nodes: int = 3
    kubernetes_version: str | None = None
    base_port: int | None = None
    tie_to_parent: bool = False
    timeout_seconds: float = 180.0
    pull: tuple[str, ...] = ()
    """Members placed behind a firewall, reached by the hub only through their agent."""
    agent_lease_duration: float | None = None
    """The Pull members' agents' `--lease-duration` (fault tests shorten it); None: the default."""
    agent_cert_ttl: str | None = None
    """Validity of the Pull members' agent certificates (`kokpit register --cert-ttl`, e.g. `10m`,
    the shortest the hub signs), so renewal tests see one; None: register's default."""
    agent_renew_fraction: float | None = None
    """The agents' `--renew-fraction`: a small one makes a renewal due within a minute or two of
    registration (tests); None: the agent's default."""


@dataclass
class _Cluster:
    """A cluster being started: where its files are, and the state that will be written."""

    state: ClusterState
    root: Path
    pki: pki.PKIPaths
    apiserver_port: int
    apiserver_address: str = HOST
    node_labels: dict[str, str] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return Path(self.state.kubeconfig)


# --- locations -----------------------------------------------------------------------------------


def default_dir() -> Path:
    return Path.cwd() / ".kokpit" / "sandbox"


def cluster_root(directory: Path, cluster: str) -> Path:
    return directory / "clusters" / cluster


def log_path(directory: Path, cluster: str, component: str) -> Path:
    return directory / "logs" / f"{cluster}-{component}.log"


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialises commands on one sandbox directory (two `up`s racing would share ports and pids)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SandboxError(f"another kokpit command is using the sandbox in {directory}") from None
        yield


def _alive(component: ComponentState) -> bool:
    return processes.is_alive(component.pid, argv0=component.argv[0])


# --- up ------------------------------------------------------------------------------------------


def up(directory: Path, options: UpOptions, *, report: Report = lambda message: None) -> SandboxState:
    """Starts a sandbox in `directory` and returns its state once every cluster is ready."""
    if options.members < 0:
        raise SandboxError(f"--members must be 0 or more, got {options.members}")
    if options.nodes < 0:
        raise SandboxError(f"--nodes must be 0 or more, got {options.nodes}")
    member_names = [member.name for member in plan_members(options.members, nodes_per_member=0)]
    why = check_pull_members(options.pull, member_names)
    if why is not None:
        raise SandboxError(why)
    if options.pull:
        pull.require_root()
    directory = directory.resolve()
    binaries = find_binaries(options.kubernetes_version)
    with _locked(directory):
        previous = read_state(directory)
        if previous is not None:
            running = [name for _, name in _running_components(previous)]
            if running:
                raise SandboxError(
                    f"{directory} already holds a running sandbox ({len(running)} processes alive); "
                    f"run: kokpit sandbox down --dir {directory}"
                )
            _remove_pull_network(previous)
        if options.pull:
            _remove_abandoned_pull_networks(directory, report)
        _clear(directory)
        state = SandboxState(dir=str(directory), kubernetes_version=binaries.kubernetes_version)
        try:
            _start(directory, state, binaries, options, report)
        except BaseException as error:
            _stop_all(state)
            try:
                _remove_pull_network(state)
            except SandboxError as cleanup:  # the first failure is the story; this one is a footnote
                error.add_note(f"removing the half-made Pull network failed too: {cleanup}")
                raise
            remove_state(directory)
            raise
        return state


def _remove_abandoned_pull_networks(directory: Path, report: Report) -> None:
    """Removes the Pull networks other sandbox directories left behind: their directory is gone,
    or no command is working on it and none of its processes lives (a test run killed before its
    `down`; its processes died with it, its namespaces and bridge did not)."""
    for bridge in pull.existing_bridges():
        owner = network.bridge_owner(bridge)
        if not owner or Path(owner) == directory:
            continue
        other = Path(owner)
        if not other.is_dir():
            report(f"removing the Pull network {bridge} of {other} (the directory is gone)")
            pull.remove_by_name(bridge, owner)
            continue
        try:
            with _locked(other):
                state = read_state(other)
                if state is not None and _running_components(state):
                    continue
                report(f"removing the abandoned Pull network {bridge} of {other} (its processes are gone)")
                if (
                    state is not None
                    and state.pull_network is not None
                    and state.pull_network.bridge == bridge
                ):
                    if not pull.remove(state):
                        remove_state(other)
                else:
                    pull.remove_by_name(bridge, owner)
        except SandboxError:
            continue  # another command is using it: not abandoned


def _remove_pull_network(state: SandboxState) -> None:
    if state.pull_network is None and not state.pull_members:
        return
    problems = pull.remove(state)
    if problems:
        raise SandboxError("; ".join(problems))


def _clear(directory: Path) -> None:
    """Removes what a previous, stopped sandbox left, except its logs (they explain what happened)."""
    shutil.rmtree(directory / "clusters", ignore_errors=True)
    for kubeconfig in directory.glob("*.kubeconfig"):
        kubeconfig.unlink()
    remove_state(directory)


def _start(
    directory: Path, state: SandboxState, binaries: BinarySet, options: UpOptions, report: Report
) -> None:
    started = time.monotonic()
    ports = PortAllocator(base=options.base_port)
    plan = pull.free_plan(options.pull) if options.pull else None
    clusters = _prepare_clusters(directory, state, options, ports, plan)
    report(f"PKI for {len(clusters)} clusters written ({time.monotonic() - started:.1f}s)")
    if plan is not None:
        pull.record(state, plan)
        write_state(directory, state)  # before the network exists, so a failure can be cleaned
        pull.create(directory, plan)
        report(
            f"Pull network {plan.bridge} ({plan.gateway}): "
            + ", ".join(f"{link.cluster} in {link.netns} at {link.address}" for link in plan.links)
        )

    for cluster in clusters:
        _launch_etcd(directory, cluster, binaries, ports, options)
        _launch_apiserver(directory, cluster, binaries, ports, options)
    write_state(directory, state)
    _wait(
        state,
        {f"{c.state.name} {APISERVER}": _component_check(c, APISERVER) for c in clusters},
        deadline=started + options.timeout_seconds,
    )
    report(f"API servers ready ({time.monotonic() - started:.1f}s)")

    for cluster in clusters:
        is_hub = cluster.state.role == "hub"
        _launch_controller_manager(directory, cluster, binaries, ports, options, hub=is_hub)
        if not is_hub:
            _launch_scheduler(directory, cluster, binaries, ports, options)
            _launch_kwok(directory, cluster, binaries, ports, options)
            _create_nodes(cluster)
    write_state(directory, state)
    hub = next(cluster for cluster in clusters if cluster.state.role == "hub")
    for cluster in clusters:
        if cluster.state.pull is not None:
            _launch_agent(directory, cluster, hub, options)
            report(f"{cluster.state.name}: token created, {AGENT} started (registers once a hub runs)")
    write_state(directory, state)

    by_name = {cluster.state.name: cluster for cluster in clusters}
    retries: dict[tuple[str, str], int] = {}

    def relaunch(cluster_state: ClusterState, component: ComponentState) -> bool:
        key = (cluster_state.name, component.name)
        tail = processes.log_tail(Path(component.log), lines=40)
        if not should_relaunch(component.name, tail, retries=retries.get(key, 0)):
            return False
        retries[key] = retries.get(key, 0) + 1
        cluster = by_name[cluster_state.name]
        if component.name == CONTROLLER_MANAGER:
            hub = cluster.state.role == "hub"
            _launch_controller_manager(directory, cluster, binaries, ports, options, hub=hub)
        elif component.name == SCHEDULER:
            _launch_scheduler(directory, cluster, binaries, ports, options)
        else:
            _launch_kwok(directory, cluster, binaries, ports, options)
        write_state(directory, state)
        report(f"{key[0]} {key[1]} lost its port; started again on a new one")
        return True

    checks: dict[str, Callable[[], ProbeResult]] = {}
    for cluster in clusters:
        for component in cluster.state.components:
            checks[f"{cluster.state.name} {component}"] = _component_check(cluster, component)
        checks[f"{cluster.state.name} default service account"] = _service_account_check(cluster)
        if cluster.state.nodes:
            checks[f"{cluster.state.name} nodes"] = _nodes_check(cluster)
    _wait(state, checks, deadline=started + options.timeout_seconds, relaunch=relaunch)
    report(f"sandbox ready ({time.monotonic() - started:.1f}s)")


def _apiserver_address(name: str, role: str, plan: PullNetworkPlan | None) -> str:
    """Where a cluster's API server listens: the hub on the Pull network's bridge (reachable from
    the root namespace and from every Pull member), a Pull member on its own address (reachable
    from nowhere but its namespace, thanks to its firewall), everyone else on loopback."""
    if plan is None:
        return HOST
    if role == "hub":
        return plan.gateway
    if any(link.cluster == name for link in plan.links):
        return plan.link(name).address
    return HOST


def _prepare_clusters(
    directory: Path,
    state: SandboxState,
    options: UpOptions,
    ports: PortAllocator,
    plan: PullNetworkPlan | None = None,
) -> list[_Cluster]:
    names: list[tuple[str, str, dict[str, Any]]] = [(HUB, "hub", {})]
    for member in plan_members(options.members, nodes_per_member=options.nodes):
        names.append(
            (
                member.name,
                "member",
                {
                    "region": member.region,
                    "zone": member.zone,
                    "provider": member.provider,
                    "nodes": list(member.nodes),
                },
            )
        )
    clusters = []
    for name, role, extra in names:
        root = cluster_root(directory, name)
        apiserver_port = ports.take()
        address = _apiserver_address(name, role, plan)
        endpoint = f"https://{address}:{apiserver_port}"
        cluster_pki = pki.generate_cluster_pki(name, apiserver_ips=tuple(dict.fromkeys((HOST, address))))
        paths = pki.write_cluster_pki(cluster_pki, root / "pki")
        admin = directory / f"{name}.kubeconfig"
        pki.write_kubeconfig(_kubeconfig(name, endpoint, cluster_pki, "admin", cluster_pki.admin), admin)
        kubeconfigs = root / "kubeconfigs"
        for user, credentials in (
            ("controller-manager", cluster_pki.controller_manager),
            ("scheduler", cluster_pki.scheduler),
        ):
            pki.write_kubeconfig(
                _kubeconfig(name, endpoint, cluster_pki, user, credentials),
                kubeconfigs / f"{user}.kubeconfig",
            )
        cluster_state = ClusterState(name=name, role=role, endpoint=endpoint, kubeconfig=str(admin), **extra)
        state.clusters[name] = cluster_state
        labels = {}
        if role == "member":
            labels = {
                "topology.kubernetes.io/region": str(extra["region"]),
                "topology.kubernetes.io/zone": str(extra["zone"]),
            }
        clusters.append(
            _Cluster(
                state=cluster_state,
                root=root,
                pki=paths,
                apiserver_port=apiserver_port,
                apiserver_address=address,
                node_labels=labels,
            )
        )
    return clusters


def _kubeconfig(
    cluster: str, endpoint: str, cluster_pki: pki.ClusterPKI, user: str, credentials: pki.CertKey
) -> dict[str, Any]:
    return pki.kubeconfig(
        cluster=cluster, server=endpoint, ca_pem=cluster_pki.ca.cert_pem, user=user, credentials=credentials
    )


def _launch(
    directory: Path,
    cluster: _Cluster,
    name: str,
    argv: list[str],
    *,
    ports: dict[str, int],
    version: str,
    health_url: str | None,
    options: UpOptions,
    env: dict[str, str] | None = None,
) -> None:
    spec = processes.ProcessSpec(
        name=name,
        argv=_in_cluster_network(cluster.state, argv),
        log_path=log_path(directory, cluster.state.name, name),
        env=env or {},
    )
    launched = processes.launch(spec, tie_to_parent=options.tie_to_parent)
    cluster.state.components[name] = ComponentState(
        name=name,
        pid=launched.pid,
        argv=list(argv),
        log=str(launched.log_path),
        ports=ports,
        version=version,
        health_url=health_url,
        started_at=launched.started_at,
    )


def _in_cluster_network(cluster: ClusterState, argv: list[str]) -> list[str]:
    """`argv` as launched: in the cluster's network namespace when it has one. The recorded argv
    stays the component's own (nsenter execs it in place, so the process is the component)."""
    netns_path = cluster.netns_path
    return network.nsenter_netns(netns_path, argv) if netns_path is not None else argv


def _launch_etcd(
    directory: Path, cluster: _Cluster, binaries: BinarySet, ports: PortAllocator, options: UpOptions
) -> None:
    client, peer = ports.take(), ports.take()
    member = commands.EtcdMember(
        name=cluster.state.name, client_url=f"https://{HOST}:{client}", peer_url=f"https://{HOST}:{peer}"
    )
    argv = commands.etcd_argv(binaries.etcd, member=member, data_dir=cluster.root / "etcd", pki=cluster.pki)
    _launch(
        directory,
        cluster,
        ETCD,
        argv,
        ports={"client": client, "peer": peer},
        version=DEFAULT_ETCD_VERSION,
        health_url=f"{member.client_url}/health",
        options=options,
    )


def _launch_apiserver(
    directory: Path, cluster: _Cluster, binaries: BinarySet, ports: PortAllocator, options: UpOptions
) -> None:
    port = cluster.apiserver_port
    etcd = cluster.state.components[ETCD]
    api_options = commands.APIServerOptions(
        bind_address=cluster.apiserver_address,
        secure_port=port,
        etcd_servers=[f"https://{HOST}:{etcd.ports['client']}"],
    )
    argv = commands.kube_apiserver_argv(binaries.kube_apiserver, options=api_options, pki=cluster.pki)
    _launch(
        directory,
        cluster,
        APISERVER,
        argv,
        ports={"secure": port},
        version=binaries.kubernetes_version,
        health_url=f"{cluster.state.endpoint}/readyz",
        options=options,
    )


def _launch_controller_manager(
    directory: Path,
    cluster: _Cluster,
    binaries: BinarySet,
    ports: PortAllocator,
    options: UpOptions,
    *,
    hub: bool,
) -> None:
    port = ports.take()
    argv = commands.kube_controller_manager_argv(
        binaries.kube_controller_manager,
        kubeconfig=cluster.root / "kubeconfigs" / "controller-manager.kubeconfig",
        pki=cluster.pki,
        bind_address=HOST,
        secure_port=port,
        cert_dir=cluster.root / "certs" / "controller-manager",
        controllers=commands.HUB_CONTROLLERS if hub else commands.CLUSTER_CONTROLLERS,
    )
    _launch(
        directory,
        cluster,
        CONTROLLER_MANAGER,
        argv,
        ports={"secure": port},
        version=binaries.kubernetes_version,
        health_url=f"https://{HOST}:{port}/healthz",
        options=options,
    )


def _launch_scheduler(
    directory: Path, cluster: _Cluster, binaries: BinarySet, ports: PortAllocator, options: UpOptions
) -> None:
    port = ports.take()
    argv = commands.kube_scheduler_argv(
        binaries.kube_scheduler,
        kubeconfig=cluster.root / "kubeconfigs" / "scheduler.kubeconfig",
        bind_address=HOST,
        secure_port=port,
        cert_dir=cluster.root / "certs" / "scheduler",
    )
    _launch(
        directory,
        cluster,
        SCHEDULER,
        argv,
        ports={"secure": port},
        version=binaries.kubernetes_version,
        health_url=f"https://{HOST}:{port}/healthz",
        options=options,
    )


def _launch_kwok(
    directory: Path, cluster: _Cluster, binaries: BinarySet, ports: PortAllocator, options: UpOptions
) -> None:
    port = ports.take()
    server_address = f"{HOST}:{port}"
    workdir = cluster.root / "kwok"
    workdir.mkdir(parents=True, exist_ok=True)
    logs_config = kwoklogs.write_log_files(workdir)
    argv = kwok.kwok_argv(
        kwok=binaries.kwok,
        kubeconfig=cluster.kubeconfig,
        server_address=server_address,
        stage_files=[*kwok.stage_files(), logs_config],
        node_ip=kwoklogs.NODE_IP,
    )
    _launch(
        directory,
        cluster,
        KWOK,
        argv,
        ports={"server": port},
        version=KWOK_VERSION,
        health_url=kwok.healthz_url(server_address),
        options=options,
        env=kwok.kwok_env(workdir),
    )


def _launch_agent(directory: Path, cluster: _Cluster, hub: _Cluster, options: UpOptions) -> None:
    """Creates a bootstrap token for the Pull member on the hub and starts, in the member's
    namespace, the process that registers it with that token and then runs its agent."""
    name = cluster.state.name
    token, ca_hash = pull.create_token(hub.kubeconfig, name, hub_url=hub.state.endpoint)
    commands_ = agent_commands(
        pull.KOKPIT_CLI,
        cluster=name,
        hub_url=hub.state.endpoint,
        token=token,
        ca_hash=ca_hash,
        member_kubeconfig=str(cluster.kubeconfig),
        out_dir=str(cluster.root / "agent"),
        region=cluster.state.region,
        zone=cluster.state.zone,
        provider=cluster.state.provider,
        lease_duration=options.agent_lease_duration,
        cert_ttl=options.agent_cert_ttl,
        renew_fraction=options.agent_renew_fraction,
    )
    spec = {
        "hub_kubeconfig": commands_.hub_kubeconfig,
        "register": commands_.register,
        "agent": commands_.agent,
    }
    argv = [pull.KOKPIT_CLI[0], "-m", "kokpit.sandbox.agent_launcher", json.dumps(spec)]
    _launch(
        directory,
        cluster,
        AGENT,
        argv,
        ports={},
        version=__version__,
        health_url=None,
        options=options,
        env={"PYTHONUNBUFFERED": "1"},
    )


def _client(cluster: _Cluster) -> Client:
    return Client(KubeConfig.from_file(cluster.kubeconfig), field_manager=FIELD_MANAGER, trust_env=False)


def _create_nodes(cluster: _Cluster) -> None:
    """Creates the member's kwok nodes, with kwok's server as their kubelet (for logs)."""

    def create() -> None:
        client = _client(cluster)
        kubelet_port = cluster.state.components[KWOK].ports["server"]
        for name in cluster.state.nodes:
            node = kwok.fake_node(
                name, cpu=NODE_CPU, memory=NODE_MEMORY, pods=NODE_PODS, labels=cluster.node_labels
            )
            node = kwoklogs.with_kubelet_endpoint(node, kubelet_port)
            client.apply(PlainNode.from_dict(node), field_manager=FIELD_MANAGER, force=True)

    call_in(cluster.state.netns_path, create)


# --- readiness -----------------------------------------------------------------------------------


def _probe_tls(pki_paths: pki.PKIPaths, component: str) -> ProbeTLS | None:
    if component == ETCD:
        return ProbeTLS(
            ca=pki_paths.etcd_ca_cert,
            cert=pki_paths.etcd_healthcheck_client_cert,
            key=pki_paths.etcd_healthcheck_client_key,
        )
    if component == APISERVER:
        return ProbeTLS(ca=pki_paths.ca_cert, cert=pki_paths.admin_cert, key=pki_paths.admin_key)
    return ProbeTLS()


def _component_check(cluster: _Cluster, component: str) -> Callable[[], ProbeResult]:
    def check() -> ProbeResult:
        state = cluster.state.components[component]
        if state.health_url is None:
            return ProbeResult(True, "no health endpoint")
        url = state.health_url
        return call_in(cluster.state.netns_path, lambda: probe(url, tls=_probe_tls(cluster.pki, component)))

    return check


def _service_account_check(cluster: _Cluster) -> Callable[[], ProbeResult]:
    """Pods can only be created once the namespace's default service account exists."""

    def check() -> ProbeResult:
        try:
            call_in(
                cluster.state.netns_path,
                lambda: _client(cluster).get(ServiceAccount, "default", namespace="default"),
            )
        except ApiError as error:
            return ProbeResult(False, str(error))
        return ProbeResult(True, "ok")

    return check


def _nodes_check(cluster: _Cluster) -> Callable[[], ProbeResult]:
    def check() -> ProbeResult:
        ready = 0
        for node in call_in(cluster.state.netns_path, lambda: list(_client(cluster).list(PlainNode))):
            conditions = (node.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                ready += 1
        wanted = len(cluster.state.nodes)
        return ProbeResult(ready >= wanted, f"{ready}/{wanted} nodes Ready")

    return check


Relaunch = Callable[[ClusterState, ComponentState], bool]


def _wait(
    state: SandboxState,
    checks: dict[str, Callable[[], ProbeResult]],
    *,
    deadline: float,
    relaunch: Relaunch | None = None,
) -> None:
    """Polls `checks` until all pass; fails fast, with the log to read, when a process dies
    (unless `relaunch` started it again)."""
    pending = dict(checks)
    last: dict[str, str] = {}
    while pending:
        _fail_if_dead(state, relaunch)
        for name, check in list(pending.items()):
            try:
                result = check()
            except Exception as error:
                result = ProbeResult(False, f"{type(error).__name__}: {error}")
            if result.ok:
                del pending[name]
            else:
                last[name] = result.detail
        if not pending:
            return
        if time.monotonic() > deadline:
            name = sorted(pending)[0]
            raise SandboxError(f"timed out waiting for {name} ({last.get(name, 'no answer')})")
        time.sleep(0.25)


def _fail_if_dead(state: SandboxState, relaunch: Relaunch | None = None) -> None:
    for cluster, component in state.all_components():
        if component.pid and not _alive(component):
            if relaunch is not None and relaunch(cluster, component):
                continue
            code = processes.exit_code(component.pid)
            tail = processes.log_tail(Path(component.log), lines=1)
            why = f": {tail[-1][:300]}" if tail else ""
            exited = f" (exit code {code})" if code is not None else ""
            raise SandboxError(
                f"{cluster.name} {component.name} exited during start-up{exited}; see {component.log}{why}"
            )


# --- down, status, restart -----------------------------------------------------------------------


def _running_components(state: SandboxState) -> list[tuple[ComponentState, str]]:
    return [
        (component, f"{cluster.name}/{component.name}")
        for cluster, component in state.all_components()
        if component.pid and _alive(component)
    ]


def _stop_all(state: SandboxState, *, grace_seconds: float = 5.0) -> list[str]:
    """Stops components in tiers: dependents first, then API servers, etcd last.

    An API server whose etcd is already gone can hang in its shutdown for a long time, and
    everything logs a storm of connection errors; in this order each tier stops quickly.
    """
    running = _running_components(state)
    tiers = [(AGENT,), (KWOK, SCHEDULER, CONTROLLER_MANAGER), (APISERVER,), (ETCD,)]
    for tier in tiers:
        processes.stop(
            [(component.pid, component.argv[0]) for component, _ in running if component.name in tier],
            grace_seconds=grace_seconds,
        )
    others = [(c.pid, c.argv[0]) for c, _ in running if not any(c.name in tier for tier in tiers)]
    processes.stop(others, grace_seconds=grace_seconds)
    return [name for _, name in running]


def down(directory: Path) -> list[str]:
    """Stops every process of the sandbox in `directory` and removes its Pull network (namespaces,
    their firewalls, veths, bridge); returns what was running. Idempotent: a failed removal keeps
    the state file, so running it again retries what is left."""
    directory = directory.resolve()
    state = read_state(directory)
    if state is None:
        return []
    with _locked(directory):
        stopped = _stop_all(state)
        _remove_pull_network(state)
        remove_state(directory)
        return stopped


@dataclass(frozen=True)
class ComponentStatus:
    cluster: str
    component: str
    pid: int
    state: str  # "running" | "unhealthy" | "dead"
    detail: str
    log: str
    endpoint: str


def load(directory: Path) -> SandboxState:
    """The state of the sandbox in `directory`; a one-line error when there is none."""
    directory = directory.resolve()
    state = read_state(directory)
    if state is None:
        raise SandboxError(f"no sandbox in {directory} (start one with: kokpit sandbox up --dir {directory})")
    return state


def status(directory: Path) -> list[ComponentStatus]:
    """Every component's process and health, for `kokpit sandbox status`."""
    state = load(directory)
    rows = []
    for cluster, component in state.all_components():
        paths = pki.pki_paths(cluster_root(Path(state.dir), cluster.name) / "pki")
        if not _alive(component):
            code = processes.exit_code(component.pid)
            rows.append(
                ComponentStatus(
                    cluster.name,
                    component.name,
                    component.pid,
                    "dead",
                    f"exited (code {code})" if code is not None else "not running",
                    component.log,
                    cluster.endpoint,
                )
            )
            continue
        url = component.health_url
        result = (
            call_in(cluster.netns_path, functools.partial(probe, url, tls=_probe_tls(paths, component.name)))
            if url
            else ProbeResult(True, "ok")
        )
        rows.append(
            ComponentStatus(
                cluster.name,
                component.name,
                component.pid,
                "running" if result.ok else "unhealthy",
                result.detail,
                component.log,
                cluster.endpoint,
            )
        )
    return rows


def _find(state: SandboxState, cluster: str, component: str) -> tuple[ClusterState, ComponentState]:
    if cluster not in state.clusters:
        raise SandboxError(f"no cluster {cluster!r} in the sandbox (have: {', '.join(state.clusters)})")
    found = state.clusters[cluster]
    if component not in found.components:
        raise SandboxError(
            f"cluster {cluster} has no component {component!r} (have: {', '.join(found.components)})"
        )
    return found, found.components[component]


def kill(directory: Path, cluster: str, component: str, *, sig: signal.Signals = signal.SIGKILL) -> int:
    """Sends `sig` to one component's process group (fault tests); returns its pid."""
    state = load(directory)
    _, target = _find(state, cluster, component)
    if _alive(target):
        processes.signal_group(target.pid, sig)
    return target.pid


def restart(
    directory: Path,
    cluster: str,
    component: str,
    *,
    tie_to_parent: bool = False,
    timeout_seconds: float = 60.0,
) -> ComponentState:
    """Stops one component if it runs, starts it again with the same command line, waits healthy."""
    directory = directory.resolve()
    with _locked(directory):
        state = load(directory)
        found, target = _find(state, cluster, component)
        processes.stop([(target.pid, target.argv[0])])
        env = kwok.kwok_env(cluster_root(directory, cluster) / "kwok") if component == KWOK else {}
        if component == AGENT:
            env = {"PYTHONUNBUFFERED": "1"}
        launched = processes.launch(
            processes.ProcessSpec(
                name=component,
                argv=_in_cluster_network(found, target.argv),
                log_path=Path(target.log),
                env=env,
            ),
            tie_to_parent=tie_to_parent,
        )
        found.components[component] = replace(target, pid=launched.pid, started_at=launched.started_at)
        write_state(directory, state)
        paths = pki.pki_paths(cluster_root(directory, cluster) / "pki")
        restarted = found.components[component]

        def check() -> ProbeResult:
            url = restarted.health_url
            if url is None:
                return ProbeResult(True, "ok")
            return call_in(found.netns_path, lambda: probe(url, tls=_probe_tls(paths, component)))

        _wait(state, {f"{cluster} {component}": check}, deadline=time.monotonic() + timeout_seconds)
        return restarted


def set_link(directory: Path, cluster: str, *, up: bool) -> None:
    """Cuts (`up=False`) or mends the link between a Pull member and the hub (fault tests): its
    processes keep running and keep talking to each other, but no packet crosses the link."""
    state = load(directory)
    if cluster not in state.clusters:
        raise SandboxError(f"no cluster {cluster!r} in the sandbox (have: {', '.join(state.clusters)})")
    link = state.clusters[cluster].pull
    if link is None:
        raise SandboxError(f"{cluster} is not a Pull member (start the sandbox with --pull {cluster})")
    try:
        pull.set_link(link, up=up)
    except network.NetworkError as error:
        raise SandboxError(str(error)) from None
