"""Grafana dashboards as data: small panel builders and the three stock dashboards (gateway, service, mesh).

The stock dashboards are also committed as JSON under `observability/grafana/dashboards/` (the test suite
checks that the files equal what this module builds); `render --target observability` writes them next to
the catalog's own services dashboard. Every query uses Kong 3.x / Kuma 2.14 metric names
(`observability/metrics.yaml`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Panel = dict[str, Any]
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24
SCHEMA_VERSION = 39


def target(expr: str, legend: str = "", ref: str = "A") -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend or "__auto", "refId": ref}


def _targets(queries: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(queries)]


def timeseries(
    title: str, queries: list[tuple[str, str]], unit: str = "short", thresholds: list[float] | None = None
) -> Panel:
    """A time series panel; `thresholds` (e.g. an SLO) are drawn as red dashed lines."""
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    steps += [{"color": "red", "value": t} for t in thresholds or []]
    return {
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "targets": _targets(queries),
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "custom": {"thresholdsStyle": {"mode": "dashed" if thresholds else "off"}},
                "thresholds": {"mode": "absolute", "steps": steps},
            },
            "overrides": [],
        },
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
    }


def stat(title: str, expr: str, unit: str = "short", red_below: float | None = None) -> Panel:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if red_below is not None:
        steps = [{"color": "red", "value": None}, {"color": "green", "value": red_below}]
    return {
        "type": "stat",
        "title": title,
        "datasource": DATASOURCE,
        "targets": _targets([(expr, "")]),
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    }


def table(title: str, expr: str) -> Panel:
    return {
        "type": "table",
        "title": title,
        "datasource": DATASOURCE,
        "targets": [{**target(expr), "format": "table", "instant": True}],
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"showHeader": True},
    }


def text_panel(content: str) -> Panel:
    return {"type": "text", "title": "", "options": {"mode": "markdown", "content": content}}


@dataclass
class Layout:
    """Places panels left to right, wrapping at Grafana's 24-column grid, and numbers them."""

    panels: list[Panel] = field(default_factory=list)
    x: int = 0
    y: int = 0
    row_height: int = 0

    def add(self, panel: Panel, w: int = 12, h: int = 8) -> None:
        if self.x + w > GRID_WIDTH:
            self.newline()
        panel = {"id": len(self.panels) + 1, **panel, "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y}}
        self.panels.append(panel)
        self.x += w
        self.row_height = max(self.row_height, h)

    def newline(self) -> None:
        self.y += self.row_height
        self.x = 0
        self.row_height = 0

    def row(self, title: str) -> None:
        if self.x:
            self.newline()
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": "row",
                "title": title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": self.y},
            }
        )
        self.y += 1


def datasource_variable() -> dict[str, Any]:
    return {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus", "hide": 0}


def query_variable(name: str, query: str, label: str, include_all: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-variable"},
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "includeAll": include_all,
        "multi": include_all,
        "hide": 0,
    }


def dashboard(uid: str, title: str, layout: Layout, tags: list[str], variables: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": tags,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "",
        "templating": {"list": [datasource_variable(), *variables]},
        "annotations": {"list": []},
        "panels": layout.panels,
    }


def by_status_class(selector: str) -> str:
    """Kong requests per second by status class (2xx, 4xx, 5xx): the `code` label cut to its first digit."""
    rate = f"rate(kong_http_requests_total{{{selector}}}[$__rate_interval])"
    return f'sum by (code) (label_replace({rate}, "code", "${{1}}xx", "code", "(.).."))'


def p99(metric: str, selector: str, by: str = "") -> str:
    group = f"{by}, le" if by else "le"
    return f"histogram_quantile(0.99, sum by ({group}) (rate({metric}_bucket{{{selector}}}[$__rate_interval])))"


# --------------------------------------------------------------------------- the stock dashboards


def gateway_dashboard() -> dict[str, Any]:
    """Kong as a whole: traffic, errors, latency, bandwidth, upstream health and the nodes themselves."""
    lay = Layout()
    rate = "$__rate_interval"
    lay.add(stat("Requests / s", f"sum(rate(kong_http_requests_total[{rate}]))", "reqps"), 6, 4)
    lay.add(
        stat(
            "5xx ratio",
            f'sum(rate(kong_http_requests_total{{code=~"5.."}}[{rate}])) / sum(rate(kong_http_requests_total[{rate}]))',
            "percentunit",
        ),
        6,
        4,
    )
    lay.add(stat("p99 request latency", p99("kong_request_latency_ms", ""), "ms"), 6, 4)
    lay.add(stat("Kong nodes up", 'sum(up{job="kong"})', "short", red_below=1), 6, 4)
    lay.row("Traffic")
    lay.add(
        timeseries(
            "Requests by status class",
            [
                (
                    by_status_class(""),
                    "{{code}}",
                )
            ],
            "reqps",
        )
    )
    lay.add(
        timeseries(
            "Requests by service",
            [(f"sum by (service) (rate(kong_http_requests_total[{rate}]))", "{{service}}")],
            "reqps",
        )
    )
    lay.add(
        timeseries(
            "Requests answered by Kong itself (source=kong)",
            [
                (
                    f'sum by (service, code) (rate(kong_http_requests_total{{source="kong"}}[{rate}]))',
                    "{{service}} {{code}}",
                )
            ],
            "reqps",
        )
    )
    lay.add(
        timeseries(
            "Bandwidth",
            [(f"sum by (direction) (rate(kong_bandwidth_bytes[{rate}]))", "{{direction}}")],
            "Bps",
        )
    )
    lay.row("Latency")
    lay.add(
        timeseries(
            "Request latency (Kong + upstream)",
            [
                (f"histogram_quantile(0.5, sum by (le) (rate(kong_request_latency_ms_bucket[{rate}])))", "p50"),
                (f"histogram_quantile(0.95, sum by (le) (rate(kong_request_latency_ms_bucket[{rate}])))", "p95"),
                (p99("kong_request_latency_ms", ""), "p99"),
            ],
            "ms",
        ),
        8,
    )
    lay.add(
        timeseries("Upstream p99 by service", [(p99("kong_upstream_latency_ms", "", "service"), "{{service}}")], "ms"),
        8,
    )
    lay.add(
        timeseries("Kong p99 (plugins, balancer)", [(p99("kong_kong_latency_ms", "", "service"), "{{service}}")], "ms"),
        8,
    )
    lay.row("Upstreams and nodes")
    lay.add(table("Upstream targets not healthy", 'kong_upstream_target_health{state!="healthy"} == 1'))
    lay.add(
        timeseries(
            "Connections",
            [('sum by (state) (kong_nginx_connections_total{state=~"active|reading|writing|waiting"})', "{{state}}")],
        )
    )
    lay.add(
        timeseries(
            "Shared dict usage",
            [
                (
                    "kong_memory_lua_shared_dict_bytes / kong_memory_lua_shared_dict_total_bytes",
                    "{{instance}} {{shared_dict}}",
                )
            ],
            "percentunit",
        )
    )
    lay.add(
        timeseries(
            "Lua VM memory", [("sum by (instance) (kong_memory_workers_lua_vms_bytes)", "{{instance}}")], "bytes"
        )
    )
    lay.add(stat("Datastore reachable", "min(kong_datastore_reachable)", "short", red_below=1), 6, 4)
    lay.add(table("Kong versions", "count by (version) (kong_node_info)"), 18, 4)
    reconciler_row(lay)
    return dashboard("gatewayctl-kong", "Kong gateway", lay, ["gatewayctl", "kong"], [])


def reconciler_row(lay: Layout) -> None:
    """`gatewayctl watch` (job gatewayctl-watch): drift, heals, checks and its admin API calls. Only the Lease
    holder reports drift, so drift is taken as the max across replicas."""
    rate = "$__rate_interval"
    drift = "max by (system, kind, action) (gatewayctl_drift_objects)"
    lay.row("Drift watch (gatewayctl)")
    lay.add(stat("Objects drifted", f"sum({drift}) or vector(0)"), 6, 4)
    lay.add(stat("Watch replicas up", 'sum(up{job="gatewayctl-watch"})', "short", red_below=1), 6, 4)
    lay.add(stat("Catalog loads", "min(gatewayctl_catalog_last_reload_successful)", "short", red_below=1), 6, 4)
    lay.add(stat("Since last check", "time() - max(gatewayctl_last_successful_check_timestamp_seconds)", "s"), 6, 4)
    lay.add(
        timeseries(
            "Drift by system and kind", [(f"sum by (system, kind, action) ({drift})", "{{system}} {{action}} {{kind}}")]
        )
    )
    lay.add(
        timeseries(
            "Heals and failures",
            [
                (f"sum by (system) (increase(gatewayctl_applies_total[{rate}]))", "{{system}} applies"),
                (
                    f"sum by (system, reason) (increase(gatewayctl_apply_failures_total[{rate}]))",
                    "{{system}} failed: {{reason}}",
                ),
                (
                    f"sum by (system, reason) (increase(gatewayctl_check_failures_total[{rate}]))",
                    "{{system}} check failed: {{reason}}",
                ),
            ],
        )
    )
    lay.add(
        timeseries(
            "Plan and apply duration (p99)",
            [
                (p99("gatewayctl_plan_duration_seconds", "", "system"), "plan {{system}}"),
                (p99("gatewayctl_apply_duration_seconds", "", "system"), "apply {{system}}"),
            ],
            "s",
        )
    )
    lay.add(
        timeseries(
            "Admin API requests by endpoint and code",
            [
                (
                    f"sum by (system, endpoint, code) (rate(gatewayctl_remote_request_duration_seconds_count[{rate}]))",
                    "{{system}} {{endpoint}} {{code}}",
                )
            ],
            "reqps",
        )
    )


def service_dashboard() -> dict[str, Any]:
    """One Kong service (chosen with the `service` variable): routes, status codes, latency, consumers."""
    lay = Layout()
    rate = "$__rate_interval"
    sel = 'service=~"$service"'
    lay.add(stat("Requests / s", f"sum(rate(kong_http_requests_total{{{sel}}}[{rate}]))", "reqps"), 8, 4)
    lay.add(
        stat(
            "Availability (non-5xx)",
            f'1 - (sum(rate(kong_http_requests_total{{{sel},code=~"5.."}}[{rate}])) or vector(0)) '
            f"/ sum(rate(kong_http_requests_total{{{sel}}}[{rate}]))",
            "percentunit",
        ),
        8,
        4,
    )
    lay.add(stat("p99 latency", p99("kong_request_latency_ms", sel), "ms"), 8, 4)
    lay.row("Traffic")
    lay.add(
        timeseries(
            "Requests by route",
            [(f"sum by (route) (rate(kong_http_requests_total{{{sel}}}[{rate}]))", "{{route}}")],
            "reqps",
        )
    )
    lay.add(
        timeseries(
            "Requests by status code",
            [(f"sum by (code) (rate(kong_http_requests_total{{{sel}}}[{rate}]))", "{{code}}")],
            "reqps",
        )
    )
    lay.add(
        timeseries(
            "Requests by consumer (needs per_consumer)",
            [(f'sum by (consumer) (rate(kong_http_requests_total{{{sel},consumer!=""}}[{rate}]))', "{{consumer}}")],
            "reqps",
        )
    )
    lay.add(
        timeseries(
            "Bandwidth by route",
            [(f"sum by (route, direction) (rate(kong_bandwidth_bytes{{{sel}}}[{rate}]))", "{{route}} {{direction}}")],
            "Bps",
        )
    )
    lay.row("Latency")
    lay.add(timeseries("p99 by route", [(p99("kong_request_latency_ms", sel, "route"), "{{route}}")], "ms"))
    lay.add(
        timeseries(
            "Where the time goes (p99)",
            [
                (p99("kong_upstream_latency_ms", sel), "upstream"),
                (p99("kong_kong_latency_ms", sel), "kong"),
            ],
            "ms",
        )
    )
    variables = [query_variable("service", "label_values(kong_http_requests_total, service)", "Service", True)]
    return dashboard("gatewayctl-kong-service", "Kong service", lay, ["gatewayctl", "kong"], variables)


def mesh_dashboard() -> dict[str, Any]:
    """Kuma: the control plane's health and the mesh traffic seen by the dataplanes' Envoys."""
    lay = Layout()
    rate = "$__rate_interval"
    cp = 'job="kuma-control-plane"'
    mesh = 'mesh=~"$mesh"'
    lay.add(stat("Control planes up", f"sum(up{{{cp}}})", "short", red_below=1), 6, 4)
    lay.add(stat("Leaders", f"sum(leader{{{cp}}})", "short", red_below=1), 6, 4)
    lay.add(stat("Dataplanes connected", f"sum(envoy_control_plane_connected_state{{{mesh}}})", "short"), 6, 4)
    lay.add(stat("xDS generation errors / s", f"sum(rate(xds_generation_errors{{{cp}}}[{rate}]))", "short"), 6, 4)
    lay.row("Mesh traffic")
    lay.add(
        timeseries(
            "Requests by destination",
            [
                (
                    f"sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_total{{{mesh}}}[{rate}]))",
                    "{{envoy_cluster_name}}",
                )
            ],
            "reqps",
        )
    )
    lay.add(
        timeseries(
            "5xx ratio by destination",
            [
                (
                    "sum by (envoy_cluster_name) "
                    f'(rate(envoy_cluster_upstream_rq_xx{{{mesh},envoy_response_code_class="5"}}[{rate}])) '
                    f"/ sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_total{{{mesh}}}[{rate}]))",
                    "{{envoy_cluster_name}}",
                )
            ],
            "percentunit",
        )
    )
    lay.add(
        timeseries(
            "p99 by destination",
            [(p99("envoy_cluster_upstream_rq_time", mesh, "envoy_cluster_name"), "{{envoy_cluster_name}}")],
            "ms",
        )
    )
    lay.add(
        timeseries(
            "Retries and timeouts",
            [
                (
                    f"sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_retry{{{mesh}}}[{rate}]))",
                    "retry {{envoy_cluster_name}}",
                ),
                (
                    f"sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_timeout{{{mesh}}}[{rate}]))",
                    "timeout {{envoy_cluster_name}}",
                ),
            ],
            "reqps",
        )
    )
    lay.add(
        timeseries(
            "Denied by MeshTrafficPermission",
            [(f"sum by (kuma_io_service) (rate(envoy_rbac_denied{{{mesh}}}[{rate}]))", "{{kuma_io_service}}")],
            "reqps",
        )
    )
    lay.add(
        timeseries(
            "Healthy endpoints by destination",
            [(f"sum by (envoy_cluster_name) (envoy_cluster_membership_healthy{{{mesh}}})", "{{envoy_cluster_name}}")],
        )
    )
    lay.row("Control plane")
    lay.add(timeseries("Active xDS streams", [(f"sum by (instance) (xds_streams_active{{{cp}}})", "{{instance}}")]), 8)
    lay.add(
        timeseries(
            "Mesh certificate expiry",
            [("min by (mesh) (xds_cert_expiration_timestamp_seconds - time())", "{{mesh}}")],
            "s",
        ),
        8,
    )
    lay.add(timeseries("kuma-cp memory", [(f"process_resident_memory_bytes{{{cp}}}", "{{instance}}")], "bytes"), 8)
    variables = [query_variable("mesh", "label_values(envoy_server_live, mesh)", "Mesh", True)]
    return dashboard("gatewayctl-kuma-mesh", "Kuma mesh", lay, ["gatewayctl", "kuma"], variables)


STOCK_DASHBOARDS = {
    "kong-gateway.json": gateway_dashboard,
    "kong-service.json": service_dashboard,
    "kuma-mesh.json": mesh_dashboard,
}
