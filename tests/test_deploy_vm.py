"""VMs: `render --target vm` (kong.conf, systemd units, docker-compose, env files, Dataplanes) and the
static kong/ and kuma/ folders, which are that target's output for a reference catalog."""

from __future__ import annotations

import configparser
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_observability import example_env, render_example

from gatewayctl.catalog.load import load_catalog
from gatewayctl.deploy_plan import deploy_plan, format_plan
from gatewayctl.render import render
from gatewayctl.render.stack import IMAGES

ROOT = Path(__file__).resolve().parent.parent
VM_EXAMPLES = ["assistant", "detection-api"]

# The static kong/ and kuma/ folders are this catalog's vm output (UPDATE_GOLDEN=1 rewrites them).
REFERENCE = """\
format: 1
name: example
gateway: {mode: db, metrics: {status_codes: true, latency: true}}
mesh: {enabled: true, metrics: {prometheus: {port: 5670, path: /metrics}}}
services:
  - name: example
    url: http://10.0.0.10:8080
    routes: [{name: api, paths: [/example]}]
deployment:
  platform: vm
  kong: {database: postgres}
  vm: {kong_hosts: [10.0.0.5], kuma_cp: 10.0.0.6, observability_host: 10.0.0.7}
"""
STATIC = {
    "vm/kong/kong.conf": "kong/kong.conf",
    "vm/kong/kong.service": "kong/kong.service",
    "vm/kong/docker-compose.yaml": "kong/docker-compose.yaml",
    "vm/kuma/kuma-cp.yaml": "kuma/kuma-cp.yaml",
    "vm/kuma/kuma-cp.service": "kuma/kuma-cp.service",
    "vm/kuma/kuma-dp@.service": "kuma/kuma-dp@.service",
    "vm/kuma/kuma.sysusers.conf": "kuma/kuma.sysusers.conf",
    "vm/kuma/dataplanes/example.yaml": "kuma/dataplane.yaml",
    "vm/kuma/dataplanes/kong-10-0-0-5.yaml": "kuma/dataplane-kong.yaml",
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("vm")
    return {n: render_example(n, base / n, ["kong", "observability", "vm"]) for n in VM_EXAMPLES}


def test_static_kong_and_kuma_folders_are_the_reference_render(tmp_path: Path) -> None:
    (tmp_path / "catalog.yaml").write_text(REFERENCE)
    loaded = load_catalog(tmp_path / "catalog.yaml")
    files = {f.path: f.content for f in render(loaded, ["vm"], loaded.secrets({}))}
    for produced, static in STATIC.items():
        path = ROOT / static
        if os.environ.get("UPDATE_GOLDEN"):
            path.write_bytes(files[produced])
        assert path.read_bytes() == files[produced], f"{static} is stale: UPDATE_GOLDEN=1 pytest {__file__}"


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


@pytest.mark.parametrize("path", sorted([*ROOT.glob("kong/*.service"), *ROOT.glob("kuma/*.service")]), ids=str)
def test_systemd_units_are_complete(path: Path) -> None:
    u = unit(path)
    assert {"Unit", "Service", "Install"} <= set(u.sections())
    assert u["Service"]["ExecStart"].startswith("/")
    assert "Restart" in u["Service"]


def test_every_unit_user_is_created_by_the_sysusers_file_the_plan_installs_first(tmp_path: Path) -> None:
    """systemd refuses to start a unit whose User= does not exist (status 217/USER): the users the Kuma
    units run as come from the rendered sysusers.d file, installed before kuma-cp is enabled."""
    created = {
        line.split()[1] for line in (ROOT / "kuma/kuma.sysusers.conf").read_text().splitlines() if line.startswith("u ")
    }
    for path in [*ROOT.glob("kong/*.service"), *ROOT.glob("kuma/*.service")]:
        user = unit(path)["Service"].get("User", "root")
        assert user == "root" or user in created, f"{path.name}: User={user} is created by nothing"
    (tmp_path / "catalog.yaml").write_text(REFERENCE)
    catalog = load_catalog(tmp_path / "catalog.yaml").catalog
    out = tmp_path / "out"
    text = format_plan(deploy_plan(catalog, tmp_path / "catalog.yaml", out))
    sysusers = text.index(f"{out}/vm/kuma/kuma.sysusers.conf")
    assert text.index("systemd-sysusers", sysusers) < text.index("enable --now kuma-cp")
    assert "kuma.sysusers.conf" in text[text.index("enable --now kuma-cp") :]  # service hosts: kuma-dp


def compose_sources_exist(compose: dict[str, Any], folder: Path) -> None:
    named = set(compose.get("volumes", {}))
    for name, service in compose["services"].items():
        image = service["image"]
        assert image in IMAGES.values() or image.startswith(("kong:", "kong/kong-gateway:")), f"{name}: {image}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (folder / source).exists(), f"{name}: {source} is not in the bundle"
            else:
                assert source in named, f"{name}: volume {source} is not declared"
        for env_file in service.get("env_file", []):
            assert (folder / env_file).exists(), f"{name}: {env_file} is not in the bundle"
        for dep in service.get("depends_on", []):
            assert dep in compose["services"]
        for port in service.get("ports", []):
            host, container = port.split(":")[-2:]
            assert int(container) > 0 and int(host) > 0


@pytest.mark.parametrize("name", VM_EXAMPLES)
def test_vm_bundle(name: str, rendered: dict[str, Path]) -> None:
    out = rendered[name]
    catalog = load_catalog(ROOT / "examples" / f"{name}.yaml").catalog
    k = catalog.deployment.kong
    conf = (out / "vm/kong/kong.conf").read_text()
    assert f"status_listen = 0.0.0.0:{k.status_port}" in conf
    assert ("database = off" in conf) == (k.database == "off")
    for folder in ("kong", "observability"):
        compose = yaml.safe_load((out / "vm" / folder / "docker-compose.yaml").read_text())
        compose_sources_exist(compose, out / "vm" / folder)
    kong = yaml.safe_load((out / "vm/kong/docker-compose.yaml").read_text())["services"]["kong"]
    assert f"{k.status_port}:{k.status_port}" in kong["ports"]
    scrape = yaml.safe_load((out / "observability/prometheus/prometheus.yml").read_text())
    assert "kong" in {j["job_name"] for j in scrape["scrape_configs"]}
    if k.database == "off":
        config = yaml.safe_load((out / "vm/kong/kong.yaml").read_text())
        assert "_info" not in config and config["_format_version"] == "3.0"


@pytest.mark.parametrize("name", VM_EXAMPLES)
def test_vm_secrets_only_in_private_files(name: str, rendered: dict[str, Path]) -> None:
    values = [v for v in example_env().values() if len(v) > 8]
    for path in (rendered[name] / "vm").rglob("*"):
        if path.is_file() and any(v in path.read_text() for v in values):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            assert path.suffix in (".env", ".yaml") and "compose" not in path.name, path
    grafana = (rendered[name] / "vm/observability/grafana.env").read_text()
    assert grafana.startswith("GF_SECURITY_ADMIN_PASSWORD=example-")


@pytest.mark.parametrize("name", VM_EXAMPLES)
def test_kong_in_docker_can_read_its_private_declarative_config(name: str, rendered: dict[str, Path]) -> None:
    """kong.yaml is 0600 (it holds credentials) and the image runs as kong (uid 1000), which cannot read a
    file the deploying user owns: the DB-less container runs as the file's owner, which compose insists on
    (`${KONG_USER:?...}`) and the plan says how to set; DB mode mounts no private file and keeps the image's user."""
    out = rendered[name]
    catalog = load_catalog(ROOT / "examples" / f"{name}.yaml").catalog
    kong = yaml.safe_load((out / "vm/kong/docker-compose.yaml").read_text())["services"]["kong"]
    text = format_plan(deploy_plan(catalog, ROOT / "examples" / f"{name}.yaml", out))
    if catalog.deployment.kong.database == "off":
        assert "./kong.yaml:/etc/kong/kong.yaml:ro" in kong["volumes"]
        assert stat.S_IMODE((out / "vm/kong/kong.yaml").stat().st_mode) == 0o600
        assert kong["user"].startswith("${KONG_USER:?") and kong["user"].endswith("}")
        assert "KONG_USER=$(stat -c %u:%g kong.yaml) docker compose up -d kong" in text
    else:
        assert "user" not in kong and not any("kong.yaml" in v for v in kong["volumes"])
        assert "KONG_USER" not in text


def test_dataplanes_for_mesh_services(tmp_path: Path) -> None:
    dp = yaml.safe_load((ROOT / "kuma/dataplane.yaml").read_text())
    assert dp["type"] == "Dataplane" and dp["networking"]["address"] == "10.0.0.10"
    inbound = dp["networking"]["inbound"][0]
    assert inbound["port"] == 8080 and inbound["tags"]["kuma.io/service"] == "example"


def test_every_dataplane_is_selected_by_its_services_policies(tmp_path: Path) -> None:
    """Kuma selects `targetRef: {kind: Dataplane, labels}` by the Dataplane's resource labels, not its inbound
    tags: a Dataplane without them got no MeshTrafficPermission (strict mTLS then refuses every caller)."""
    body = REFERENCE.replace("    routes: [{name: api, paths: [/example]}]\n", "").replace(
        "services:\n",
        "services:\n"
        "  - name: caller\n"
        "    url: http://10.0.0.11:9090\n"
        "    mesh: {selector: {app: caller, tier: web}, rate_limit: {requests: 10, interval: 1s}}\n",
    )
    example = "url: http://10.0.0.10:8080\n"
    body = body.replace(example, example + "    mesh: {allow_from: [caller]}\n")
    (tmp_path / "catalog.yaml").write_text(body)
    loaded = load_catalog(tmp_path / "catalog.yaml")
    rendered = render(loaded, ["kuma", "vm"], loaded.secrets({}))
    files = {f.path: yaml.safe_load(f.content) for f in rendered if f.path.endswith(".yaml")}
    dataplanes = {
        d["name"]: d
        for p, d in files.items()
        if p.startswith("vm/kuma/dataplanes/") and "gateway" not in d["networking"]
    }
    assert sorted(dataplanes) == ["caller", "example"]
    targets = [d["spec"]["targetRef"] for p, d in files.items() if p.startswith("kuma/universal/") and "spec" in d]
    selecting = [t["labels"] for t in targets if t["kind"] == "Dataplane"]
    assert {"app": "example"} in selecting and {"app": "caller", "tier": "web"} in selecting
    for labels in selecting:
        chosen = [n for n, dp in dataplanes.items() if labels.items() <= dp.get("labels", {}).items()]
        assert len(chosen) == 1, (labels, chosen)


def test_a_mesh_service_whose_url_holds_a_reference_renders_without_reading_the_reference(tmp_path: Path) -> None:
    """The url is resolved only for Kong: its port is not parsed from the unresolved text (that was a
    traceback); like its address, it is unknown, so no Dataplane is written for it."""
    body = REFERENCE.replace("url: http://10.0.0.10:8080", 'url: "http://10.0.0.10:${env:GW_QA_PORT}"')
    (tmp_path / "catalog.yaml").write_text(body)
    loaded = load_catalog(tmp_path / "catalog.yaml")
    files = {f.path for f in render(loaded, ["vm"], loaded.secrets({"GW_QA_PORT": "8080"}))}
    assert "vm/kuma/kuma-cp.yaml" in files
    assert [f for f in files if f.startswith("vm/kuma/dataplanes/")] == ["vm/kuma/dataplanes/kong-10-0-0-5.yaml"]


def test_kong_joins_the_mesh_as_a_delegated_gateway_on_every_kong_host(tmp_path: Path) -> None:
    """With strict mTLS a mesh service accepts only callers its MeshTrafficPermission names, and it names Kong
    by `mesh.gateway_selector` (MeshSubset tags): each Kong host gets a DELEGATED gateway Dataplane carrying
    those tags, and the plan starts its kuma-dp there with a token only kuma-dp can read."""
    body = REFERENCE.replace(
        "mesh: {enabled: true,", "mesh: {enabled: true, gateway_selector: {app: edge, tier: front},"
    )
    body = body.replace("kong_hosts: [10.0.0.5]", "kong_hosts: [10.0.0.5, 10.0.0.8]")
    (tmp_path / "catalog.yaml").write_text(body)
    loaded = load_catalog(tmp_path / "catalog.yaml")
    rendered = render(loaded, ["kuma", "vm"], loaded.secrets({}))
    files = {f.path: yaml.safe_load(f.content) for f in rendered if f.path.endswith(".yaml")}
    callers = [
        src["targetRef"]["tags"]
        for p, d in files.items()
        if p.startswith("kuma/universal/") and d.get("type") == "MeshTrafficPermission"
        for src in d["spec"]["from"]
    ]
    assert {"app": "edge", "tier": "front"} in callers
    for host in ("10.0.0.5", "10.0.0.8"):
        name = "kong-" + host.replace(".", "-")
        dp = files[f"vm/kuma/dataplanes/{name}.yaml"]
        assert dp["type"] == "Dataplane" and dp["name"] == name and dp["mesh"] == "default"
        assert dp["networking"]["address"] == host and "inbound" not in dp["networking"]
        gateway = dp["networking"]["gateway"]
        assert gateway["type"] == "DELEGATED"
        assert gateway["tags"] == {"kuma.io/service": "kong", "app": "edge", "tier": "front"}
        assert {"app": "edge", "tier": "front"}.items() <= gateway["tags"].items()
    out = tmp_path / "out"
    text = format_plan(deploy_plan(loaded.catalog, tmp_path / "catalog.yaml", out))
    for host in ("10.0.0.5", "10.0.0.8"):
        name = "kong-" + host.replace(".", "-")
        assert f"{out}/vm/kuma/dataplanes/{name}.yaml {host}:/etc/kuma/dataplanes/{name}.yaml" in text
        assert f"install -o kuma-dp -g kuma-dp -m 0600 /dev/stdin /etc/kuma/tokens/{name}" in text
        assert f"systemctl enable --now kuma-dp@{name}" in text
    assert text.index("enable --now kuma-cp") < text.index("kuma-dp@kong-10-0-0-5")


def test_kuma_cp_stores_into_kongs_postgres_and_the_password_stays_private(tmp_path: Path) -> None:
    """A memory store loses the Mesh, the policies and the dataplane-token signing key on every restart: with a
    Postgres for Kong, kuma-cp keeps them there (database kuma, created before kuma-cp starts); the password is
    only in the 0600 env file systemd reads, never in kuma-cp.yaml or the unit."""
    body = REFERENCE.replace(
        "kong: {database: postgres}", 'kong: {database: postgres, postgres_password: "${env:GW_QA_PG}"}'
    )
    (tmp_path / "catalog.yaml").write_text(body)
    loaded = load_catalog(tmp_path / "catalog.yaml")
    password = "qa6-postgres-secret-value"
    files = {f.path: f for f in render(loaded, ["vm"], loaded.secrets({"GW_QA_PG": password}))}
    config = yaml.safe_load(files["vm/kuma/kuma-cp.yaml"].content)
    assert config["store"] == {
        "type": "postgres",
        "postgres": {"host": "10.0.0.5", "port": 5432, "user": "kong", "dbName": "kuma"},
    }
    env = files["vm/kuma/kuma-cp.env"]
    assert env.content == f"KUMA_STORE_POSTGRES_PASSWORD={password}\n".encode() and env.mode == 0o600
    assert [p for p, f in files.items() if password.encode() in f.content and f.mode != 0o600] == []
    service = configparser.ConfigParser(strict=False, interpolation=None)
    service.read_string(files["vm/kuma/kuma-cp.service"].content.decode())
    assert service["Service"]["EnvironmentFile"] == "/etc/kuma/kuma-cp.env"
    assert "kuma-cp migrate up" in service["Service"]["ExecStartPre"]
    out = tmp_path / "out"
    steps = deploy_plan(loaded.catalog, tmp_path / "catalog.yaml", out)
    text = format_plan(steps)
    assert password not in text
    assert (
        text.index("createdb -U kong kuma")
        < text.index(f"{out}/vm/kuma/kuma-cp.env")
        < text.index("enable --now kuma-cp")
    )
    assert text.count("docker compose up -d postgres kong-migrations") == 1
    assert "in memory" not in text


def test_without_postgres_kuma_cp_is_in_memory_and_the_plan_says_what_a_restart_loses(tmp_path: Path) -> None:
    body = REFERENCE.replace("kong: {database: postgres}", 'kong: {database: "off"}').replace(
        "mode: db", "mode: dbless"
    )
    (tmp_path / "catalog.yaml").write_text(body)
    loaded = load_catalog(tmp_path / "catalog.yaml")
    files = {f.path: f.content for f in render(loaded, ["vm"], loaded.secrets({}))}
    assert yaml.safe_load(files["vm/kuma/kuma-cp.yaml"])["store"] == {"type": "memory"}
    assert "vm/kuma/kuma-cp.env" not in files and b"EnvironmentFile" not in files["vm/kuma/kuma-cp.service"]
    text = format_plan(deploy_plan(loaded.catalog, tmp_path / "catalog.yaml", tmp_path / "out"))
    assert "kuma-cp keeps its state in memory" in text and "dataplane-token signing key" in text
    assert "createdb" not in text


def test_kubernetes_catalogs_render_no_vm(tmp_path: Path) -> None:
    out = render_example("platform", tmp_path / "p", ["vm"])
    assert not list(out.rglob("vm/**/*.yaml"))


def test_prometheus_container_reaches_kong_on_the_same_machine(rendered: dict[str, Path]) -> None:
    """A loopback address in the catalog is the Prometheus container itself: it is scraped through the host
    gateway, which the compose file maps; real addresses are scraped as they are."""
    single = rendered["assistant"]
    kong = json.loads((single / "observability/prometheus/targets/kong.json").read_text())
    assert [t.split(":")[0] for group in kong for t in group["targets"]] == ["host.docker.internal"]
    compose = yaml.safe_load((single / "vm/observability/docker-compose.yaml").read_text())
    assert "host.docker.internal:host-gateway" in compose["services"]["prometheus"]["extra_hosts"]
    spread = json.loads((rendered["detection-api"] / "observability/prometheus/targets/kong.json").read_text())
    assert [t.split(":")[0] for group in spread for t in group["targets"]] == ["10.40.0.5", "10.40.0.6"]
