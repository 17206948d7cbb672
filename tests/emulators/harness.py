"""Shared by the plan/apply tests: a catalog exercising every Kong entity kind, and helpers to run the CLI
against an emulator."""

from __future__ import annotations

from pathlib import Path

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


def write_catalog(folder: Path, text: str = CATALOG) -> Path:
    path = folder / "catalog.yaml"
    path.write_text(text)
    return path
