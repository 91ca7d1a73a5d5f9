"""Addon catalog and rendering; control-plane component specs."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path, PurePosixPath

import pytest

from kokpit.binaries import BinarySet
from kokpit.controlplane import pki
from kokpit.controlplane.runtime import Group, Layout
from kokpit.hosted import addons, certificates, components, names

FACTS = addons.ClusterFacts(
    name="demo",
    version="v1.36.5",
    endpoint="https://127.0.0.1:6443",
    service_cidr="10.96.0.0/16",
    pod_cidr="10.244.0.0/16",
    cluster_domain="example.local",
    dns_ip="10.96.0.10",
)


def test_builtin_addons_render_labelled_objects() -> None:
    catalog = addons.Catalog.of(addons.builtin())
    assert catalog.names() == ["coredns", "kokpit-access", "kube-proxy"]
    found, problems = addons.select(catalog, [addons.AddonRequest(n) for n in catalog.names()], FACTS)
    assert not problems
    rendered = {d.name: addons.render(d, FACTS, r.parameters) for d, r in found}
    assert rendered["kube-proxy"].version == "v1.36.5"
    for addon in rendered.values():
        for obj in addon.objects:
            assert obj["metadata"]["labels"][addons.ADDON_LABEL] == addon.name
    service = next(o for o in rendered["coredns"].objects if o["kind"] == "Service")
    assert service["spec"]["clusterIP"] == "10.96.0.10"
    corefile = next(o for o in rendered["coredns"].objects if o["kind"] == "ConfigMap")["data"]["Corefile"]
    assert "kubernetes example.local" in corefile


def test_parameters_override_defaults() -> None:
    catalog = addons.Catalog.of(addons.builtin())
    ((definition, request),) = addons.select(
        catalog, [addons.AddonRequest("coredns", parameters={"replicas": 5})], FACTS
    )[0]
    deployment = next(
        o for o in addons.render(definition, FACTS, request.parameters).objects if o["kind"] == "Deployment"
    )
    assert deployment["spec"]["replicas"] == 5


def test_unknown_addon_and_version_are_named() -> None:
    catalog = addons.Catalog.of(addons.builtin())
    _, problems = addons.select(
        catalog, [addons.AddonRequest("cilium"), addons.AddonRequest("coredns", version="v0.1")], FACTS
    )
    assert problems[0].startswith("unknown addon 'cilium'")
    assert "has no version v0.1" in problems[1]


def _write_addon(directory: Path, version: str, body: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "addon.yaml").write_text(f"name: hello\nversion: {version}\ndefaults:\n  greeting: hi\n")
    (directory / "cm.yaml.j2").write_text(body)


def test_imported_set_and_configmap_round_trip(tmp_path: Path) -> None:
    body = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hello, namespace: default}\n"
        "data: {g: '{{ params.greeting }}'}\n"
    )
    _write_addon(tmp_path / "set" / "hello", "v1", body)
    _write_addon(tmp_path / "set" / "hello2", "v2", body)
    definitions = addons.load_set(tmp_path / "set")
    assert [d.version for d in definitions] == ["v1", "v2"]
    restored = addons.from_configmap(addons.configmap_data(definitions[0]), None, source="x")
    assert restored == definitions[0]
    assert addons.configmap_name(definitions[1]) == "addon-hello-v2"
    catalog = addons.Catalog.of(definitions)
    ((definition, _),) = addons.select(catalog, [addons.AddonRequest("hello")], FACTS)[0]
    assert definition.version == "v2"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{{ params.missing }}", "has no attribute 'missing'"),
        ("kind: ConfigMap\nmetadata: {name: x}\n", "apiVersion, kind and metadata.name"),
        ("a: [b\n", "invalid YAML"),
    ],
    ids=["undefined parameter", "not an object", "bad yaml"],
)
def test_render_errors_name_the_template(tmp_path: Path, body: str, message: str) -> None:
    _write_addon(tmp_path / "hello", "v1", body)
    definition = addons.load_set(tmp_path / "hello")[0]
    with pytest.raises(addons.AddonError, match=message) as error:
        addons.render(definition, FACTS)
    assert "addon hello cm.yaml.j2" in str(error.value)


@pytest.mark.parametrize(
    "expression",
    [
        "''.__class__.__mro__[1].__subclasses__()",
        "cycler.__init__.__globals__",
        "params.__class__.__init__.__globals__",
        "params.update(greeting='pwned')",
    ],
    ids=["subclasses of object", "globals through cycler", "globals through params", "mutating params"],
)
def test_template_sandbox_escapes_are_refused(tmp_path: Path, expression: str) -> None:
    """A template in a ConfigMap is user input rendered in the hub: an escape from the sandbox is an
    AddonError naming the addon, never code run."""
    body = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hello, namespace: default}\n"
        f"data: {{g: '{{{{ {expression} }}}}'}}\n"
    )
    _write_addon(tmp_path / "hello", "v1", body)
    definition = addons.load_set(tmp_path / "hello")[0]
    with pytest.raises(addons.AddonError, match=r"addon hello cm\.yaml\.j2") as error:
        addons.render(definition, FACTS)
    assert "refused by the template sandbox" in str(error.value)


def test_prune_lists_what_is_gone_in_reverse() -> None:
    assert addons.to_prune(["a", "b", "c"], ["b"]) == ["c", "a"]
    ref = addons.object_ref(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "n"}}
    )
    assert addons.parse_ref(ref) == ("v1", "ConfigMap", "n", "x")


BINARIES = BinarySet(
    kube_apiserver=Path("/bin/v/kube-apiserver"),
    kube_controller_manager=Path("/bin/v/kube-controller-manager"),
    kube_scheduler=Path("/bin/v/kube-scheduler"),
    kubectl=Path("/bin/v/kubectl"),
    etcd=Path("/bin/v/etcd"),
    etcdctl=Path("/bin/v/etcdctl"),
    etcdutl=Path("/bin/v/etcdutl"),
    kwok=Path("/bin/v/kwok"),
    kubernetes_version="v1.36.5",
)
GROUP = Group("ns", "demo")
PARAMS = components.ClusterParameters(
    name="demo",
    group=GROUP,
    endpoint="https://127.0.0.1:7000",
    bind_address="127.0.0.1",
    port=7000,
    service_cidr="10.96.0.0/16",
    pod_cidr="10.244.0.0/16",
)
ETCD = components.EtcdAccess(("https://127.0.0.1:2379",), "/registry", b"ca", b"cert", b"key")


def _layout(name: str) -> Layout:
    return Layout(data_dir=PurePosixPath(f"/r/{name}/data"), files_dir=PurePosixPath(f"/r/{name}/files"))


def _pki(validity_minutes: int = 10) -> pki.ClusterPKI:
    params = certificates.PKIParameters(
        "demo",
        ("127.0.0.1",),
        (),
        "10.96.0.1",
        "cluster.local",
        timedelta(minutes=validity_minutes),
    )
    return certificates.new_pki(params)


def test_service_account_issuer_follows_the_cluster_domain() -> None:
    default = components.apiserver_spec(PARAMS, _layout("a"), BINARIES, _pki(), ETCD)
    assert "--service-account-issuer=https://kubernetes.default.svc.cluster.local" in default.argv
    custom = dataclasses.replace(PARAMS, cluster_domain="corp.example")
    spec = components.apiserver_spec(custom, _layout("a"), BINARIES, _pki(), ETCD)
    assert "--service-account-issuer=https://kubernetes.default.svc.corp.example" in spec.argv
    assert spec.revision != default.revision


def test_apiserver_spec() -> None:
    cluster_pki = _pki()
    spec = components.apiserver_spec(PARAMS, _layout("api"), BINARIES, cluster_pki, ETCD)
    assert spec.name == names.APISERVER and spec.argv[0] == "/bin/v/kube-apiserver"
    assert "--secure-port=7000" in spec.argv and "--etcd-servers=https://127.0.0.1:2379" in spec.argv
    assert "--etcd-prefix=/registry" in spec.argv and "--service-cluster-ip-range=10.96.0.0/16" in spec.argv
    assert spec.files["pki/etcd/ca.crt"] == b"ca" and spec.files["pki/apiserver-etcd-client.key"] == b"key"
    assert components.revision_version(spec.revision) == "v1.36.5"


def test_renewal_restarts_clients_but_not_the_apiserver() -> None:
    first, second = _pki(), _pki()
    second = certificates.renew_leaves(
        first,
        certificates.PKIParameters(
            "demo", ("127.0.0.1",), (), "10.96.0.1", "cluster.local", timedelta(minutes=10)
        ),
    )
    api = [components.apiserver_spec(PARAMS, _layout("api"), BINARIES, p, ETCD) for p in (first, second)]
    assert api[0].revision == api[1].revision and api[0].files != api[1].files
    cm = [
        components.controller_manager_spec(PARAMS, _layout("cm"), BINARIES, p, 7001) for p in (first, second)
    ]
    assert cm[0].revision != cm[1].revision


def test_kwok_and_scheduler_specs() -> None:
    cluster_pki = _pki()
    kwok = components.kwok_spec(PARAMS, _layout("kwok"), BINARIES, cluster_pki, 7003)
    assert "--server-address=127.0.0.1:7003" in kwok.argv and "--cidr=10.244.0.0/16" in kwok.argv
    scheduler = components.scheduler_spec(PARAMS, _layout("s"), BINARIES, cluster_pki, 7002)
    assert b"server: https://127.0.0.1:7000" in scheduler.files["kubeconfig"]
    assert components.health_url(names.KWOK, "127.0.0.1", 7003) == "http://127.0.0.1:7003/healthz"
