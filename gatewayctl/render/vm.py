"""The `vm` target: the stack on plain machines, from the catalog's `deployment` (platform vm only).

    OUT/vm/kong/kong.conf, kong.service          Kong as a systemd service (the deb/rpm layout)
    OUT/vm/kong/docker-compose.yaml               or Kong in Docker (+ Postgres and migrations in DB mode)
    OUT/vm/kong/kong.yaml                         DB-less: the configuration without decK's _info (0600)
    OUT/vm/kong/kong.env                          KONG_PG_PASSWORD / POSTGRES_PASSWORD (0600, DB mode)
    OUT/vm/observability/docker-compose.yaml      Prometheus, Grafana, Zipkin on deployment.vm.observability_host
    OUT/vm/observability/grafana.env              the Grafana admin password (0600)
    OUT/vm/kuma/...                               with a mesh: kuma-cp config and unit (kuma-cp.env, 0600: the
                                                  store password when Kong's Postgres is its store), kuma-dp@ unit,
                                                  the sysusers.d file for their users, a Dataplane per service
                                                  and one per Kong host (delegated gateway, kong-<host>.yaml)

Text formats (kong.conf, systemd units) come from jinja2 templates; YAML is built as data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2

from gatewayctl.catalog.checks import in_mesh
from gatewayctl.catalog.load import NOT_SHOWN, LoadedCatalog
from gatewayctl.catalog.model import Catalog, Service
from gatewayctl.catalog.secrets import SecretResolver
from gatewayctl.diagnostics import CatalogInvalid, KeyPath
from gatewayctl.render.kubernetes import kong_native_config
from gatewayctl.render.kuma import SERVICE_TAG, mesh_protocol, object_name, workload
from gatewayctl.render.observability import HOST_GATEWAY, dataplane_address
from gatewayctl.render.output import PRIVATE, RenderedFile, dump_yaml
from gatewayctl.render.stack import (
    GRAFANA_PORT,
    IMAGES,
    KUMA_CP_DP_PORT,
    PROMETHEUS_PORT,
    ZIPKIN_PORT,
    kong_image,
    retention,
)

ROOT = "vm"
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).resolve().parent.parent / "templates" / "vm")),
    autoescape=False,  # config files, not HTML
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


def _text(template: str, **values: Any) -> bytes:
    return _TEMPLATES.get_template(template).render(**values).encode()


def render_vm(loaded: LoadedCatalog, secrets: SecretResolver) -> list[RenderedFile]:
    catalog = loaded.catalog
    if catalog.deployment.platform != "vm" or catalog.deployment.vm is None:
        return []
    unwritable = [
        loaded.source.diagnostic(path, f"the value of {reference} {why}{NOT_SHOWN}")
        for path, reference, readers in _env_file_secrets(catalog)
        if (why := _env_value_problem(secrets.resolve(reference), readers)) is not None
    ]
    if unwritable:
        raise CatalogInvalid(unwritable)
    return kong_files(catalog, secrets) + observability_files(catalog, secrets) + kuma_files(catalog, secrets)


# Who parses the env files: systemd (`EnvironmentFile=` of kong.service and kuma-cp.service) and docker compose
# (`env_file:` of the compose files). What Kong and Grafana then do to a value is checked on every platform
# (catalog/checks.py, DEPLOYMENT_SECRET_PROBLEMS).
SYSTEMD, COMPOSE = "systemd", "docker compose"


def _env_file_secrets(catalog: Catalog) -> list[tuple[KeyPath, str, frozenset[str]]]:
    """The secrets written into env files (one `NAME=value` a line), with their catalog paths and what reads
    them: the Postgres password is in kong.env (kong.service and the Kong compose file) and kuma-cp.env
    (kuma-cp.service), the Grafana password only in grafana.env (the observability compose file)."""
    kong = catalog.deployment.kong
    found: list[tuple[KeyPath, str, frozenset[str]]] = []
    if kong.database == "postgres" and kong.postgres_password is not None:
        readers = frozenset({SYSTEMD, COMPOSE})
        found.append((("deployment", "kong", "postgres_password"), kong.postgres_password, readers))
    password = catalog.deployment.observability.grafana.admin_password
    if password is not None:
        found.append((("deployment", "observability", "grafana", "admin_password"), password, frozenset({COMPOSE})))
    return found


# C0 controls and DEL but tab: systemd before 248 dropped a variable holding one (env_value_is_valid).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _env_value_problem(value: str, readers: frozenset[str]) -> str | None:
    """Why `value` cannot reach its readers exactly, whatever the quoting (see `_env_value`), or None."""
    if "\n" in value or "\r" in value:
        return "spans several lines, which an env file cannot hold"
    if "\0" in value:
        return "holds a NUL character, which no environment variable can hold"
    if SYSTEMD in readers and _CONTROL.search(value):
        return "holds a control character: systemd before version 248 drops such a variable from the environment"
    return None


def _env_value(value: str) -> str:
    r"""The value in double quotes with `\`, `"` and `$` escaped by a backslash: the one form systemd
    (src/basic/env-file.c, parse_env_file_internal) and docker compose (compose-go dotenv/parser.go) both read
    back exactly. Unquoted, both strip surrounding spaces, compose cuts at ` #` and expands `$VAR`, systemd
    drops backslashes; in single quotes a `'` ends systemd's value but is `\'` for compose. Double-quoted,
    systemd unescapes `\"`, `\\`, `\$` and `` \` ``, compose the first two and `\$` (as `$$`, which its
    interpolation makes `$`) but not `` \` ``: a backtick is written as it is."""
    return '"' + re.sub(r'([\\"$])', r"\\\1", value) + '"'


def _env_file(values: dict[str, str]) -> bytes:
    assert not any(_env_value_problem(v, frozenset()) for v in values.values()), "render_vm checks that first"
    return "".join(f"{k}={_env_value(v)}\n" for k, v in values.items()).encode()


def kong_files(catalog: Catalog, secrets: SecretResolver) -> list[RenderedFile]:
    k = catalog.deployment.kong
    assert catalog.deployment.vm is not None
    postgres = k.database == "postgres"
    pg_host = catalog.deployment.vm.kong_hosts[0]
    conf = _text(
        "kong.conf.j2",
        catalog=catalog.name,
        proxy_port=k.proxy_port,
        status_port=k.status_port,
        admin_port=k.admin_port,
        admin_host="0.0.0.0" if postgres else "127.0.0.1",
        database=k.database,
        pg_host=pg_host,
    )
    files = [
        RenderedFile(f"{ROOT}/kong/kong.conf", conf),
        RenderedFile(f"{ROOT}/kong/kong.service", _text("kong.service.j2", catalog=catalog.name)),
        RenderedFile(f"{ROOT}/kong/docker-compose.yaml", dump_yaml(kong_compose(catalog)).encode()),
    ]
    if postgres:
        env: dict[str, str] = {}
        if k.postgres_password is not None:
            password = secrets.resolve(k.postgres_password)
            env = {"KONG_PG_PASSWORD": password, "POSTGRES_PASSWORD": password}
        files.append(RenderedFile(f"{ROOT}/kong/kong.env", _env_file(env), PRIVATE))
    else:
        config = dump_yaml(kong_native_config(catalog, secrets))
        files.append(RenderedFile(f"{ROOT}/kong/kong.yaml", config.encode(), PRIVATE))
    return files


# Compose refuses to start without it, with this message, rather than Kong failing on an unreadable file.
KONG_USER = "${KONG_USER:?set KONG_USER to the uid:gid owning kong.yaml (stat -c %u:%g kong.yaml)}"


def kong_compose(catalog: Catalog) -> dict[str, Any]:
    """Kong in Docker with host networking-free port mappings; DB mode adds Postgres and the migrations."""
    k = catalog.deployment.kong
    image = kong_image(catalog)
    kong: dict[str, Any] = {
        "image": image,
        "restart": "unless-stopped",
        "environment": {"KONG_NGINX_DAEMON": "off", "KONG_PREFIX": "/var/run/kong"},
        "command": ["kong", "start", "-c", "/etc/kong/kong.conf"],
        "volumes": ["./kong.conf:/etc/kong/kong.conf:ro"],
        "ports": [
            f"{k.proxy_port}:{k.proxy_port}",
            "8443:8443",
            f"{k.status_port}:{k.status_port}",
            f"127.0.0.1:{k.admin_port}:{k.admin_port}",
        ],
        "read_only": True,
        "tmpfs": ["/var/run/kong", "/tmp"],
        "healthcheck": {"test": ["CMD", "kong", "health"], "interval": "10s", "timeout": "10s", "retries": 10},
    }
    services: dict[str, Any] = {"kong": kong}
    volumes: dict[str, Any] = {}
    if k.database == "postgres":
        pg_env = {"KONG_PG_HOST": "postgres", "KONG_DATABASE": "postgres"}
        kong["environment"].update(pg_env)
        kong["env_file"] = ["kong.env"]
        kong["depends_on"] = {"kong-migrations": {"condition": "service_completed_successfully"}}
        services["kong-migrations"] = {
            "image": image,
            "command": [
                "sh",
                "-c",
                "kong migrations bootstrap && kong migrations up --yes && kong migrations finish --yes",
            ],
            "environment": {**pg_env, "KONG_PG_USER": "kong", "KONG_PG_DATABASE": "kong"},
            "env_file": ["kong.env"],
            "depends_on": {"postgres": {"condition": "service_healthy"}},
            "restart": "on-failure",
        }
        services["postgres"] = {
            "image": IMAGES["postgres"],
            "restart": "unless-stopped",
            "environment": {"POSTGRES_USER": "kong", "POSTGRES_DB": "kong"},
            "env_file": ["kong.env"],
            "volumes": ["kong-data:/var/lib/postgresql/data"],
            # Published for Kong on the other hosts (kong.conf's pg_host is the first Kong host).
            "ports": ["5432:5432"],
            "healthcheck": {
                "test": ["CMD", "pg_isready", "-U", "kong"],
                "interval": "5s",
                "timeout": "5s",
                "retries": 10,
            },
        }
        volumes["kong-data"] = {}
    else:
        kong["volumes"].append("./kong.yaml:/etc/kong/kong.yaml:ro")
        # kong.yaml holds credentials, so it is 0600 and the image's user (kong, uid 1000) cannot read it
        # through the bind mount: Kong runs as the file's owner instead (tmpfs prefix: any uid can write).
        kong["user"] = KONG_USER
    compose: dict[str, Any] = {"name": f"{catalog.name}-kong", "services": services}
    if volumes:
        compose["volumes"] = volumes
    return compose


def observability_files(catalog: Catalog, secrets: SecretResolver) -> list[RenderedFile]:
    files = [
        RenderedFile(f"{ROOT}/observability/docker-compose.yaml", dump_yaml(observability_compose(catalog)).encode())
    ]
    password = catalog.deployment.observability.grafana.admin_password
    env = {"GF_SECURITY_ADMIN_PASSWORD": secrets.resolve(password)} if password is not None else {}
    files.append(RenderedFile(f"{ROOT}/observability/grafana.env", _env_file(env), PRIVATE))
    return files


def observability_compose(catalog: Catalog) -> dict[str, Any]:
    """Prometheus, Grafana and Zipkin; the configuration is the observability target's (../../observability)."""
    conf = "../../observability"
    return {
        "name": f"{catalog.name}-observability",
        "services": {
            "prometheus": {
                "image": IMAGES["prometheus"],
                "restart": "unless-stopped",
                "command": [
                    "--config.file=/etc/prometheus/prometheus.yml",
                    "--storage.tsdb.path=/prometheus",
                    f"--storage.tsdb.retention.time={retention(catalog)}",
                    "--web.enable-lifecycle",
                ],
                "volumes": [f"{conf}/prometheus:/etc/prometheus:ro", "prometheus-data:/prometheus"],
                "ports": [f"{PROMETHEUS_PORT}:{PROMETHEUS_PORT}"],
                # Kong, kuma-cp and dataplanes on this same machine (127.0.0.1 in the catalog) are scraped here.
                "extra_hosts": [f"{HOST_GATEWAY}:host-gateway"],
            },
            "grafana": {
                "image": IMAGES["grafana"],
                "restart": "unless-stopped",
                "env_file": ["grafana.env"],
                "environment": {"GF_USERS_ALLOW_SIGN_UP": "false", "GF_ANALYTICS_REPORTING_ENABLED": "false"},
                "volumes": [
                    f"{conf}/grafana/provisioning:/etc/grafana/provisioning:ro",
                    f"{conf}/grafana/dashboards:/var/lib/grafana/dashboards:ro",
                    "grafana-data:/var/lib/grafana",
                ],
                "ports": [f"{GRAFANA_PORT}:{GRAFANA_PORT}"],
                "depends_on": ["prometheus"],
            },
            "zipkin": {
                "image": IMAGES["zipkin"],
                "restart": "unless-stopped",
                "environment": {"STORAGE_TYPE": "mem", "MEM_MAX_SPANS": "500000"},
                "ports": [f"{ZIPKIN_PORT}:{ZIPKIN_PORT}"],
            },
        },
        "volumes": {"prometheus-data": {}, "grafana-data": {}},
    }


KUMA_DB = "kuma"


def kuma_postgres_store(catalog: Catalog) -> bool:
    """kuma-cp keeps its state (mesh, policies, CA, the dataplane-token signing key) in the Postgres the
    catalog runs for Kong, as database `kuma`; without one, in memory, which a restart empties."""
    return catalog.deployment.kong.database == "postgres"


def kuma_files(catalog: Catalog, secrets: SecretResolver) -> list[RenderedFile]:
    if not catalog.mesh_enabled or catalog.mesh is None:
        return []
    vm = catalog.deployment.vm
    assert vm is not None
    kuma = catalog.deployment.kuma
    postgres = kuma_postgres_store(catalog)
    unit = _text("kuma-cp.service.j2", catalog=catalog.name, version=kuma.version, postgres=postgres)
    files = [
        RenderedFile(f"{ROOT}/kuma/kuma-cp.yaml", dump_yaml(kuma_cp_config(catalog)).encode()),
        RenderedFile(f"{ROOT}/kuma/kuma-cp.service", unit),
        RenderedFile(
            f"{ROOT}/kuma/kuma-dp@.service",
            _text("kuma-dp@.service.j2", catalog=catalog.name, kuma_cp=vm.kuma_cp, dp_port=KUMA_CP_DP_PORT),
        ),
        RenderedFile(f"{ROOT}/kuma/kuma.sysusers.conf", _text("kuma.sysusers.j2", catalog=catalog.name)),
    ]
    if postgres:
        # The password is Kong's (same Postgres user): kept out of kuma-cp.yaml, systemd reads it as root.
        password = catalog.deployment.kong.postgres_password
        env = {"KUMA_STORE_POSTGRES_PASSWORD": secrets.resolve(password)} if password is not None else {}
        files.append(RenderedFile(f"{ROOT}/kuma/kuma-cp.env", _env_file(env), PRIVATE))
    for service in catalog.services:
        dp = dataplane(catalog, service)
        if dp is not None:
            files.append(RenderedFile(f"{ROOT}/kuma/dataplanes/{service.name}.yaml", dump_yaml(dp).encode()))
    for host in vm.kong_hosts:
        dp = kong_dataplane(catalog, host)
        files.append(RenderedFile(f"{ROOT}/kuma/dataplanes/{dp['name']}.yaml", dump_yaml(dp).encode()))
    return files


def kong_dataplane_name(host: str) -> str:
    """`kong-<host>`, the host's dots and colons as dashes: one Dataplane (and kuma-dp@ instance) per Kong node."""
    return object_name("kong", re.sub(r"[^a-z0-9-]+", "-", host.lower()).strip("-"))


def kong_dataplane(catalog: Catalog, host: str) -> dict[str, Any]:
    """Kong on a VM as Kuma's delegated gateway: no inbound (clients reach Kong directly), its calls to mesh
    services leave through the sidecar with Kong's identity. The permissions name Kong by
    `mesh.gateway_selector` (MeshSubset tags), so those labels are its gateway tags, next to the
    `kuma.io/service` Kuma requires (the selector's own when it names one)."""
    assert catalog.mesh is not None
    selector = dict(catalog.mesh.gateway_selector)
    tags = {SERVICE_TAG: selector.get(SERVICE_TAG, "kong"), **selector}
    return {
        "type": "Dataplane",
        "mesh": catalog.mesh.name,
        "name": kong_dataplane_name(host),
        "labels": {k: v for k, v in selector.items() if k != SERVICE_TAG},
        "networking": {
            "address": host,
            "gateway": {"type": "DELEGATED", "tags": tags},
            "transparentProxying": {"redirectPortInbound": 15006, "redirectPortOutbound": 15001},
        },
    }


def kuma_cp_config(catalog: Catalog) -> dict[str, Any]:
    kuma = catalog.deployment.kuma
    store: dict[str, Any] = {"type": "memory"}
    if kuma_postgres_store(catalog):
        assert catalog.deployment.vm is not None
        host = catalog.deployment.vm.kong_hosts[0]  # where the Kong compose file runs Postgres (kong.conf's pg_host)
        store = {"type": "postgres", "postgres": {"host": host, "port": 5432, "user": "kong", "dbName": KUMA_DB}}
    config: dict[str, Any] = {"environment": "universal", "mode": kuma.mode, "store": store}
    if kuma.zone and kuma.mode == "zone":
        config["multizone"] = {"zone": {"name": kuma.zone}}
    return config


def dataplane(catalog: Catalog, service: Service) -> dict[str, Any] | None:
    """The Universal Dataplane for a mesh service on a VM: the selector labels, its address, inbound port and tags."""
    if not in_mesh(catalog, service) or catalog.mesh is None:
        return None
    address = dataplane_address(service)
    w = workload(catalog, service)
    port = w.port
    if port is None and service.url and "${" not in service.url:  # a url holding a secret: mesh.port then
        port = urlsplit(service.url).port
    if address is None or port is None:
        return None
    return {
        "type": "Dataplane",
        "mesh": catalog.mesh.name,
        "name": service.name,
        # Policies select a Dataplane (`targetRef: {kind: Dataplane, labels: ...}`) by its resource labels, not
        # by its inbound tags: without these no permission, rate limit or health check applies to it.
        "labels": dict(w.selector),
        "networking": {
            "address": address,
            "inbound": [
                {
                    "port": port,
                    "tags": {
                        "kuma.io/service": w.kuma_service,
                        "kuma.io/protocol": mesh_protocol(service),
                        **w.selector,
                    },
                }
            ],
            "transparentProxying": {"redirectPortInbound": 15006, "redirectPortOutbound": 15001},
        },
    }
