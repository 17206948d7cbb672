"""The catalog's topology as a picture: clients -> Kong routes -> services -> allowed mesh edges.

`topology()` works out who can reach what from the catalog alone (auth methods and credentials, ACL
groups, IP restrictions, mesh permissions); `mermaid()` and `dot()` draw it. Output depends only on the
catalog, in catalog order, so the same catalog always gives the same text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gatewayctl.catalog.checks import AUTH_CREDENTIALS, in_mesh
from gatewayctl.catalog.model import Catalog, Consumer, Route, Service

Group = Literal["clients", "kong", "mesh", "services"]
ANYONE = "anyone"


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    group: Group
    detail: str = ""


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str = ""
    mesh: bool = False  # a service-to-service edge inside the mesh (drawn dashed)


@dataclass
class Topology:
    name: str
    groups: dict[Group, str] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def client_methods(consumer: Consumer, service: Service) -> list[str] | None:
    """The auth methods `consumer` can pass `service` with, or None when it cannot reach the service
    (no matching credential, or its groups are not allowed). Not for services without auth."""
    methods: list[str] = [m for m in service.auth if getattr(consumer.credentials, AUTH_CREDENTIALS[m])]
    groups = set(consumer.groups)
    if not methods:
        return None
    if service.allow_groups is not None and not groups & set(service.allow_groups):
        return None
    if service.deny_groups is not None and groups & set(service.deny_groups):
        return None
    return methods


def mesh_callers(catalog: Catalog) -> dict[str, list[str]]:
    """Service -> the catalog services the mesh lets call it (its `allow_from` that are in the mesh)."""
    members = {s.name for s in catalog.services if in_mesh(catalog, s)}
    return {
        s.name: [c for c in dict.fromkeys(s.mesh.allow_from) if c in members]
        for s in catalog.services
        if s.name in members and s.mesh is not None
    }


def topology(catalog: Catalog) -> Topology:
    top = Topology(catalog.name)
    mesh = catalog.mesh if catalog.mesh_enabled else None
    top.groups["clients"] = "Clients"
    top.groups["kong"] = "Kong"
    if mesh is not None:
        mtls = mesh.mtls.mode if mesh.mtls else "strict"
        everyone = "; every mesh service may call every other" if mesh.default_action == "allow" else ""
        top.groups["mesh"] = f"Kuma mesh {mesh.name} (mTLS {mtls}, default {mesh.default_action}{everyone})"
        top.groups["services"] = "Outside the mesh"
    else:
        top.groups["services"] = "Services"

    public = [s for s in catalog.services if s.routes and not s.auth]
    if public:
        top.nodes.append(Node(_id("client", ANYONE), ANYONE, "clients", "any client, no credentials"))
    top.nodes += [Node(_id("client", c.name), c.name, "clients", _groups(c)) for c in catalog.consumers]
    for service in catalog.services:
        for route in service.routes:
            name = f"{service.name}-{route.name}"
            top.nodes.append(Node(_id("route", service.name, route.name), name, "kong", _route_detail(route)))
    for service in catalog.services:
        group: Group = "mesh" if mesh is not None and in_mesh(catalog, service) else "services"
        top.nodes.append(Node(_id("service", service.name), service.name, group, _address(service)))

    for service in catalog.services:
        where = f" · from {', '.join(service.ip_allow)}" if service.ip_allow else ""
        for route in service.routes:
            route_id = _id("route", service.name, route.name)
            if not service.auth:
                top.edges.append(Edge(_id("client", ANYONE), route_id, where.removeprefix(" · ")))
            else:
                for consumer in catalog.consumers:
                    methods = client_methods(consumer, service)
                    if methods is not None:
                        top.edges.append(Edge(_id("client", consumer.name), route_id, ", ".join(methods) + where))
            top.edges.append(Edge(route_id, _id("service", service.name)))
    if mesh is not None:
        for service_name, callers in mesh_callers(catalog).items():
            for caller in callers:
                top.edges.append(Edge(_id("service", caller), _id("service", service_name), "mesh", mesh=True))
    return top


def _id(kind: str, *names: str) -> str:
    # Catalog names are [a-z0-9-]; '_' never occurs in them, so this is unambiguous.
    return "_".join((kind, *names)).replace("-", "_")


def _groups(consumer: Consumer) -> str:
    return f"groups: {', '.join(consumer.groups)}" if consumer.groups else ""


def _route_detail(route: Route) -> str:
    parts = [" ".join(route.methods)] if route.methods else []
    parts += list(route.hosts) + list(route.paths)
    if route.websocket:
        parts.append("(WebSocket)")
    return " ".join(p for p in parts if p)


def _address(service: Service) -> str:
    if service.url:
        return service.url
    if service.upstream:
        return f"{len(service.upstream.targets)} targets"
    return ""


# --------------------------------------------------------------------------- Mermaid


def mermaid(top: Topology) -> str:
    """A Mermaid flowchart; paste it into Markdown between ```mermaid fences."""
    lines = [f"%% {top.name}: clients -> Kong routes -> services -> mesh edges (gatewayctl graph)", "flowchart LR"]
    shapes = {"clients": ('(["', '"])'), "kong": ('["', '"]'), "mesh": ('[["', '"]]'), "services": ('[["', '"]]')}
    for group, title in top.groups.items():
        nodes = [n for n in top.nodes if n.group == group]
        if not nodes:
            continue
        lines.append(f'  subgraph {group}["{_mm(title)}"]')
        opening, closing = shapes[group]
        for n in nodes:
            text = _mm(n.label) + (f"<br/><small>{_mm(n.detail)}</small>" if n.detail else "")
            lines.append(f"    {n.id}{opening}{text}{closing}")
        lines.append("  end")
    for e in top.edges:
        arrow = "-.->" if e.mesh else "-->"
        label = f'|"{_mm(e.label)}"|' if e.label else ""
        lines.append(f"  {e.source} {arrow}{label} {e.target}")
    return "\n".join(lines) + "\n"


def _mm(text: str) -> str:
    """Text inside a quoted Mermaid label: its entity codes for the characters Mermaid would read."""
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return text


# --------------------------------------------------------------------------- Graphviz


def dot(top: Topology) -> str:
    """A Graphviz digraph: `dot -Tsvg`."""
    lines = [
        f"// {top.name}: clients -> Kong routes -> services -> mesh edges (gatewayctl graph)",
        f"digraph {_q(top.name)} {{",
        "  rankdir=LR;",
        '  node [shape=box, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    shapes = {"clients": "ellipse", "kong": "box", "mesh": "box3d", "services": "box3d"}
    for group, title in top.groups.items():
        nodes = [n for n in top.nodes if n.group == group]
        if not nodes:
            continue
        lines.append(f"  subgraph {_q('cluster_' + group)} {{")
        lines.append(f"    label={_q(title)};")
        for n in nodes:
            label = n.label + (f"\n{n.detail}" if n.detail else "")
            lines.append(f"    {_q(n.id)} [label={_q(label)}, shape={shapes[group]}];")
        lines.append("  }")
    for e in top.edges:
        attrs = [f"label={_q(e.label)}"] if e.label else []
        if e.mesh:
            attrs.append("style=dashed")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"  {_q(e.source)} -> {_q(e.target)}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    """A DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


FORMATS = {"mermaid": mermaid, "dot": dot}


def render_graph(catalog: Catalog, fmt: str = "mermaid") -> str:
    return FORMATS[fmt](topology(catalog))
