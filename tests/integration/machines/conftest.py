"""Machine operator integration tests: real sshd processes, real SSH sessions.

`local_sshd` is one Debian sshd on 127.0.0.1 (a free port), with a generated host key and one
authorised client key, started for the module and stopped after it: enough to prove `ssh.py`
against a real server without network namespaces. Run these under
`flock /tmp/kokpit-integration.lock`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest
import yaml
from lightkube import ApiError, AsyncClient, codecs
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret
from lightkube.resources.events_v1 import Event
from lightkube.types import PatchType

from kokpit.etcd import EtcdSettings, add_etcd_controllers
from kokpit.etcd.resources import EtcdClusterResource
from kokpit.hosted import HostedClusterResource, HostedSettings, setup_hosted
from kokpit.hub.install import install
from kokpit.machines import (
    HostResource,
    MachineReconciler,
    MachineResource,
    MachineSettings,
    NodeComponentResource,
    setup_machines,
)
from kokpit.runtime import Manager, get_condition
from kokpit.runtime.clients import make_client
from kokpit.sandbox.hosts import SSHD as SANDBOX_SSHD
from kokpit.sandbox.hosts import Inventory
from tests.integration.hosted.conftest import CURRENT, _stop_leftovers
from tests.integration.hosted.conftest import previous_version as previous_version  # the fixture
from tests.support import SandboxHandle, sandbox_hosts

SSHD = Path("/usr/sbin/sshd")


@dataclass(frozen=True)
class LocalSSHD:
    """A running sshd and what a client needs to log in to it."""

    address: str
    port: int
    host_key: str
    """The server's public host key line (what a Host pins)."""
    client_key: bytes
    """An authorised private key (OpenSSH format)."""
    other_key: bytes
    """A private key the server does not accept."""
    root: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(address: str, port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}")
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"sshd did not listen on {address}:{port}")


@pytest.fixture(scope="module")
def local_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSSHD]:
    if not SSHD.exists():
        pytest.skip("openssh-server is not installed")
    root = tmp_path_factory.mktemp("sshd")
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    other_key = asyncssh.generate_private_key("ssh-ed25519")
    (root / "host_key").write_bytes(host_key.export_private_key())
    (root / "host_key").chmod(0o600)
    (root / "authorized_keys").write_bytes(client_key.export_public_key())
    port = _free_port()
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"Port {port}",
                f"HostKey {root / 'host_key'}",
                f"AuthorizedKeysFile {root / 'authorized_keys'}",
                f"PidFile {root / 'sshd.pid'}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    process = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=(root / "sshd.log").open("wb"),
        start_new_session=True,
    )
    try:
        _wait_listening("127.0.0.1", port, process)
        yield LocalSSHD(
            address="127.0.0.1",
            port=port,
            host_key=host_key.export_public_key().decode().strip(),
            client_key=client_key.export_private_key(),
            other_key=other_key.export_private_key(),
            root=root,
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


# --- the Machine controller against a real hub, real hosts and a real hosted cluster ------------


@dataclass
class MachineEnv:
    """A hub namespace with Hosts from sandbox hosts, a hosted cluster serving on the hosts' bridge,
    and the etcd, hosted-cluster and Machine controllers running in this process."""

    client: AsyncClient
    namespace: str
    inventory: Inventory
    cluster: str
    """The HostedCluster machines join (in `namespace`)."""
    reconciler: MachineReconciler

    async def apply_inventory(self) -> None:
        """Creates the inventory's Secrets and Hosts in the namespace."""
        for document in yaml.safe_load_all(self.inventory.path.read_text()):
            if not document:
                continue
            document["metadata"]["namespace"] = self.namespace
            await self.client.apply(codecs.from_dict(document), field_manager="test", force=True)

    async def create_host(self, name: str, spec: dict[str, Any]) -> None:
        body = {
            "apiVersion": "machines.kokpit.io/v1alpha1",
            "kind": "Host",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        }
        await self.client.create(HostResource.from_dict(body))

    async def create_secret(self, name: str, private_key: bytes) -> None:
        await self.client.create(
            Secret(
                metadata=ObjectMeta(name=name, namespace=self.namespace),
                type="kubernetes.io/ssh-auth",
                data={"ssh-privatekey": base64.b64encode(private_key).decode()},
            )
        )

    async def create_component(self, body: dict[str, Any]) -> None:
        await self.client.apply(NodeComponentResource.from_dict(body), field_manager="test", force=True)

    async def create_machine(
        self,
        name: str,
        host: str,
        *,
        components: list[dict[str, Any]] | None = None,
        cluster: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        body = {
            "apiVersion": "machines.kokpit.io/v1alpha1",
            "kind": "Machine",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "hostRef": {"name": host},
                "clusterRef": cluster or {"kind": "HostedCluster", "name": self.cluster},
                "components": components or [],
                **extra,
            },
        }
        await self.client.create(MachineResource.from_dict(body))

    async def machine(self, name: str) -> dict[str, Any]:
        obj = await self.client.get(MachineResource, name, namespace=self.namespace)
        return dict(obj.get("status") or {})

    async def host(self, name: str) -> dict[str, Any]:
        obj = await self.client.get(HostResource, name, namespace=self.namespace)
        return dict(obj.get("status") or {})

    async def wait_machine(
        self, name: str, what: str, predicate: Callable[[dict[str, Any]], bool], *, timeout: float = 60.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = await self.machine(name)
            if predicate(status):
                return status
            await asyncio.sleep(0.25)
        raise AssertionError(
            f"timed out waiting for {name}: {what}; last status: {json.dumps(status)[:4000]}"
        )

    async def delete_machine(self, name: str, *, timeout: float = 120.0) -> None:
        await self.client.delete(MachineResource, name, namespace=self.namespace)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                await self.client.get(MachineResource, name, namespace=self.namespace)
            except ApiError as error:
                if error.status.code == 404:
                    return
                raise
            await asyncio.sleep(0.25)
        raise AssertionError(f"Machine {name} still exists after {timeout}s")

    async def events(self, name: str) -> list[tuple[str, str]]:
        """(reason, note) of the Events about Machine `name`."""
        found = []
        async for event in self.client.list(Event, namespace=self.namespace):
            if (
                event.regarding is not None
                and event.regarding.name == name
                and event.regarding.kind == "Machine"
            ):
                found.append((str(event.reason), str(event.note)))
        return found

    async def wait_event(self, name: str, reason: str, text: str, *, timeout: float = 30.0) -> None:
        """Waits for an Event about Machine `name` with `reason` whose note contains `text`."""
        deadline = time.monotonic() + timeout
        seen: list[tuple[str, str]] = []
        while time.monotonic() < deadline:
            seen = await self.events(name)
            if any(r == reason and text in note for r, note in seen):
                return
            await asyncio.sleep(0.5)
        raise AssertionError(f"no Event {reason} about {name} naming {text!r}; events: {seen}")

    def ssh(self, host: str, command: str) -> subprocess.CompletedProcess[str]:
        """Runs `command` on a sandbox host as a person would, with OpenSSH's client."""
        address = self.inventory.host(host).address
        return subprocess.run(
            [
                "ssh",
                "-i",
                str(self.inventory.key_file(host)),
                "-o",
                f"UserKnownHostsFile={self.inventory.known_hosts}",
                "-o",
                "BatchMode=yes",
                f"root@{address}",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return get_condition(status.get("conditions"), type_) or {}


GATEWAY = "10.77.0.1"
"""The hosts' bridge address in the root namespace: where the hosted cluster serves for nodes."""


@pytest.fixture(scope="module")
async def machine_env(
    sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[MachineEnv]:
    """Three sandbox hosts, their inventory in a hub namespace, a hosted cluster serving on the hosts'
    bridge, and the etcd, hosted-cluster and Machine controllers: made once for a test module (a
    hosted control plane and three sshds are the expensive part, so the machine tests share one)."""
    if os.geteuid() != 0 or not SANDBOX_SSHD.exists():
        pytest.skip("sandbox hosts need root and Debian's openssh-server")
    root = tmp_path_factory.mktemp("machines")
    with sandbox_hosts(root / "hosts", 3) as inventory:
        manager = Manager(sync_timeout=30)
        manager.add_cluster("hub", sandbox.kubeconfig("hub"))
        client = manager.clients.get("hub")
        await install(client)
        namespace = f"machines-{uuid.uuid4().hex[:8]}"
        await client.create(Namespace(metadata=ObjectMeta(name=namespace)))
        etcd_settings = EtcdSettings(
            process_root=root / "etcd",
            backup_root=root / "backups",
            resync_seconds=1.0,
            busy_seconds=0.3,
            tie_to_parent=True,
        )
        etcd = add_etcd_controllers(manager, etcd_settings)
        hosted_settings = HostedSettings(
            process_root=root / "cp", resync_seconds=1.0, busy_seconds=0.3, tie_to_parent=True
        )
        _, hosted = setup_hosted(manager, hosted_settings)
        _, machines = setup_machines(
            manager,
            MachineSettings(resync_seconds=3.0, busy_seconds=1.0, failed_seconds=2.0, connect_timeout=3.0),
        )
        run = asyncio.create_task(manager.run())
        env = MachineEnv(client, namespace, inventory, "nodes", machines)
        try:
            await client.create(
                HostedClusterResource.from_dict(
                    {
                        "apiVersion": "cluster.kokpit.io/v1alpha1",
                        "kind": "HostedCluster",
                        "metadata": {"name": env.cluster, "namespace": namespace},
                        "spec": {
                            "kubernetesVersion": CURRENT,
                            "exposure": {"address": GATEWAY},
                            "addons": [],
                            "join": False,
                        },
                    }
                )
            )
            await env.apply_inventory()
            yield env
        finally:
            try:
                await _delete_all(client, namespace, MachineResource, timeout=180)
                await _delete_all(client, namespace, HostedClusterResource, timeout=120)
                await _delete_all(client, namespace, EtcdClusterResource, timeout=60)
            finally:
                manager.stop()
                await asyncio.wait_for(run, 60)
                await machines.aclose()
                await hosted.aclose()
                await etcd.cluster_reconciler.aclose()
                _stop_leftovers(hosted_settings.process_root)
                _stop_leftovers(etcd_settings.process_root)
                cleanup = make_client("hub", sandbox.kubeconfig("hub"))
                try:
                    await _delete_namespace(cleanup, namespace)
                finally:
                    await cleanup.close()


async def _delete_all(client: AsyncClient, namespace: str, resource: type[Any], *, timeout: float) -> None:
    async for obj in client.list(resource, namespace=namespace):
        await client.delete(resource, str(obj.metadata.name), namespace=namespace)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [o async for o in client.list(resource, namespace=namespace)]:
            return
        await asyncio.sleep(0.5)


async def _delete_namespace(client: AsyncClient, namespace: str) -> None:
    try:
        for resource in (MachineResource, HostedClusterResource, EtcdClusterResource):
            async for obj in client.list(resource, namespace=namespace):
                await client.patch(
                    resource,
                    str(obj["metadata"]["name"]),
                    {"metadata": {"finalizers": []}},
                    namespace=namespace,
                    patch_type=PatchType.MERGE,
                )
        await client.delete(Namespace, namespace)
    except ApiError:
        pass


async def wait_cluster_ready(env: MachineEnv, *, timeout: float = 180.0) -> None:
    """Waits until the hosted cluster the machines join is Ready."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        obj = await env.client.get(HostedClusterResource, env.cluster, namespace=env.namespace)
        status = dict(obj.get("status") or {})
        if (get_condition(status.get("conditions"), "Ready") or {}).get("status") == "True":
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"hosted cluster {env.cluster} not Ready: {json.dumps(status)[:3000]}")
