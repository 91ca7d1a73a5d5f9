"""The kubernetes runtime of HostedCluster: the control plane as Deployments in `spec.metaCluster`
(rendered by `kubernetes_runtime`), Ready only once kokpit itself reached the API server."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lightkube import AsyncClient, codecs
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Service

from kokpit.api.hostedcluster import HostedClusterSpec, NetworkingSpec
from kokpit.controlplane import pki
from kokpit.controlplane.runtime.kubernetes import FIELD_MANAGER
from kokpit.hosted import inside, names, plan
from kokpit.hosted import kubernetes_runtime as kube
from kokpit.hosted.clients import HostedClients
from kokpit.hosted.components import EtcdAccess
from kokpit.hosted.context import Pass, StepContext, Stop
from kokpit.hosted.pki_step import ensure_pki
from kokpit.hosted.plane import Reached
from kokpit.runtime import delete_if_present, get_or_none


class MetaControlPlane:
    """`MetaControlPlane` applies, reads and deletes control-plane objects in the meta cluster reached
    by `client` (server-side apply, field manager `kokpit`)."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def apply(self, manifests: Sequence[Mapping[str, Any]]) -> None:
        for manifest in manifests:
            await self.client.apply(codecs.from_dict(dict(manifest)), field_manager=FIELD_MANAGER, force=True)

    async def service(self, namespace: str) -> dict[str, Any] | None:
        found = await get_or_none(self.client, Service, names.APISERVER, namespace=namespace)
        return None if found is None else dict(found.to_dict())

    async def deployments(self, namespace: str) -> dict[str, dict[str, Any] | None]:
        out: dict[str, dict[str, Any] | None] = {}
        for component in names.CONTROL_PLANE:
            found = await get_or_none(self.client, Deployment, component, namespace=namespace)
            out[component] = None if found is None else dict(found.to_dict())
        return out

    async def delete(self, namespace: str) -> None:
        """`delete` deletes the namespace (and so everything in it); no-op when already gone."""
        await delete_if_present(self.client, Namespace, namespace)


class KubernetesControlPlane:
    """`KubernetesControlPlane` is the `plane.ControlPlane` of `runtime: kubernetes`."""

    kind = "kubernetes"

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx
        self._clients = HostedClients()
        self._deployments: dict[tuple[str, str], dict[str, dict[str, Any] | None]] = {}

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def _meta(self, spec: HostedClusterSpec) -> AsyncClient | None:
        meta_clients = self.ctx.settings.meta_clients
        return await meta_clients(spec.meta_cluster or "") if meta_clients is not None else None

    async def observe(self, obj: Any, spec: HostedClusterSpec, state: Pass) -> None:
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        client = await self._meta(spec)
        if client is None:
            state.set(
                "APIServerAvailable",
                False,
                "MetaClusterUnavailable",
                f"no client for meta cluster {spec.meta_cluster!r}: it must be a member of the fleet "
                "with a kubeconfig",
            )
            state.busy = True
            raise Stop
        deployments = await MetaControlPlane(client).deployments(
            kube.control_plane_namespace(namespace, name)
        )
        self._deployments[(namespace, name)] = deployments
        state.running = {c: kube.running_version(deployments[c]) for c in names.CONTROL_PLANE}

    def check_target(self, obj: Any, target: str, state: Pass) -> None:
        """Images are pulled by the meta cluster: nothing to check here."""

    async def ensure(
        self, obj: Any, spec: HostedClusterSpec, etcd: EtcdAccess, networking: NetworkingSpec, state: Pass
    ) -> Reached | None:
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        meta = spec.meta_cluster or ""
        client = await self._meta(spec)
        assert client is not None  # observe stopped the pass otherwise
        control = MetaControlPlane(client)
        target_namespace = kube.control_plane_namespace(namespace, name)
        deployments = self._deployments.pop((namespace, name))
        healthy = {c: kube.deployment_condition(deployments[c]).is_true for c in names.CONTROL_PLANE}
        versions = plan.component_versions(state.target or "", state.running, healthy)
        params = kube.ControlPlaneParameters(
            cluster=name,
            hub_namespace=namespace,
            versions=versions,
            etcd=etcd,
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
        cluster_pki = await ensure_pki(
            self.ctx,
            obj,
            spec,
            networking,
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
            state.put(condition)
            state.components[component] = {} if condition.is_true else {"message": condition.message}
            state.running[component] = versions[component]
            state.busy = state.busy or not condition.is_true
        state.endpoint = kube.service_endpoint(
            service, node_address=spec.exposure.address if spec.exposure else None
        )
        admin: bytes | None = None
        if state.endpoint is not None:
            admin = _admin_kubeconfig(name, state.endpoint, cluster_pki)
            await self.ctx.ensure_secret(
                obj, names.admin_kubeconfig_secret_name(name), {names.ADMIN_KUBECONFIG_KEY: admin}
            )
        if not state.conditions["APIServerAvailable"].is_true:
            return None
        # Rolled out is not running: Ready only once kokpit itself reached the API server.
        answer = None
        if state.endpoint is not None and admin is not None:
            answer = await inside.readyz(await self._clients.get(namespace, name, admin))
        reachable = kube.reachability_condition(
            meta_cluster=meta, endpoint=state.endpoint, readyz=answer, etcd_endpoints=etcd.endpoints
        )
        state.put(reachable)
        if not reachable.is_true or admin is None:
            state.components[names.APISERVER] = {"message": reachable.message}
            return None
        # No nodes run in the cluster yet (a later runtime step): the steps inside it are not run.
        return Reached(admin=admin, client=None)

    async def delete(self, obj: Any, spec: HostedClusterSpec | None) -> None:
        """Deletes the control plane's namespace in the meta cluster; when the meta cluster cannot be
        reached, says so in an Event and lets the HostedCluster go."""
        namespace, name = str(obj.metadata.namespace), str(obj.metadata.name)
        target_namespace = kube.control_plane_namespace(namespace, name)
        client = await self._meta(spec) if spec is not None else None
        if client is None:
            meta = spec.meta_cluster if spec is not None else None
            await self.ctx.event(
                obj,
                "Warning",
                "MetaClusterUnavailable",
                f"cannot reach meta cluster {meta!r}: namespace {target_namespace} may be left",
            )
            return
        await MetaControlPlane(client).delete(target_namespace)

    def restarts(self, namespace: str, name: str) -> Mapping[str, plan.RestartHistory]:
        return {}

    async def forget(self, namespace: str, name: str) -> None:
        self._deployments.pop((namespace, name), None)
        await self._clients.forget(namespace, name)


def _admin_kubeconfig(name: str, endpoint: str, cluster_pki: pki.ClusterPKI) -> bytes:
    return pki.kubeconfig_yaml(
        pki.kubeconfig(
            cluster=name,
            server=endpoint,
            ca_pem=cluster_pki.ca.cert_pem,
            user="kokpit-admin",
            credentials=cluster_pki.admin,
        )
    ).encode()
