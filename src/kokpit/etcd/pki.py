"""The credentials of one etcd cluster: its own CA, one serving and one peer certificate shared by the
members (valid for every member address the runtime can give), and a client certificate.

Pure: from names to PEM, and to and from the `data` of Secrets.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kokpit.controlplane.pki import CertKey, issue, new_ca
from kokpit.etcd.client import ClientTLS

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"
PEER_CERT = "peer.crt"
PEER_KEY = "peer.key"
CLIENT_CERT = "tls.crt"
CLIENT_KEY = "tls.key"


@dataclass(frozen=True)
class EtcdPKI:
    """A cluster's CA and the certificates issued by it."""

    ca: CertKey
    server: CertKey
    peer: CertKey
    client: CertKey

    @property
    def client_tls(self) -> ClientTLS:
        return ClientTLS(ca_pem=self.ca.cert_pem, cert_pem=self.client.cert_pem, key_pem=self.client.key_pem)

    def member_files(self) -> dict[str, bytes]:
        """`member_files` is what each member reads: the CA certificate and its two pairs."""
        return {
            CA_CERT: self.ca.cert_pem,
            SERVER_CERT: self.server.cert_pem,
            SERVER_KEY: self.server.key_pem,
            PEER_CERT: self.peer.cert_pem,
            PEER_KEY: self.peer.key_pem,
        }


def new_etcd_pki(cluster: str, *, dns_names: Sequence[str], ip_addresses: Sequence[str]) -> EtcdPKI:
    """`new_etcd_pki` creates a CA for `cluster` and issues the shared serving/peer certificates
    (server and client usage both: members dial each other) and a client certificate."""
    ca = new_ca(f"{cluster}-etcd-ca")
    server = issue(
        ca,
        common_name=f"{cluster}-etcd-server",
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        server=True,
        client=True,
    )
    peer = issue(
        ca,
        common_name=f"{cluster}-etcd-peer",
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        server=True,
        client=True,
    )
    client = issue(ca, common_name=f"{cluster}-etcd-client", client=True)
    return EtcdPKI(ca=ca, server=server, peer=peer, client=client)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pki_secret_data(pki: EtcdPKI) -> dict[str, str]:
    """`pki_secret_data` is the `data` of the cluster's PKI Secret (base64 values)."""
    return {
        CA_CERT: _b64(pki.ca.cert_pem),
        CA_KEY: _b64(pki.ca.key_pem),
        SERVER_CERT: _b64(pki.server.cert_pem),
        SERVER_KEY: _b64(pki.server.key_pem),
        PEER_CERT: _b64(pki.peer.cert_pem),
        PEER_KEY: _b64(pki.peer.key_pem),
        CLIENT_CERT: _b64(pki.client.cert_pem),
        CLIENT_KEY: _b64(pki.client.key_pem),
    }


def client_secret_data(pki: EtcdPKI) -> dict[str, str]:
    """`client_secret_data` is the `data` of the Secret clients use: ca.crt, tls.crt, tls.key."""
    return {
        CA_CERT: _b64(pki.ca.cert_pem),
        CLIENT_CERT: _b64(pki.client.cert_pem),
        CLIENT_KEY: _b64(pki.client.key_pem),
    }


def pki_from_secret_data(data: Mapping[str, str]) -> EtcdPKI:
    """`pki_from_secret_data` reads `pki_secret_data`'s output back; a missing key raises KeyError."""

    def pair(cert: str, key: str) -> CertKey:
        return CertKey(cert_pem=base64.b64decode(data[cert]), key_pem=base64.b64decode(data[key]))

    return EtcdPKI(
        ca=pair(CA_CERT, CA_KEY),
        server=pair(SERVER_CERT, SERVER_KEY),
        peer=pair(PEER_CERT, PEER_KEY),
        client=pair(CLIENT_CERT, CLIENT_KEY),
    )


def client_tls_from_secret_data(data: Mapping[str, str]) -> ClientTLS:
    """`client_tls_from_secret_data` reads the client Secret (`client_secret_data`)."""
    return ClientTLS(
        ca_pem=base64.b64decode(data[CA_CERT]),
        cert_pem=base64.b64decode(data[CLIENT_CERT]),
        key_pem=base64.b64decode(data[CLIENT_KEY]),
    )
