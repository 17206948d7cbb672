"""`gatewayctl watch` against the Kong Admin API emulator: drift seen within one interval and shown by the
gauge, --heal puts it back (gauge to 0), remote outage and recovery with back-off, catalog edits reloaded,
an invalid edit ignored (last good catalog kept), /metrics parsable, low-cardinality endpoint labels.

The Watcher here is wired exactly as the command wires it (Kong system, the metrics observer on the client's
call log) and runs in a thread; tests/test_watch_process.py runs the command itself."""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from emulators.harness import CATALOG, write_catalog
from emulators.kong import KongEmulator, KongState, start
from prometheus_client.parser import text_string_to_metric_families

from gatewayctl.cli import main
from gatewayctl.clients.kong_admin import Endpoint, KongAdmin
from gatewayctl.clients.retry import RetryPolicy
from gatewayctl.plan.kinds import KINDS
from gatewayctl.watch.health import Health, MetricsServer
from gatewayctl.watch.kong import KongSystem
from gatewayctl.watch.loop import WatchConfig, Watcher
from gatewayctl.watch.metrics import WatchMetrics, endpoint_label
from gatewayctl.watch.source import CatalogSource

FAST_RETRY = RetryPolicy(attempts=2, base=0.001, cap=0.01)


@dataclass
class Watch:
    watcher: Watcher
    metrics: WatchMetrics
    health: Health
    stop: threading.Event
    thread: threading.Thread | None = None

    def value(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)

    def drift(self, kind: str | None = None, action: str | None = None) -> float:
        total = 0.0
        for family in self.metrics.registry.collect():
            for s in family.samples:
                if s.name != "gatewayctl_drift_objects":
                    continue
                if (kind is None or s.labels["kind"] == kind) and (action is None or s.labels["action"] == action):
                    total += s.value
        return total


def build(
    kong_url: str,
    catalog: Path,
    state_dir: Path,
    *,
    heal: bool = False,
    interval: float = 0.2,
    max_backoff: float = 1.0,
    is_leader: Callable[[], bool] = lambda: True,
) -> Watch:
    metrics = WatchMetrics()
    client = KongAdmin(Endpoint(kong_url, timeout=5.0), retry=FAST_RETRY, pool=4)
    client.log.observers.append(metrics.remote_observer("kong"))
    health = Health(stuck_after=30.0)
    config = WatchConfig(interval=interval, heal=heal, max_backoff=max_backoff, poll=min(0.05, interval))
    source = CatalogSource(catalog)
    watcher = Watcher(
        source, [KongSystem(client, parallelism=4, state_dir=state_dir)], metrics, health, config, is_leader
    )
    assert watcher.load()
    return Watch(watcher, metrics, health, threading.Event())


@contextmanager
def running(watch: Watch) -> Iterator[Watch]:
    watch.thread = threading.Thread(target=watch.watcher.run, args=(watch.stop,), daemon=True)
    watch.thread.start()
    try:
        yield watch
    finally:
        watch.stop.set()
        watch.thread.join(timeout=30)
        assert not watch.thread.is_alive(), "the watch loop did not stop"
        for system in watch.watcher.systems:
            system.close()


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, step: float = 0.01) -> float:
    """Seconds until `predicate()` is truthy; fails the test after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - started


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def kong() -> Iterator[KongEmulator]:
    emulator = start(KongState())
    yield emulator
    emulator.stop()


@pytest.fixture
def applied(kong: KongEmulator, workdir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The harness catalog, applied to the emulator with `gatewayctl apply`: no drift to begin with."""
    catalog = write_catalog(workdir)
    assert main(["apply", str(catalog), "--yes", "--kong-admin-url", kong.url]) == 0
    capsys.readouterr()
    return catalog


def admin(kong: KongEmulator) -> httpx.Client:
    return httpx.Client(base_url=kong.url, timeout=5)


# --------------------------------------------------------------------------- drift and heal


def test_drift_made_through_the_admin_api_is_seen_within_one_interval(
    kong: KongEmulator, applied: Path, workdir: Path
) -> None:
    interval = 0.3
    with running(build(kong.url, applied, workdir / "state", interval=interval)) as w:
        wait_for(lambda: w.watcher.checks >= 1)
        assert w.drift() == 0
        assert w.value("gatewayctl_last_successful_check_timestamp_seconds", system="kong")
        checks = w.watcher.checks
        with admin(kong) as http:
            assert http.patch("/services/orders", json={"retries": 1}).status_code == 200
            assert http.delete("/routes/catalogue-browse").status_code == 204
        took = wait_for(lambda: w.drift() == 2)
        # seen by the first check that started after the change (one may have been under way already)
        assert w.watcher.checks - checks <= 2
        assert took <= interval + 3.0  # generous: the suite shares a busy machine
        assert w.drift("services", "update") == 1 and w.drift("routes", "create") == 1
        assert w.health.ready() == (True, "ok")
    # nothing was written back: watching without --heal only reports
    with admin(kong) as http:
        assert http.get("/services/orders").json()["retries"] == 1


def test_heal_puts_the_drift_back_and_the_gauge_returns_to_zero(
    kong: KongEmulator, applied: Path, workdir: Path
) -> None:
    with admin(kong) as http:
        http.patch("/services/orders", json={"retries": 1})
        http.delete("/routes/catalogue-browse")
        other = http.post("/services", json={"name": "not-ours", "host": "x.internal"}).json()
    state_dir = workdir / "state"
    with running(build(kong.url, applied, state_dir, heal=True)) as w:
        wait_for(lambda: w.value("gatewayctl_last_successful_apply_timestamp_seconds", system="kong"))
        wait_for(lambda: w.drift() == 0)
        assert w.value("gatewayctl_applies_total", system="kong") == 1
        assert w.value("gatewayctl_apply_failures_total", system="kong", reason="remote") is None
    with admin(kong) as http:
        assert http.get("/services/orders").json()["retries"] == 5
        assert http.get("/routes/catalogue-browse").status_code == 200
        assert http.get(f"/services/{other['id']}").status_code == 200  # not owned: left alone
        assert not [c for c in http.get("/consumers").json()["data"] if c["username"].startswith("gatewayctl-lock")]
    assert len(list((state_dir / "snapshots").glob("*.json"))) == 1  # apply's own snapshot, before writing


def test_a_refused_heal_is_counted_by_reason_and_the_loop_goes_on(
    kong: KongEmulator, applied: Path, workdir: Path
) -> None:
    with admin(kong) as http:
        http.patch("/services/orders", json={"retries": 1})
    kong.state.fail(1, method="PUT", path="/services/", times=1000, status=400, body={"code": 2, "message": "no"})
    with running(build(kong.url, applied, workdir / "state", heal=True)) as w:
        wait_for(lambda: (w.value("gatewayctl_apply_failures_total", system="kong", reason="rejected") or 0) >= 2)
        assert w.drift("services", "update") == 1  # still there, still reported
        assert w.value("gatewayctl_last_successful_apply_timestamp_seconds", system="kong") is None


def test_a_heal_never_deletes_a_service_another_teams_plugin_hangs_off(
    kong: KongEmulator, applied: Path, workdir: Path
) -> None:
    """A heal is an apply: a service the catalog dropped is not deleted while another team's plugin is on it
    (Kong would delete the plugin with it); the refusal is counted and nothing is written."""
    orders = kong.state.find("services", "orders")["id"]
    theirs = kong.state.seed("plugins", {"name": "request-termination", "config": {}, "service": {"id": orders}})
    applied.write_text(CATALOG.replace("  - name: orders\n", "  - name: orders-v2\n"))
    writes = len(kong.state.writes())
    with running(build(kong.url, applied, workdir / "state", heal=True)) as w:
        wait_for(lambda: (w.value("gatewayctl_apply_failures_total", system="kong", reason="rejected") or 0) >= 2)
        assert w.drift("services", "delete") == 1
    assert len(kong.state.writes()) == writes
    assert kong.state.entities("plugins")[-1]["id"] == theirs["id"]


def test_log_lines_name_the_system_once_and_count_in_words(
    kong: KongEmulator, applied: Path, workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gatewayctl.watch")
    with admin(kong) as http:
        http.patch("/services/orders", json={"retries": 1})
    with running(build(kong.url, applied, workdir / "state", heal=True, interval=0.1)) as w:
        wait_for(lambda: w.value("gatewayctl_last_successful_apply_timestamp_seconds", system="kong"))
        applied.write_text(CATALOG.replace("rate_limit: {minute: 60}", "rate_limit: {minute: 60}\n    retires: 3", 1))
        wait_for(lambda: w.value("gatewayctl_catalog_reload_errors_total") == 1)
    messages = [r.getMessage() for r in caplog.records]
    assert "kong drifted from the catalog: +0 ~1 -0" in messages
    assert "kong: applying +0 ~1 -0" in messages  # not "kong: applying kong: +0 ~1 -0"
    assert "kong: 1 change applied" in messages
    assert f"catalog {applied} did not load (1 error); keeping the last good catalog" in messages


# --------------------------------------------------------------------------- outages


def test_remote_outage_backs_off_and_recovers(kong: KongEmulator, applied: Path, workdir: Path) -> None:
    watch = build(kong.url, applied, workdir / "state", interval=0.1, max_backoff=0.8)
    with running(watch) as w:
        wait_for(lambda: w.watcher.checks >= 1 and w.health.ready()[0])
        # Kong gone: every connection dropped without an answer (the emulator's thread-per-connection server
        # keeps serving open keep-alive connections after a shutdown, so stopping it is no outage)
        kong.state.fail(1, times=10**9, drop=True)
        wait_for(lambda: (w.value("gatewayctl_check_failures_total", system="kong", reason="remote") or 0) >= 3)
        ready, why = w.health.ready()
        assert not ready and "GET /: no response" in why
        assert w.health.live()[0]  # alive: it keeps trying
        assert w.value("gatewayctl_remote_request_duration_seconds_count", system="kong", endpoint="root", code="none")
        # back-off: checks come at most every 0.8 s now, not every 0.1 s
        failures = w.value("gatewayctl_check_failures_total", system="kong", reason="remote") or 0
        time.sleep(1.0)
        assert (w.value("gatewayctl_check_failures_total", system="kong", reason="remote") or 0) - failures <= 2
        stamp = w.value("gatewayctl_last_successful_check_timestamp_seconds", system="kong")
        kong.state.rules.clear()  # Kong is back
        wait_for(lambda: w.health.ready()[0], timeout=5)
        newer = w.value("gatewayctl_last_successful_check_timestamp_seconds", system="kong")
        assert stamp is not None and newer is not None and newer > stamp
        assert w.drift() == 0


def test_server_errors_are_retried_then_counted(kong: KongEmulator, applied: Path, workdir: Path) -> None:
    kong.state.fail(1, method="GET", path="/services", times=6, status=503, body={"message": "Service Unavailable"})
    with running(build(kong.url, applied, workdir / "state", interval=0.1)) as w:
        wait_for(lambda: w.value("gatewayctl_check_failures_total", system="kong", reason="remote"))
        wait_for(lambda: w.health.ready()[0])  # the fault rule ran out: recovered on its own
        code_503 = w.value(
            "gatewayctl_remote_request_duration_seconds_count", system="kong", endpoint="services", code="503"
        )
        assert code_503 == 6


# --------------------------------------------------------------------------- the catalog file


def test_a_catalog_edit_is_picked_up_at_once(kong: KongEmulator, applied: Path, workdir: Path) -> None:
    with running(build(kong.url, applied, workdir / "state", interval=30)) as w:  # no interval tick in this test
        wait_for(lambda: w.watcher.checks == 1)
        applied.write_text(CATALOG.replace("rate_limit: {minute: 60}", "rate_limit: {minute: 90}"))
        # the drift gauge is set during the check, `checks` counted when it ends: wait for both
        wait_for(lambda: w.drift("plugins", "update") == 1 and w.watcher.checks >= 2, timeout=5)
        assert w.watcher.checks == 2  # one check for the edit, none from the 30 s interval
        assert w.value("gatewayctl_catalog_last_reload_successful") == 1


def test_an_invalid_edit_keeps_the_last_good_catalog(
    kong: KongEmulator, applied: Path, workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running(build(kong.url, applied, workdir / "state", interval=0.1)) as w:
        wait_for(lambda: w.watcher.checks >= 1)
        applied.write_text(
            CATALOG.replace("    retries", "    retires").replace(
                "routes:\n      - {name: api", "retires: 3\n    routes:\n      - {name: api", 1
            )
        )
        wait_for(lambda: w.value("gatewayctl_catalog_reload_errors_total") == 1)
        assert w.value("gatewayctl_catalog_last_reload_successful") == 0
        checks = w.watcher.checks
        wait_for(lambda: w.watcher.checks >= checks + 3)  # still checking, with the last good catalog
        assert w.drift() == 0 and w.health.ready()[0]
        assert w.value("gatewayctl_catalog_reload_errors_total") == 1  # reported once, not every poll
        assert "unknown key 'retires'" in caplog.text and "keeping the last good catalog" in caplog.text
        applied.write_text(CATALOG.replace("rate_limit: {minute: 60}", "rate_limit: {minute: 90}"))
        wait_for(lambda: w.drift("plugins", "update") == 1)
        assert w.value("gatewayctl_catalog_last_reload_successful") == 1


def test_a_missing_secret_is_a_catalog_problem_not_a_crash(
    kong: KongEmulator, applied: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEB_APP_KEY")
    with running(build(kong.url, applied, workdir / "state", interval=0.1)) as w:
        wait_for(lambda: (w.value("gatewayctl_check_failures_total", system="kong", reason="catalog") or 0) >= 2)
        assert w.health.ready() == (False, "kong: the catalog cannot be planned (1 error)")


# --------------------------------------------------------------------------- leadership


def test_a_follower_does_not_check_and_takes_over_at_once(kong: KongEmulator, applied: Path, workdir: Path) -> None:
    leading = threading.Event()
    with running(build(kong.url, applied, workdir / "state", interval=30, is_leader=leading.is_set)) as w:
        wait_for(lambda: w.value("gatewayctl_leader") == 0)
        time.sleep(0.2)
        assert w.watcher.checks == 0 and w.health.ready() == (True, "ok (follower)")
        assert (
            w.drift() == 0
            and w.value("gatewayctl_drift_objects", system="kong", kind="services", action="update") is None
        )
        leading.set()
        wait_for(lambda: w.watcher.checks == 1, timeout=3)  # not 30 s later
        assert w.value("gatewayctl_leader") == 1


# --------------------------------------------------------------------------- metrics


def test_metrics_endpoint_parses_and_probes_answer(kong: KongEmulator, applied: Path, workdir: Path) -> None:
    watch = build(kong.url, applied, workdir / "state")
    server = MetricsServer("127.0.0.1", 0, watch.metrics.registry, watch.health).start()
    try:
        with running(watch) as w:
            wait_for(lambda: w.watcher.checks >= 1)
            base = f"http://127.0.0.1:{server.port}"
            text = urllib.request.urlopen(f"{base}/metrics").read().decode()
            families = {f.name: f for f in text_string_to_metric_families(text)}
            for name, kind in [
                ("gatewayctl_drift_objects", "gauge"),
                ("gatewayctl_plan_duration_seconds", "histogram"),
                ("gatewayctl_apply_duration_seconds", "histogram"),
                ("gatewayctl_applies", "counter"),
                ("gatewayctl_apply_failures", "counter"),
                ("gatewayctl_last_successful_check_timestamp_seconds", "gauge"),
                ("gatewayctl_catalog_reload_errors", "counter"),
                ("gatewayctl_remote_request_duration_seconds", "histogram"),
                ("gatewayctl_leader", "gauge"),
            ]:
                assert families[name].type == kind, name
            endpoints = {s.labels["endpoint"] for s in families["gatewayctl_remote_request_duration_seconds"].samples}
            assert {"root", "services", "schemas", "targets"} <= endpoints
            collections = {k.collection.rsplit("/", 1)[-1] for k in KINDS} | {"root", "schemas", "status", "config"}
            assert endpoints <= collections, endpoints - collections  # never an id or a name
            assert urllib.request.urlopen(f"{base}/healthz").status == 200
            assert urllib.request.urlopen(f"{base}/readyz").status == 200
            w.health.update(reached=False, problem="kong: GET /: no response")
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(f"{base}/readyz")
            assert info.value.code == 503 and b"no response" in info.value.read()
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/", "root"),
        ("/status", "status"),
        ("/services/0b4f0d39-64a5-4f55-a8f1-5b1f7e0b7a11", "services"),
        ("/upstreams/0b4f0d39-64a5-4f55-a8f1-5b1f7e0b7a11/targets", "targets"),
        ("/upstreams/u1/targets/10.0.0.1:8080", "targets"),
        ("/schemas/plugins/rate-limiting", "schemas"),
        ("/consumers/gatewayctl-lock.shop", "consumers"),
        ("/meshes/default/meshtrafficpermissions/allow-kong", "meshtrafficpermissions"),
        ("/meshes/default", "meshes"),
        ("/config?check_hash=1", "config"),
        ("/Weird Name/x", "other"),
        ("/apis/kuma.io/v1alpha1/namespaces/kuma-system/meshretries/orders-retry", "meshretries"),
        ("/apis/kuma.io/v1alpha1/meshes/shop", "meshes"),
        ("/apis/coordination.k8s.io/v1/namespaces/kong/leases/gatewayctl-watch", "leases"),
    ],
)
def test_endpoint_label_is_the_collection(path: str, label: str) -> None:
    assert endpoint_label(path) == label


def test_backoff_doubles_up_to_its_cap() -> None:
    config = WatchConfig(interval=2, max_backoff=10)
    assert [config.backoff(n) for n in range(6)] == [2, 2, 4, 8, 10, 10]
    assert WatchConfig(interval=60, max_backoff=10).backoff(3) == 60  # never below the interval


# --------------------------------------------------------------------------- DB-less, liveness


def test_dbless_kong_is_healed_with_one_post(workdir: Path) -> None:
    catalog = write_catalog(workdir, CATALOG.replace("gateway:\n", "gateway:\n  mode: dbless\n"))
    kong = start(KongState(dbless=True))
    try:
        with running(build(kong.url, catalog, workdir / "state", heal=True)) as w:
            wait_for(lambda: w.value("gatewayctl_last_successful_apply_timestamp_seconds", system="kong"))
            wait_for(lambda: w.drift() == 0)
            time.sleep(0.5)  # a few more checks: the running hash matches, nothing more is posted
        posts = [r.status for r in kong.state.requests if r.method == "POST" and r.path == "/config"]
        assert posts == [201]
        assert {s["name"] for s in kong.state.entities("services")} == {"orders", "catalogue"}
    finally:
        kong.stop()


def test_healthz_fails_only_when_the_loop_stops_moving() -> None:
    now = [0.0]
    health = Health(stuck_after=10.0, clock=lambda: now[0])
    assert health.live() == (True, "ok")
    now[0] = 9.0
    assert health.live()[0]
    now[0] = 11.0
    ok, why = health.live()
    assert not ok and "has not moved for 11 s" in why
    health.beat()
    assert health.live()[0]
    assert health.ready() == (False, "no catalog loaded")


def test_a_reload_hands_frozen_objects_back_to_the_collector(applied: Path, workdir: Path, kong: KongEmulator) -> None:
    """load_catalog freezes what it allocated (gcpause.py); a long-running watch must unfreeze after it."""
    import gc

    watch = build(kong.url, applied, workdir / "state")
    assert gc.get_freeze_count() == 0
    applied.write_text(CATALOG.replace("rate_limit: {minute: 60}", "rate_limit: {minute: 90}"))
    assert watch.watcher.load()
    assert gc.get_freeze_count() == 0


def test_plugin_configs_are_asked_about_before_a_heal_and_not_by_checks_that_only_look(
    kong: KongEmulator, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Kong's check of `plugins:` configs (POST /schemas/plugins/validate) guards writes: a watch that only
    reports drift never asks, however many checks see it; a heal asks first, and a refusal writes nothing."""
    line = '      request-transformer: {add: {headers: ["x-team:orders"]}}\n'
    text = CATALOG.replace("    rate_limit: {minute: 60}\n", f"    rate_limit: {{minute: 60}}\n    plugins:\n{line}")
    catalog = write_catalog(workdir, text)
    assert main(["apply", str(catalog), "--yes", "--kong-admin-url", kong.url]) == 0
    capsys.readouterr()
    catalog.write_text(text.replace("x-team:orders", "x-team:shop"))  # the catalog moves on: a plugin to heal

    def asked() -> int:
        return len([r for r in kong.state.requests if r.path == "/schemas/plugins/validate"])

    before = asked()
    with running(build(kong.url, catalog, workdir / "state")) as w:
        wait_for(lambda: (w.value("gatewayctl_plan_duration_seconds_count", system="kong") or 0) >= 5)
        assert w.drift("plugins", "update") == 1
    assert asked() == before  # looking only

    kong.state.fail(1, method="POST", path="/schemas/plugins/validate", times=1000, status=400, body={"code": 2})
    writes = len(kong.state.writes())
    with running(build(kong.url, catalog, workdir / "state", heal=True)) as w:
        wait_for(lambda: (w.value("gatewayctl_apply_failures_total", system="kong", reason="rejected") or 0) >= 2)
        assert w.drift("plugins", "update") == 1
    assert asked() > before
    assert len(kong.state.writes()) == writes  # not even the lock


def test_a_second_watch_in_one_process_logs_to_the_stderr_of_its_own_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The watch's log handler writes to sys.stderr as it is when a watch starts, not as it was when the first
    watch of the process started (a closed stream by then, under pytest or in a tool embedding gatewayctl)."""
    import io

    from gatewayctl.cli import watch_command

    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    watch_command._setup_logging()
    watch_command.log.info("from the first watch")
    monkeypatch.setattr("sys.stderr", second)
    watch_command._setup_logging()
    watch_command.log.info("from the second watch")
    assert "from the first watch" in first.getvalue() and "from the second watch" not in first.getvalue()
    assert "from the second watch" in second.getvalue()
    first.close()  # as pytest closes a test's captured stderr
    third = io.StringIO()
    monkeypatch.setattr("sys.stderr", third)
    watch_command._setup_logging()
    watch_command.log.info("from the third watch")
    assert "from the third watch" in third.getvalue()
