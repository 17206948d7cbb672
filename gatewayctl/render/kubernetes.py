"""The `kubernetes` target: manifests for Kong, the observability stack and the pieces around kuma-cp,
from the catalog's `deployment` section (platform kubernetes; nothing for VMs).

The objects are the static ones under `manifests/` (shipped with gatewayctl), adjusted as data — namespaces,
images, replicas, ports, retention, Kuma wiring from `kuma.mesh_wiring` — plus what only the catalog knows:
the DB-less configuration or the Postgres password, the Prometheus/Grafana configuration from the
observability target, and Secrets (mode 0600 files) for every password. `kubectl apply -k OUT/kubernetes`
applies it all; kuma-cp itself comes from the Kuma Helm chart with `kubernetes/kuma/helm-values.yaml`.
`kubernetes/helm/` holds the values for gatewayctl's own chart (`helm/gatewayctl`), and for a DB-less Kong
the configuration that chart puts into a Secret.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml

from gatewayctl import __version__
from gatewayctl.assets import asset
from gatewayctl.catalog.load import LoadedCatalog
from gatewayctl.catalog.model import Catalog
from gatewayctl.catalog.secrets import Reference, SecretResolver
from gatewayctl.diagnostics import CatalogInvalid
from gatewayctl.render import grafana
from gatewayctl.render.kong import build_kong_config
from gatewayctl.render.kuma import MeshWiring, mesh_wiring
from gatewayctl.render.observability import (
    STOCK_RULES,
    dashboard_provider,
    datasources,
    prometheus_config,
    services_dashboard,
    slo_rules,
)
from gatewayctl.render.output import PRIVATE, PUBLIC, RenderedFile, dump_json, dump_yaml
from gatewayctl.render.ownership import CATALOG_LABEL, ownership_labels
from gatewayctl.render.stack import IMAGES, KUMA_CP_KDS_PORT, kong_image, mesh_scrape, retention

Obj = dict[str, Any]
ROOT = "kubernetes"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
DECLARATIVE_SECRET = "kong-declarative-config"
POSTGRES_SECRET = "kong-postgres"
GRAFANA_SECRET = "grafana-admin"
# The API server refuses a ConfigMap whose data is over 1 MiB (1,048,576 bytes); this leaves room for the keys.
CONFIG_MAP_BUDGET = 1_000_000
SECRET_LIMIT = 1_048_576  # the same limit for a Secret's data
CHART_VALUES = f"{ROOT}/helm/gatewayctl-values.yaml"
CHART_DBLESS_CONFIG = f"{ROOT}/helm/kong-dbless.yaml"
# The catalog sections `gatewayctl apply` and `gatewayctl watch` resolve secrets in (Kong's entities and
# the mesh); the chart's pods get exactly these as environment variables and files.
CHART_SECRET_SECTIONS = ("gateway", "consumers", "services", "mesh")


def render_kubernetes(loaded: LoadedCatalog, secrets: SecretResolver) -> list[RenderedFile]:
    catalog = loaded.catalog
    if catalog.deployment.platform != "kubernetes":
        return []
    files: list[tuple[str, list[Obj], bool]] = [("namespaces.yaml", namespaces(catalog), False)]
    files += kong_files(catalog, secrets)
    _check_declarative_secret(loaded, files)
    files += observability_files(catalog, secrets)
    wiring = mesh_wiring(catalog)
    if wiring is not None:
        files.append(("kuma/kuma-cp.yaml", kuma_cp_objects(catalog), False))
    rendered: list[RenderedFile] = []
    for group, objects, private in files:
        ns = _namespace_for(group, catalog)
        docs = [_owned(o, catalog, ns) for o in objects]
        if group.startswith("kuma/") or group.startswith("observability/"):
            _retarget_observability_namespace(docs, catalog)
        folder = group.rsplit("/", 1)[0] if "/" in group else ""
        for doc in docs:  # one object per file, named like the Kuma target's: <kind>-<name>.yaml
            name = f"{doc['kind'].lower()}-{doc['metadata']['name']}.yaml"
            path = f"{ROOT}/{folder}/{name}" if folder else f"{ROOT}/{name}"
            rendered.append(RenderedFile(path, dump_yaml(doc).encode(), PRIVATE if private else PUBLIC))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [f.path.removeprefix(f"{ROOT}/") for f in rendered],
    }
    if wiring is not None:
        rendered.append(RenderedFile(f"{ROOT}/kuma/helm-values.yaml", dump_yaml(kuma_helm_values(catalog)).encode()))
    rendered += chart_files(loaded, secrets)
    rendered.append(RenderedFile(f"{ROOT}/kustomization.yaml", dump_yaml(kustomization).encode()))
    return rendered


# --------------------------------------------------------------------------- helpers


def load_manifest(relative: str) -> list[Obj]:
    return [d for d in yaml.safe_load_all(asset(relative).read_text()) if isinstance(d, dict)]


def _namespace_for(path: str, catalog: Catalog) -> str:
    ns = catalog.deployment.namespaces
    top = path.split("/", 1)[0]
    return {"kong": ns.kong, "observability": ns.observability, "kuma": ns.kuma}.get(top, "")


def _owned(obj: Obj, catalog: Catalog, namespace: str) -> Obj:
    obj = copy.deepcopy(obj)
    meta = obj.setdefault("metadata", {})
    meta["labels"] = {**meta.get("labels", {}), **ownership_labels(catalog.name)}
    if obj["kind"] not in CLUSTER_SCOPED and namespace:
        meta["namespace"] = namespace
    return obj


def _retarget_observability_namespace(docs: list[Obj], catalog: Catalog) -> None:
    """Network policies and bindings name the observability namespace; the catalog may call it otherwise."""
    ns = catalog.deployment.namespaces.observability
    for d in docs:
        for rule in d.get("spec", {}).get("ingress", []):
            for peer in rule.get("from", []):
                selector = peer.get("namespaceSelector", {}).get("matchLabels", {})
                if "kubernetes.io/metadata.name" in selector:
                    selector["kubernetes.io/metadata.name"] = ns
        for subject in d.get("subjects", []):
            subject["namespace"] = ns


def find(objects: list[Obj], kind: str, name: str) -> Obj:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def container(deployment: Obj) -> Obj:
    containers: list[Obj] = deployment["spec"]["template"]["spec"]["containers"]
    return containers[0]


def set_env(c: Obj, name: str, value: str | None = None, secret: tuple[str, str] | None = None) -> None:
    entry: Obj = {"name": name}
    if secret is not None:
        entry["valueFrom"] = {"secretKeyRef": {"name": secret[0], "key": secret[1]}}
    else:
        entry["value"] = value
    env: list[Obj] = c.setdefault("env", [])
    for i, e in enumerate(env):
        if e["name"] == name:
            env[i] = entry
            return
    env.append(entry)


def secret(name: str, data: dict[str, str]) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque", "stringData": data}


def config_map(name: str, data: dict[str, str]) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def _size(text: str) -> int:
    return len(text.encode())


def config_maps(name: str, data: dict[str, str]) -> list[Obj]:
    """`data` in as few ConfigMaps as fit the API server's limit: NAME, then NAME-2, ... (no file is split)."""
    chunks: list[dict[str, str]] = [{}]
    size = 0
    for key, value in data.items():
        n = len(key) + _size(value)
        if chunks[-1] and size + n > CONFIG_MAP_BUDGET:
            chunks.append({})
            size = 0
        chunks[-1][key] = value
        size += n
    return [config_map(name if i == 0 else f"{name}-{i + 1}", chunk) for i, chunk in enumerate(chunks)]


def mount_config_maps(deployment: Obj, volume: str, maps: list[Obj]) -> None:
    """The volume that mounts one ConfigMap mounts all of `maps` into the same folder when there are several."""
    if len(maps) == 1:
        return
    for v in deployment["spec"]["template"]["spec"]["volumes"]:
        if v["name"] == volume:
            v.pop("configMap")
            v["projected"] = {"sources": [{"configMap": {"name": m["metadata"]["name"]}} for m in maps]}


def services_dashboard_files(catalog: Catalog) -> dict[str, str]:
    """The services dashboard, as dashboards of a part of the services each when one would not fit a
    ConfigMap (about 4 kB per service: a few hundred services)."""
    whole = dump_json(services_dashboard(catalog))
    if _size(whole) <= CONFIG_MAP_BUDGET:
        return {f"{catalog.name}-services.json": whole}
    count = -(-_size(whole) // CONFIG_MAP_BUDGET)
    while True:
        pages = [dump_json(services_dashboard(catalog, (n, count))) for n in range(1, count + 1)]
        if all(_size(p) <= CONFIG_MAP_BUDGET for p in pages):
            return {f"{catalog.name}-services-{n}.json": p for n, p in enumerate(pages, 1)}
        count += 1


def split_groups(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rule groups, each too large for one ConfigMap (or PrometheusRule) split into groups of its own
    (`<group>-2`, ...) holding its rules in order."""
    out: list[dict[str, Any]] = []
    for group in groups:
        count = -(-_size(dump_yaml({"groups": [group]})) // CONFIG_MAP_BUDGET)
        while True:
            size = -(-len(group["rules"]) // count)
            parts = [group["rules"][i : i + size] for i in range(0, len(group["rules"]), size)]
            split = [
                {**group, "name": group["name"] if k == 0 else f"{group['name']}-{k + 1}", "rules": part}
                for k, part in enumerate(parts)
            ]
            if all(_size(dump_yaml({"groups": [g]})) <= CONFIG_MAP_BUDGET for g in split):
                out += split
                break
            count += 1
    return out


def rule_files(name: str, rules: dict[str, Any]) -> dict[str, str]:
    """A rule file, as several (`slo.rules.yml`, `slo-2.rules.yml`, ...) when one would not fit a ConfigMap."""
    whole = dump_yaml(rules)
    if _size(whole) <= CONFIG_MAP_BUDGET:
        return {name: whole}
    stem = name.removesuffix(".rules.yml")
    return {
        name if i == 0 else f"{stem}-{i + 1}.rules.yml": dump_yaml({"groups": [g]})
        for i, g in enumerate(split_groups(rules["groups"]))
    }


def rule_sets(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chart's PrometheusRule groups, numbered (`ruleSet`) into objects the API server takes (etcd refuses
    a request over 1.5 MiB): set 0, the chart's main PrometheusRule, carries no number."""
    out: list[dict[str, Any]] = []
    number, size = 0, 0
    for group in split_groups(groups):
        n = _size(dump_yaml(group))
        if size and size + n > CONFIG_MAP_BUDGET:
            number, size = number + 1, 0
        out.append({**group, "ruleSet": number} if number else group)
        size += n
    return out


# --------------------------------------------------------------------------- namespaces


def namespaces(catalog: Catalog) -> list[Obj]:
    ns = catalog.deployment.namespaces
    wiring = mesh_wiring(catalog)
    labels: dict[str, dict[str, str]] = {ns.kong: {}, ns.observability: {}}
    if wiring is not None:
        labels[ns.kuma] = {}
        for name, extra in wiring.namespace_labels.items():
            labels[name] = {**labels.get(name, {}), **extra}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": lab}} for n, lab in labels.items()
    ]


# --------------------------------------------------------------------------- Kong


def kong_native_config(catalog: Catalog, secrets: SecretResolver) -> dict[str, Any]:
    """The rendered Kong configuration as Kong's own loader takes it: without decK's `_info`."""
    config = build_kong_config(catalog, secrets)
    return {k: v for k, v in config.items() if k != "_info"}


def kong_objects(catalog: Catalog, wiring: MeshWiring | None) -> list[Obj]:
    k = catalog.deployment.kong
    objects = load_manifest("manifests/base/kong/kong.yaml")
    deployment = find(objects, "Deployment", "kong")
    pod = deployment["spec"]["template"]
    c = container(deployment)
    c["image"] = kong_image(catalog)
    ports = {"proxy": k.proxy_port, "status": k.status_port, "admin": k.admin_port}
    for p in c["ports"]:
        p["containerPort"] = ports.get(p["name"], p["containerPort"])
    set_env(c, "KONG_PROXY_LISTEN", f"0.0.0.0:{k.proxy_port}, 0.0.0.0:8443 http2 ssl")
    set_env(c, "KONG_STATUS_LISTEN", f"0.0.0.0:{k.status_port}")
    admin_host = "0.0.0.0" if k.database == "postgres" else "127.0.0.1"
    set_env(c, "KONG_ADMIN_LISTEN", f"{admin_host}:{k.admin_port}")
    if k.database == "postgres":
        for name, value in postgres_env().items():
            set_env(c, name, value)
        set_env(c, "KONG_PG_PASSWORD", secret=(POSTGRES_SECRET, "password"))
    else:
        set_env(c, "KONG_DATABASE", "off")
        set_env(c, "KONG_DECLARATIVE_CONFIG", "/kong/declarative/kong.yaml")
        c["volumeMounts"].append({"name": "declarative-config", "mountPath": "/kong/declarative", "readOnly": True})
        pod["spec"]["volumes"].append({"name": "declarative-config", "secret": {"secretName": DECLARATIVE_SECRET}})
        # The DB-less Admin API listens on localhost only: nothing to expose or let in.
        objects = [o for o in objects if not (o["kind"] == "Service" and o["metadata"]["name"] == "kong-admin")]
    if wiring is not None:
        pod["metadata"]["labels"].update(wiring.kong_pod_labels)
        pod["metadata"]["annotations"] = {**pod["metadata"].get("annotations", {}), **wiring.kong_pod_annotations}
    else:
        pod["metadata"].pop("annotations", None)
    find(objects, "Service", "kong-status")["spec"]["ports"][0]["port"] = k.status_port
    # kong.replicas is the autoscaler's floor; the Deployment has no replicas of its own (see the base manifest)
    hpa = find(objects, "HorizontalPodAutoscaler", "kong")
    hpa["spec"]["minReplicas"] = k.replicas
    hpa["spec"]["maxReplicas"] = max(2 * k.replicas, k.replicas + 2)
    policy = find(objects, "NetworkPolicy", "kong")
    rules = policy["spec"]["ingress"]
    rules[0]["ports"][0]["port"] = k.proxy_port
    rules[1]["ports"][0]["port"] = k.status_port
    scrape = mesh_scrape(catalog)
    if wiring is not None and scrape is not None and scrape.port != k.status_port:
        # Kong's pods get a sidecar (gateway mode) that MeshMetric has publish its Envoy metrics too; Prometheus'
        # kuma-dataplanes job scrapes every injected pod there, Kong's included.
        rules[1]["ports"].append({"port": scrape.port, "protocol": "TCP"})
    rules[1]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] = (
        catalog.deployment.namespaces.observability
    )
    if k.database == "postgres":
        rules[2]["ports"][0]["port"] = k.admin_port
    else:
        del rules[2]
    return objects


def _check_declarative_secret(loaded: LoadedCatalog, files: list[tuple[str, list[Obj], bool]]) -> None:
    """A DB-less configuration too large for the Secret Kong mounts it from is refused here, with what to do,
    rather than by the API server at `kubectl apply` (the chart's Secret holds the same file)."""
    for _, objects, _ in files:
        for o in objects:
            if o["kind"] == "Secret" and o["metadata"]["name"] == DECLARATIVE_SECRET:
                size = sum(len(k) + _size(v) for k, v in o["stringData"].items())
                if size > SECRET_LIMIT:
                    why = (
                        f"the DB-less configuration is {size:,} bytes, over the {SECRET_LIMIT:,} a Kubernetes Secret "
                        f"may hold ({DECLARATIVE_SECRET}, which Kong mounts): use gateway.mode: db for a catalog "
                        "this size, or leave out the kubernetes target"
                    )
                    raise CatalogInvalid([loaded.source.diagnostic(("gateway", "mode"), why)])


def kong_admin_service_port() -> int:
    """The kong-admin Service's own port: it stays the manifest's (8001) whatever `admin_port` the pods listen
    on (its targetPort is the named container port), so in-cluster clients and port-forwards use this one."""
    port: int = find(load_manifest("manifests/base/kong/kong.yaml"), "Service", "kong-admin")["spec"]["ports"][0][
        "port"
    ]
    return port


def postgres_env() -> dict[str, str]:
    return {
        "KONG_DATABASE": "postgres",
        "KONG_PG_HOST": "kong-postgres",
        "KONG_PG_PORT": "5432",
        "KONG_PG_USER": "kong",
        "KONG_PG_DATABASE": "kong",
    }


def kong_files(catalog: Catalog, secrets: SecretResolver) -> list[tuple[str, list[Obj], bool]]:
    k = catalog.deployment.kong
    wiring = mesh_wiring(catalog)
    files: list[tuple[str, list[Obj], bool]] = [("kong/kong.yaml", kong_objects(catalog, wiring), False)]
    if k.database == "postgres":
        postgres = load_manifest("manifests/overlays/kong-postgres/postgres.yaml")
        container(find(postgres, "StatefulSet", "kong-postgres"))["image"] = IMAGES["postgres"]
        migrations = load_manifest("manifests/overlays/kong-postgres/migrations.yaml")
        job = find(migrations, "Job", "kong-migrations")
        job["spec"]["template"]["spec"]["containers"][0]["image"] = kong_image(catalog)
        files += [("kong/postgres.yaml", postgres, False), ("kong/migrations.yaml", migrations, False)]
        if k.postgres_password is not None:
            password = secrets.resolve(k.postgres_password)
            files.append(("kong/postgres.secret.yaml", [secret(POSTGRES_SECRET, {"password": password})], True))
    else:
        config = dump_yaml(kong_native_config(catalog, secrets))
        files.append(("kong/config.secret.yaml", [secret(DECLARATIVE_SECRET, {"kong.yaml": config})], True))
    return files


# --------------------------------------------------------------------------- observability


def observability_files(catalog: Catalog, secrets: SecretResolver) -> list[tuple[str, list[Obj], bool]]:
    prometheus = load_manifest("manifests/base/prometheus/prometheus.yaml")
    c = container(find(prometheus, "Deployment", "prometheus"))
    c["args"] = [a for a in c["args"] if not a.startswith("--storage.tsdb.retention.time=")]
    c["args"].append(f"--storage.tsdb.retention.time={retention(catalog)}")
    config = prometheus_config(catalog)
    config["rule_files"] = ["/etc/prometheus/rules/*.yml"]  # the rules ConfigMap's mount
    rules = {name: asset(f"observability/prometheus/rules/{name}").read_text() for name in STOCK_RULES}
    slo = slo_rules(catalog)
    if slo is not None:
        rules.update(rule_files("slo.rules.yml", slo))
    dashboards = {name: dump_json(build()) for name, build in grafana.STOCK_DASHBOARDS.items()}
    dashboards.update(services_dashboard_files(catalog))
    alerting = config_maps("prometheus-alerting", rules)
    mount_config_maps(find(prometheus, "Deployment", "prometheus"), "rules", alerting)
    grafana_objects = load_manifest("manifests/base/grafana/grafana.yaml")
    dashboard_maps = config_maps("grafana-dashboards", dashboards)
    mount_config_maps(find(grafana_objects, "Deployment", "grafana"), "dashboards", dashboard_maps)
    files: list[tuple[str, list[Obj], bool]] = [
        ("observability/prometheus.yaml", prometheus, False),
        (
            "observability/prometheus-config.yaml",
            [config_map("prometheus-config", {"prometheus.yml": dump_yaml(config)}), *alerting],
            False,
        ),
        ("observability/grafana.yaml", grafana_objects, False),
        (
            "observability/grafana-config.yaml",
            [
                config_map("grafana-datasources", {"datasources.yaml": dump_yaml(datasources())}),
                config_map("grafana-dashboard-provider", {"dashboards.yaml": dump_yaml(dashboard_provider())}),
                *dashboard_maps,
            ],
            False,
        ),
        ("observability/zipkin.yaml", load_manifest("manifests/base/zipkin/zipkin.yaml"), False),
    ]
    password = catalog.deployment.observability.grafana.admin_password
    if password is not None:
        files.append(
            (
                "observability/grafana-admin.secret.yaml",
                [secret(GRAFANA_SECRET, {"password": secrets.resolve(password)})],
                True,
            )
        )
    for _, objects, _ in files:
        for o in objects:
            if o["kind"] == "Deployment":
                name = o["metadata"]["name"]
                if name in IMAGES:
                    container(o)["image"] = IMAGES[name]
    return files


# --------------------------------------------------------------------------- Kuma


def kuma_cp_objects(catalog: Catalog) -> list[Obj]:
    objects = load_manifest("manifests/base/kuma-cp/kuma-cp.yaml")
    if catalog.deployment.kuma.mode == "global":  # the zones connect in: without this none could sync
        policy = find(objects, "NetworkPolicy", "kuma-control-plane")
        policy["spec"]["ingress"][0]["ports"].append({"port": KUMA_CP_KDS_PORT, "protocol": "TCP"})
    return objects


def kuma_helm_values(catalog: Catalog) -> dict[str, Any]:
    """Values for the Kuma Helm chart (kuma/kuma, the catalog's version)."""
    kuma = catalog.deployment.kuma
    control_plane: dict[str, Any] = {
        "mode": kuma.mode,
        "replicas": 2,
        "service": {"annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "5680"}},
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},  # the chart's own PDB
        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    }
    if kuma.zone and kuma.mode == "zone":
        control_plane["zone"] = kuma.zone
    return {"controlPlane": control_plane}


# --------------------------------------------------------------------------- gatewayctl's chart


def chart_files(loaded: LoadedCatalog, secrets: SecretResolver) -> list[RenderedFile]:
    """Values for `helm/gatewayctl` and, for a DB-less Kong, the configuration its Secret takes (0600)."""
    catalog = loaded.catalog
    header = (
        f"# gatewayctl chart values for catalog {catalog.name}, from its deployment section. Install into Kong's\n"
        f"# namespace:\n#   helm install gatewayctl helm/gatewayctl -n {catalog.deployment.namespaces.kong} "
        f"-f OUT/{CHART_VALUES} --set-file catalog.content=CATALOG\n"
    )
    if catalog.deployment.kong.database == "off":
        header += f"#   --set-file dblessConfig.config=OUT/{CHART_DBLESS_CONFIG}\n"
    files = [RenderedFile(CHART_VALUES, (header + dump_yaml(chart_values(loaded))).encode())]
    if catalog.deployment.kong.database == "off":
        config = dump_yaml(kong_native_config(catalog, secrets))
        files.append(RenderedFile(CHART_DBLESS_CONFIG, config.encode(), PRIVATE))
    return files


def chart_values(loaded: LoadedCatalog) -> dict[str, Any]:
    """The chart's values the catalog decides, as data. No secret values: references to Secrets only."""
    catalog = loaded.catalog
    d = catalog.deployment
    kong = load_manifest("manifests/base/kong/kong.yaml")
    admin_port = kong_admin_service_port()
    status = find(kong, "Service", "kong-status")
    env, files = _chart_secret_references(loaded)
    dbless = d.kong.database == "off"
    groups = [g for name in STOCK_RULES for g in rule_groups_of(name)]
    slo = slo_rules(catalog)
    if slo is not None:
        groups += slo["groups"]
    return {
        "catalogName": catalog.name,
        "image": {"tag": __version__},
        "catalog": {
            "environment": loaded.environment or "",
            "secretEnv": [
                {"name": ref.name, "secretName": f"{catalog.name}-catalog-env", "key": ref.name} for ref in env
            ],
            "secretFiles": [
                {"path": path, "secretName": f"{catalog.name}-catalog-files", "key": key} for path, key in files
            ],
        },
        "kong": {
            "mode": "dbless" if dbless else "db",
            "adminUrl": f"http://kong-admin.{d.namespaces.kong}.svc.cluster.local:{admin_port}",
            "statusServiceSelector": {
                "app.kubernetes.io/name": status["metadata"]["labels"]["app.kubernetes.io/name"],
                CATALOG_LABEL: catalog.name,  # this catalog's Kong only
            },
            "statusPortName": status["spec"]["ports"][0]["name"],
        },
        "dblessConfig": {"create": dbless, "secretName": DECLARATIVE_SECRET},
        "apply": {"enabled": not dbless},
        "watch": {
            # DB-less Kong's Admin API is on localhost in each Kong pod: a watch in the cluster reaches Kuma
            # only (the chart refuses watch.enabled with DB-less Kong unless only is kuma).
            "only": "kuma" if dbless and catalog.mesh_enabled else "",
            "kumaNamespace": d.namespaces.kuma,
            "alertGroups": rule_groups_of(WATCH_RULES),
        },
        "prometheusRule": {"groups": rule_sets(groups)},
    }


WATCH_RULES = "gatewayctl.rules.yml"  # `gatewayctl watch` and pushed CI applies


def rule_groups_of(name: str) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(asset(f"observability/prometheus/rules/{name}").read_text())["groups"]
    return groups


def _chart_secret_references(loaded: LoadedCatalog) -> tuple[list[Reference], list[tuple[str, str]]]:
    """The catalog's `${env:..}` references (each once) and `${file:..}` paths with a Secret key for each,
    in catalog order. A file reference outside the catalog's folder cannot be mounted next to it: left out."""
    env: dict[Reference, None] = {}
    files: dict[str, str] = {}
    for path, ref in loaded.secret_references:
        if path[0] not in CHART_SECRET_SECTIONS:
            continue
        if ref.kind == "env":
            env[ref] = None
            continue
        relative = ref.name.removeprefix("./")
        if relative.startswith(("/", "~")) or ".." in relative.split("/"):
            continue
        files[relative] = re.sub(r"[^-._a-zA-Z0-9]", "_", relative)  # a Secret key's alphabet
    return list(env), list(files.items())
