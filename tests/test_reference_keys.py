"""Where `${env:}`/`${file:}` references are substituted: every key `is_substituted` names is really
substituted by render (no reference text reaches any rendered file), and a reference anywhere else is a
located warning, since it would reach Kong or Kuma as written (a `custom_id: ${env:CRM_ID}`)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gatewayctl.catalog.load import _SUBSTITUTED, is_substituted, load_catalog
from gatewayctl.cli import main

KEYS = Path(__file__).parent / "keys"

# A reference in every key render substitutes (and in an overlay, in `defaults`, under raw plugins).
EVERY_KEY = """\
format: 1
name: refs
gateway:
  edition: enterprise
  rate_limit: {minute: 10, policy: redis, redis: {host: "${env:GW_REDIS_HOST}", password: "${env:GW_REDIS_PASSWORD}"}}
  tracing: {zipkin: {endpoint: "${env:GW_ZIPKIN}"}}
  plugins:
    http-log: {http_endpoint: "http://audit:8080/log", headers: {Authorization: "Bearer ${env:GW_PLUGIN_TOKEN}"}}
mesh:
  enabled: true
  tracing: {zipkin: {endpoint: "${env:MESH_ZIPKIN}"}}
consumers:
  - name: c
    rate_limit: {minute: 5, policy: redis, redis: {host: "${env:C_REDIS_HOST}", password: "${env:C_REDIS_PASSWORD}"}}
    credentials:
      key_auth: [{key: "${env:C_KEY}"}]
      jwt:
        - {key: iss, secret: "${env:C_JWT_SECRET}"}
        - {key: iss2, algorithm: RS256, rsa_public_key: "${file:rsa.pub.pem}"}
      basic_auth: [{username: u, password: "${env:C_PASSWORD}"}]
      oauth2: [{name: o, client_id: cid, client_secret: "${env:C_CLIENT_SECRET}", redirect_uris: ["${env:C_REDIRECT}"]}]
defaults:
  rate_limit: {minute: 50, policy: redis, redis: {host: "${env:D_REDIS_HOST}", password: "${env:D_REDIS_PASSWORD}"}}
services:
  - name: a
    url: "${env:A_URL}"
    mesh: {namespace: shop, port: 8080}
    auth: [key-auth, jwt, basic-auth, oauth2]
    oauth2: {provision_key: "${env:A_PROVISION_KEY}"}
    authz: {opa: {url: "${env:A_OPA}", policy: shop/allow}}
    rate_limit: {minute: 20, policy: redis, redis: {host: "${env:A_REDIS_HOST}", password: "${env:A_REDIS_PASSWORD}"}}
    plugins: {request-transformer: {add: {headers: ["x-token:${env:A_PLUGIN_TOKEN}"]}}}
    routes: [{name: r, paths: [/a]}]
  - name: b
    upstream: {host_header: "${env:B_HOST_HEADER}", targets: [10.0.0.1]}
    mesh: null
    routes: [{name: r, paths: [/b]}]
deployment:
  platform: kubernetes
  kong: {database: postgres, postgres_password: "${env:PG_PASSWORD}"}
  observability: {grafana: {admin_password: "${env:GRAFANA_PASSWORD}"}}
environments:
  prod:
    services:
      - name: a
        url: "${env:PROD_A_URL}"
"""
VALUES = {
    "GW_REDIS_HOST": "redis-gw.internal",
    "GW_REDIS_PASSWORD": "gw-redis-pw-0001",
    "GW_ZIPKIN": "http://zipkin-gw:9411/api/v2/spans",
    "GW_PLUGIN_TOKEN": "gw-plugin-token-0002",
    "MESH_ZIPKIN": "http://zipkin-mesh:9411/api/v2/spans",
    "C_REDIS_HOST": "redis-c.internal",
    "C_REDIS_PASSWORD": "c-redis-pw-0003",
    "C_KEY": "c-key-0004",
    "C_JWT_SECRET": "c-jwt-secret-0005",
    "C_PASSWORD": "c-password-0006",
    "C_CLIENT_SECRET": "c-client-secret-0007",
    "C_REDIRECT": "https://app.example.com/cb",
    "D_REDIS_HOST": "redis-d.internal",
    "D_REDIS_PASSWORD": "d-redis-pw-0008",
    "A_URL": "http://a-base.shop.svc:8080",
    "A_PROVISION_KEY": "a-provision-key-0009",
    "A_OPA": "http://opa-0014:8181",
    "A_REDIS_HOST": "redis-a.internal",
    "A_REDIS_PASSWORD": "a-redis-pw-0010",
    "A_PLUGIN_TOKEN": "a-plugin-token-0011",
    "B_HOST_HEADER": "b.example.com",
    "PG_PASSWORD": "pg-password-0012",
    "GRAFANA_PASSWORD": "grafana-password-0013",
    "PROD_A_URL": "http://a-prod.shop.svc:8080",
}


@pytest.mark.parametrize("env", [None, "prod"])
def test_every_key_said_to_be_substituted_is(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: str | None
) -> None:
    (tmp_path / "rsa.pub.pem").write_text((KEYS / "rsa.pub.pem").read_text())
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(EVERY_KEY)
    for name, value in VALUES.items():
        monkeypatch.setenv(name, value)
    loaded = load_catalog(catalog, env, all_environments=env is None)
    # the catalog puts a reference in every kind of key the table names
    placed = {tuple("*" if isinstance(p, int) else p for p in path) for path, _ in loaded.secret_references}
    assert _SUBSTITUTED - placed == set()
    assert loaded.warnings == []
    out = tmp_path / "out"
    assert main(["render", str(catalog), "--out", str(out), *(["--env", env] if env else [])]) == 0
    capsys.readouterr()
    text = "\n".join(f.read_text() for f in out.rglob("*") if f.is_file() and f.name != ".gatewayctl.rendered")
    assert re.findall(r"\$\{(?:env|file):[^}]*\}", text) == []
    # each value reached the output (a URL at least by its host: Kong gets a service url split)
    shown = {name for name, value in VALUES.items() if (urlsplit(value).hostname or value) in text}
    assert VALUES.keys() - shown == ({"A_URL"} if env == "prod" else {"PROD_A_URL"})


def test_a_reference_in_a_key_that_is_not_substituted_is_a_located_warning(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        textwrap.dedent(
            """\
            format: 1
            name: demo
            consumers:
              - name: crm
                custom_id: "${env:CRM_ID}"
            services:
              - name: a
                url: "${env:A_URL}"
                routes: [{name: r, paths: [/a]}]
                plugins: {request-termination: {message: "${env:MESSAGE}"}}
            """
        )
    )
    loaded = load_catalog(catalog, all_environments=True)
    assert [str(w).replace(str(catalog), "catalog.yaml") for w in loaded.warnings] == [
        "catalog.yaml:5:16: consumers[0].custom_id: warning: ${env:CRM_ID} is not substituted in this key: it would"
        " be sent as written (references are read in secret keys, URLs, hosts, a jwt rsa_public_key and raw"
        " plugins: configs)"
    ]


@pytest.mark.parametrize(
    ("path", "substituted"),
    [
        (("services", 3, "url"), True),
        (("environments", "prod", "services", 0, "url"), True),
        (("defaults", "rate_limit", "redis", "password"), True),
        (("consumers", 0, "plugins", "http-log", "headers", "x"), True),
        (("services", 0, "description"), False),
        (("consumers", 1, "credentials", "jwt", 0, "key"), False),
        (("environments", "prod", "consumers", 0, "custom_id"), False),
    ],
)
def test_is_substituted(path: tuple[str | int, ...], substituted: bool) -> None:
    assert is_substituted(path) is substituted
