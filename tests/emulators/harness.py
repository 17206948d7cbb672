"""Shared by the plan/apply tests: a catalog exercising every Kong entity kind, and helpers to run the CLI
against an emulator (or a real Kong/Kuma under docker compose: tests/integration)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

    from .kong import KongEmulator

CATALOG = """\
format: 1
name: shop
gateway:
  request_id: {header: X-Request-ID}
  metrics: {status_codes: true}
consumers:
  - name: web-app
    groups: [users]
    credentials:
      key_auth: [{key: "${env:WEB_APP_KEY}"}]
  - name: ops
    groups: [admins]
    credentials:
      basic_auth: [{username: ops, password: "${env:OPS_PASSWORD}"}]
services:
  - name: orders
    url: http://orders.default.svc:8080/v1
    routes:
      - {name: api, paths: [/orders], methods: [GET, POST]}
    auth: [key-auth]
    allow_groups: [users]
    rate_limit: {minute: 60}
  - name: catalogue
    upstream:
      targets: [10.0.0.1:8080, {target: 10.0.0.2:8080, weight: 50}]
    routes:
      - {name: browse, paths: [/catalogue]}
    auth: [basic-auth]
"""
SECRETS = {"WEB_APP_KEY": "s3cr3t-web-app-key-0001", "OPS_PASSWORD": "s3cr3t-ops-password-0002"}


# The Kuma tests' catalog: a mesh with permissions and resilience settings, a secret in its tracing url.
ZIPKIN_SECRET = "http://zipkin.internal:9411/api/v2/spans?token=s3cr3t-zipkin-token-0003"
KUMA_CATALOG = """\
format: 1
name: shop
mesh:
  enabled: true
  name: shop
  mtls: {mode: strict, rotation: 24h}
  tracing:
    zipkin: {endpoint: "${env:ZIPKIN_URL}", sampling: 10}
  metrics:
    prometheus: {port: 5670, path: /metrics}
services:
  - name: orders
    url: http://orders.default.svc:8080
    routes: [{name: api, paths: [/orders]}]
    mesh:
      allow_from: [catalogue]
      retries: {attempts: 3}
      timeouts: {connect: 1m, request: 30s}
  - name: catalogue
    url: http://catalogue.default.svc:8080
    routes: [{name: browse, paths: [/catalogue]}]
    mesh:
      rate_limit: {requests: 100, interval: 1m}
      circuit_breaker: {consecutive_5xx: 5}
"""


def write_catalog(folder: Path, text: str = CATALOG) -> Path:
    path = folder / "catalog.yaml"
    path.write_text(text)
    return path


def cli(capsys: pytest.CaptureFixture[str], kong: KongEmulator, *argv: str) -> tuple[int, str, str]:
    """`gatewayctl <argv> --kong-admin-url <the emulator>`: (exit code, stdout, stderr)."""
    from gatewayctl.cli import main  # here: bench/watch.py reads this module's catalog without the CLI

    code = main([*argv, "--kong-admin-url", kong.url])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
