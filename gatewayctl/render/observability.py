"""The `observability` target: Prometheus, Grafana and Zipkin wiring derived from the catalog.

    OUT/observability/prometheus/prometheus.yml        scrape jobs (Kubernetes SD on kubernetes, file SD on VMs)
    OUT/observability/prometheus/targets/*.json        file SD target lists (platform vm)
    OUT/observability/prometheus/rules/slo.rules.yml   per-service SLO alerts from services[].slo
    OUT/observability/prometheus/rules/{kong,kuma,zipkin}.rules.yml   the stock rules (copied)
    OUT/observability/grafana/dashboards/*.json        stock dashboards + <catalog>-services.json
    OUT/observability/grafana/provisioning/...          datasources (Prometheus, Zipkin) and dashboard provider

Job names, ports and paths come from `stack.py`, the same place the Kubernetes and VM targets take them
from, so that what Kong and the dataplanes expose is what Prometheus scrapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from gatewayctl.assets import asset
from gatewayctl.catalog.checks import in_mesh
from gatewayctl.catalog.load import LoadedCatalog
from gatewayctl.catalog.model import Catalog, Service
from gatewayctl.catalog.secrets import SecretResolver
from gatewayctl.render import grafana
from gatewayctl.render.kuma import workload
from gatewayctl.render.output import RenderedFile, dump_json, dump_yaml
from gatewayctl.render.stack import (
    JOB_KONG,
    JOB_KUMA_CP,
    JOB_KUMA_DP,
    JOB_PROMETHEUS,
    JOB_ZIPKIN,
    KUMA_CP_METRICS_PORT,
    PROMETHEUS_PORT,
    PROMETHEUS_URL,
    ZIPKIN_METRICS_PATH,
    ZIPKIN_PORT,
    ZIPKIN_URL,
    mesh_scrape,
)

ROOT = "observability"
STOCK_RULES = ("kong.rules.yml", "kuma.rules.yml", "zipkin.rules.yml")
# Relative to prometheus.yml (Prometheus resolves them so): the folder layout of OUT/observability/prometheus
# is what gets mounted at /etc/prometheus, on both platforms, and `promtool check config` finds them too.
RULES_DIR = "rules"
TARGETS_DIR = "targets"
DASHBOARDS_DIR = "/var/lib/grafana/dashboards"
KONG_STATUS_SERVICE = "kong-status"  # the Kubernetes Service in front of Kong's Status API (port name "status")
KUMA_CP_SERVICE = "kuma-control-plane"  # the Kuma Helm chart's Service (port name "diagnostics")

# Multi-window, multi-burn-rate alerts (the Google SRE workbook, chapter 5): a page when 2% of a 30-day
# error budget burns in an hour, a ticket when 5% burns in six hours.
BURN_WINDOWS = ("5m", "30m", "1h", "6h")
FAST_BURN = (Decimal("14.4"), "1h", "5m")
SLOW_BURN = (Decimal(6), "6h", "30m")


def render_observability(loaded: LoadedCatalog, secrets: SecretResolver) -> list[RenderedFile]:
    catalog = loaded.catalog
    files = [RenderedFile(f"{ROOT}/prometheus/prometheus.yml", dump_yaml(prometheus_config(catalog)).encode())]
    if catalog.deployment.platform == "vm":
        for name, groups in file_sd_targets(catalog).items():
            files.append(RenderedFile(f"{ROOT}/prometheus/targets/{name}.json", dump_json(groups).encode()))
    slo = slo_rules(catalog)
    if slo is not None:
        files.append(RenderedFile(f"{ROOT}/prometheus/rules/slo.rules.yml", dump_yaml(slo).encode()))
    for name in STOCK_RULES:
        files.append(
            RenderedFile(
                f"{ROOT}/prometheus/rules/{name}", asset(f"observability/prometheus/rules/{name}").read_bytes()
            )
        )
    for name, build in grafana.STOCK_DASHBOARDS.items():
        files.append(RenderedFile(f"{ROOT}/grafana/dashboards/{name}", dump_json(build()).encode()))
    files.append(
        RenderedFile(
            f"{ROOT}/grafana/dashboards/{catalog.name}-services.json", dump_json(services_dashboard(catalog)).encode()
        )
    )
    files.append(
        RenderedFile(f"{ROOT}/grafana/provisioning/datasources/datasources.yaml", dump_yaml(datasources()).encode())
    )
    files.append(
        RenderedFile(
            f"{ROOT}/grafana/provisioning/dashboards/dashboards.yaml", dump_yaml(dashboard_provider()).encode()
        )
    )
    return files


# --------------------------------------------------------------------------- Prometheus


def prometheus_config(catalog: Catalog) -> dict[str, Any]:
    jobs: list[dict[str, Any]] = [
        {"job_name": JOB_PROMETHEUS, "static_configs": [{"targets": [f"localhost:{PROMETHEUS_PORT}"]}]},
    ]
    if catalog.deployment.platform == "kubernetes":
        jobs += kubernetes_jobs(catalog)
    else:
        jobs += [
            file_sd_job(JOB_KONG, "/metrics"),
            file_sd_job(JOB_ZIPKIN, ZIPKIN_METRICS_PATH),
        ]
        if catalog.mesh_enabled:
            jobs.append(file_sd_job(JOB_KUMA_CP, "/metrics"))
            scrape = mesh_scrape(catalog)
            if scrape is not None:
                jobs.append(file_sd_job(JOB_KUMA_DP, scrape.path))
    return {
        "global": {
            "scrape_interval": "15s",
            "evaluation_interval": "15s",
            "external_labels": {"catalog": catalog.name},
        },
        "rule_files": [f"{RULES_DIR}/*.yml"],
        "scrape_configs": jobs,
    }


def file_sd_job(job: str, path: str) -> dict[str, Any]:
    return {
        "job_name": job,
        "metrics_path": path,
        "file_sd_configs": [{"files": [f"{TARGETS_DIR}/{job}.json"], "refresh_interval": "1m"}],
    }


def _endpoints_job(job: str, namespace: str, service: str, port_name: str, path: str) -> dict[str, Any]:
    return {
        "job_name": job,
        "metrics_path": path,
        "kubernetes_sd_configs": [{"role": "endpoints", "namespaces": {"names": [namespace]}}],
        "relabel_configs": [
            {
                "source_labels": ["__meta_kubernetes_service_name", "__meta_kubernetes_endpoint_port_name"],
                "regex": f"{service};{port_name}",
                "action": "keep",
            },
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ],
    }


def kubernetes_jobs(catalog: Catalog) -> list[dict[str, Any]]:
    ns = catalog.deployment.namespaces
    jobs = [
        _endpoints_job(JOB_KONG, ns.kong, KONG_STATUS_SERVICE, "status", "/metrics"),
        _endpoints_job(JOB_ZIPKIN, ns.observability, "zipkin", "http", ZIPKIN_METRICS_PATH),
    ]
    if catalog.mesh_enabled:
        jobs.append(_endpoints_job(JOB_KUMA_CP, ns.kuma, KUMA_CP_SERVICE, "diagnostics", "/metrics"))
        scrape = mesh_scrape(catalog)
        if scrape is not None:
            # Every pod with an injected sidecar, at MeshMetric's port (not a declared container port).
            jobs.append(
                {
                    "job_name": JOB_KUMA_DP,
                    "metrics_path": scrape.path,
                    "kubernetes_sd_configs": [{"role": "pod"}],
                    "relabel_configs": [
                        {
                            "source_labels": ["__meta_kubernetes_pod_annotation_kuma_io_sidecar_injected"],
                            "regex": "true",
                            "action": "keep",
                        },
                        {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Running", "action": "keep"},
                        {
                            "source_labels": ["__meta_kubernetes_pod_ip"],
                            "regex": "(.+)",
                            "replacement": f"${{1}}:{scrape.port}",
                            "target_label": "__address__",
                        },
                        {"source_labels": ["__meta_kubernetes_pod_annotation_kuma_io_mesh"], "target_label": "mesh"},
                        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
                    ],
                }
            )
    return jobs


def dataplane_address(service: Service) -> str | None:
    """The VM address a service's dataplane runs at: the host of its url (None for upstream services)."""
    if service.url is None or "${" in service.url:
        return None
    return urlsplit(service.url).hostname


HOST_GATEWAY = "host.docker.internal"  # the VM bundle's Prometheus container maps it to the host (host-gateway)


def scrape_host(host: str | None) -> str:
    """A VM's address as the Prometheus container reaches it: a loopback address inside the container is the
    container itself, so a single-machine setup (Kong on 127.0.0.1) is scraped through the host gateway."""
    if host is None:
        return ""
    if host == "localhost" or host == "::1" or host.startswith("127."):
        return HOST_GATEWAY
    return host


def file_sd_targets(catalog: Catalog) -> dict[str, list[dict[str, Any]]]:
    """The file SD target lists of the VM platform, one per job."""
    d = catalog.deployment
    assert d.vm is not None  # the checks require deployment.vm with platform vm
    base = {"catalog": catalog.name}
    targets: dict[str, list[dict[str, Any]]] = {
        JOB_KONG: [{"targets": [f"{scrape_host(h)}:{d.kong.status_port}" for h in d.vm.kong_hosts], "labels": base}],
        JOB_ZIPKIN: [{"targets": [f"{scrape_host(d.vm.observability_host)}:{ZIPKIN_PORT}"], "labels": base}],
    }
    if catalog.mesh_enabled:
        targets[JOB_KUMA_CP] = [{"targets": [f"{scrape_host(d.vm.kuma_cp)}:{KUMA_CP_METRICS_PORT}"], "labels": base}]
        scrape = mesh_scrape(catalog)
        if scrape is not None and catalog.mesh is not None:
            groups = []
            for s in catalog.services:
                address = dataplane_address(s)
                if in_mesh(catalog, s) and address:
                    labels = {**base, "mesh": catalog.mesh.name, "kuma_io_service": workload(catalog, s).kuma_service}
                    groups.append({"targets": [f"{scrape_host(address)}:{scrape.port}"], "labels": labels})
            targets[JOB_KUMA_DP] = groups
    return targets


# --------------------------------------------------------------------------- SLO alerts


@dataclass(frozen=True)
class SloSource:
    """Where a service's request outcomes are counted: Kong (services with routes) or the callers' Envoys
    (mesh-only services)."""

    label: str  # the label naming the service in the recorded ratio
    value: str
    ratio: str  # recorded 5xx ratio, without the window suffix
    latency_metric: str  # histogram (without _bucket)
    latency_selector: str


def slo_source(catalog: Catalog, service: Service) -> SloSource | None:
    if service.routes:
        return SloSource(
            "service",
            service.name,
            "service:kong_http_5xx_ratio:rate",
            "kong_request_latency_ms",
            f'service="{service.name}"',
        )
    if in_mesh(catalog, service) and mesh_scrape(catalog) is not None:
        cluster = workload(catalog, service).kuma_service
        return SloSource(
            "envoy_cluster_name",
            cluster,
            "envoy_cluster:upstream_5xx_ratio:rate",
            "envoy_cluster_upstream_rq_time",
            f'envoy_cluster_name="{cluster}"',
        )
    return None  # nothing measures it: no Kong route, no mesh metrics


def _number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def slo_rules(catalog: Catalog) -> dict[str, Any] | None:
    """Recording rules for the 5xx ratios and, per service with an `slo`, burn-rate and latency alerts."""
    alerts: list[dict[str, Any]] = []
    for service in catalog.services:
        slo = service.slo
        source = slo_source(catalog, service)
        if slo is None or source is None:
            continue
        selector = f'{{{source.label}="{source.value}"}}'
        labels = {"service": service.name, "catalog": catalog.name}
        if slo.availability is not None:
            target = Decimal(str(slo.availability))
            budget = (Decimal(100) - target) / Decimal(100)
            for name, (burn, long, short), severity, wait in (
                ("SLOErrorBudgetFastBurn", FAST_BURN, "critical", "2m"),
                ("SLOErrorBudgetSlowBurn", SLOW_BURN, "warning", "15m"),
            ):
                limit = _number(burn * budget)
                alerts.append(
                    {
                        "alert": name,
                        "expr": f"{source.ratio}{long}{selector} > {limit}\n"
                        f"and\n{source.ratio}{short}{selector} > {limit}",
                        "for": wait,
                        "labels": {**labels, "severity": severity, "slo": "availability"},
                        "annotations": {
                            "summary": f"{service.name} burns its {_number(target)}% availability budget "
                            f"{_number(burn)}x too fast",
                            "description": f"5xx ratio over {long} is {{{{ $value | humanizePercentage }}}}; "
                            f"the SLO allows {_number(budget * 100)}% over 30 days.",
                        },
                    }
                )
        if slo.latency_p99 is not None:
            ms = slo.latency_p99.ms
            alerts.append(
                {
                    "alert": "SLOLatencyP99",
                    "expr": f"histogram_quantile(0.99, sum by (le) (rate({source.latency_metric}_bucket"
                    f"{{{source.latency_selector}}}[5m]))) > {ms}",
                    "for": "10m",
                    "labels": {**labels, "severity": "warning", "slo": "latency"},
                    "annotations": {
                        "summary": f"The p99 latency of {service.name} is above its {slo.latency_p99.text} SLO",
                        "description": "p99 {{ $value }} ms over 5 minutes.",
                    },
                }
            )
    if not alerts:
        return None
    recording: list[dict[str, Any]] = []
    for window in BURN_WINDOWS:
        recording.append(
            {
                "record": f"service:kong_http_5xx_ratio:rate{window}",
                "expr": f'sum by (service) (rate(kong_http_requests_total{{code=~"5.."}}[{window}]))\n'
                f"/\nsum by (service) (rate(kong_http_requests_total[{window}]))",
            }
        )
    if catalog.mesh_enabled:
        for window in BURN_WINDOWS:
            recording.append(
                {
                    "record": f"envoy_cluster:upstream_5xx_ratio:rate{window}",
                    "expr": "sum by (envoy_cluster_name) "
                    f'(rate(envoy_cluster_upstream_rq_xx{{envoy_response_code_class="5"}}[{window}]))\n'
                    f"/\nsum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_total[{window}]))",
                }
            )
    return {
        "groups": [
            {"name": f"{catalog.name}-slo-ratios", "rules": recording},
            {"name": f"{catalog.name}-slo", "rules": alerts},
        ]
    }


# --------------------------------------------------------------------------- Grafana


def datasources() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": "prometheus",
                "type": "prometheus",
                "access": "proxy",
                "url": PROMETHEUS_URL,
                "isDefault": True,
                "jsonData": {"timeInterval": "15s"},
            },
            {"name": "Zipkin", "uid": "zipkin", "type": "zipkin", "access": "proxy", "url": ZIPKIN_URL},
        ],
    }


def dashboard_provider() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "gatewayctl",
                "folder": "gatewayctl",
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "options": {"path": DASHBOARDS_DIR},
            }
        ],
    }


def services_dashboard(catalog: Catalog, page: tuple[int, int] | None = None) -> dict[str, Any]:
    """A row per catalog service: traffic by status class, 5xx ratio against the error budget, p99
    against the latency SLO (Kong's metrics for routed services, the callers' Envoys for mesh-only ones).
    `page` (number, count) makes it one of `count` dashboards, each with its share of the services in order."""
    lay = grafana.Layout()
    rate = "$__rate_interval"
    services = catalog.services
    uid, title = f"gatewayctl-{catalog.name}"[:40], f"{catalog.name}: services"
    if page is not None:
        number, count = page
        size = -(-len(services) // count)
        services = services[(number - 1) * size : number * size]
        suffix = f"-{number}"
        uid, title = f"{uid[: 40 - len(suffix)]}{suffix}", f"{title} ({number}/{count})"
    for service in services:
        lay.row(service.name + (f" — {service.description}" if service.description else ""))
        source = slo_source(catalog, service)
        if source is None:
            lay.add(
                grafana.text_panel(f"{service.name} has no routes and no mesh metrics: nothing measures it."), 24, 3
            )
            continue
        slo = service.slo
        budget = [float((Decimal(100) - Decimal(str(slo.availability))) / 100)] if slo and slo.availability else None
        latency = [float(slo.latency_p99.ms)] if slo and slo.latency_p99 else None
        if source.label == "service":
            sel = f'service="{service.name}"'
            traffic = (
                grafana.by_status_class(sel),
                "{{code}}",
            )
            errors = (
                f'sum(rate(kong_http_requests_total{{{sel},code=~"5.."}}[{rate}])) '
                f"/ sum(rate(kong_http_requests_total{{{sel}}}[{rate}]))"
            )
        else:
            sel = source.latency_selector
            traffic = (
                f"sum by (envoy_response_code_class) (rate(envoy_cluster_upstream_rq_xx{{{sel}}}[{rate}]))",
                "{{envoy_response_code_class}}xx",
            )
            errors = (
                f'sum(rate(envoy_cluster_upstream_rq_xx{{{sel},envoy_response_code_class="5"}}[{rate}])) '
                f"/ sum(rate(envoy_cluster_upstream_rq_total{{{sel}}}[{rate}]))"
            )
        lay.add(grafana.timeseries("Requests by status class", [traffic], "reqps"), 8)
        lay.add(grafana.timeseries("5xx ratio (line: error budget)", [(errors, "5xx")], "percentunit", budget), 8)
        lay.add(
            grafana.timeseries(
                "p99 latency (line: SLO)", [(grafana.p99(source.latency_metric, sel), "p99")], "ms", latency
            ),
            8,
        )
    return grafana.dashboard(uid, title, lay, ["gatewayctl", catalog.name], [])
