"""The hub process serves kokpit's webhooks to the hub API server, over TLS only.

It runs as a controller, so only the replica that leads serves and registers itself: on start it
makes sure the webhooks' CA exists (a Secret in kokpit-system, created once, shared by every replica
and restart), issues itself a serving certificate for the address it advertises, listens, and keeps
the `ValidatingWebhookConfiguration` and the conversion webhook of each converted CRD (the
Component's) pointing at it with that CA as `caBundle`. The routes are `kokpit.webhooks`' pure
handlers and `kokpit.components.answer_conversion_review`; this module is only the I/O around them.

When no replica serves, the CRDs keep naming the last one: reads and writes in a version other than
the stored one fail with the API server's error (the webhook cannot be reached), and nothing stored
changes; the storage version keeps being served without a webhook call.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from lightkube import AsyncClient, codecs
from lightkube.resources.admissionregistration_v1 import ValidatingWebhookConfiguration
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition

from kokpit.components import answer_conversion_review
from kokpit.controlplane.files import write_private
from kokpit.controlplane.pki import CertKey, issue
from kokpit.fleet.proxy.endpoints import advertised, parse_address, serving_names
from kokpit.hub.proxy import ensure_ca
from kokpit.runtime import Controller, Key, Manager, Result, apply
from kokpit.settings import HubSettings
from kokpit.webhooks import interpreter, registration
from kokpit.webhooks.routes import Route, admission, conversion, dispatch

log = logging.getLogger("kokpit.hub.webhooks")

WEBHOOK_CA_SECRET = "kokpit-webhook-ca"
"""The Secret (in kokpit-system) holding the CA of the webhooks' serving certificates."""
CONTROLLER = "hub-webhooks"
SERVING_VALIDITY = timedelta(days=365)
MAX_BODY = 3 * 1024 * 1024
"""An admission review holds an object and its old copy; etcd refuses objects above 1.5 MiB."""

ROUTES: Mapping[str, Route] = {
    interpreter.PATH: admission(interpreter.validate_interpreter),
    **{path: conversion(answer_conversion_review) for path in registration.CONVERSION_PATHS.values()},
}
"""Every webhook the hub serves, by URL path."""


def app(routes: Mapping[str, Route] = ROUTES) -> web.Application:
    """The aiohttp application answering POSTs of reviews at `routes`' paths."""

    async def handle(request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        reply = dispatch(routes, request.path, body)
        return web.json_response(reply.body, status=reply.status)

    application = web.Application(client_max_size=MAX_BODY)
    application.router.add_post("/{path:.*}", handle)
    return application


def server_tls(serving: CertKey, directory: Path) -> ssl.SSLContext:
    """TLS of the webhooks: the serving certificate, no client certificates asked (the API server
    sends none unless configured to; the handlers only judge the object they are sent)."""
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    write_private(cert_file, serving.cert_pem)
    write_private(key_file, serving.key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


class WebhookService(Controller):
    """`WebhookService` serves while its controller runs and keeps the configuration pointing at it."""

    def __init__(self, manager: Manager, settings: HubSettings) -> None:
        super().__init__(CONTROLLER, self, workers=1)
        assert settings.webhook_address is not None
        self.settings = settings
        self.bind_host, self.bind_port = parse_address(settings.webhook_address)
        advertised(self.bind_host, self.bind_port, url=settings.webhook_url)  # refuse a bad URL at setup
        self.hub: AsyncClient = manager.clients.get(settings.hub)
        self.configurations = manager.informer(
            settings.hub,
            ValidatingWebhookConfiguration,
            fields={"metadata.name": registration.CONFIGURATION_NAME},
        )
        self.watch(self.configurations)
        self.crds = {
            name: manager.informer(settings.hub, CustomResourceDefinition, fields={"metadata.name": name})
            for name in registration.CONVERSION_PATHS
        }
        for informer in self.crds.values():
            self.watch(informer, lambda crd: [Key(settings.hub, "", f"crd/{crd.metadata.name}")])
        self.desired: dict[str, Any] | None = None
        self.desired_crds: dict[str, dict[str, Any]] = {}
        self.key = Key(settings.hub, "", registration.CONFIGURATION_NAME)

    async def run(self) -> None:
        runner = await self._serve()
        try:
            self.enqueue(self.key)
            for name in self.crds:
                self.enqueue(Key(self.key.cluster, "", f"crd/{name}"))
            await super().run()
        finally:
            self.desired = None
            self.desired_crds = {}
            await runner.cleanup()
            log.info("webhooks stopped")

    async def _serve(self) -> web.AppRunner:
        ca = await ensure_ca(self.hub, WEBHOOK_CA_SECRET)
        runner = web.AppRunner(app(), handler_cancellation=True, access_log=None)
        await runner.setup()
        # The certificate names the advertised host, known before the port is (":0" binds any).
        draft = advertised(self.bind_host, self.bind_port or 1, url=self.settings.webhook_url)
        dns, ips = serving_names(draft, self.bind_host)
        serving = issue(
            ca,
            common_name="kokpit-webhooks",
            dns_names=dns,
            ip_addresses=ips,
            server=True,
            validity=SERVING_VALIDITY,
        )
        context = server_tls(serving, self.settings.state_dir / "webhooks")
        site = web.TCPSite(runner, self.bind_host, self.bind_port, ssl_context=context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        port = int(runner.addresses[0][1])
        base = advertised(self.bind_host, port, url=self.settings.webhook_url).proxy_url
        self.desired = registration.validating_configuration(base, ca.cert_pem.decode())
        self.desired_crds = registration.conversion_crds(base, ca.cert_pem.decode())
        log.info("webhooks serving on %s:%d as %s", self.bind_host, port, base)
        return runner

    async def reconcile(self, key: Key) -> Result:
        """Keeps the ValidatingWebhookConfiguration and the converted CRDs sending reviews to this
        replica."""
        if key.name.startswith("crd/"):
            name = key.name.removeprefix("crd/")
            desired = self.desired_crds.get(name)
            crd = self.crds[name].get(name) if name in self.crds else None
            if desired is not None and crd is not None and not _same_conversion(crd, desired):
                await apply(self.hub, codecs.from_dict(desired), force=True)
            return Result()
        if key != self.key or self.desired is None:
            return Result()
        current = self.configurations.get(registration.CONFIGURATION_NAME)
        if current is not None and _same(current, self.desired):
            return Result()
        await apply(self.hub, codecs.from_dict(self.desired), force=True)
        return Result()


def _same(current: Any, desired: Mapping[str, Any]) -> bool:
    """Whether the stored configuration already holds what kokpit writes (the fields it sets)."""
    stored = current.to_dict() if hasattr(current, "to_dict") else dict(current)
    mine = {w["name"]: w for w in desired["webhooks"]}
    theirs = {w.get("name"): w for w in stored.get("webhooks") or []}
    return set(mine) == set(theirs) and all(
        all(theirs[name].get(field) == value for field, value in webhook.items())
        for name, webhook in mine.items()
    )


def _same_conversion(current: Any, desired: Mapping[str, Any]) -> bool:
    """Whether a stored CRD already converts through the desired webhook and serves its versions (the
    rest of it is `kokpit install`'s; a CRD not installed yet is left to it)."""
    stored = current.to_dict() if hasattr(current, "to_dict") else dict(current)
    served = {v.get("name"): v.get("served") for v in stored["spec"].get("versions") or []}
    return stored["spec"].get("conversion") == desired["spec"]["conversion"] and all(
        served.get(v["name"]) == v["served"] for v in desired["spec"]["versions"]
    )


def setup(manager: Manager, settings: HubSettings) -> None:
    """`setup` adds the webhooks when the hub was given a webhook address."""
    if settings.webhook_address is None:
        return
    manager.add(manager.shared(CONTROLLER, lambda: WebhookService(manager, settings)))
