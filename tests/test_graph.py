"""`gatewayctl graph`: the topology it works out, and its Mermaid and Graphviz text."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from gatewayctl.catalog.load import load_catalog
from gatewayctl.catalog.model import Catalog
from gatewayctl.cli import main
from gatewayctl.graph import Edge, dot, mermaid, topology

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

CATALOG = """\
format: 1
name: shop
mesh: {name: shop, default_action: deny}
consumers:
  - {name: app, groups: [users], credentials: {key_auth: [{key: '${env:APP_KEY}'}]}}
  - {name: admin, groups: [admins], credentials: {basic_auth: [{username: a, password: '${env:ADMIN_PW}'}]}}
  - {name: banned, groups: [users, blocked], credentials: {key_auth: [{key: '${env:BANNED_KEY}'}]}}
services:
  - name: public
    url: http://public.shop.svc:8080
    routes: [{name: home, paths: [/], methods: [GET]}]
  - name: orders
    url: http://orders.shop.svc:8080
    routes: [{name: api, paths: [/orders]}]
    auth: [key-auth, basic-auth]
    deny_groups: [blocked]
  - name: admin
    url: http://admin.shop.svc:8080
    routes: [{name: ui, hosts: [admin.example.com], paths: ['~/x"y#z<b>$']}]
    auth: [basic-auth]
    allow_groups: [admins]
    ip_allow: [10.0.0.0/8]
  - name: payments
    url: http://payments.shop.svc:8080
    mesh: {allow_from: [orders]}
  - name: legacy
    upstream: {targets: [10.1.0.1:80]}
    routes: [{name: old, paths: [/old]}]
"""


def load(tmp_path: Path, text: str = CATALOG) -> Catalog:
    path = tmp_path / "catalog.yaml"
    path.write_text(textwrap.dedent(text))
    return load_catalog(path).catalog


def edges(tmp_path: Path, text: str = CATALOG) -> set[tuple[str, str, str, bool]]:
    return {(e.source, e.target, e.label, e.mesh) for e in topology(load(tmp_path, text)).edges}


def test_who_reaches_which_route(tmp_path: Path) -> None:
    found = edges(tmp_path)
    # No auth: anyone. Several methods: any credential the consumer holds. Groups decide the rest.
    assert ("client_anyone", "route_public_home", "", False) in found
    assert ("client_app", "route_orders_api", "key-auth", False) in found
    assert ("client_admin", "route_orders_api", "basic-auth", False) in found
    assert not [e for e in found if e[0] == "client_banned" and e[1] == "route_orders_api"]  # deny_groups
    assert ("client_admin", "route_admin_ui", "basic-auth · from 10.0.0.0/8", False) in found
    assert not [e for e in found if e[0] == "client_app" and e[1] == "route_admin_ui"]  # not in admins
    assert ("client_anyone", "route_legacy_old", "", False) in found


def test_routes_lead_to_their_service_and_mesh_edges_follow_allow_from(tmp_path: Path) -> None:
    found = edges(tmp_path)
    assert ("route_orders_api", "service_orders", "", False) in found
    assert [e for e in found if e[3]] == [("service_orders", "service_payments", "mesh", True)]


def test_services_are_grouped_inside_and_outside_the_mesh(tmp_path: Path) -> None:
    top = topology(load(tmp_path))
    groups = {n.label: n.group for n in top.nodes}
    assert groups["payments"] == "mesh" and groups["legacy"] == "services"
    assert top.groups["mesh"] == "Kuma mesh shop (mTLS strict, default deny)"
    assert top.groups["services"] == "Outside the mesh"


def test_without_a_mesh_there_are_no_mesh_edges(tmp_path: Path) -> None:
    top = topology(load(tmp_path, CATALOG.replace("mesh: {name: shop, default_action: deny}\n", "")))
    assert not [e for e in top.edges if e.mesh]
    assert "mesh" not in top.groups and {n.group for n in top.nodes} == {"clients", "kong", "services"}


def test_default_allow_is_said_in_the_mesh_title(tmp_path: Path) -> None:
    top = topology(load(tmp_path, CATALOG.replace("default_action: deny", "default_action: allow")))
    assert top.groups["mesh"].endswith("default allow; every mesh service may call every other)")


def test_mermaid_text(tmp_path: Path) -> None:
    text = mermaid(topology(load(tmp_path)))
    lines = text.splitlines()
    assert lines[1] == "flowchart LR"
    assert '  subgraph mesh["Kuma mesh shop (mTLS strict, default deny)"]' in lines
    assert '    service_payments[["payments<br/><small>http://payments.shop.svc:8080</small>"]]' in lines
    assert '  client_app -->|"key-auth"| route_orders_api' in lines
    assert '  service_orders -.->|"mesh"| service_payments' in lines
    # Quotes, '#' and angle brackets in user text become Mermaid entity codes.
    assert "~/x#quot;y#35;z#lt;b#gt;$" in text
    assert text.count("subgraph") == text.count("\n  end")


def test_dot_text(tmp_path: Path) -> None:
    text = dot(topology(load(tmp_path)))
    assert text.startswith("// shop: clients") and '\ndigraph "shop" {\n' in text
    assert '  subgraph "cluster_mesh" {' in text
    assert '  "service_orders" -> "service_payments" [label="mesh", style=dashed];' in text
    assert '\\"y#z<b>$' in text  # DOT escapes only quotes and backslashes
    assert text.count("{") == text.count("}")


def test_graph_is_deterministic(tmp_path: Path) -> None:
    catalog = load(tmp_path)
    assert mermaid(topology(catalog)) == mermaid(topology(catalog))
    assert dot(topology(catalog)) == dot(topology(catalog))


@pytest.fixture
def example_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for line in (EXAMPLES / "example.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            monkeypatch.setenv(key, value)


@pytest.mark.parametrize("example", sorted(p.stem for p in EXAMPLES.glob("*.yaml")))
@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_cli_graphs_every_example(
    example: str, fmt: str, example_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["graph", str(EXAMPLES / f"{example}.yaml"), "--format", fmt]) == 0
    out = capsys.readouterr().out
    first = out
    assert main(["graph", str(EXAMPLES / f"{example}.yaml"), "--format", fmt]) == 0
    assert capsys.readouterr().out == first
    catalog = load_catalog(EXAMPLES / f"{example}.yaml").catalog
    for service in catalog.services:
        assert re.search(rf"service_{service.name.replace('-', '_')}\b", out)
    if fmt == "mermaid":
        assert out.startswith("%% ") and "\nflowchart LR\n" in out
    else:
        assert "digraph" in out and out.rstrip().endswith("}")


def test_cli_graph_of_the_platform_shows_its_mesh_edges(example_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", str(EXAMPLES / "platform.yaml")]) == 0
    mesh_edges = [line.strip() for line in capsys.readouterr().out.splitlines() if "-.->" in line]
    assert mesh_edges == [
        'service_orders -.->|"mesh"| service_products',
        'service_orders -.->|"mesh"| service_payments',
        'service_orders -.->|"mesh"| service_notifications',
        'service_payments -.->|"mesh"| service_notifications',
    ]


def test_cli_graph_env_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "format: 1\nname: x\nservices: [{name: a, url: 'http://a:80', routes: [{name: r, paths: [/a]}]}]\n"
        "environments: {prod: {services: [{name: b, url: 'http://b:80', routes: [{name: r, paths: [/b]}]}]}}\n"
    )
    assert main(["graph", str(path)]) == 0
    assert "service_b" not in capsys.readouterr().out
    assert main(["graph", str(path), "--env", "prod", "-f", "dot"]) == 0
    assert '"service_b"' in capsys.readouterr().out
    assert main(["graph", str(path), "--format", "png"]) == 1
    path.write_text("format: 1\nname: x\nservices: [{name: a}]\n")
    assert main(["graph", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "needs a url or an upstream" in captured.err


def test_edge_defaults() -> None:
    assert Edge("a", "b") == Edge("a", "b", "", False)
