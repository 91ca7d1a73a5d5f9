"""Health probes of sandbox components over loopback HTTPS.

etcd and kube-apiserver are probed as a client of their own CA with a client certificate, like the
components that depend on them. kube-controller-manager and kube-scheduler serve `/healthz` with a
self-signed certificate they generate at start-up and allow it anonymously; there is no CA to
verify it against, so those probes skip verification (loopback only).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx2


@dataclass(frozen=True)
class ProbeTLS:
    """Client-side TLS for a probe; None fields mean: do not verify / no client certificate."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    def context(self) -> ssl.SSLContext:
        if self.ca is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(cafile=str(self.ca))
        if self.cert is not None and self.key is not None:
            context.load_cert_chain(str(self.cert), str(self.key))
        return context


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str


def probe(url: str, *, tls: ProbeTLS | None = None, timeout: float = 2.0) -> ProbeResult:
    """GETs `url`; healthy means HTTP 200 and a body that is `ok` or etcd's `"health":"true"`."""
    verify: ssl.SSLContext | bool = tls.context() if tls is not None else True
    if url.startswith("http://"):
        verify = False
    try:
        response = httpx2.get(url, verify=verify, timeout=timeout)
    except httpx2.HTTPError as error:
        return ProbeResult(False, f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
    body = response.text.strip()
    if response.status_code != 200:
        return ProbeResult(False, f"HTTP {response.status_code}: {body[:200]}")
    if body == "ok" or '"health":"true"' in body.replace(" ", "") or body == "":
        return ProbeResult(True, "ok")
    return ProbeResult(False, body[:200])
