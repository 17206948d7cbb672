"""`gatewayctl watch` with Kuma on Universal against the Kuma API emulator: the same system interface as
Kong (plan as `diff` makes it, heal as `apply` does it, with a snapshot), drift by Kuma kind in the gauge,
request metrics by Kuma collection, a refusing control plane counted as such; and the command watching
Kong and Kuma together."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
from emulators.harness import ZIPKIN_SECRET
from emulators.kong import KongState
from emulators.kong import start as start_kong
from emulators.kuma import KumaEmulator, KumaState, running
from prometheus_client.parser import text_string_to_metric_families
from test_watch import Watch, wait_for
from test_watch import running as watching
from test_watch_process import free_port, get, spawn, stop

from gatewayctl.apply.kuma_target import KumaTarget
from gatewayctl.clients.http import TlsOptions
from gatewayctl.clients.kuma_api import KumaApi, kuma_endpoint
from gatewayctl.clients.retry import RetryPolicy
from gatewayctl.watch.health import Health
from gatewayctl.watch.kuma import KumaSystem
from gatewayctl.watch.loop import WatchConfig, Watcher
from gatewayctl.watch.metrics import WatchMetrics, samples
from gatewayctl.watch.source import CatalogSource


def build(kuma: KumaEmulator, catalog: Path, state_dir: Path, *, heal: bool) -> Watch:
    metrics = WatchMetrics()
    client = KumaApi(kuma_endpoint(kuma.url, TlsOptions(), 5.0), retry=RetryPolicy(attempts=2, base=0.001, cap=0.01))
    client.log.observers.append(metrics.remote_observer("kuma"))
    system = KumaSystem(
        KumaTarget("universal", kuma.url, "kuma-system", client=client), parallelism=4, state_dir=state_dir
    )
    health = Health(stuck_after=30.0)
    watcher = Watcher(CatalogSource(catalog), [system], metrics, health, WatchConfig(0.2, heal, 1.0, 0.05))
    assert watcher.load()
    return Watch(watcher, metrics, health, threading.Event())


def test_kuma_drift_is_seen_and_healed(kuma: KumaEmulator, shop: Path, workdir: Path) -> None:
    with watching(build(kuma, shop, workdir / "state", heal=True)) as w:
        wait_for(lambda: w.value("gatewayctl_last_successful_apply_timestamp_seconds", system="kuma"))
        wait_for(lambda: w.watcher.checks >= 1 and w.drift() == 0)
        assert len([o for o in kuma.state.objects() if (o.get("labels") or {}).get("gatewayctl.io/catalog")]) == 9
        applies = w.value("gatewayctl_applies_total", system="kuma")
        with httpx.Client(base_url=kuma.url) as http:
            retries = http.get("/meshes/shop/meshretries").json()["items"]
            ours = [r for r in retries if (r.get("labels") or {}).get("gatewayctl.io/catalog") == "shop"]
            assert http.delete(f"/meshes/shop/meshretries/{ours[0]['name']}").status_code == 200
        wait_for(lambda: (w.value("gatewayctl_applies_total", system="kuma") or 0) > (applies or 0))
        wait_for(lambda: w.drift() == 0)
        assert ours[0]["name"] in {o["name"] for o in kuma.state.objects("MeshRetry", "shop")}
        endpoints = {
            s.labels["endpoint"]
            for f in w.metrics.registry.collect()
            for s in f.samples
            if s.name == "gatewayctl_remote_request_duration_seconds_count" and s.labels["system"] == "kuma"
        }
        assert {"root", "meshes", "meshretries"} <= endpoints
    snapshots = sorted((workdir / "state" / "snapshots").glob("*.json"))
    assert len(snapshots) == 2  # one per heal, holding the Kuma objects as they were
    assert json.loads(snapshots[-1].read_text())["kuma"]["platform"] == "universal"


def test_kuma_drift_is_reported_by_kind_without_heal(kuma: KumaEmulator, shop: Path, workdir: Path) -> None:
    with watching(build(kuma, shop, workdir / "state", heal=False)) as w:
        wait_for(lambda: w.watcher.checks >= 1)
        assert w.drift("Mesh", "create") == 1 and w.drift("MeshTrafficPermission", "create") >= 1
        assert w.drift() == 9
        assert kuma.state.writes() == []


def test_a_refusing_control_plane_is_counted_and_retried(shop: Path, workdir: Path) -> None:
    with (
        running(KumaState(mode="zone", federated=True)) as zone,
        watching(build(zone, shop, workdir / "s", heal=True)) as w,
    ):
        wait_for(lambda: (w.value("gatewayctl_check_failures_total", system="kuma", reason="refused") or 0) >= 1)
        assert not w.health.ready()[0]
        assert zone.state.writes() == []


def test_the_command_watches_kong_and_kuma_together(kuma: KumaEmulator, shop: Path, tmp_path: Path) -> None:
    kong = start_kong(KongState())
    port = free_port()
    process = spawn(
        shop, kong, port, "--interval", "0.2", "--heal", "--kuma-url", kuma.url, "--kuma-platform", "universal"
    )
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{port}/readyz")[0] == 200, timeout=20)

        def settled() -> bool:
            text = get(f"http://127.0.0.1:{port}/metrics")[1]
            families = {f.name: f for f in text_string_to_metric_families(text)}
            applied = {
                s.labels["system"] for s in families["gatewayctl_last_successful_apply_timestamp_seconds"].samples
            }
            drift = sum(s.value for s in families["gatewayctl_drift_objects"].samples)
            return applied == {"kong", "kuma"} and drift == 0

        wait_for(settled, timeout=20)
    finally:
        code, err = stop(process)
        kong.stop()
    assert code == 0, err
    assert "kong at" in err and "kuma at" in err
    assert ZIPKIN_SECRET not in err


def test_kuma_on_kubernetes_is_watched_and_healed_through_server_side_apply(tmp_path: Path) -> None:
    from emulators.kubernetes import KubeState
    from emulators.kubernetes import running as kube_running
    from test_apply_kuma_kubernetes import CATALOG as KUBE_CATALOG
    from test_apply_kuma_kubernetes import NS

    from gatewayctl.apply.kuma_kubernetes import connect

    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(KUBE_CATALOG)
    with kube_running(KubeState(kuma_webhook=True)) as cluster:
        api = connect(cluster.kubeconfig(tmp_path / "kubeconfig"), None)
        api.retry = RetryPolicy(attempts=2, base=0.001, cap=0.01)
        metrics = WatchMetrics()
        system = KumaSystem(KumaTarget("kubernetes", cluster.url, NS, kube=api), state_dir=tmp_path / "state")
        health = Health(stuck_after=30.0)
        system.call_log.observers.append(metrics.remote_observer("kuma"))  # as `gatewayctl watch` hooks it
        watcher = Watcher(CatalogSource(catalog), [system], metrics, health, WatchConfig(0.2, True, 1.0, 0.05))
        assert watcher.load()
        result = watcher.check()  # plan, heal, plan again
        assert result.reached and result.drift == 0
        assert metrics.registry.get_sample_value("gatewayctl_applies_total", {"system": "kuma"}) == 1
        # the Kubernetes API calls are in the request histogram, by collection
        requests = samples(metrics.registry, "gatewayctl_remote_request_duration_seconds_count")
        by_endpoint = {dict(k)["endpoint"]: v for k, v in requests.items() if dict(k)["system"] == "kuma"}
        assert by_endpoint.get("meshretries", 0) >= 2 and by_endpoint.get("meshes", 0) >= 2, by_endpoint
        assert watcher.check().checks[0].pending is False  # converged: nothing more to do
        system.close()


def test_a_stop_before_the_first_batch_leaves_kuma_untouched(kuma: KumaEmulator, shop: Path, workdir: Path) -> None:
    watch = build(kuma, shop, workdir / "state", heal=True)
    system = watch.watcher.systems[0]
    loaded = watch.watcher.source.loaded
    assert loaded is not None
    check = system.plan(loaded)
    stopping = threading.Event()
    stopping.set()
    applied = system.apply(loaded, check, stopping)
    assert (applied.failure, applied.done, applied.left) == ("abandoned", 0, 9)
    # nothing but the apply lock, taken and released
    assert [(r.method, r.path) for r in kuma.state.writes()] == [
        ("PUT", "/global-secrets/gatewayctl-lock-shop"),
        ("DELETE", "/global-secrets/gatewayctl-lock-shop"),
    ]
    assert kuma.state.objects("GlobalSecret") == []
    system.close()
