"""`gatewayctl deploy-plan`: the ordered steps that bring the stack up on the catalog's platform, with the
exact commands for the files `gatewayctl render` writes (kubernetes/, vm/, kuma/, observability/)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from gatewayctl.catalog.model import Catalog
from gatewayctl.render.kubernetes import GRAFANA_SECRET, POSTGRES_SECRET, kong_admin_service_port
from gatewayctl.render.stack import GRAFANA_PORT, KUMA_CP_API_PORT, PROMETHEUS_PORT, ZIPKIN_PORT
from gatewayctl.render.vm import KUMA_DB, kong_dataplane_name, kuma_postgres_store

REMOTE_DIR = "/opt/gatewayctl"
MEMORY_STORE = (
    "kuma-cp keeps its state in memory (this catalog has no Postgres: Kong is DB-less). A restart loses the "
    "Mesh, the policies, the builtin CA and the dataplane-token signing key: re-run the kumactl apply above, "
    "then generate and install new dataplane tokens. For state that survives, use deployment.kong.database: "
    "postgres; kuma-cp then stores into that Postgres (docs/deployment.md)."
)


@dataclass(frozen=True)
class Step:
    title: str
    commands: list[str]
    notes: list[str] = field(default_factory=list)


def deploy_plan(catalog: Catalog, catalog_path: Path, out: Path, env: str | None = None) -> list[Step]:
    q = shlex.quote
    env_flag = f" --env {q(env)}" if env else ""
    render = Step(
        "Render every target (set the catalog's ${env:...} secrets in the environment first)",
        [f"gatewayctl render {q(str(catalog_path))} --out {q(str(out))}{env_flag}"],
    )
    if catalog.deployment.platform == "kubernetes":
        return [render, *_kubernetes(catalog, catalog_path, out, env_flag)]
    return [render, *_vm(catalog, catalog_path, out, env_flag)]


def _kubernetes(catalog: Catalog, catalog_path: Path, out: Path, env_flag: str) -> list[Step]:
    q = shlex.quote
    d = catalog.deployment
    ns = d.namespaces
    k8s = out / "kubernetes"
    steps: list[Step] = []
    if catalog.mesh_enabled:
        steps.append(
            Step(
                f"Install the Kuma {d.kuma.version} control plane (its CRDs and sidecar injector) before anything "
                "that should join the mesh",
                [
                    "helm repo add kuma https://kumahq.github.io/charts && helm repo update kuma",
                    f"helm upgrade --install kuma kuma/kuma --version {d.kuma.version} -n {ns.kuma} --create-namespace "
                    f"-f {q(str(k8s / 'kuma' / 'helm-values.yaml'))}",
                    f"kubectl -n {ns.kuma} rollout status deployment/kuma-control-plane --timeout=5m",
                ],
            )
        )
    secrets = []
    if d.observability.grafana.admin_password is None:
        secrets.append(
            f"kubectl create namespace {ns.observability} --dry-run=client -o yaml | kubectl apply -f -\n"
            f"kubectl -n {ns.observability} create secret generic {GRAFANA_SECRET} "
            '--from-literal=password="$(openssl rand -hex 16)"'
        )
    if d.kong.database == "postgres" and d.kong.postgres_password is None:
        secrets.append(
            f"kubectl create namespace {ns.kong} --dry-run=client -o yaml | kubectl apply -f -\n"
            f"kubectl -n {ns.kong} create secret generic {POSTGRES_SECRET} "
            '--from-literal=password="$(openssl rand -hex 24)"'
        )
    if secrets:
        steps.append(Step("Create the passwords the catalog does not set", secrets))
    steps.append(
        Step(
            "Apply namespaces, Kong, Prometheus, Grafana and Zipkin (server-side: the dashboards ConfigMap is large)",
            [f"kubectl apply --server-side -k {q(str(k8s))}"],
            ["Files named secret-*.yaml hold passwords (mode 0600): keep them out of version control."],
        )
    )
    if catalog.mesh_enabled:
        steps.append(
            Step(
                "Apply the mesh policies (Mesh first, then the rest)",
                [
                    f"kubectl apply --server-side -f {q(str(out / 'kuma' / 'kubernetes'))}/mesh-*.yaml",
                    f"kubectl apply --server-side -f {q(str(out / 'kuma' / 'kubernetes'))}",
                ],
            )
        )
    wait = [
        f"kubectl -n {ns.observability} rollout status deployment/{name}"
        for name in ("prometheus", "grafana", "zipkin")
    ]
    if d.kong.database == "postgres":
        wait.insert(0, f"kubectl -n {ns.kong} wait --for=condition=complete job/kong-migrations --timeout=10m")
    wait.append(f"kubectl -n {ns.kong} rollout status deployment/kong --timeout=5m")
    migrations = "the database migrations and " if d.kong.database == "postgres" else ""
    steps.append(Step(f"Wait for {migrations}the rollouts", wait))
    if catalog.gateway.mode == "db":
        steps.append(
            Step(
                "Load the Kong configuration through the Admin API (inside the cluster only)",
                [
                    # The remote side of a Service port-forward is the Service's port, not the container's.
                    f"kubectl -n {ns.kong} port-forward service/kong-admin {d.kong.admin_port}:"
                    f"{kong_admin_service_port()} &",
                    f"gatewayctl apply {q(str(catalog_path))}{env_flag} "
                    f"--kong-admin-url http://localhost:{d.kong.admin_port} --yes",
                ],
            )
        )
    else:
        steps.append(
            Step(
                "Kong reads its configuration from the kong-declarative-config Secret; after a re-render, roll Kong",
                [
                    f"kubectl apply --server-side -f {q(str(k8s / 'kong' / 'secret-kong-declarative-config.yaml'))}",
                    f"kubectl -n {ns.kong} rollout restart deployment/kong",
                ],
            )
        )
    steps.append(
        Step(
            "Check: Kong answers, Prometheus scrapes it, Grafana shows it",
            [
                f"kubectl -n {ns.kong} port-forward service/kong-status {d.kong.status_port} &",
                f"curl -fsS http://localhost:{d.kong.status_port}/status/ready",
                f"kubectl -n {ns.observability} port-forward service/prometheus {PROMETHEUS_PORT} &",
                f"curl -fsS 'http://localhost:{PROMETHEUS_PORT}/api/v1/query?query=up%7Bjob%3D%22kong%22%7D'",
                f"kubectl -n {ns.observability} port-forward service/grafana {GRAFANA_PORT}   # admin / the password",
            ],
        )
    )
    return steps


def _vm(catalog: Catalog, catalog_path: Path, out: Path, env_flag: str) -> list[Step]:
    q = shlex.quote
    d = catalog.deployment
    vm = d.vm
    assert vm is not None
    k = d.kong
    obs = vm.observability_host
    steps = [
        Step(
            f"Observability host {obs}: Prometheus, Grafana and Zipkin in Docker",
            [
                f"rsync -a {q(str(out / 'observability'))} {q(str(out / 'vm' / 'observability'))} "
                f"{obs}:{REMOTE_DIR}/ --relative",
                # rsync --relative recreates the local path under REMOTE_DIR; the remote command is one
                # quoted word, so a path with spaces or quotes stays one argument of `cd` on the host.
                f"ssh {obs} "
                + q(
                    f"cd {q(REMOTE_DIR + '/' + str(out / 'vm' / 'observability').lstrip('/'))} && docker compose up -d"
                ),
            ],
            [
                f"Grafana: http://{obs}:{GRAFANA_PORT}, Prometheus: http://{obs}:{PROMETHEUS_PORT}, "
                f"Zipkin: http://{obs}:{ZIPKIN_PORT}/zipkin"
            ],
        )
    ]
    kong_dir = out / "vm" / "kong"
    postgres_first = catalog.mesh_enabled and kuma_postgres_store(catalog)
    if postgres_first:
        # kuma-cp's store: Postgres is up, with its own database, before kuma-cp starts.
        pg = vm.kong_hosts[0]
        # The host's shell runs the pipe; psql lists the databases, so a re-run does not create it twice.
        exec_pg = "docker compose exec -T postgres"
        listed = f'{exec_pg} psql -U kong -d kong -tAc "SELECT datname FROM pg_database" | grep -qx {KUMA_DB}'
        wait = "docker compose up -d --wait postgres"  # healthy, so psql can connect
        create = f"cd /etc/kong && {wait} && ({listed} || {exec_pg} createdb -U kong {KUMA_DB})"
        steps.append(
            Step(
                f"Postgres on {pg} for Kong and the Kuma control plane (database {KUMA_DB})",
                [
                    f"ssh {pg} 'mkdir -p /etc/kong'",
                    f"scp -p {q(str(kong_dir / 'kong.env'))} {pg}:/etc/kong/kong.env   # 0600",
                    f"scp {q(str(kong_dir / 'docker-compose.yaml'))} {pg}:/etc/kong/ && "
                    f"ssh {pg} 'cd /etc/kong && docker compose up -d postgres kong-migrations'",
                    f"ssh {pg} {q(create)}",
                ],
            )
        )
    if catalog.mesh_enabled:
        kuma_cp_env = []
        if postgres_first:
            kuma_cp_env = [
                f"scp -p {q(str(out / 'vm' / 'kuma' / 'kuma-cp.env'))} {vm.kuma_cp}:/etc/kuma/kuma-cp.env   # 0600"
            ]
        steps.append(
            Step(
                f"Kuma control plane {d.kuma.version} on {vm.kuma_cp} (universal)",
                [
                    # kuma-cp.service runs as user kuma, which systemd does not create: sysusers.d does.
                    f"ssh {vm.kuma_cp} 'mkdir -p /etc/kuma /etc/sysusers.d'",
                    f"scp {q(str(out / 'vm' / 'kuma' / 'kuma.sysusers.conf'))} {vm.kuma_cp}:/etc/sysusers.d/kuma.conf",
                    f"ssh {vm.kuma_cp} systemd-sysusers",
                    *kuma_cp_env,
                    f"scp {q(str(out / 'vm' / 'kuma' / 'kuma-cp.yaml'))} {vm.kuma_cp}:/etc/kuma/kuma-cp.yaml",
                    f"scp {q(str(out / 'vm' / 'kuma' / 'kuma-cp.service'))} {vm.kuma_cp}:/etc/systemd/system/",
                    f"ssh {vm.kuma_cp} 'systemctl daemon-reload && systemctl enable --now kuma-cp'",
                    f"kumactl config control-planes add --name {catalog.name} --address http://{vm.kuma_cp}:{KUMA_CP_API_PORT}",
                    f'for f in {q(str(out / "kuma" / "universal"))}/*.yaml; do kumactl apply -f "$f"; done',
                ],
                [
                    "On each service host: copy vm/kuma/kuma.sysusers.conf to /etc/sysusers.d/kuma.conf and run "
                    "`systemd-sysusers` (creates the kuma-dp user the unit runs as), copy "
                    "vm/kuma/kuma-dp@.service to /etc/systemd/system/ and "
                    "vm/kuma/dataplanes/<service>.yaml to /etc/kuma/dataplanes/, create the token with "
                    "`kumactl generate dataplane-token --name <service> > /etc/kuma/tokens/<service>` and make it "
                    "readable by that user only (`chown kuma-dp: /etc/kuma/tokens/<service> && chmod 0600 "
                    "/etc/kuma/tokens/<service>`), then `systemctl enable --now kuma-dp@<service>`.",
                    *([] if postgres_first else [MEMORY_STORE]),
                ],
            )
        )
    for i, host in enumerate(vm.kong_hosts):
        commands = [
            f"ssh {host} 'mkdir -p /etc/kong'",
            f"scp {q(str(kong_dir / 'kong.conf'))} {host}:/etc/kong/kong.conf",
            f"scp {q(str(kong_dir / 'kong.service'))} {host}:/etc/systemd/system/kong.service",
        ]
        if k.database == "postgres":
            commands.append(f"scp -p {q(str(kong_dir / 'kong.env'))} {host}:/etc/kong/kong.env   # 0600")
            if i == 0 and not postgres_first:
                commands.append(
                    f"scp {q(str(kong_dir / 'docker-compose.yaml'))} {host}:/etc/kong/ && "
                    f"ssh {host} 'cd /etc/kong && docker compose up -d postgres kong-migrations'"
                )
        else:
            commands.append(f"scp -p {q(str(kong_dir / 'kong.yaml'))} {host}:/etc/kong/kong.yaml   # 0600")
        if catalog.mesh_enabled and catalog.mesh is not None:
            commands.extend(_kong_dataplane(out, host, catalog.mesh.name))
        commands.append(f"ssh {host} 'systemctl daemon-reload && systemctl enable --now kong'")
        commands.append(f"curl -fsS http://{host}:{k.status_port}/status/ready")
        title = f"Kong on {host} (Kong {k.version} installed from Kong's deb/rpm package)"
        if k.database == "postgres" and i == 0:
            title += "; this host also runs Postgres and the migrations"
        notes = []
        if k.database != "postgres":
            notes.append(
                "Kong in Docker instead of the package: copy vm/kong/docker-compose.yaml to /etc/kong/ and run "
                "`cd /etc/kong && KONG_USER=$(stat -c %u:%g kong.yaml) docker compose up -d kong`; the container "
                "runs as kong.yaml's owner because the image's kong user (uid 1000) cannot read the 0600 file."
            )
        steps.append(Step(title, commands, notes))
    if catalog.gateway.mode == "db":
        steps.append(
            Step(
                "Load the Kong configuration through the Admin API",
                [
                    f"gatewayctl apply {q(str(catalog_path))}{env_flag} "
                    f"--kong-admin-url http://{vm.kong_hosts[0]}:{k.admin_port} --yes"
                ],
            )
        )
    steps.append(
        Step(
            "Check that Prometheus scrapes every Kong",
            [f"curl -fsS 'http://{obs}:{PROMETHEUS_PORT}/api/v1/query?query=up%7Bjob%3D%22kong%22%7D'"],
        )
    )
    return steps


def _kong_dataplane(out: Path, host: str, mesh: str) -> list[str]:
    """Kong's sidecar as a delegated gateway: without it, strict mTLS refuses every call Kong makes to a mesh
    service. Only outbound traffic is redirected: clients keep reaching Kong directly."""
    q = shlex.quote
    kuma_dir = out / "vm" / "kuma"
    name = kong_dataplane_name(host)
    token = f"/etc/kuma/tokens/{name}"
    return [
        f"ssh {host} 'mkdir -p /etc/sysusers.d /etc/kuma/dataplanes /etc/kuma/tokens'",
        f"scp {q(str(kuma_dir / 'kuma.sysusers.conf'))} {host}:/etc/sysusers.d/kuma.conf",
        f"ssh {host} systemd-sysusers",
        f"scp {q(str(kuma_dir / 'kuma-dp@.service'))} {host}:/etc/systemd/system/",
        f"scp {q(str(kuma_dir / 'dataplanes' / (name + '.yaml')))} {host}:/etc/kuma/dataplanes/{name}.yaml",
        # The token goes straight into a file only kuma-dp can read; it is never written on this machine.
        f"kumactl generate dataplane-token --name {name} --mesh {q(mesh)} | "
        f"ssh {host} 'install -o kuma-dp -g kuma-dp -m 0600 /dev/stdin {token}'",
        f"ssh {host} 'kumactl install transparent-proxy --kuma-dp-user kuma-dp --redirect-inbound=false'",
        f"ssh {host} 'systemctl daemon-reload && systemctl enable --now kuma-dp@{name}'",
    ]


def format_plan(steps: list[Step]) -> str:
    lines: list[str] = []
    for n, step in enumerate(steps, 1):
        lines.append(f"{n}. {step.title}")
        for command in step.commands:
            for line in command.splitlines():
                lines.append(f"   $ {line}")
        for note in step.notes:
            lines.append(f"   # {note}")
        lines.append("")
    return "\n".join(lines)
