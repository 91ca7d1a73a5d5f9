"""The HostedCluster controller (process runtime): etcd, PKI, control plane, nodes, addons, fleet join.

Each pass recomputes everything from the hub and the runtime: the version check, the EtcdCluster,
the PKI Secret (renewed ahead of expiry), the components (started, restarted when dead, upgraded one
at a time), kwok nodes and addons once the API server is ready, the admin kubeconfig Secret and the
fleet Cluster. Whatever step stops the pass, the status is written once, in a `finally`, with the
conditions that say where it stopped.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import ConfigMap, Secret
from pydantic import ValidationError

from kokpit.api.cluster import SECRET_NAMESPACE
from kokpit.api.hostedcluster import HOSTED_CLUSTER, HostedClusterSpec, HostedRuntime, NetworkingSpec
from kokpit.binaries import BinarySet, MissingBinariesError, find_binaries
from kokpit.binaries.versions import parse_version
from kokpit.controlplane import pki
from kokpit.controlplane.health import ProbeTLS, probe
from kokpit.controlplane.runtime import ComponentSpec, ComponentState, Group, ProcessRuntime
from kokpit.fleet.join import JoinRequest, cluster_manifest
from kokpit.fleet.members import ClusterResource
from kokpit.fleet.names import KUBECONFIG_KEY, kubeconfig_secret_name
from kokpit.hosted import addons, certificates, components, inside, names, plan
from kokpit.hosted import etcd as hosted_etcd
from kokpit.hosted import kubernetes_runtime as kube
from kokpit.hosted.versions import SupportedVersions, check_version_change, load_supported
from kokpit.runtime import (
    Condition,
    EventRecorder,
    Informer,
    Key,
    Result,
    ensure_finalizer,
    get_condition,
    patch_status,
    remove_finalizer,
    set_condition,
)
from kokpit.runtime.clients import make_client
from kokpit.runtime.resources import resource_class

log = logging.getLogger("kokpit.hosted")

HostedClusterResource = resource_class(HOSTED_CLUSTER)


def default_process_root() -> Path:
    """Where the process runtime keeps control planes unless told otherwise."""
    return Path.home() / ".local" / "state" / "kokpit" / "hosted"


@dataclass
class HostedSettings:
    """How the hosted-cluster controller runs control planes."""

    process_root: Path = field(default_factory=default_process_root)
    """Root of the control-plane component directories (process runtime)."""
    resync_seconds: float = 2.0
    """How often a steady cluster is looked at again (how fast a dead component is noticed)."""
    busy_seconds: float = 0.5
    """How soon a cluster on its way somewhere is looked at again."""
    tie_to_parent: bool = False
    """Tie component processes to this process (tests, foreground runs)."""
    restart: plan.RestartPolicy = field(default_factory=plan.RestartPolicy)
    upgrade_timeout: float = 120.0
    """Seconds an upgraded component may stay unhealthy before the upgrade is reported stalled."""
    binaries: Callable[[str], BinarySet] = find_binaries
    versions: Callable[[], SupportedVersions] = load_supported
    addon_namespace: str = SECRET_NAMESPACE
    """Hub namespace holding imported addon definitions."""
    meta_clients: Callable[[str], Awaitable[AsyncClient | None]] | None = None
    """The client of a meta cluster by member name (kubernetes runtime); `setup_hosted` fills it with
    the manager's shared member clients when unset."""


@dataclass
class _Pass:
    """What one reconcile learnt; becomes the status."""

    conditions: dict[str, Condition] = field(default_factory=dict)
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    running: dict[str, str | None] = field(default_factory=dict)
    endpoint: str | None = None
    certificates: dict[str, Any] | None = None
    addons: list[dict[str, Any]] | None = None
    ready_nodes: int | None = None
    target: str | None = None
    busy: bool = False

    def set(self, type_: str, status: bool, reason: str, message: str = "") -> None:
        make = Condition.true if status else Condition.false
        self.conditions[type_] = make(type_, reason, message)


class Stop(Exception):
    """Ends a pass early; the conditions already say why."""


class HostedClusterReconciler:
    """`HostedClusterReconciler` reconciles HostedCluster objects of the hub (read from `clusters`)."""

    def __init__(
        self,
        client: AsyncClient,
        clusters: Informer,
        settings: HostedSettings,
        *,
        recorder: EventRecorder | None = None,
    ) -> None:
        self.client = client
        self.clusters = clusters
        self.settings = settings
        self.recorder = recorder
        self._runtimes: dict[str, ProcessRuntime] = {}
        self._clients: dict[tuple[str, str], tuple[bytes, AsyncClient]] = {}
        self._restarts: dict[tuple[str, str, str], plan.RestartHistory] = {}
        self._unhealthy_since: dict[tuple[str, str, str], float] = {}
        self._looping: set[tuple[str, str, str]] = set()
        self._meta_clients: dict[str, tuple[bytes, AsyncClient]] = {}

    async def aclose(self) -> None:
        for _, client in self._clients.values():
            await client.close()
        self._clients.clear()
        for _, client in self._meta_clients.values():
            await client.close()
        self._meta_clients.clear()

    # -- reconcile ------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> Result:
        obj = self.clusters.get(key.name, key.namespace)
        if obj is None:
            await self._forget(key.namespace or "", key.name)
            return Result()
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        if obj.metadata.deletionTimestamp is not None:
            return await self._delete(obj)
        previous: dict[str, Any] = dict(obj.get("status") or {})
        try:
            spec = HostedClusterSpec.model_validate(obj.get("spec") or {})
        except ValidationError as error:
            status = self._status(obj, previous, _Pass(), invalid=_first_error(error))
            await self._event(obj, "Warning", "InvalidSpec", _first_error(error))
            await patch_status(self.client, HostedClusterResource, name, status, namespace=namespace)
            return Result()
        obj = await ensure_finalizer(self.client, obj, names.FINALIZER)
        state = _Pass()
        try:
            await self._reconcile(obj, spec, previous, state)
        except Stop:
            pass
        except (ApiError, OSError, addons.AddonError) as error:
            state.set("Progressing", False, "StepFailed", f"{type(error).__name__}: {error}")
            state.busy = True
            log.warning("%s/%s: %s", namespace, name, error)
        status = self._status(obj, previous, state)
        await self._transition_events(obj, previous, status)
        await patch_status(self.client, HostedClusterResource, name, status, namespace=namespace)
        return Result(
            requeue_after=self.settings.busy_seconds if state.busy else self.settings.resync_seconds
        )

    async def _reconcile(
        self, obj: Any, spec: HostedClusterSpec, previous: dict[str, Any], state: _Pass
    ) -> None:
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        if spec.runtime is HostedRuntime.KUBERNETES:
            await self._reconcile_kubernetes(obj, spec, previous, state)
            return
        runtime = self._runtime(spec)
        group = names.group_of(namespace, name)

        # What runs now, and the version to go to.
        observed = {c: await runtime.state(group, c) for c in names.COMPONENTS}
        state.running = {c: components.revision_version(observed[c].revision) for c in names.CONTROL_PLANE}
        current = previous.get("version") or _lowest(state.running)
        supported = self.settings.versions()
        verdict = check_version_change(spec.kubernetes_version, current, supported)
        state.set("VersionAccepted", verdict.allowed, verdict.reason, verdict.message)
        target = spec.kubernetes_version if verdict.allowed else current
        if target is None:
            raise Stop
        state.target = target
        try:
            binaries = {v: self.settings.binaries(v) for v in {target, *filter(None, state.running.values())}}
        except MissingBinariesError as error:
            state.set("VersionAccepted", False, "BinariesMissing", str(error))
            raise Stop from None

        # etcd.
        target_etcd = hosted_etcd.target_of(namespace, name, spec)
        if target_etcd.owned:
            entry = supported.get(target) or supported.get(supported.default)
            assert entry is not None
            await hosted_etcd.ensure_owned(self.client, obj, spec, etcd_version=entry.etcd)
        readiness = await hosted_etcd.read_access(self.client, namespace, target_etcd)
        state.set("EtcdReady", readiness.access is not None, readiness.reason, readiness.message)
        if readiness.access is None:
            state.busy = True
            raise Stop

        # Certificates and the admin kubeconfig.
        exposure = spec.exposure
        address = exposure.address if exposure else "127.0.0.1"
        port = exposure.port if exposure and exposure.port else _port(runtime, group, names.APISERVER)
        state.endpoint = f"https://{address}:{port}"
        networking = spec.networking or NetworkingSpec()
        cluster_pki = await self._pki(obj, spec, networking, address, state)
        admin = components.kubeconfig_bytes(
            self._params(name, group, state.endpoint, address, port, networking),
            cluster_pki,
            "kokpit-admin",
            cluster_pki.admin,
        )
        await self._ensure_secret(
            obj, names.admin_kubeconfig_secret_name(name), {names.ADMIN_KUBECONFIG_KEY: admin}
        )

        # Components.
        params = self._params(name, group, state.endpoint, address, port, networking)
        client = await self._hosted_client(namespace, name, admin)
        healthy = await self._probe(runtime, group, client, observed, state)
        versions = plan.component_versions(target, state.running, healthy)
        specs: dict[str, ComponentSpec] = {}
        apiserver_layout = runtime.layout(group, names.APISERVER)
        specs[names.APISERVER] = components.apiserver_spec(
            params, apiserver_layout, binaries[versions[names.APISERVER]], cluster_pki, readiness.access
        )
        specs[names.CONTROLLER_MANAGER] = components.controller_manager_spec(
            params,
            runtime.layout(group, names.CONTROLLER_MANAGER),
            binaries[versions[names.CONTROLLER_MANAGER]],
            cluster_pki,
            _port(runtime, group, names.CONTROLLER_MANAGER),
        )
        specs[names.SCHEDULER] = components.scheduler_spec(
            params,
            runtime.layout(group, names.SCHEDULER),
            binaries[versions[names.SCHEDULER]],
            cluster_pki,
            _port(runtime, group, names.SCHEDULER),
        )
        if healthy.get(names.APISERVER) or observed[names.KWOK].exists:
            # kwok gives up when the API server does not answer within ~30 s: start it once it does.
            specs[names.KWOK] = components.kwok_spec(
                params,
                runtime.layout(group, names.KWOK),
                binaries[target],
                cluster_pki,
                _port(runtime, group, names.KWOK),
            )
        for component, component_spec in specs.items():
            await self._run(obj, runtime, component_spec, observed[component], state)
        self._report_components(namespace, name, versions, healthy, observed, state)
        if not healthy.get(names.APISERVER):
            state.busy = True
            raise Stop

        # Inside the cluster.
        ready_nodes, wanted_nodes = await inside.ensure_nodes(client, name, spec.nodes)
        state.ready_nodes = ready_nodes
        state.set(
            "NodesReady",
            ready_nodes >= wanted_nodes,
            "NodesReady" if ready_nodes >= wanted_nodes else "NodesNotReady",
            f"{ready_nodes}/{wanted_nodes} nodes Ready",
        )
        await self._addons(client, spec, name, target, state, networking)
        if not await inside.default_service_account(client):
            state.set(
                "APIServerAvailable",
                False,
                "ServiceAccountsPending",
                "the default service account does not exist yet",
            )
        ready = plan.ready_condition(state.conditions)
        if not ready.is_true:
            state.busy = True
        await self._join(obj, spec, name, state.endpoint, admin, ready.is_true, state)

    # -- pieces ---------------------------------------------------------------------------------

    def _runtime(self, spec: HostedClusterSpec) -> ProcessRuntime:
        return self._runtime_for(spec)

    def _runtime_for(self, spec: HostedClusterSpec | None) -> ProcessRuntime:
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

    @staticmethod
    def _params(
        name: str, group: Group, endpoint: str, address: str, port: int, networking: NetworkingSpec
    ) -> components.ClusterParameters:
        return components.ClusterParameters(
            name=name,
            group=group,
            endpoint=endpoint,
            bind_address=address,
            port=port,
            service_cidr=networking.service_cidr,
            pod_cidr=networking.pod_cidr,
            cluster_domain=networking.cluster_domain,
        )

    async def _pki(
        self,
        obj: Any,
        spec: HostedClusterSpec,
        networking: NetworkingSpec,
        address: str,
        state: _Pass,
        *,
        apiserver_ips: tuple[str, ...] | None = None,
        apiserver_dns_names: tuple[str, ...] = (),
    ) -> pki.ClusterPKI:
        name = str(obj.metadata.name)
        settings = spec.certificates
        validity = certificates.parse_duration(settings.validity if settings else "8760h")
        renew_before = certificates.effective_renew_before(
            validity, certificates.parse_duration(settings.renew_before if settings else "720h")
        )
        params = certificates.PKIParameters(
            cluster=name,
            apiserver_ips=apiserver_ips if apiserver_ips is not None else (address,),
            apiserver_dns_names=apiserver_dns_names,
            service_ip=certificates.service_ip(networking.service_cidr),
            cluster_domain=networking.cluster_domain,
            validity=validity,
        )
        secret_name = names.pki_secret_name(name)
        secret = await _get(self.client, Secret, secret_name, str(obj.metadata.namespace))
        now = datetime.now(UTC)
        renewed: datetime | None = None
        if secret is None or not secret.data:
            cluster_pki = certificates.new_pki(params, now=now)
            renewed = now
        else:
            cluster_pki = certificates.from_secret_data(secret.data)
            if certificates.needs_renewal(cluster_pki, renew_before, now=now) or not certificates.matches(
                cluster_pki, params
            ):
                cluster_pki = certificates.renew_leaves(cluster_pki, params, now=now)
                renewed = now
                await self._event(
                    obj,
                    "Normal",
                    "CertificatesRenewed",
                    f"leaf certificates renewed, valid until {_time(certificates.first_expiry(cluster_pki))}",
                )
        if renewed is not None:
            await self._ensure_secret(obj, secret_name, {}, encoded=certificates.secret_data(cluster_pki))
        expiry = certificates.first_expiry(cluster_pki)
        previous_renewed = ((obj.get("status") or {}).get("certificates") or {}).get("lastRenewed")
        state.certificates = {
            "notAfter": _time(expiry),
            "renewalTime": _time(expiry - renew_before),
            "lastRenewed": _time(renewed) if renewed else previous_renewed,
        }
        state.set(
            "CertificatesReady",
            expiry > now,
            "CertificatesValid",
            f"leaf certificates valid until {_time(expiry)}",
        )
        return cluster_pki

    async def _ensure_secret(
        self, obj: Any, name: str, data: dict[str, bytes], *, encoded: dict[str, str] | None = None
    ) -> None:
        """Writes the Secret when missing or different (owned by the HostedCluster)."""
        namespace = str(obj.metadata.namespace)
        wanted = (
            encoded if encoded is not None else {k: base64.b64encode(v).decode() for k, v in data.items()}
        )
        existing = await _get(self.client, Secret, name, namespace)
        if existing is not None and (existing.data or {}) == wanted:
            return
        secret = Secret(
            metadata=ObjectMeta(
                name=name,
                namespace=namespace,
                labels={names.CLUSTER_LABEL: str(obj.metadata.name), **names.MANAGED_BY},
                ownerReferences=[_owner(obj)],
            ),
            type="Opaque",
            data=wanted,
        )
        await self.client.apply(secret, field_manager="kokpit", force=True)

    async def _hosted_client(self, namespace: str, name: str, kubeconfig: bytes) -> AsyncClient:
        key = (namespace, name)
        cached = self._clients.get(key)
        if cached is not None and cached[0] == kubeconfig:
            return cached[1]
        if cached is not None:
            await cached[1].close()
        client = make_client(f"hosted/{namespace}/{name}", yaml.safe_load(kubeconfig), qps=None, timeout=5.0)
        self._clients[key] = (kubeconfig, client)
        return client

    async def _probe(
        self,
        runtime: ProcessRuntime,
        group: Group,
        client: AsyncClient,
        observed: dict[str, ComponentState],
        state: _Pass,
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

    async def _run(
        self, obj: Any, runtime: ProcessRuntime, spec: ComponentSpec, observed: ComponentState, state: _Pass
    ) -> None:
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
                    await self._event(obj, "Warning", "ComponentCrashLooping", message)
            if not restart:
                state.busy = True
                return
            history.record(now, wall=_time(datetime.now(UTC)))
            await runtime.ensure(spec)
            restarts = self._restarts[key].times
            state.components.setdefault(spec.name, {})["restarted"] = True
            await self._event(
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
        observed: dict[str, ComponentState],
        state: _Pass,
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

    async def _addons(
        self,
        client: AsyncClient,
        spec: HostedClusterSpec,
        name: str,
        version: str,
        state: _Pass,
        networking: NetworkingSpec,
    ) -> None:
        catalog = addons.Catalog.of(addons.builtin(), await self._imported_addons())
        requested = [addons.AddonRequest(n) for n in addons.ALWAYS_INSTALLED]
        if spec.addons is None:
            requested += [addons.AddonRequest(n) for n in addons.DEFAULT_ADDONS]
        else:
            requested += [addons.AddonRequest(a.name, a.version, a.parameters) for a in spec.addons]
        facts = addons.ClusterFacts(
            name=name,
            version=version,
            endpoint=state.endpoint or "",
            service_cidr=networking.service_cidr,
            pod_cidr=networking.pod_cidr,
            cluster_domain=networking.cluster_domain,
            dns_ip=_dns_ip(networking.service_cidr),
        )
        found, problems = addons.select(catalog, requested, facts)
        if problems:
            state.set("AddonsReady", False, "AddonUnavailable", "; ".join(problems))
            return
        try:
            rendered = [addons.render(d, facts, r.parameters) for d, r in found]
        except addons.AddonError as error:
            state.set("AddonsReady", False, "AddonRenderFailed", str(error))
            return
        inventory = await inside.sync_addons(client, rendered)
        state.addons = [
            {"name": n, "version": e.version, "objects": len(e.refs)} for n, e in sorted(inventory.items())
        ]
        state.set(
            "AddonsReady",
            True,
            "AddonsApplied",
            ", ".join(f"{a['name']} {a['version']}" for a in state.addons),
        )

    async def _imported_addons(self) -> list[addons.AddonDefinition]:
        out: list[addons.AddonDefinition] = []
        async for config in self.client.list(
            ConfigMap, namespace=self.settings.addon_namespace, labels={addons.DEFINITION_LABEL: "true"}
        ):
            try:
                out.append(
                    addons.from_configmap(
                        config.data, config.binaryData, source=f"configmap/{_name_of(config)}"
                    )
                )
            except addons.AddonError as error:
                log.warning("ignoring addon definition: %s", error)
        return out

    async def _join(
        self,
        obj: Any,
        spec: HostedClusterSpec,
        name: str,
        endpoint: str,
        admin: bytes,
        ready: bool,
        state: _Pass,
    ) -> None:
        fleet_name = names.fleet_cluster_name(name)
        owner = names.hosted_by(str(obj.metadata.namespace), name)
        existing = await _get(self.client, ClusterResource, fleet_name)
        ours = (
            existing is not None
            and (existing.metadata.annotations or {}).get(names.HOSTED_BY_ANNOTATION) == owner
        )
        if not spec.join:
            if ours:
                await self._unjoin(fleet_name)
            state.set("Joined", False, "JoinDisabled", "spec.join is false")
            return
        if existing is not None and not ours:
            state.set(
                "Joined",
                False,
                "NameTaken",
                f"the fleet already has a Cluster {fleet_name} not made for this cluster",
            )
            return
        if not ready and not ours:
            state.set("Joined", False, "WaitingForReady", "joins the fleet once Ready")
            return
        secret = Secret(
            metadata=ObjectMeta(
                name=kubeconfig_secret_name(fleet_name),
                namespace=SECRET_NAMESPACE,
                labels={"kokpit.io/cluster": fleet_name, names.CLUSTER_LABEL: name},
                annotations={names.HOSTED_BY_ANNOTATION: owner},
            ),
            type="Opaque",
            data={KUBECONFIG_KEY: base64.b64encode(admin).decode()},
        )
        current = await _get(self.client, Secret, kubeconfig_secret_name(fleet_name), SECRET_NAMESPACE)
        if current is None or (current.data or {}) != secret.data:
            await self.client.apply(secret, field_manager="kokpit", force=True)
        if existing is None:
            manifest = cluster_manifest(
                JoinRequest(fleet_name, Path("-"), provider="kokpit"), server=endpoint
            )
            manifest["metadata"]["annotations"] = {names.HOSTED_BY_ANNOTATION: owner}
            manifest["metadata"]["labels"] = {names.CLUSTER_LABEL: name}
            await self.client.create(ClusterResource.from_dict(manifest))
            await self._event(obj, "Normal", "Joined", f"joined the fleet as Cluster {fleet_name}")
        state.set("Joined", True, "Joined", f"Cluster {fleet_name}")

    async def _unjoin(self, fleet_name: str) -> None:
        for resource, secret_name, namespace in (
            (ClusterResource, fleet_name, None),
            (Secret, kubeconfig_secret_name(fleet_name), SECRET_NAMESPACE),
        ):
            try:
                if namespace:
                    await self.client.delete(resource, secret_name, namespace=namespace)
                else:
                    await self.client.delete(resource, secret_name)
            except ApiError as error:
                if error.status.code != 404:
                    raise

    # -- kubernetes runtime ---------------------------------------------------------------------

    async def _reconcile_kubernetes(
        self, obj: Any, spec: HostedClusterSpec, previous: dict[str, Any], state: _Pass
    ) -> None:
        """The control plane as Deployments, a Service and Secrets in `spec.metaCluster` (see
        `kubernetes_runtime`): version check, etcd, Service, PKI, then the objects; the conditions
        say how far the Deployments are rolled out in the meta cluster."""
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        meta = spec.meta_cluster or ""
        client = await self._meta_client(meta)
        if client is None:
            state.set(
                "APIServerAvailable",
                False,
                "MetaClusterUnavailable",
                f"no client for meta cluster {meta!r}: it must be a member of the fleet with a kubeconfig",
            )
            state.busy = True
            raise Stop
        control = kube.MetaControlPlane(client)
        target_namespace = kube.control_plane_namespace(namespace, name)
        deployments = await control.deployments(target_namespace)
        state.running = {c: kube.running_version(deployments[c]) for c in names.CONTROL_PLANE}
        current = previous.get("version") or _lowest(state.running)
        supported = self.settings.versions()
        verdict = check_version_change(spec.kubernetes_version, current, supported)
        state.set("VersionAccepted", verdict.allowed, verdict.reason, verdict.message)
        target = spec.kubernetes_version if verdict.allowed else current
        if target is None:
            raise Stop
        state.target = target

        target_etcd = hosted_etcd.target_of(namespace, name, spec)
        if target_etcd.owned:
            entry = supported.get(target) or supported.get(supported.default)
            assert entry is not None
            await hosted_etcd.ensure_owned(self.client, obj, spec, etcd_version=entry.etcd)
        readiness = await hosted_etcd.read_access(self.client, namespace, target_etcd)
        state.set("EtcdReady", readiness.access is not None, readiness.reason, readiness.message)
        if readiness.access is None:
            state.busy = True
            raise Stop

        healthy = {c: kube.deployment_condition(deployments[c]).is_true for c in names.CONTROL_PLANE}
        versions = plan.component_versions(target, state.running, healthy)
        networking = spec.networking or NetworkingSpec()
        params = kube.ControlPlaneParameters(
            cluster=name,
            hub_namespace=namespace,
            versions=versions,
            etcd=readiness.access,
            replicas=spec.control_plane.replicas if spec.control_plane else 1,
            service_type=(
                spec.exposure.type if spec.exposure and spec.exposure.type else kube.ServiceType.LOAD_BALANCER
            ),
            service_cidr=networking.service_cidr,
            cluster_domain=networking.cluster_domain,
        )
        # The Service first: its addresses go into the API server's certificate.
        await control.apply([kube.render_namespace(params), kube.render_service(params)])
        service = await control.service(target_namespace)
        ips, hosts = kube.service_addresses(service)
        cluster_pki = await self._pki(
            obj,
            spec,
            networking,
            "127.0.0.1",
            state,
            apiserver_ips=("127.0.0.1", *ips),
            apiserver_dns_names=(
                *kube.apiserver_dns_names(target_namespace, cluster_domain=networking.cluster_domain),
                *hosts,
            ),
        )
        await control.apply(kube.render_all(params, cluster_pki))

        deployments = await control.deployments(target_namespace)
        for component in names.CONTROL_PLANE:
            condition = kube.deployment_condition(deployments[component], plan.CONDITION_OF[component])
            state.conditions[condition.type] = condition
            state.components[component] = {} if condition.is_true else {"message": condition.message}
            state.running[component] = versions[component]
            state.busy = state.busy or not condition.is_true
        state.endpoint = kube.service_endpoint(
            service, node_address=spec.exposure.address if spec.exposure else None
        )
        if state.endpoint is not None:
            admin = pki.kubeconfig_yaml(
                pki.kubeconfig(
                    cluster=name,
                    server=state.endpoint,
                    ca_pem=cluster_pki.ca.cert_pem,
                    user="kokpit-admin",
                    credentials=cluster_pki.admin,
                )
            ).encode()
            await self._ensure_secret(
                obj, names.admin_kubeconfig_secret_name(name), {names.ADMIN_KUBECONFIG_KEY: admin}
            )
        if state.conditions["APIServerAvailable"].is_true:
            # Rolled out is not running: Ready only once kokpit itself reached the API server.
            answer = None
            if state.endpoint is not None:
                answer = await inside.readyz(await self._hosted_client(namespace, name, admin))
            reachable = kube.reachability_condition(
                meta_cluster=meta,
                endpoint=state.endpoint,
                readyz=answer,
                etcd_endpoints=readiness.access.endpoints,
            )
            state.conditions["APIServerAvailable"] = reachable
            if not reachable.is_true:
                state.components[names.APISERVER] = {"message": reachable.message}

    async def _meta_client(self, meta: str) -> AsyncClient | None:
        """The meta cluster's client: from `settings.meta_clients`, else made (and kept until its
        kubeconfig changes) from the member's kubeconfig Secret in the hub; None when there is none."""
        if self.settings.meta_clients is not None:
            return await self.settings.meta_clients(meta)
        cluster = await _get(self.client, ClusterResource, meta)
        if cluster is None:
            return None
        ref = (cluster.get("spec") or {}).get("secretRef") or {}
        secret = await _get(
            self.client,
            Secret,
            str(ref.get("name") or kubeconfig_secret_name(meta)),
            str(ref.get("namespace") or SECRET_NAMESPACE),
        )
        encoded = (secret.data or {}).get(KUBECONFIG_KEY) if secret is not None else None
        if not encoded:
            return None
        kubeconfig = base64.b64decode(encoded)
        cached = self._meta_clients.get(meta)
        if cached is not None and cached[0] == kubeconfig:
            return cached[1]
        if cached is not None:
            await cached[1].close()
        client = make_client(f"meta/{meta}", yaml.safe_load(kubeconfig), qps=None, timeout=10.0)
        self._meta_clients[meta] = (kubeconfig, client)
        return client

    async def _delete_kubernetes(self, obj: Any, spec: HostedClusterSpec) -> None:
        """Deletes the control plane's namespace in the meta cluster; when the meta cluster cannot be
        reached, says so in an Event and lets the HostedCluster go."""
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        target_namespace = kube.control_plane_namespace(namespace, name)
        client = await self._meta_client(spec.meta_cluster or "")
        if client is None:
            await self._event(
                obj,
                "Warning",
                "MetaClusterUnavailable",
                f"cannot reach meta cluster {spec.meta_cluster!r}: namespace {target_namespace} may be left",
            )
            return
        await kube.MetaControlPlane(client).delete(target_namespace)

    # -- deletion -------------------------------------------------------------------------------

    async def _delete(self, obj: Any) -> Result:
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        if names.FINALIZER not in (obj.metadata.finalizers or []):
            return Result()
        try:
            spec: HostedClusterSpec | None = HostedClusterSpec.model_validate(obj.get("spec") or {})
        except ValidationError:
            spec = None
        existing = await _get(self.client, ClusterResource, names.fleet_cluster_name(name))
        if existing is not None and (existing.metadata.annotations or {}).get(
            names.HOSTED_BY_ANNOTATION
        ) == names.hosted_by(namespace, name):
            await self._unjoin(names.fleet_cluster_name(name))
        await self._forget(namespace, name)
        if spec is not None and spec.runtime is HostedRuntime.KUBERNETES:
            await self._delete_kubernetes(obj, spec)
        else:
            runtime = self._runtime_for(spec)
            await runtime.remove_group(names.group_of(namespace, name))
        if spec is not None:
            await hosted_etcd.delete_owned(
                self.client, namespace, hosted_etcd.target_of(namespace, name, spec)
            )
        for secret_name in (names.pki_secret_name(name), names.admin_kubeconfig_secret_name(name)):
            try:
                await self.client.delete(Secret, secret_name, namespace=namespace)
            except ApiError as error:
                if error.status.code != 404:
                    raise
        await self._event(obj, "Normal", "Deleted", "control plane stopped, etcd and Secrets deleted")
        await remove_finalizer(self.client, obj, names.FINALIZER)
        return Result()

    async def _forget(self, namespace: str, name: str) -> None:
        cached = self._clients.pop((namespace, name), None)
        if cached is not None:
            await cached[1].close()
        for key in [k for k in self._restarts if k[:2] == (namespace, name)]:
            del self._restarts[key]
        for key in [k for k in self._unhealthy_since if k[:2] == (namespace, name)]:
            del self._unhealthy_since[key]
        self._looping = {k for k in self._looping if k[:2] != (namespace, name)}

    # -- status ---------------------------------------------------------------------------------

    def _status(
        self, obj: Any, previous: dict[str, Any], state: _Pass, *, invalid: str | None = None
    ) -> dict[str, Any]:
        generation = obj.metadata.generation
        conditions = previous.get("conditions")
        if invalid is not None:
            state.set("VersionAccepted", False, "InvalidSpec", invalid)
        values = dict(state.conditions)
        ready = plan.ready_condition(values)
        if (
            "APIServerAvailable" not in values
            and invalid is None
            and "VersionAccepted" in values
            and values["VersionAccepted"].is_true
        ):
            ready = Condition.false("Ready", "Provisioning", "the control plane is starting")
        values["Ready"] = ready
        for type_, value in values.items():
            conditions = set_condition(
                conditions, type_, value.status, value.reason, value.message, observed_generation=generation
            )
        previous_components = {c.get("name"): c for c in previous.get("components") or []}
        component_rows = []
        for component in names.COMPONENTS:
            info = state.components.get(component)
            if info is None and component not in previous_components:
                continue
            row: dict[str, Any] = {"name": component}
            before = previous_components.get(component) or {}
            history = self._restarts.get((str(obj.metadata.namespace), str(obj.metadata.name), component))
            row["restarts"] = max(int(before.get("restarts") or 0), history.total if history else 0)
            last_restart = (history.last_wall if history else None) or before.get("lastRestart")
            if last_restart:
                row["lastRestart"] = last_restart
            version = state.running.get(component) if component in names.CONTROL_PLANE else None
            if version or before.get("version"):
                row["version"] = version or before.get("version")
            cond = plan.CONDITION_OF.get(component)
            if cond is not None and cond in values:
                row["ready"] = values[cond].is_true
            elif info is not None:
                row["ready"] = not info.get("message")
            if info and info.get("message"):
                row["message"] = str(info["message"])[:500]
            component_rows.append(row)
        upgrading = (
            state.target is not None and plan.upgrading_component(state.target, state.running) is not None
        )
        ever_ready = previous.get("phase") in ("Ready", "NotReady", "Upgrading")
        status: dict[str, Any] = {
            "phase": plan.phase(
                deleting=False, ready=ready.is_true, upgrading=upgrading, ever_ready=ever_ready
            ),
            "observedGeneration": generation,
            "conditions": conditions,
        }
        version = _lowest(state.running) or previous.get("version")
        if version:
            status["version"] = version
        endpoint = state.endpoint or previous.get("endpoint")
        if endpoint:
            status["endpoint"] = endpoint
            status["adminKubeconfigSecretRef"] = {
                "name": names.admin_kubeconfig_secret_name(str(obj.metadata.name)),
                "key": names.ADMIN_KUBECONFIG_KEY,
            }
        certs = state.certificates or previous.get("certificates")
        if certs:
            status["certificates"] = {k: v for k, v in certs.items() if v}
        if component_rows:
            status["components"] = component_rows
        addon_rows = state.addons if state.addons is not None else previous.get("addons")
        if addon_rows:
            status["addons"] = addon_rows
        nodes = state.ready_nodes if state.ready_nodes is not None else previous.get("readyNodes")
        if nodes is not None:
            status["readyNodes"] = nodes
        return status

    async def _transition_events(self, obj: Any, previous: dict[str, Any], status: dict[str, Any]) -> None:
        """One Event per condition that turned False with a new reason, and when Ready comes back."""
        before = previous.get("conditions")
        for condition in status.get("conditions") or []:
            old = get_condition(before, condition["type"])
            changed = (
                old is None
                or old.get("status") != condition["status"]
                or old.get("reason") != condition["reason"]
            )
            if not changed:
                continue
            if condition["status"] == "False" and condition["reason"] not in (
                "NotReady",
                "Provisioning",
                "WaitingForReady",
                "NodesNotReady",
                "EtcdNotAvailable",
                "EtcdMissing",
                "ServiceAccountsPending",
            ):
                await self._event(
                    obj, "Warning", condition["reason"], f"{condition['type']}: {condition['message']}"
                )
            elif condition["type"] == "Ready" and condition["status"] == "True":
                await self._event(obj, "Normal", "Ready", f"cluster is Ready at {status.get('version')}")

    async def _event(self, obj: Any, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            await self.recorder.event(obj, type_, reason, message)


# --- helpers -------------------------------------------------------------------------------------


def _port(runtime: ProcessRuntime, group: Group, component: str) -> int:
    url = runtime.addresses(group, component).client_url
    return int(url.rsplit(":", 1)[1])


def _dns_ip(service_cidr: str) -> str:
    return str(ipaddress.ip_network(service_cidr).network_address + 10)


def _lowest(running: dict[str, str | None]) -> str | None:
    versions = [v for v in running.values() if v]
    return min(versions, key=parse_version) if versions else None


def _name_of(obj: Any) -> str:
    return str(obj.metadata.name) if obj.metadata is not None else ""


def _owner(obj: Any) -> OwnerReference:
    return OwnerReference(
        apiVersion=obj.apiVersion,
        kind=obj.kind,
        name=obj.metadata.name,
        uid=obj.metadata.uid,
        controller=True,
    )


async def _get(client: AsyncClient, resource: Any, name: str, namespace: str | None = None) -> Any:
    try:
        if namespace is None:
            return await client.get(resource, name)
        return await client.get(resource, name, namespace=namespace)
    except ApiError as error:
        if error.status.code == 404:
            return None
        raise


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"spec.{where}: {first.get('msg', 'invalid')}"
