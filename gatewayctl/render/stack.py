"""Where the pieces of the stack listen, in one place, so that Kong's plugins, Prometheus' jobs, the
Kubernetes Services, the VM units and deploy-plan agree on every port, path and job name."""

from __future__ import annotations

from dataclasses import dataclass

from gatewayctl.catalog.model import Catalog

# Prometheus job names: the stock alert rules and dashboards (and Kuma's own dashboards) select on them.
JOB_KONG = "kong"
JOB_KUMA_CP = "kuma-control-plane"
JOB_KUMA_DP = "kuma-dataplanes"
JOB_ZIPKIN = "zipkin"
JOB_PROMETHEUS = "prometheus"

PROMETHEUS_PORT = 9090
GRAFANA_PORT = 3000
ZIPKIN_PORT = 9411  # UI, API, collector (POST /api/v2/spans) and /prometheus
ZIPKIN_METRICS_PATH = "/prometheus"
ZIPKIN_SPANS_PATH = "/api/v2/spans"
KUMA_CP_METRICS_PORT = 5680  # kuma-cp diagnostics: /metrics
KUMA_CP_API_PORT = 5681
KUMA_CP_DP_PORT = 5678  # dataplane server (xDS, bootstrap)
KUMA_CP_KDS_PORT = 5685  # a global control plane's KDS server, which every zone control plane connects to
KUMA_DP_METRICS_PORT = 5670  # MeshMetric's default
POSTGRES_PORT = 5432

IMAGES = {
    "prometheus": "prom/prometheus:v2.55.1",
    "grafana": "grafana/grafana:11.3.1",
    "zipkin": "openzipkin/zipkin-slim:3.4",
    "postgres": "postgres:16-alpine",
}

# Inside the observability stack (a Kubernetes namespace or one docker-compose project) the services find
# each other by these names.
PROMETHEUS_URL = f"http://prometheus:{PROMETHEUS_PORT}"
ZIPKIN_URL = f"http://zipkin:{ZIPKIN_PORT}"


def kong_image(catalog: Catalog) -> str:
    kong = catalog.deployment.kong
    if kong.image:
        return kong.image
    repository = "kong/kong-gateway" if catalog.gateway.edition == "enterprise" else "kong"
    return f"{repository}:{kong.version}"


def kuma_version(catalog: Catalog) -> str:
    return catalog.deployment.kuma.version


@dataclass(frozen=True)
class MeshScrape:
    port: int
    path: str


def mesh_scrape(catalog: Catalog) -> MeshScrape | None:
    """Where dataplanes publish their Envoy metrics (MeshMetric), or None when the mesh has none."""
    mesh = catalog.mesh
    if not catalog.mesh_enabled or mesh is None or mesh.metrics is None or mesh.metrics.prometheus is None:
        return None
    return MeshScrape(mesh.metrics.prometheus.port, mesh.metrics.prometheus.path)


def retention(catalog: Catalog) -> str:
    """Prometheus' --storage.tsdb.retention.time (it accepts the catalog's d/h/m units as written)."""
    ms = catalog.deployment.observability.prometheus.retention.ms
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
