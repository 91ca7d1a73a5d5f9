"""The process runtime of HostedCluster: the control plane as supervised local processes.

kube-apiserver, kube-controller-manager, kube-scheduler and kwok run through
`kokpit.controlplane.runtime.ProcessRuntime` (one per exposure address); each pass probes them,
starts what is missing, restarts what died (backing off when one crash-loops), and moves them one at
a time to the target version, the API server first (`plan.component_versions`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient

from kokpit.api.hostedcluster import HostedClusterSpec, NetworkingSpec
from kokpit.binaries import BinarySet, MissingBinariesError
from kokpit.controlplane.health import ProbeTLS, probe
from kokpit.controlplane.runtime import ComponentSpec, ComponentState, Group, ProcessRuntime
from kokpit.hosted import components, inside, names, plan
from kokpit.hosted.clients import HostedClients
from kokpit.hosted.components import EtcdAccess
from kokpit.hosted.context import Pass, StepContext, Stop
from kokpit.hosted.pki_step import ensure_pki
from kokpit.hosted.plane import Reached
from kokpit.runtime import format_time


class ProcessControlPlane:
    """`ProcessControlPlane` is the `plane.ControlPlane` of `runtime: process`."""

    kind = "process"

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self._runtimes: dict[str, ProcessRuntime] = {}
        self._clients = HostedClients()
        self._restarts: dict[tuple[str, str, str], plan.RestartHistory] = {}
        self._unhealthy_since: dict[tuple[str, str, str], float] = {}
        self._looping: set[tuple[str, str, str]] = set()
        self._observed: dict[tuple[str, str], dict[str, ComponentState]] = {}
        self._binaries: dict[tuple[str, str], dict[str, BinarySet]] = {}

    async def aclose(self) -> None:
        await self._clients.aclose()

    def runtime_for(self, spec: HostedClusterSpec | None) -> ProcessRuntime:
        host = spec.exposure.address if spec is not None and spec.exposure else "127.0.0.1"
        runtime = self._runtimes.get(host)
        if runtime is None:
            runtime = ProcessRuntime(
                self.settings.process_root,
                host=host,
                tie_to_parent=self.settings.tie_to_parent,
                stop_grace_seconds=5.0,
            )
            self._runtimes[host] = runtime
        return runtime

    async def observe(self, obj: Any, spec: HostedClusterSpec, state: Pass) -> None:
        key = (str(obj.metadata.namespace), str(obj.metadata.name))
        runtime = self.runtime_for(spec)
        group = names.group_of(*key)
        observed = {c: await runtime.state(group, c) for c in names.COMPONENTS}
        self._observed[key] = observed
        state.running = {c: components.revision_version(observed[c].revision) for c in names.CONTROL_PLANE}

    def check_target(self, obj: Any, target: str, state: Pass) -> None:
        try:
            binaries = {v: self.settings.binaries(v) for v in {target, *filter(None, state.running.values())}}
        except MissingBinariesError as error:
            state.set("VersionAccepted", False, "BinariesMissing", str(error))
            raise Stop from None
        self._binaries[(str(obj.metadata.namespace), str(obj.metadata.name))] = binaries

    async def ensure(
        self, obj: Any, spec: HostedClusterSpec, etcd: EtcdAccess, networking: NetworkingSpec, state: Pass
    ) -> Reached | None:
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        runtime = self.runtime_for(spec)
        group = names.group_of(namespace, name)
        observed = self._observed.pop((namespace, name))
        binaries = self._binaries.pop((namespace, name))
        target = state.target or ""

        # Certificates and the admin kubeconfig.
        exposure = spec.exposure
        address = exposure.address if exposure else "127.0.0.1"
        problem = address_problem(address)
        if problem is not None:
            state.set(plan.CONDITION_OF[names.APISERVER], False, "AddressUnavailable", problem)
            raise Stop
        port = exposure.port if exposure and exposure.port else _port(runtime, group, names.APISERVER)
        state.endpoint = f"https://{address}:{port}"
        cluster_pki = await ensure_pki(self.ctx, obj, spec, networking, state, apiserver_ips=(address,))
        params = components.ClusterParameters(
            name=name,
            group=group,
            endpoint=state.endpoint,
            bind_address=address,
            port=port,
            service_cidr=networking.service_cidr,
            pod_cidr=networking.pod_cidr,
            cluster_domain=networking.cluster_domain,
        )
        admin = components.kubeconfig_bytes(params, cluster_pki, "kokpit-admin", cluster_pki.admin)
        await self.ctx.ensure_secret(
            obj, names.admin_kubeconfig_secret_name(name), {names.ADMIN_KUBECONFIG_KEY: admin}
        )

        # Components.
        client = await self._clients.get(namespace, name, admin)
        healthy = await self._probe(runtime, group, client, observed, state)
        versions = plan.component_versions(target, state.running, healthy)
        specs: dict[str, ComponentSpec] = {
            names.APISERVER: components.apiserver_spec(
                params,
                runtime.layout(group, names.APISERVER),
                binaries[versions[names.APISERVER]],
                cluster_pki,
                etcd,
            ),
            names.CONTROLLER_MANAGER: components.controller_manager_spec(
                params,
                runtime.layout(group, names.CONTROLLER_MANAGER),
                binaries[versions[names.CONTROLLER_MANAGER]],
                cluster_pki,
                _port(runtime, group, names.CONTROLLER_MANAGER),
            ),
            names.SCHEDULER: components.scheduler_spec(
                params,
                runtime.layout(group, names.SCHEDULER),
                binaries[versions[names.SCHEDULER]],
                cluster_pki,
                _port(runtime, group, names.SCHEDULER),
            ),
        }
        if healthy.get(names.APISERVER) or observed[names.KWOK].exists:
            # kwok gives up when the API server does not answer within ~30 s: start it once it does.
            specs[names.KWOK] = components.kwok_spec(
                params,
                runtime.layout(group, names.KWOK),
                binaries[target],
                cluster_pki,
                _port(runtime, group, names.KWOK),
            )
        for component_spec in specs.values():
            await self._run(obj, runtime, component_spec, state)
        self._report_components(namespace, name, versions, healthy, state)
        if not healthy.get(names.APISERVER):
            state.busy = True
            return None
        return Reached(admin=admin, client=client)

    async def delete(self, obj: Any, spec: HostedClusterSpec | None) -> None:
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        await self.runtime_for(spec).remove_group(names.group_of(namespace, name))

    def restarts(self, namespace: str, name: str) -> Mapping[str, plan.RestartHistory]:
        return {k[2]: v for k, v in self._restarts.items() if k[:2] == (namespace, name)}

    async def forget(self, namespace: str, name: str) -> None:
        self._observed.pop((namespace, name), None)
        self._binaries.pop((namespace, name), None)
        await self._clients.forget(namespace, name)
        for key in [k for k in self._restarts if k[:2] == (namespace, name)]:
            del self._restarts[key]
        for key in [k for k in self._unhealthy_since if k[:2] == (namespace, name)]:
            del self._unhealthy_since[key]
        self._looping = {k for k in self._looping if k[:2] != (namespace, name)}

    # -- pieces ---------------------------------------------------------------------------------

    async def _probe(
        self,
        runtime: ProcessRuntime,
        group: Group,
        client: AsyncClient,
        observed: dict[str, ComponentState],
        state: Pass,
    ) -> dict[str, bool]:
        healthy: dict[str, bool] = {}
        for component in names.COMPONENTS:
            if not observed[component].running:
                healthy[component] = False
                state.components[component] = {"message": observed[component].detail or "not running"}
                continue
            if component == names.APISERVER:
                ok, detail = await inside.readyz(client)
            else:
                url = components.health_url(component, runtime.host, _port(runtime, group, component))
                result = await asyncio.to_thread(probe, url, tls=ProbeTLS(), timeout=2.0)
                ok, detail = result.ok, result.detail
            healthy[component] = ok
            state.components[component] = {} if ok else {"message": detail[:300]}
        return healthy

    async def _run(self, obj: Any, runtime: ProcessRuntime, spec: ComponentSpec, state: Pass) -> None:
        """Starts, restarts (when dead) or re-launches (new revision) one component."""
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        key = (namespace, name, spec.name)
        # Looked at again right before acting: it may have died since the pass began.
        observed = await runtime.state(spec.group, spec.name)
        died = observed.exists and observed.revision is not None and not observed.running
        if died:
            history = self._restarts.setdefault(key, plan.RestartHistory())
            now = time.monotonic()
            restart, looping = plan.restart_decision(history, self.settings.restart, now)
            if looping:
                window = self.settings.restart.window
                message = (
                    f"{spec.name} keeps failing ({history.recent(now, window)} restarts in {window:.0f}s): "
                    f"{observed.detail}"
                )
                state.components[spec.name] = {"message": message[:500], "crashLoop": True}
                if key not in self._looping:
                    self._looping.add(key)
                    await self.ctx.event(obj, "Warning", "ComponentCrashLooping", message)
            if not restart:
                state.busy = True
                return
            history.record(now, wall=format_time(datetime.now(UTC)))
            await runtime.ensure(spec)
            restarts = self._restarts[key].times
            state.components.setdefault(spec.name, {})["restarted"] = True
            await self.ctx.event(
                obj,
                "Warning",
                "ComponentRestarted",
                f"{spec.name} was not running ({observed.detail or 'gone'}); "
                f"restarted ({len(restarts)} restarts)",
            )
            state.busy = True
            return
        if await runtime.ensure(spec):
            state.busy = True

    def _report_components(
        self,
        namespace: str,
        name: str,
        versions: dict[str, str],
        healthy: dict[str, bool],
        state: Pass,
    ) -> None:
        now = time.monotonic()
        target = state.target or ""
        upgrading = plan.upgrading_component(target, state.running)
        for component in names.CONTROL_PLANE:
            key = (namespace, name, component)
            info = state.components.get(component, {})
            ok = healthy.get(component, False)
            if ok:
                self._unhealthy_since.pop(key, None)
                self._looping.discard(key)
            else:
                self._unhealthy_since.setdefault(key, now)
            condition = plan.CONDITION_OF[component]
            if ok:
                state.set(
                    condition, True, "Healthy", f"{component} {state.running.get(component)} is healthy"
                )
            elif info.get("crashLoop"):
                state.set(condition, False, "CrashLoop", str(info.get("message", "")))
            else:
                stalled = now - self._unhealthy_since[key] > self.settings.upgrade_timeout
                running_version = state.running.get(component)
                if stalled and running_version == target and upgrading is not None:
                    message = (
                        f"upgrade stopped at {component}: {target} not healthy for "
                        f"{self.settings.upgrade_timeout:.0f}s: {info.get('message', '')}"
                    )
                    state.set(condition, False, "UpgradeStalled", message)
                else:
                    state.set(condition, False, "NotReady", str(info.get("message") or "starting"))
        if upgrading is not None:
            state.busy = True
        # After launching, the versions now running are the planned ones.
        for component in names.CONTROL_PLANE:
            state.running[component] = versions[component]


def address_problem(address: str) -> str | None:
    """`address_problem` says why the control plane cannot listen on `address` here (not an IP, or
    not one of this machine's: a node network's bridge that is not up), or None when it can."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"exposure.address {address!r} is not an IP address"
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((address, 0))
    except OSError as error:
        return f"exposure.address {address} is not an address of this machine: {error.strerror or error}"
    return None


def _port(runtime: ProcessRuntime, group: Group, component: str) -> int:
    url = runtime.addresses(group, component).client_url
    return int(url.rsplit(":", 1)[1])
