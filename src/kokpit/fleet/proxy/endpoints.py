"""Where the hub's proxy and tunnel listen and how that is published; pure.

The hub process publishes its URLs and the CA that signs their serving certificate in the
ConfigMap `kube-public/kokpit-hub-endpoints`, so an agent (with its hub credentials) and a user
(`kokpit get kubeconfig NAME --proxy`) learn them from the hub they already trust, with nothing to
copy by hand.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

TUNNEL_URL_KEY = "tunnelURL"
PROXY_URL_KEY = "proxyURL"
CA_KEY = "ca.crt"
TUNNEL_PATH = "/tunnel"


@dataclass(frozen=True)
class Endpoints:
    """The hub's published endpoints: the proxy's base URL, the tunnel's URL, their CA (PEM)."""

    proxy_url: str
    tunnel_url: str
    ca_pem: str

    def configmap_data(self) -> dict[str, str]:
        return {PROXY_URL_KEY: self.proxy_url, TUNNEL_URL_KEY: self.tunnel_url, CA_KEY: self.ca_pem}

    @classmethod
    def of_configmap_data(cls, data: Mapping[str, str] | None) -> Endpoints:
        """Reads the published endpoints; raises `ValueError` naming what is missing."""
        data = data or {}
        missing = [k for k in (PROXY_URL_KEY, TUNNEL_URL_KEY, CA_KEY) if not data.get(k)]
        if missing:
            raise ValueError(f"the hub's endpoints lack {', '.join(missing)}")
        return cls(proxy_url=data[PROXY_URL_KEY], tunnel_url=data[TUNNEL_URL_KEY], ca_pem=data[CA_KEY])


def parse_address(address: str) -> tuple[str, int]:
    """`parse_address("127.0.0.1:0")` is `("127.0.0.1", 0)`; `[::1]:9443` is `("::1", 9443)`.
    Raises `ValueError` for anything else."""
    host, colon, port = address.rpartition(":")
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"address must be HOST:PORT, got {address!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def advertised(bind_host: str, port: int, *, url: str | None = None) -> Endpoints:
    """The URLs to publish (CA left empty): `url` when given (the proxy behind a name or a NAT),
    else `https://<bind host>:<port>`; the tunnel is `wss://` on the same host and port. Raises
    `ValueError` for a wildcard bind address without `url` (no client can dial 0.0.0.0)."""
    if url is None:
        if bind_host in ("0.0.0.0", "::", ""):
            raise ValueError(f"the proxy listens on {bind_host or 'every address'}: give the URL clients use")
        url = f"https://{_url_host(bind_host)}:{port}"
    parts = urlsplit(url.rstrip("/"))
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"the proxy URL must be https://HOST[:PORT], got {url!r}")
    base = f"https://{parts.netloc}{parts.path}"
    return Endpoints(proxy_url=base, tunnel_url=f"wss://{parts.netloc}{parts.path}{TUNNEL_PATH}", ca_pem="")


def serving_names(endpoints: Endpoints, bind_host: str) -> tuple[list[str], list[str]]:
    """The DNS names and IP addresses the serving certificate must carry: the advertised host and
    the bind host (unless a wildcard), in that order, without repeats."""
    hosts = [urlsplit(endpoints.proxy_url).hostname or ""]
    if bind_host not in ("0.0.0.0", "::", ""):
        hosts.append(bind_host)
    dns: list[str] = []
    ips: list[str] = []
    for host in dict.fromkeys(h for h in hosts if h):
        try:
            ips.append(str(ipaddress.ip_address(host)))
        except ValueError:
            dns.append(host)
    return dns, ips
