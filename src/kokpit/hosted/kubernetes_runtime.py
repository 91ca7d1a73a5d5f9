"""A hosted cluster's control plane as Deployments in a meta cluster (the `kubernetes` runtime).

Per HostedCluster `ns/name` with `metaCluster: M`, kokpit owns the namespace `kokpit-hosted-ns-name`
of M (`control_plane_namespace`) and puts there:

- a Service `kube-apiserver` (port 6443) of the type asked for (LoadBalancer by default);
- a Secret `<component>-files` per component: the PKI files it reads under `/etc/kubernetes/pki` and,
  for the controller-manager and the scheduler, a kubeconfig whose server is the Service's DNS name;
- a Deployment per component, each with `controlPlane.replicas` replicas spread by hostname;
  kube-controller-manager and kube-scheduler run with leader election on, so one replica acts and
  the others stand by (a rolling update also briefly runs one more). Images are
  `registry.k8s.io/<component>:<version>`; the command lines come from `kokpit.controlplane.commands`,
  with the mounted paths.

The pod template carries a revision (a hash of what the process reads only at start): a changed
argv, service-account key or etcd CA rolls the Deployment; renewed serving certificates do not,
since kube-apiserver reloads them from the Secret volume. Deleting the namespace removes everything.

Everything here is pure (`render_*`, `deployment_condition`, `service_endpoint`, `running_version`,
`reachability_condition`); the thin I/O is `kubernetes_plane` (server-side apply, field manager
`kokpit`).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from kokpit.api.hostedcluster import ExposureType
from kokpit.controlplane import commands, pki
from kokpit.controlplane.runtime.kubernetes import COMPONENT_LABEL, REVISION_ANNOTATION
from kokpit.hosted import names
from kokpit.hosted.components import EtcdAccess
from kokpit.runtime import Condition

NAMESPACE_PREFIX = "kokpit-hosted-"
HUB_NAMESPACE_LABEL = "cluster.kokpit.io/hosted-namespace"
"""On every object in the meta cluster: the hub namespace of its HostedCluster (with `CLUSTER_LABEL`)."""
VERSION_LABEL = "cluster.kokpit.io/version"
"""On a Deployment and its pod template: the Kubernetes version it runs."""

APISERVER_AVAILABLE = "APIServerAvailable"
REGISTRY = "registry.k8s.io"
APISERVER_PORT = 6443
CONTROLLER_MANAGER_PORT = 10257
SCHEDULER_PORT = 10259
PORTS = {
    names.APISERVER: APISERVER_PORT,
    names.CONTROLLER_MANAGER: CONTROLLER_MANAGER_PORT,
    names.SCHEDULER: SCHEDULER_PORT,
}
FILES_MOUNT = PurePosixPath("/etc/kubernetes")
PKI_DIR = "pki"
KUBECONFIG_FILE = "kubeconfig"
CERT_DIR = PurePosixPath("/var/run/kubernetes")
"""An emptyDir where the controller-manager and scheduler keep their self-signed serving certificates."""

RESOURCES: dict[str, dict[str, dict[str, str]]] = {
    names.APISERVER: {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
    names.CONTROLLER_MANAGER: {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    names.SCHEDULER: {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
}
"""Requests sized after kubeadm's static pods; memory limits only (CPU limits throttle the API server)."""


ServiceType = ExposureType
"""How the API server's Service is exposed: the API's `spec.exposure.type`."""


@dataclass(frozen=True)
class ControlPlaneParameters:
    """What the rendering of one hosted control plane needs besides its PKI."""

    cluster: str
    """The HostedCluster's name."""
    hub_namespace: str
    """The HostedCluster's namespace in the hub."""
    versions: Mapping[str, str]
    """The Kubernetes version each control-plane component runs (see `plan.component_versions`)."""
    etcd: EtcdAccess
    replicas: int = 1
    """Replicas of every component (the controller-manager and the scheduler elect a leader)."""
    service_type: ServiceType = ServiceType.LOAD_BALANCER
    service_cidr: str = "10.96.0.0/16"
    cluster_domain: str = "cluster.local"

    @property
    def namespace(self) -> str:
        return control_plane_namespace(self.hub_namespace, self.cluster)


# --- names ---------------------------------------------------------------------------------------


def control_plane_namespace(hub_namespace: str, cluster: str) -> str:
    """`control_plane_namespace` is the meta-cluster namespace of HostedCluster `hub_namespace/cluster`:
    `kokpit-hosted-<ns>-<name>`, cut and suffixed with a hash when longer than 63 characters."""
    full = f"{NAMESPACE_PREFIX}{hub_namespace}-{cluster}"
    if len(full) <= 63:
        return full
    digest = hashlib.sha256(f"{hub_namespace}/{cluster}".encode()).hexdigest()[:8]
    return f"{full[:54].rstrip('-')}-{digest}"


def files_secret_name(component: str) -> str:
    """`files_secret_name` is the Secret with `component`'s PKI files (and kubeconfig)."""
    return f"{component}-files"


def service_host(namespace: str) -> str:
    """`service_host` is the in-cluster DNS name of the API server's Service in `namespace`."""
    return f"{names.APISERVER}.{namespace}.svc"


def internal_server(namespace: str) -> str:
    """`internal_server` is the API server's URL for clients inside the meta cluster."""
    return f"https://{service_host(namespace)}:{APISERVER_PORT}"


def apiserver_dns_names(namespace: str, *, cluster_domain: str = "cluster.local") -> tuple[str, ...]:
    """`apiserver_dns_names` are the Service's names the API server's certificate must carry."""
    return (
        names.APISERVER,
        f"{names.APISERVER}.{namespace}",
        service_host(namespace),
        f"{service_host(namespace)}.{cluster_domain}",
    )


def image(component: str, version: str) -> str:
    """`image` is the upstream image of `component` at `version` (`registry.k8s.io/kube-apiserver:v1.x.y`)."""
    return f"{REGISTRY}/{component}:{version}"


def labels(params: ControlPlaneParameters) -> dict[str, str]:
    """`labels` are on every object kokpit makes in the meta cluster for this HostedCluster."""
    return {
        **names.MANAGED_BY,
        names.CLUSTER_LABEL: params.cluster,
        HUB_NAMESPACE_LABEL: params.hub_namespace,
    }


def selector(params: ControlPlaneParameters, component: str) -> dict[str, str]:
    """`selector` picks the Pods of `component` (the Deployment's immutable selector)."""
    return {names.CLUSTER_LABEL: params.cluster, COMPONENT_LABEL: component}


# --- files ---------------------------------------------------------------------------------------


def _pki_paths() -> pki.PKIPaths:
    return pki.pki_paths(Path(str(FILES_MOUNT / PKI_DIR)))


def _relative(path: Path) -> str:
    return str(PurePosixPath(path).relative_to(FILES_MOUNT))


def _secret_key(relative: str) -> str:
    return relative.replace("/", "__")


def component_files(
    component: str, params: ControlPlaneParameters, cluster_pki: pki.ClusterPKI
) -> dict[str, bytes]:
    """`component_files` are the files `component` reads, by path relative to `FILES_MOUNT`."""
    paths = _pki_paths()
    if component == names.APISERVER:
        return {
            _relative(paths.ca_cert): cluster_pki.ca.cert_pem,
            _relative(paths.apiserver_cert): cluster_pki.apiserver.cert_pem,
            _relative(paths.apiserver_key): cluster_pki.apiserver.key_pem,
            _relative(paths.apiserver_kubelet_client_cert): cluster_pki.apiserver_kubelet_client.cert_pem,
            _relative(paths.apiserver_kubelet_client_key): cluster_pki.apiserver_kubelet_client.key_pem,
            _relative(paths.front_proxy_ca_cert): cluster_pki.front_proxy_ca.cert_pem,
            _relative(paths.front_proxy_client_cert): cluster_pki.front_proxy_client.cert_pem,
            _relative(paths.front_proxy_client_key): cluster_pki.front_proxy_client.key_pem,
            _relative(paths.service_account_pub): cluster_pki.service_account_pub,
            _relative(paths.service_account_key): cluster_pki.service_account_key,
            _relative(paths.etcd_ca_cert): params.etcd.ca_pem,
            _relative(paths.apiserver_etcd_client_cert): params.etcd.cert_pem,
            _relative(paths.apiserver_etcd_client_key): params.etcd.key_pem,
        }
    if component == names.CONTROLLER_MANAGER:
        return {
            KUBECONFIG_FILE: component_kubeconfig(
                params, cluster_pki, "system:kube-controller-manager", cluster_pki.controller_manager
            ),
            _relative(paths.ca_cert): cluster_pki.ca.cert_pem,
            _relative(paths.ca_key): cluster_pki.ca.key_pem,
            _relative(paths.front_proxy_ca_cert): cluster_pki.front_proxy_ca.cert_pem,
            _relative(paths.service_account_key): cluster_pki.service_account_key,
        }
    if component == names.SCHEDULER:
        return {
            KUBECONFIG_FILE: component_kubeconfig(
                params, cluster_pki, "system:kube-scheduler", cluster_pki.scheduler
            ),
        }
    raise ValueError(f"not a control-plane component: {component}")


def component_kubeconfig(
    params: ControlPlaneParameters, cluster_pki: pki.ClusterPKI, user: str, cert: pki.CertKey
) -> bytes:
    """`component_kubeconfig` is a kubeconfig for `user` against the API server's Service DNS name."""
    config = pki.kubeconfig(
        cluster=params.cluster,
        server=internal_server(params.namespace),
        ca_pem=cluster_pki.ca.cert_pem,
        user=user,
        credentials=cert,
    )
    return pki.kubeconfig_yaml(config).encode()


def component_argv(component: str, params: ControlPlaneParameters) -> list[str]:
    """`component_argv` is `component`'s command line with the mounted paths (argv[0] is the binary
    name, on the PATH of the upstream images)."""
    paths = _pki_paths()
    kubeconfig = Path(str(FILES_MOUNT / KUBECONFIG_FILE))
    if component == names.APISERVER:
        options = commands.APIServerOptions(
            bind_address="0.0.0.0",
            advertise_address="$(POD_IP)",
            secure_port=APISERVER_PORT,
            etcd_servers=list(params.etcd.endpoints),
            service_cluster_ip_range=params.service_cidr,
            etcd_prefix=params.etcd.prefix,
            cluster_domain=params.cluster_domain,
        )
        return commands.kube_apiserver_argv(Path(component), options=options, pki=paths)
    if component == names.CONTROLLER_MANAGER:
        return commands.kube_controller_manager_argv(
            Path(component),
            kubeconfig=kubeconfig,
            pki=paths,
            bind_address="0.0.0.0",
            secure_port=CONTROLLER_MANAGER_PORT,
            cert_dir=Path(str(CERT_DIR)),
            leader_elect=True,
        )
    if component == names.SCHEDULER:
        return commands.kube_scheduler_argv(
            Path(component),
            kubeconfig=kubeconfig,
            bind_address="0.0.0.0",
            secure_port=SCHEDULER_PORT,
            cert_dir=Path(str(CERT_DIR)),
            leader_elect=True,
        )
    raise ValueError(f"not a control-plane component: {component}")


def revision(component: str, params: ControlPlaneParameters, cluster_pki: pki.ClusterPKI) -> str:
    """`revision` hashes what `component` reads only at start: its argv and image, and its files except
    the API server's certificates, which it reloads from disk."""
    argv = component_argv(component, params)
    files = component_files(component, params, cluster_pki)
    if component == names.APISERVER:
        paths = _pki_paths()
        kept = {
            _relative(paths.service_account_pub),
            _relative(paths.service_account_key),
            _relative(paths.etcd_ca_cert),
        }
        files = {k: v for k, v in files.items() if k in kept}
    digest = hashlib.sha256("\0".join([image(component, params.versions[component]), *argv]).encode())
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path])
    return f"{params.versions[component]}/{digest.hexdigest()[:16]}"


# --- objects -------------------------------------------------------------------------------------


def render_namespace(params: ControlPlaneParameters) -> dict[str, Any]:
    """`render_namespace` is the meta-cluster namespace holding the control plane."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": params.namespace, "labels": labels(params)},
    }


def render_files_secret(
    component: str, params: ControlPlaneParameters, cluster_pki: pki.ClusterPKI
) -> dict[str, Any]:
    """`render_files_secret` holds `component`'s files; keys are the relative paths with `/` -> `__`."""
    files = component_files(component, params, cluster_pki)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": files_secret_name(component),
            "namespace": params.namespace,
            "labels": {**labels(params), COMPONENT_LABEL: component},
        },
        "type": "Opaque",
        "data": {_secret_key(path): base64.b64encode(content).decode() for path, content in files.items()},
    }


def render_service(params: ControlPlaneParameters) -> dict[str, Any]:
    """`render_service` is the API server's Service, port 6443, of type `params.service_type`."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": names.APISERVER,
            "namespace": params.namespace,
            "labels": {**labels(params), COMPONENT_LABEL: names.APISERVER},
        },
        "spec": {
            "type": params.service_type.value,
            "selector": selector(params, names.APISERVER),
            "ports": [
                {"name": "https", "port": APISERVER_PORT, "targetPort": APISERVER_PORT, "protocol": "TCP"}
            ],
        },
    }


def _probe(path: str, port: int, *, period: int, failures: int, delay: int = 0) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTPS"},
        "initialDelaySeconds": delay,
        "periodSeconds": period,
        "timeoutSeconds": 15,
        "failureThreshold": failures,
    }


def _probes(component: str) -> dict[str, Any]:
    port = PORTS[component]
    if component == names.APISERVER:
        return {
            "readinessProbe": _probe("/readyz", port, period=1, failures=3),
            "livenessProbe": _probe("/livez", port, period=10, failures=8, delay=10),
            "startupProbe": _probe("/livez", port, period=10, failures=24, delay=10),
        }
    return {
        "readinessProbe": _probe("/healthz", port, period=5, failures=3),
        "livenessProbe": _probe("/healthz", port, period=10, failures=8, delay=10),
    }


def _anti_affinity(params: ControlPlaneParameters, component: str) -> dict[str, Any]:
    """Replicas prefer distinct nodes. Preferred, not required: a required rule would leave a replica
    (and every rolling update's surge Pod) pending on a meta cluster with fewer nodes than replicas."""
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": selector(params, component)},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
    }


def render_deployment(
    component: str, params: ControlPlaneParameters, cluster_pki: pki.ClusterPKI
) -> dict[str, Any]:
    """`render_deployment` runs `component` at `params.versions[component]`: the API server with
    `params.replicas` replicas, and so the others (they elect a leader: one acts, the rest wait). Files
    are mounted read-only under `FILES_MOUNT`; rolling updates add one Pod before removing one."""
    version = params.versions[component]
    argv = component_argv(component, params)
    files = component_files(component, params, cluster_pki)
    replicas = params.replicas
    pod_labels = {**labels(params), **selector(params, component), VERSION_LABEL: version}
    container: dict[str, Any] = {
        "name": component,
        "image": image(component, version),
        "imagePullPolicy": "IfNotPresent",
        "command": argv,
        "ports": [{"name": "https", "containerPort": PORTS[component], "protocol": "TCP"}],
        **_probes(component),
        "resources": RESOURCES[component],
        "volumeMounts": [{"name": "files", "mountPath": str(FILES_MOUNT), "readOnly": True}],
    }
    volumes: list[dict[str, Any]] = [
        {
            "name": "files",
            "secret": {
                "secretName": files_secret_name(component),
                "defaultMode": 0o400,
                "items": [{"key": _secret_key(path), "path": path} for path in sorted(files)],
            },
        }
    ]
    if component == names.APISERVER:
        container["env"] = [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    else:
        container["volumeMounts"].append({"name": "certs", "mountPath": str(CERT_DIR)})
        volumes.append({"name": "certs", "emptyDir": {}})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": component,
            "namespace": params.namespace,
            "labels": {**labels(params), COMPONENT_LABEL: component, VERSION_LABEL: version},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector(params, component)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {REVISION_ANNOTATION: revision(component, params, cluster_pki)},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "affinity": _anti_affinity(params, component),
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def render_all(params: ControlPlaneParameters, cluster_pki: pki.ClusterPKI) -> list[dict[str, Any]]:
    """`render_all` is every object of the control plane, in the order to apply them (namespace,
    Service, Secrets, then Deployments in upgrade order)."""
    out = [render_namespace(params), render_service(params)]
    out += [render_files_secret(c, params, cluster_pki) for c in names.CONTROL_PLANE]
    out += [render_deployment(c, params, cluster_pki) for c in names.CONTROL_PLANE]
    return out


# --- reading back --------------------------------------------------------------------------------


def deployment_condition(deployment: Mapping[str, Any] | None, type_: str = "Available") -> Condition:
    """`deployment_condition` says whether a Deployment is rolled out and every replica available:
    the controller saw the latest spec, every replica runs the latest template and is available."""
    if deployment is None:
        return Condition.false(type_, "NotReady", "Deployment does not exist yet")
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    total = int(status.get("replicas") or 0)
    if int(status.get("observedGeneration") or 0) < int(metadata.get("generation") or 0):
        return Condition.false(type_, "NotReady", "Deployment change not yet observed")
    message = f"{available}/{wanted} replicas available, {updated} up to date"
    if updated < wanted or total > wanted:
        return Condition.false(type_, "RollingOut", message)
    if available < wanted:
        return Condition.false(type_, "NotReady", message)
    return Condition.true(type_, "DeploymentAvailable", message)


def running_version(deployment: Mapping[str, Any] | None) -> str | None:
    """`running_version` is the version a Deployment made here runs (None when there is none)."""
    if deployment is None:
        return None
    template = ((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}
    version = (template.get("labels") or {}).get(VERSION_LABEL)
    return str(version) if version else None


def service_addresses(service: Mapping[str, Any] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`service_addresses` are the (IPs, DNS names) a Service is reached at: its cluster IP and its
    load-balancer ingress, for the API server's certificate."""
    if service is None:
        return (), ()
    ips: list[str] = []
    hosts: list[str] = []
    cluster_ip = (service.get("spec") or {}).get("clusterIP")
    if cluster_ip and cluster_ip != "None":
        ips.append(str(cluster_ip))
    for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        if ingress.get("ip"):
            ips.append(str(ingress["ip"]))
        if ingress.get("hostname"):
            hosts.append(str(ingress["hostname"]))
    return tuple(ips), tuple(hosts)


def service_endpoint(service: Mapping[str, Any] | None, *, node_address: str | None = None) -> str | None:
    """`service_endpoint` is the API server's URL as its Service exposes it: the first load-balancer
    ingress (LoadBalancer), `node_address` and the node port (NodePort), the cluster IP (ClusterIP);
    None while there is none (no load balancer assigned yet, or no node address known)."""
    if service is None:
        return None
    spec = service.get("spec") or {}
    type_ = spec.get("type") or ServiceType.CLUSTER_IP.value
    if type_ == ServiceType.LOAD_BALANCER.value:
        for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            host = ingress.get("ip") or ingress.get("hostname")
            if host:
                return f"https://{host}:{APISERVER_PORT}"
        return None
    if type_ == ServiceType.NODE_PORT.value:
        ports: Sequence[Mapping[str, Any]] = spec.get("ports") or []
        node_port = next((p.get("nodePort") for p in ports if p.get("port") == APISERVER_PORT), None)
        if node_address and node_port:
            return f"https://{node_address}:{node_port}"
        return None
    cluster_ip = spec.get("clusterIP")
    if cluster_ip and cluster_ip != "None":
        return f"https://{cluster_ip}:{APISERVER_PORT}"
    return None


def loopback_endpoints(endpoints: Sequence[str]) -> list[str]:
    """`loopback_endpoints` are those of `endpoints` on a loopback address (`127.0.0.0/8`, `::1`,
    `localhost`): an etcd run by the process runtime on the hub's host, which no Pod can reach."""
    out: list[str] = []
    for endpoint in endpoints:
        host = urlsplit(endpoint).hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            out.append(endpoint)
    return out


def reachability_condition(
    *,
    meta_cluster: str,
    endpoint: str | None,
    readyz: tuple[bool, str] | None,
    etcd_endpoints: Sequence[str],
) -> Condition:
    """`reachability_condition` is `APIServerAvailable` once the Deployments are rolled out: True only
    when kokpit itself got an answer from the hosted API server's `/readyz` at `endpoint` (`readyz` is
    that answer, None when there is no endpoint to ask); otherwise `ControlPlaneUnreachable`, saying
    why, and naming etcd endpoints the Pods cannot reach. A rolled-out Deployment alone proves
    nothing: its Pods may be Ready on nodes that never ran a container."""
    if readyz is not None and readyz[0]:
        return Condition.true(APISERVER_AVAILABLE, "Reachable", f"kokpit reached {endpoint}/readyz")
    if endpoint is None:
        why = "its Service has no address reachable from the hub (no load-balancer ingress or node address)"
    else:
        why = f"{endpoint}/readyz did not answer ok: {readyz[1] if readyz else 'not asked'}"
    message = (
        f"Deployments are rolled out in meta cluster {meta_cluster}, but the Pods' endpoint is not "
        f"reachable from the hub: {why}"
    )
    loopback = loopback_endpoints(etcd_endpoints)
    if loopback and len(loopback) == len(etcd_endpoints):
        message += (
            f"; etcd's client endpoints ({', '.join(loopback)}) are loopback addresses of the hub's "
            f"host, which Pods in {meta_cluster} cannot reach"
        )
    return Condition.false(APISERVER_AVAILABLE, "ControlPlaneUnreachable", message)
