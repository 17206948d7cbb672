"""VMs: `render --target vm` (kong.conf, systemd units, docker-compose, env files, Dataplanes) and the
static kong/ and kuma/ folders, which are that target's output for a reference catalog."""

from __future__ import annotations

import configparser
import json
import os
import re
import stat
from collections.abc import Callable
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
    assert grafana.startswith('GF_SECURITY_ADMIN_PASSWORD="example-')


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
    assert env.content == f'KUMA_STORE_POSTGRES_PASSWORD="{password}"\n'.encode() and env.mode == 0o600
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


# The two parsers of the rendered env files, re-implemented from their sources to check what each makes of a
# rendered line: systemd's for `EnvironmentFile=`, docker compose's for `env_file:`.

SYSTEMD_WHITESPACE, SYSTEMD_NEWLINE, SYSTEMD_COMMENTS = " \t\n\r", "\n\r", "#;"
SHELL_NEED_ESCAPE = '"\\`$'


def systemd_env_file(text: str) -> dict[str, str]:
    """systemd's reading of an EnvironmentFile= (src/core/execute.c calls load_env_file, which expands
    nothing): src/basic/env-file.c, parse_env_file_internal, one branch a state; load_env_file_push keeps the
    last assignment of a name. The file is read as a C string: it ends at a NUL."""
    env: dict[str, str] = {}
    state, key, value = "PRE_KEY", "", ""
    last_key_ws: int | None = None
    last_value_ws: int | None = None

    def push(chomp: bool) -> None:
        env[key if last_key_ws is None else key[:last_key_ws]] = (
            value[:last_value_ws] if chomp and last_value_ws is not None else value
        )

    for c in text.split("\0")[0]:
        if state == "PRE_KEY":
            if c in SYSTEMD_COMMENTS:
                state = "COMMENT"
            elif c not in SYSTEMD_WHITESPACE:
                state, key, last_key_ws = "KEY", c, None
        elif state == "KEY":
            if c in SYSTEMD_NEWLINE:
                state, key = "PRE_KEY", ""
            elif c == "=":
                state, last_value_ws = "PRE_VALUE", None
            else:
                if c not in SYSTEMD_WHITESPACE:
                    last_key_ws = None
                elif last_key_ws is None:
                    last_key_ws = len(key)
                key += c
        elif state == "PRE_VALUE":
            if c in SYSTEMD_NEWLINE:
                push(chomp=False)
                state, key, value = "PRE_KEY", "", ""
            elif c == "'":
                state = "SINGLE_QUOTE_VALUE"
            elif c == '"':
                state = "DOUBLE_QUOTE_VALUE"
            elif c == "\\":
                state = "VALUE_ESCAPE"
            elif c not in SYSTEMD_WHITESPACE:
                state, value = "VALUE", value + c
        elif state == "VALUE":
            if c in SYSTEMD_NEWLINE:
                push(chomp=True)
                state, key, value = "PRE_KEY", "", ""
            elif c == "\\":
                state, last_value_ws = "VALUE_ESCAPE", None
            else:
                if c not in SYSTEMD_WHITESPACE:
                    last_value_ws = None
                elif last_value_ws is None:
                    last_value_ws = len(value)
                value += c
        elif state == "VALUE_ESCAPE":
            state = "VALUE"
            if c not in SYSTEMD_NEWLINE:  # an escaped line break continues the line
                value += c
        elif state == "SINGLE_QUOTE_VALUE":
            if c == "'":
                state = "PRE_VALUE"
            else:
                value += c
        elif state == "DOUBLE_QUOTE_VALUE":
            if c == '"':
                state = "PRE_VALUE"
            elif c == "\\":
                state = "DOUBLE_QUOTE_VALUE_ESCAPE"
            else:
                value += c
        elif state == "DOUBLE_QUOTE_VALUE_ESCAPE":
            state = "DOUBLE_QUOTE_VALUE"
            if c in SHELL_NEED_ESCAPE:
                value += c
            elif c != "\n":  # any other character keeps its backslash
                value += "\\" + c
        elif state == "COMMENT":
            if c == "\\":
                state = "COMMENT_ESCAPE"
            elif c in SYSTEMD_NEWLINE:
                state = "PRE_KEY"
        elif state == "COMMENT_ESCAPE":
            state = "PRE_KEY" if c in SYSTEMD_NEWLINE else "COMMENT"
    if state not in ("PRE_KEY", "KEY", "COMMENT", "COMMENT_ESCAPE"):
        push(chomp=state == "VALUE")
    return env


# Go's unicode.IsSpace, and compose-go dotenv/parser.go's isSpace (a space but not a line break).
GO_SPACES = "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))
DOTENV_SPACES = "\t\v\f\r \x85\xa0"


# compose-go template/template.go, DefaultPattern (the `(?i:...)` of Go applies to the names only).
COMPOSE_TEMPLATE = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|\{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](.*))?)\}|(?P<invalid>)))",
    re.IGNORECASE,
)
# compose-go dotenv/parser.go, escapeSeqRegex, and what strconv.UnquoteChar makes of each escape.
COMPOSE_ESCAPE = re.compile(r"(\\(?:[abcfnrtv$\"\\]|0[0-9]{0,3}))")  # (RE2's \d is ASCII)
GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", '"': '"', "\\": "\\"}


def compose_substitute(value: str, lookup: Callable[[str], str | None], found: dict[str, str]) -> str:
    """compose-go dotenv/godotenv.go, expandVariables: template.Substitute, the lookup first, then the names
    this file set before; an unset name is blank."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["named"] or match["braced"]
        if not name or not re.fullmatch(r"[_a-z][_a-z0-9]*", name, re.IGNORECASE):
            raise ValueError(f"compose: invalid or modified template {match[0]!r}")
        resolved = lookup(name)
        return resolved if resolved is not None else found.get(name, "")

    return COMPOSE_TEMPLATE.sub(replace, value)


def compose_expand_escapes(value: str) -> str:
    """compose-go dotenv/parser.go, expandEscapes."""

    def replace(match: re.Match[str]) -> str:
        escape = match[0]
        if escape == "\\$":
            return "$$"
        if escape.startswith("\\0"):
            escape = escape.replace("\\0", "\\", 1)
            digits = escape[1:]
            if len(digits) == 3 and all(d in "01234567" for d in digits) and int(digits, 8) <= 255:
                return chr(int(digits, 8))
            return escape  # UnquoteChar fails: the match, rewritten
        return GO_ESCAPES.get(escape[1], escape)  # `\c` is no Go escape: kept

    return COMPOSE_ESCAPE.sub(replace, value)


def compose_env_file(text: str, lookup: Callable[[str], str | None]) -> dict[str, str]:
    """docker compose's reading of an `env_file:` (compose-go types/project.go, WithServicesEnvironmentResolved:
    the file is parsed, the values are not interpolated again): compose-go dotenv/parser.go, parse with
    getStatementStart, locateKeyName and extractVarValue."""
    found: dict[str, str] = {}
    src = text.removeprefix("\ufeff")
    while True:
        start = next((i for i, c in enumerate(src) if c not in GO_SPACES), None)  # getStatementStart
        if start is None:
            return found
        src = src[start:]
        if src[0] == "#":
            if "\n" not in src:
                return found
            src = src[src.index("\n") :]
            continue
        if re.match(r"export[\t\n\f\r ]+", src):  # locateKeyName
            src = src.removeprefix("export").lstrip(DOTENV_SPACES)
        for i, c in enumerate(src):
            if c in DOTENV_SPACES:
                continue
            if c in "=:\n":
                key, offset, inherited = src[:i], i + 1, c == "\n"
                break
            if c not in "_.-[]" and not c.isalnum():
                raise ValueError(f"compose: unexpected character {c!r} in variable name")
        else:
            raise ValueError("compose: no end to the variable name")
        key = key.rstrip(GO_SPACES)
        if " " in key:
            raise ValueError("compose: key cannot contain a space")
        src = src[offset:].lstrip(DOTENV_SPACES)
        if inherited:
            if (inherited_value := lookup(key)) is not None:
                found[key] = inherited_value
            continue
        if not src or src[0] not in "'\"":  # extractVarValue, unquoted
            line, _, src = src.partition("\n")
            line = line.split(" #", 1)[0].rstrip(GO_SPACES)
            found[key] = compose_substitute(line, lookup, found)
            continue
        quote, chars, escaped = src[0], "", False
        for i in range(1, len(src)):
            c = src[i]
            if c != quote:
                if not escaped and c == "\\":
                    escaped = True
                    continue
                if escaped:
                    escaped, chars = False, chars + "\\"
                chars += c
                continue
            if escaped:  # an escaped quote: the quote, without its backslash
                escaped, chars = False, chars + c
                continue
            if quote == '"':
                chars = compose_substitute(compose_expand_escapes(chars), lookup, found)
            found[key], src = chars, src[i + 1 :]
            break
        else:
            raise ValueError("compose: unterminated quoted value")


def test_the_parser_ports_read_their_upstream_tests_examples() -> None:
    """A few cases of src/test/test-env-file.c and compose-go dotenv/godotenv_test.go (TestParsing)."""
    assert systemd_env_file("a=a\nb=b\\\nc\nd=d\\\ne\\\nf\ng=g\\ \nh=h\ni=i\\") == {
        "a": "a",
        "b": "bc",
        "d": "def",
        "g": "g ",
        "h": "h",
        "i": "i",
    }
    assert systemd_env_file('# Generated\n\nHWMON_MODULES="coretemp f71882fg"\n\nMODULE_0=coretemp') == {
        "HWMON_MODULES": "coretemp f71882fg",
        "MODULE_0": "coretemp",
    }
    assert systemd_env_file("a=\nb=") == {"a": "", "b": ""}
    cases = {
        "FOO= bar": "bar",
        'FOO="escaped\\"bar"': 'escaped"bar',
        "export OPTION_B='\\n'": "\\n",
        'FOO="bar\\nbaz"': "bar\nbaz",
        "FOO=a\\tb": "a\\tb",
        'FOO="Z\\aZ\\bZ\\fZ\\nZ\\rZ\\tZ\\vZ\\\\Z\\0123Z"': "Z\aZ\bZ\fZ\nZ\rZ\tZ\vZ\\ZSZ",
        "FOO=bar # this is foo": "bar",
        "FOO=123#not-an-inline-comment": "123#not-an-inline-comment",
        'FOO="bar#baz"#': "bar#baz",
        "OPTION_K='Let\\'s go!'": "Let's go!",
        "FOO=$BAR": "<BAR>",
        'FOO="\\$BAR"': "$BAR",
    }
    for line, value in cases.items():
        assert list(compose_env_file(line, lambda name: f"<{name}>").values()) == [value], line
    unset: Callable[[str], str | None] = lambda name: None  # noqa: E731
    assert compose_env_file("FOO=test\nBAR=$FOO", unset) == {"FOO": "test", "BAR": "test"}
    assert compose_env_file("BAR='quote $FOO'", unset) == {"BAR": "quote $FOO"}
    assert compose_env_file('FOO=test\nBAR="foo\\${FOO} ${FOO}"', unset) == {"FOO": "test", "BAR": "foo${FOO} test"}


def env_file_readers(files: dict[str, bytes]) -> dict[str, set[str]]:
    """{rendered env file: the parsers reading it}, from the units' `EnvironmentFile=` (the plan copies
    vm/<dir>/<file> to /etc/<dir>/<file>) and the compose files' `env_file:` (next to the compose file)."""
    readers: dict[str, set[str]] = {}
    for path, content in files.items():
        folder = path.rsplit("/", 1)[0]
        if path.endswith(".service"):
            for line in content.decode().splitlines():
                if line.startswith("EnvironmentFile="):
                    name = line.removeprefix("EnvironmentFile=").lstrip("-")
                    assert name.startswith("/etc/" + folder.rsplit("/", 1)[1] + "/"), line
                    readers.setdefault(f"{folder}/{name.rsplit('/', 1)[1]}", set()).add("systemd")
        elif path.endswith("docker-compose.yaml"):
            for service in yaml.safe_load(content)["services"].values():
                for name in service.get("env_file", []):
                    readers.setdefault(f"{folder}/{name}", set()).add("compose")
    return readers


SECRETS_VM = (
    REFERENCE.replace("kong: {database: postgres}", 'kong: {database: postgres, postgres_password: "${env:PG}"}')
    + '  observability: {grafana: {admin_password: "${env:GRAFANA}"}}\n'
)
# Values both parsers (and Kong) take as they are once written: no form of them may be altered.
TRICKY = [
    "pa$word",
    "$HOME",
    "${HOME}",
    "${HOME:-x}",
    "$$",
    "ends$",
    "\\$HOME",
    "it's",
    "'",
    "'quoted'",
    'say "hi"',
    '"',
    "a\"b'c",
    "back\\slash",
    "ends\\",
    "\\",
    '\\"',
    "\\'",
    "\\n\\t",
    "\\0123",
    "# not a comment",
    "a #b",
    "a#b",
    ";semi",
    "=eq=",
    "export X=1",
    "`id`",
    "\\`",
    "%i %n",
    "tab\tinside",
    "pässwörd€",
    "inner  spaces",
]
# Values only compose reads (grafana.env), which Kong never sees and compose takes as they are.
TRICKY_FOR_COMPOSE = ["  spaces around  ", "\ttab", "esc\x1b[0m", "del\x7f"]
# Values Grafana itself would expand (refused for it on every platform: test_deploy_kubernetes.py).
GRAFANA_EXPANDS = {"${HOME}", "${HOME:-x}"}


@pytest.mark.parametrize("value", TRICKY + TRICKY_FOR_COMPOSE)
def test_every_env_file_reader_reads_the_exact_secret(tmp_path: Path, value: str) -> None:
    """A password holding `$`, a quote, `\\`, `#` or spaces at either end was written as it is
    (`NAME=value`): docker compose interpolated `$VAR` and cut at ` #`, systemd dropped backslashes and quotes,
    both stripped the spaces. Each env file is now read back by the parsers that read it in production."""
    (tmp_path / "catalog.yaml").write_text(SECRETS_VM)
    loaded = load_catalog(tmp_path / "catalog.yaml")
    pg = value if value in TRICKY else "plain-pg-password"
    grafana = "plain-grafana-password" if value in GRAFANA_EXPANDS else value
    files = {f.path: f.content for f in render(loaded, ["vm"], loaded.secrets({"PG": pg, "GRAFANA": grafana}))}
    readers = env_file_readers(files)
    assert readers == {
        "vm/kong/kong.env": {"systemd", "compose"},
        "vm/kuma/kuma-cp.env": {"systemd"},
        "vm/observability/grafana.env": {"compose"},
    }
    expected = {
        "vm/kong/kong.env": {"KONG_PG_PASSWORD": pg, "POSTGRES_PASSWORD": pg},
        "vm/kuma/kuma-cp.env": {"KUMA_STORE_POSTGRES_PASSWORD": pg},
        "vm/observability/grafana.env": {"GF_SECURITY_ADMIN_PASSWORD": grafana},
    }
    for path, parsers in readers.items():
        text = files[path].decode()
        if "systemd" in parsers:
            assert systemd_env_file(text) == expected[path], path
        if "compose" in parsers:
            # A set variable for every name: whatever compose interpolates changes the value.
            assert compose_env_file(text, lambda name: f"<{name}>") == expected[path], path


@pytest.mark.parametrize(
    ("pg", "grafana", "refused"),
    [
        ("nul\0-0031", "fine-grafana", "deployment.kong.postgres_password: the value of ${file:pg} holds a NUL"),
        ("fine-pg", "nul\0-0032", "admin_password: the value of ${file:grafana} holds a NUL character"),
        ("esc\x1b-0033", "fine-grafana", "the value of ${file:pg} holds a control character: systemd before"),
        (" lead-0034", "fine-grafana", "the value of ${file:pg} starts or ends with white space, which Kong strips"),
        ("trail-0035\t", "fine-grafana", "the value of ${file:pg} starts or ends with white space"),
    ],
)
def test_a_secret_no_env_file_can_pass_on_exactly_is_a_located_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg: str, grafana: str, refused: str
) -> None:
    """No quoting brings these to their readers: a NUL (from a secret file) ends systemd's reading and no
    environment holds one; systemd before 248 dropped a variable holding a control character
    (src/basic/env-util.c, env_value_is_valid, `string_has_cc(e, "\\t")`); Kong strips white space around
    KONG_PG_PASSWORD (kong/conf_loader/parse.lua, parse_value) while Postgres keeps it: Kong could not log in.
    Compose alone reads grafana.env, so there a control character or surrounding spaces are fine (above)."""
    from gatewayctl.cli import main

    text = SECRETS_VM.replace("${env:PG}", "${file:pg}").replace("${env:GRAFANA}", "${file:grafana}")
    (tmp_path / "catalog.yaml").write_text(text)
    (tmp_path / "pg").write_text(pg)
    (tmp_path / "grafana").write_text(grafana)
    code = main(["render", str(tmp_path / "catalog.yaml"), "--out", str(tmp_path / "build"), "--target", "vm"])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err, out + err
    assert refused in err and err.count("the value of") == 1, err
    assert not any(f"00{n}" in out + err for n in range(31, 36))
    assert not (tmp_path / "build").exists()
