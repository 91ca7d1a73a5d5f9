"""The hub process serves the proxy into every member and the tunnel endpoint agents dial.

It runs as a controller, so only the replica that leads serves (agents and users follow the URL it
publishes; a new leader publishes its own and agents re-dial when their link drops). On start it
makes sure the proxy's CA exists (a Secret in kokpit-system, created once, shared by every replica
and restart so published trust stays valid), issues itself a serving certificate for the address it
advertises, reads the hub's client CA (the one kube-apiserver trusts, from
`kube-system/extension-apiserver-authentication`) to verify client certificates, listens, and then
keeps `kube-public/kokpit-hub-endpoints` saying where it is.
"""

from __future__ import annotations

import base64
import logging
import ssl
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Secret

from kokpit.api.cluster import SECRET_NAMESPACE
from kokpit.controlplane.files import write_private
from kokpit.controlplane.pki import CertKey, issue, new_ca
from kokpit.errors import KokpitError
from kokpit.fleet.members import member_clients
from kokpit.fleet.names import HUB_ENDPOINTS_CONFIGMAP, HUB_ENDPOINTS_NAMESPACE
from kokpit.fleet.proxy.auth import HubAuth
from kokpit.fleet.proxy.endpoints import Endpoints, advertised, parse_address, serving_names
from kokpit.fleet.proxy.server import ProxyServer, PushUpstreams
from kokpit.fleet.proxy.tunnels import Tunnels
from kokpit.runtime import Controller, Key, Manager, Result, apply
from kokpit.settings import HubSettings

log = logging.getLogger("kokpit.hub.proxy")

PROXY_CA_SECRET = "kokpit-proxy-ca"
"""The Secret (in kokpit-system) holding the CA of the proxy's serving certificates."""
CONTROLLER = "hub-proxy"
SERVING_VALIDITY = timedelta(days=365)


async def ensure_proxy_ca(client: AsyncClient) -> CertKey:
    """The proxy's CA from its Secret, created when missing (the first replica to create it wins)."""
    return await ensure_ca(client, PROXY_CA_SECRET)


async def ensure_ca(client: AsyncClient, secret_name: str) -> CertKey:
    """The CA kept in Secret `secret_name` of kokpit-system, created when missing (the first replica
    to create it wins), so every replica and restart serves under the same published trust."""
    for _ in range(2):
        try:
            secret = await client.get(Secret, secret_name, namespace=SECRET_NAMESPACE)
            data = secret.data or {}
            return CertKey(
                cert_pem=base64.b64decode(data["tls.crt"]), key_pem=base64.b64decode(data["tls.key"])
            )
        except ApiError as error:
            if error.status.code != 404:
                raise
        ca = new_ca(secret_name)
        try:
            await client.create(
                Secret(
                    metadata=ObjectMeta(name=secret_name, namespace=SECRET_NAMESPACE),
                    type="kubernetes.io/tls",
                    data={
                        "tls.crt": base64.b64encode(ca.cert_pem).decode(),
                        "tls.key": base64.b64encode(ca.key_pem).decode(),
                    },
                )
            )
            return ca
        except ApiError as error:
            if error.status.code != 409:
                raise
    raise KokpitError(f"secret {SECRET_NAMESPACE}/{secret_name} keeps changing")


async def read_client_ca(client: AsyncClient) -> str:
    """The CA bundle kube-apiserver verifies client certificates with (PEM)."""
    config = await client.get(ConfigMap, "extension-apiserver-authentication", namespace="kube-system")
    bundle = (config.data or {}).get("client-ca-file")
    if not bundle:
        raise KokpitError("kube-system/extension-apiserver-authentication has no client-ca-file")
    return str(bundle)


def server_tls(*, serving: CertKey, client_ca: str, directory: Path) -> ssl.SSLContext:
    """TLS of the proxy: its serving certificate; client certificates optional (tokens are fine
    too) but, when sent, verified against the hub's client CA."""
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    write_private(cert_file, serving.cert_pem)
    write_private(key_file, serving.key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=client_ca)
    context.load_cert_chain(cert_file, key_file)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


class ProxyService(Controller):
    """`ProxyService` serves while its controller runs and reconciles the published endpoints."""

    def __init__(self, manager: Manager, settings: HubSettings) -> None:
        super().__init__(CONTROLLER, self, workers=1)
        assert settings.proxy_address is not None
        self.settings = settings
        self.bind_host, self.bind_port = parse_address(settings.proxy_address)
        advertised(self.bind_host, self.bind_port, url=settings.proxy_url)  # refuse a bad URL at setup
        self.hub = manager.clients.get(settings.hub)
        members = member_clients(manager, hub=settings.hub)
        self.clusters = members.clusters
        self.secrets = members.secrets
        self.configmaps = manager.informer(
            settings.hub,
            ConfigMap,
            namespace=HUB_ENDPOINTS_NAMESPACE,
            fields={"metadata.name": HUB_ENDPOINTS_CONFIGMAP},
        )
        self.watch(self.configmaps)
        self.tunnels = Tunnels()
        self.endpoints: Endpoints | None = None
        self.key = Key(settings.hub, HUB_ENDPOINTS_NAMESPACE, HUB_ENDPOINTS_CONFIGMAP)

    async def run(self) -> None:
        runner = await self._serve()
        try:
            self.enqueue(self.key)
            await super().run()
        finally:
            self.endpoints = None
            await runner.cleanup()
            log.info("proxy stopped")

    async def _serve(self) -> web.AppRunner:
        ca = await ensure_proxy_ca(self.hub)
        client_ca = await read_client_ca(self.hub)
        server = ProxyServer(
            auth=HubAuth(self.hub),
            clusters=self.clusters,
            upstreams=PushUpstreams(self.secrets),
            tunnels=self.tunnels,
        )
        runner = web.AppRunner(server.app(), handler_cancellation=True, access_log=None)
        await runner.setup()
        # The certificate names the advertised host, known before the port is (":0" binds any).
        draft = advertised(self.bind_host, self.bind_port or 1, url=self.settings.proxy_url)
        dns, ips = serving_names(draft, self.bind_host)
        serving = issue(
            ca,
            common_name="kokpit-proxy",
            dns_names=dns,
            ip_addresses=ips,
            server=True,
            validity=SERVING_VALIDITY,
        )
        context = server_tls(
            serving=serving, client_ca=client_ca, directory=self.settings.state_dir / "proxy"
        )
        site = web.TCPSite(runner, self.bind_host, self.bind_port, ssl_context=context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        port = int(runner.addresses[0][1])
        published = advertised(self.bind_host, port, url=self.settings.proxy_url)
        self.endpoints = Endpoints(published.proxy_url, published.tunnel_url, ca.cert_pem.decode())
        log.info("proxy serving on %s:%d as %s", self.bind_host, port, published.proxy_url)
        return runner

    async def reconcile(self, key: Key) -> Result:
        """Keeps the published endpoints saying where this replica serves."""
        if key != self.key or self.endpoints is None:
            return Result()
        desired = self.endpoints.configmap_data()
        current = self.configmaps.get(HUB_ENDPOINTS_CONFIGMAP, HUB_ENDPOINTS_NAMESPACE)
        if current is not None and dict(current.data or {}) == desired:
            return Result()
        await apply(
            self.hub,
            ConfigMap(
                metadata=ObjectMeta(name=HUB_ENDPOINTS_CONFIGMAP, namespace=HUB_ENDPOINTS_NAMESPACE),
                data=desired,
            ),
            force=True,
        )
        return Result()


def proxy_service(manager: Manager) -> ProxyService | None:
    """The manager's proxy service, or None when the hub runs without a proxy."""
    service: ProxyService | None = manager.shared(CONTROLLER, lambda: None)
    return service


def setup(manager: Manager, settings: HubSettings) -> None:
    """`setup` adds the proxy (and tunnel endpoint) when the hub was given a proxy address."""
    if settings.proxy_address is None:
        return
    manager.add(manager.shared(CONTROLLER, lambda: ProxyService(manager, settings)))
