"""Kuma on Kubernetes: plan and server-side apply through the real `kubernetes` client against the
kube-apiserver emulator (tests/emulators/kubernetes.py), with and without Kuma's defaulting webhook."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from emulators.kubernetes import KubeEmulator, KubeState, RandomFaults, running
from emulators.kubernetes import go_duration as emulated_go_duration

from gatewayctl.apply import kuma_kubernetes
from gatewayctl.apply.kuma_kubernetes import (
    FIELD_MANAGER,
    KubeApi,
    KubeError,
    apply_kubernetes,
    canonical,
    connect,
    list_kind,
    plan_kubernetes,
)
from gatewayctl.catalog.load import load_catalog
from gatewayctl.catalog.model import Catalog
from gatewayctl.clients.retry import RetryPolicy
from gatewayctl.plan.kuma import KumaChange, KumaPlan, comparable_spec
from gatewayctl.plan.masking import Masker
from gatewayctl.render.kuma import KumaObject, build_kuma_objects, kubernetes_form

NS = "kuma-system"
CATALOG = """\
format: 1
name: shop
mesh:
  enabled: true
  name: shop
  mtls: {mode: strict, rotation: 24h}
  gateway_selector: {app: kong}
  tracing:
    zipkin: {endpoint: http://zipkin.observability.svc:9411/api/v2/spans, sampling: 10}
services:
  - name: web
    url: http://web.shop.svc.cluster.local:8080
    routes: [{name: home, paths: [/]}]
    mesh:
      timeouts: {connect: 2s, request: 15s, idle: 1h}
  - name: orders
    url: http://orders.shop.svc.cluster.local:8080
    mesh:
      allow_from: [web]
      retries: {attempts: 3, on: [5xx], backoff: 25ms..250ms}
      timeouts: {connect: 5m, request: 90s}
      circuit_breaker: {consecutive_5xx: 5, interval: 10s, base_ejection: 30s, max_ejection_percent: 50}
  - name: payments
    url: http://payments.shop.svc.cluster.local:9090
    mesh:
      allow_from: [orders]
      rate_limit: {requests: 100, interval: 1s}
deployment:
  platform: kubernetes
  namespaces: {kuma: kuma-system}
"""
WITHOUT_PAYMENTS = (
    CATALOG.split("  - name: payments")[0] + CATALOG.split("      rate_limit: {requests: 100, interval: 1s}\n")[1]
)


def catalog(tmp_path: Path, text: str = CATALOG) -> Catalog:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return load_catalog(path).catalog


def kuma_only_catalog(tmp_path: Path) -> tuple[Path, list[str]]:
    """CATALOG in tmp_path, and the arguments that apply it to the emulated cluster's Kuma alone."""
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG)
    return path, ["--only", "kuma", "--kuma-platform", "kubernetes", "--kubeconfig", str(tmp_path / "kubeconfig")]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[KubeEmulator, KubeApi]]:
    with running(KubeState(kuma_webhook=True)) as emulator:
        api = connect(emulator.kubeconfig(tmp_path / "kubeconfig"), None)
        api.retry = RetryPolicy(base=0.001, cap=0.01)
        api.sleep = lambda _: None  # Retry-After is honoured, but the test does not wait it out
        yield emulator, api
        api.close()


def plan(api: KubeApi, cat: Catalog, masker: Masker | None = None) -> KumaPlan:
    return plan_kubernetes(api, cat.name, build_kuma_objects(cat), NS, masker or Masker())


def converge(api: KubeApi, cat: Catalog) -> KumaPlan:
    first = plan(api, cat)
    outcome = apply_kubernetes(api, first, parallelism=4)
    assert outcome.ok, [str(e) for _, e in outcome.failed]
    return first


def test_fresh_apply_then_empty_plan_and_zero_writes(cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path) -> None:
    emulator, api = cluster
    cat = catalog(tmp_path)
    objects = build_kuma_objects(cat)
    first = converge(api, cat)
    assert first.counts() == (len(objects), 0, 0)
    assert len(emulator.state.writes()) == len(objects)
    assert all(
        w.method == "PATCH" and w.content_type.startswith("application/apply-patch+yaml")
        for w in emulator.state.writes()
    )
    assert all(f"fieldManager={FIELD_MANAGER}" in w.query and "force" not in w.query for w in emulator.state.writes())
    mesh = emulator.state.get("Mesh", "shop")
    assert mesh is not None and "namespace" not in mesh["metadata"]  # cluster-scoped
    for obj in objects[1:]:
        stored = emulator.state.get(obj.kind, obj.name, NS)
        assert stored is not None and stored["metadata"]["labels"]["gatewayctl.io/catalog"] == "shop"

    writes = len(emulator.state.writes())
    again = plan(api, cat)
    assert again.changes == [] and again.summary() == "kuma: +0 ~0 -0"
    assert {o["metadata"]["name"] for o in again.live} == {o.name for o in objects}
    outcome = apply_kubernetes(api, again, parallelism=4)
    assert outcome.ok and outcome.done == []
    assert len(emulator.state.writes()) == writes  # a no-change apply makes zero writes
    assert again.server["version"] == "v1.31.0" and again.server["namespace"] == NS


def test_what_kuma_adds_is_no_change(cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path) -> None:
    emulator, api = cluster
    cat = catalog(tmp_path)
    converge(api, cat)
    timeout = emulator.state.get("MeshTimeout", "shop-orders", NS)
    assert timeout is not None
    # The webhook's work, which a naive comparison would call drift:
    assert timeout["spec"]["to"][0]["default"]["connectionTimeout"] == "5m0s"  # rendered as 5m
    assert timeout["metadata"]["labels"]["kuma.io/policy-role"] == "system"
    mesh = emulator.state.get("Mesh", "shop")
    assert mesh is not None and "mode" not in mesh["spec"]["mtls"]["backends"][0]  # STRICT dropped
    trace = emulator.state.get("MeshTrace", "shop", NS)
    assert trace is not None and trace["spec"]["default"]["backends"][0]["zipkin"]["sharedSpanContext"] is True
    assert plan(api, cat).changes == []


def test_a_changed_setting_is_one_field_update(cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path) -> None:
    emulator, api = cluster
    converge(api, catalog(tmp_path))
    changed = catalog(
        tmp_path, CATALOG.replace("timeouts: {connect: 5m, request: 90s}", "timeouts: {connect: 4m, request: 90s}")
    )
    update = plan(api, changed)
    assert [(c.action, c.kind, c.name) for c in update.changes] == [("update", "MeshTimeout", "shop-orders")]
    (fieldchange,) = update.changes[0].fields
    assert fieldchange.path == "spec.to"
    assert fieldchange.old[0]["default"]["connectionTimeout"] == "5m0s"
    assert fieldchange.new[0]["default"]["connectionTimeout"] == "4m0s"
    before = emulator.state.get("MeshTimeout", "shop-orders", NS)
    assert apply_kubernetes(api, update, parallelism=2).ok
    after = emulator.state.get("MeshTimeout", "shop-orders", NS)
    assert before is not None and after is not None
    assert after["spec"]["to"][0]["default"]["connectionTimeout"] == "4m0s"
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert plan(api, changed).changes == []


def test_a_field_no_longer_rendered_is_removed(cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path) -> None:
    emulator, api = cluster
    converge(api, catalog(tmp_path))
    # A label gatewayctl applied before and no longer sets: the apply drops it (it owns it).
    obj = next(o for o in build_kuma_objects(catalog(tmp_path)) if o.kind == "MeshRetry")
    extra = KumaObject(obj.kind, obj.name, {**obj.labels, "tier": "gold"}, obj.spec, obj.mesh)
    desired = kubernetes_form(extra, NS)
    assert apply_kubernetes(
        api, KumaPlan("kubernetes", {}, [KumaChange("update", obj.kind, obj.name, obj.mesh, desired, None)]), 1
    ).ok
    update = plan(api, catalog(tmp_path))
    assert [(c.name, [(f.path, f.old, f.new) for f in c.fields]) for c in update.changes] == [
        (obj.name, [("metadata.labels.tier", "gold", None)])
    ]
    assert apply_kubernetes(api, update, 1).ok
    stored = emulator.state.get(obj.kind, obj.name, NS)
    assert stored is not None and "tier" not in stored["metadata"]["labels"]


def test_others_objects_and_fields_survive_and_removed_service_is_pruned(
    cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path
) -> None:
    emulator, api = cluster
    converge(api, catalog(tmp_path))
    state = emulator.state
    theirs = state.create(
        {
            "apiVersion": "kuma.io/v1alpha1",
            "kind": "MeshRetry",
            "metadata": {"name": "team-b-retry", "namespace": NS, "labels": {"kuma.io/mesh": "shop"}},
            "spec": {"targetRef": {"kind": "Mesh"}},
        }
    )
    other_catalog = state.create(
        {
            "apiVersion": "kuma.io/v1alpha1",
            "kind": "MeshRateLimit",
            "metadata": {
                "name": "billing-payments",
                "namespace": NS,
                "labels": {"app.kubernetes.io/managed-by": "gatewayctl", "gatewayctl.io/catalog": "billing"},
            },
            "spec": {"targetRef": {"kind": "Mesh"}},
        }
    )
    # Another manager adds a label to one of ours: not ours to remove, so not a change.
    state.merge_patch("MeshTimeout", "shop-web", NS, {"metadata": {"labels": {"team": "web"}}}, "kubectl-label")

    smaller = catalog(tmp_path, WITHOUT_PAYMENTS)
    prune = plan(api, smaller)
    gone = {(c.kind, c.name) for c in prune.changes if c.action == "delete"}
    assert gone == {("MeshRateLimit", "shop-payments"), ("MeshTrafficPermission", "shop-payments")}
    assert all(c.action == "delete" for c in prune.changes)
    assert all(c.live is not None and c.mesh == "shop" for c in prune.changes)
    assert apply_kubernetes(api, prune, parallelism=4).ok
    deletes = [r for r in state.writes() if r.method == "DELETE"]
    assert len(deletes) == len(gone)
    for kind, name in gone:
        assert state.get(kind, name, NS) is None
    assert state.get("MeshRetry", "team-b-retry", NS) == theirs
    assert state.get("MeshRateLimit", "billing-payments", NS) == other_catalog
    labelled = state.get("MeshTimeout", "shop-web", NS)
    assert labelled is not None and labelled["metadata"]["labels"]["team"] == "web"
    assert plan(api, smaller).changes == []


def test_conflict_with_another_field_manager_is_reported_then_forced(
    cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path
) -> None:
    emulator, api = cluster
    cat = catalog(tmp_path)
    converge(api, cat)
    state = emulator.state
    hand_edited = [
        {"targetRef": {"kind": "MeshService", "name": "orders_shop_svc_8080"}, "default": {"http": {"numRetries": 9}}}
    ]
    state.merge_patch("MeshRetry", "shop-orders", NS, {"spec": {"to": hand_edited}}, "kubectl-edit")

    drift = plan(api, cat)
    assert [(c.action, c.name, [f.path for f in c.fields]) for c in drift.changes] == [
        ("update", "shop-orders", ["spec.to"])
    ]
    outcome = apply_kubernetes(api, drift, parallelism=2)
    assert not outcome.ok and outcome.done == []
    ((_, error),) = outcome.failed
    assert isinstance(error, KubeError) and error.conflict and error.status == 409 and error.attempts == 1
    assert error.causes == (
        {"reason": "FieldManagerConflict", "message": error.causes[0]["message"], "field": ".spec.to"},
    )
    assert '"kubectl-edit" using kuma.io/v1alpha1' in error.causes[0]["message"]
    text = str(error)
    # found by the dry run that comes before any write
    path = f"/apis/kuma.io/v1alpha1/namespaces/{NS}/meshretries/shop-orders?dryRun=All"
    assert text.startswith(f"PATCH {path}: HTTP 409 Conflict")
    assert "Apply failed with 1 conflict" in text and "--field-manager=gatewayctl --force-conflicts" in text
    stored = state.get("MeshRetry", "shop-orders", NS)
    assert stored is not None and stored["spec"]["to"] == hand_edited  # nothing taken silently

    forced = apply_kubernetes(api, drift, parallelism=2, force_conflicts=True)
    assert forced.ok
    assert "force=true" in state.writes()[-1].query
    stored = state.get("MeshRetry", "shop-orders", NS)
    assert stored is not None and stored["spec"]["to"][0]["default"]["http"]["numRetries"] == 3
    managers = {m["manager"] for m in stored["metadata"]["managedFields"]}
    assert managers == {FIELD_MANAGER}  # kubectl-edit owned only spec.to, which it lost
    assert plan(api, cat).changes == []


def test_an_object_of_the_same_name_we_do_not_own_is_not_adopted(
    cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path
) -> None:
    emulator, api = cluster
    cat = catalog(tmp_path)
    squatter = emulator.state.create(
        {
            "apiVersion": "kuma.io/v1alpha1",
            "kind": "MeshRateLimit",
            "metadata": {"name": "shop-payments", "namespace": NS},
            "spec": {"targetRef": {"kind": "Mesh"}},
        }
    )
    first = plan(api, cat)
    taken = next(c for c in first.changes if c.name == "shop-payments" and c.kind == "MeshRateLimit")
    assert taken.action == "create" and taken.live == squatter
    outcome = apply_kubernetes(api, first, parallelism=4)
    assert [c for c, _ in outcome.failed] == [taken]
    ((_, error),) = outcome.failed
    assert isinstance(error, KubeError) and error.reason == "AlreadyExists"
    assert "no gatewayctl catalog" in str(error) and "never takes over" in str(error)
    assert emulator.state.get("MeshRateLimit", "shop-payments", NS) == squatter
    assert not any(r.path.endswith("/meshratelimits/shop-payments") for r in emulator.state.writes())


def test_missing_crds_are_explained(tmp_path: Path) -> None:
    state = KubeState(kinds={})
    with running(state) as emulator:
        api = connect(emulator.kubeconfig(tmp_path / "kubeconfig"), None)
        with pytest.raises(KubeError) as caught:
            plan(api, catalog(tmp_path))
        api.close()
    error = caught.value
    assert error.status == 404 and "Mesh, MeshCircuitBreaker" in error.detail and "not installed" in error.detail
    assert "install Kuma" in str(error) and "/apis/kuma.io/v1alpha1/meshes" in str(error)
    assert state.writes() == []


def test_one_missing_crd_matters_only_when_the_catalog_needs_it(tmp_path: Path) -> None:
    state = KubeState()
    state.uninstall("MeshRateLimit")
    with running(state) as emulator:
        api = connect(emulator.kubeconfig(tmp_path / "kubeconfig"), None)
        with pytest.raises(KubeError, match=r"the Kuma CRDs for MeshRateLimit are not installed"):
            plan(api, catalog(tmp_path))
        assert plan(api, catalog(tmp_path, WITHOUT_PAYMENTS)).counts()[0] > 0
        api.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_faults_converge(tmp_path: Path, seed: int) -> None:
    cat = catalog(tmp_path)
    objects = build_kuma_objects(cat)
    state = KubeState(kuma_webhook=True)
    with running(state) as emulator:
        api = connect(emulator.kubeconfig(tmp_path / "kubeconfig"), None)
        api.retry = RetryPolicy(attempts=8, base=0.001, cap=0.01)
        api.sleep = lambda _: None
        state.random_faults = RandomFaults(0.15, seed)
        outcome = apply_kubernetes(api, plan(api, cat), parallelism=4)
        assert outcome.ok, [str(e) for _, e in outcome.failed]
        faulty = [r for r in state.requests if r.status in (0, 429, 500, 503)]
        assert faulty and api.calls.retries >= len(faulty)
        state.random_faults = None
        assert plan(api, cat).changes == []
        stored = sorted((o["kind"], o["metadata"]["name"]) for o in state.objects())
        assert stored == sorted((o.kind, o.name) for o in objects)
        api.close()


def test_a_refused_write_is_not_retried_and_nothing_is_written(
    cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path
) -> None:
    """Every create and update is first sent as a server-side dry run: an object the API server refuses
    stops the apply before anything is written. Policies of a Mesh the plan creates can be checked only once
    it exists (Kuma's owner-reference webhook refuses them before): the new Mesh alone is written."""
    emulator, api = cluster
    cat = catalog(tmp_path)
    good = plan(api, cat)
    bad_obj = KumaObject(
        "MeshRetry", "Bad_Name", {"app.kubernetes.io/managed-by": "gatewayctl"}, {"targetRef": {"kind": "Mesh"}}, "shop"
    )
    bad = KumaChange("create", "MeshRetry", "Bad_Name", "shop", kubernetes_form(bad_obj, NS), None)
    mesh_first = [c for c in good.changes if c.kind == "Mesh"]
    rest = [c for c in good.changes if c.kind != "Mesh"]
    outcome = apply_kubernetes(api, KumaPlan("kubernetes", {}, [*mesh_first, bad, *rest]), parallelism=1)
    ((change, error),) = outcome.failed
    assert change is bad and isinstance(error, KubeError)
    assert error.status == 422 and error.reason == "Invalid" and error.attempts == 1 and error.rejected
    assert error.path.endswith("/meshretries/Bad_Name?dryRun=All")
    assert error.causes[0]["field"] == "metadata.name" and "RFC 1123" in error.causes[0]["message"]
    assert [r.status for r in emulator.state.requests if "Bad_Name" in r.path] == [422]
    assert outcome.done == mesh_first and outcome.skipped == rest  # the new Mesh only
    assert [o["kind"] for o in emulator.state.objects()] == ["Mesh"]

    converge(api, cat)  # the Mesh exists: nothing is written at all
    writes = len(emulator.state.writes())
    counted = api.calls.writes
    update = KumaChange("update", "Mesh", "shop", None, mesh_first[0].desired, None)
    outcome = apply_kubernetes(api, KumaPlan("kubernetes", {}, [update, bad]), parallelism=1)
    assert [c for c, _ in outcome.failed] == [bad] and outcome.done == [] and outcome.skipped == [update]
    assert len(emulator.state.writes()) == writes
    assert api.calls.writes == counted  # a dry run changes nothing: counted as a read


def test_a_policy_kumas_validating_webhook_refuses_leaves_everything_unwritten(
    cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path
) -> None:
    """Kuma's validating webhook (pkg/plugins/runtime/k8s/webhooks/validation.go) refuses a policy its
    validator refuses, on a dry run too; the API server relays the denial (422 Invalid, the violations as
    causes). The apply reports that object's call and writes nothing."""
    emulator, api = cluster
    cat = catalog(tmp_path)
    converge(api, cat)
    before = emulator.state.objects()
    writes = len(emulator.state.writes())
    current = {(o["kind"], o["metadata"]["name"]): o for o in before}
    changes = []
    for obj in build_kuma_objects(cat):  # every object updated: the MeshRetry broken, the others' labels
        desired = kubernetes_form(obj, NS)
        desired["metadata"]["labels"]["team"] = "mesh"
        if obj.kind == "MeshRetry":
            desired["spec"]["to"][0]["default"] = {"tcp": {"maxConnectAttempt": 0}}
        changes.append(KumaChange("update", obj.kind, obj.name, obj.mesh, desired, current[(obj.kind, obj.name)]))
    outcome = apply_kubernetes(api, KumaPlan("kubernetes", {}, changes), parallelism=4)
    ((change, error),) = outcome.failed
    assert change.kind == "MeshRetry" and isinstance(error, KubeError)
    assert (error.status, error.reason, error.attempts) == (422, "Invalid", 1)
    assert error.detail == (
        'admission webhook "validator.kuma-admission.kuma.io" denied the request: '
        "spec.to[0].default.conf.tcp.maxConnectAttempt: must be greater than 0"
    )
    assert error.causes == (
        {
            "reason": "FieldValueInvalid",
            "message": "must be greater than 0",
            "field": "spec.to[0].default.conf.tcp.maxConnectAttempt",
        },
    )
    assert str(error).startswith(f"PATCH /apis/kuma.io/v1alpha1/namespaces/{NS}/meshretries/{change.name}?dryRun=All:")
    assert outcome.done == [] and len(outcome.skipped) == len(changes) - 1
    assert len(emulator.state.writes()) == writes and emulator.state.objects() == before


def test_unreachable_server_and_bad_credentials(tmp_path: Path) -> None:
    with running(KubeState(token="t0ken-for-tests")) as emulator:
        good = connect(emulator.kubeconfig(tmp_path / "good"), None)
        assert good.server == emulator.url and plan(good, catalog(tmp_path)).counts()[0] > 0
        good.close()
        bad = connect(emulator.kubeconfig(tmp_path / "bad", token="wrong-token"), None)
        with pytest.raises(KubeError) as caught:
            plan(bad, catalog(tmp_path))
        assert caught.value.status == 401 and caught.value.attempts == 1
        assert "wrong-token" not in str(caught.value) and "t0ken" not in str(caught.value)
        bad.close()
        url = emulator.url
        kubeconfig = emulator.kubeconfig(tmp_path / "gone")
    api = connect(kubeconfig, None)
    api.retry = RetryPolicy(attempts=3, base=0.001, cap=0.01)
    with pytest.raises(KubeError) as unreachable:
        plan(api, catalog(tmp_path))
    assert unreachable.value.status is None and unreachable.value.attempts == 3
    assert str(unreachable.value).startswith("GET /version: no response after 3 tries:") and url in str(
        unreachable.value
    )


def test_kubeconfig_and_context_selection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running(KubeState()) as emulator:
        path = emulator.kubeconfig(tmp_path / "config", context="prod")
        assert connect(path, "prod").server == emulator.url
        with pytest.raises(KubeError, match="cannot use it"):
            connect(path, "staging")
        with pytest.raises(KubeError, match="kubeconfig file not found"):
            connect(tmp_path / "missing", None)
        monkeypatch.setenv("KUBECONFIG", str(path))
        assert connect(None, None).server == emulator.url
        monkeypatch.delenv("KUBECONFIG")
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        with pytest.raises(KubeError, match="no kubeconfig"):
            connect(None, None)


def test_secret_values_are_masked_in_field_changes(cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path) -> None:
    _, api = cluster
    secret = "zipkin-s3cr3t-token"
    text = CATALOG.replace("http://zipkin.observability.svc:9411", f"http://u:{secret}@zipkin.observability.svc:9411")
    converge(api, catalog(tmp_path, text))
    rotated = catalog(tmp_path, text.replace(secret, "zipkin-n3w-s3cr3t"))
    changes = plan(api, rotated, Masker.of([secret, "zipkin-n3w-s3cr3t"])).changes
    assert [c.kind for c in changes] == ["MeshTrace"]
    shown = repr(changes[0].fields)
    assert secret not in shown and "zipkin-n3w-s3cr3t" not in shown and "<secret>" in shown


def test_a_list_whose_continue_token_expired_is_read_again_whole(
    cluster: tuple[KubeEmulator, KubeApi], monkeypatch: pytest.MonkeyPatch
) -> None:
    """etcd compacts every 5 minutes: a paged list whose next page comes after a compaction gets 410 Expired
    (apiserver etcd3 handleCompactedErrorForPaging). client-go's pager then lists again without paging
    (tools/pager ListPager.FullListIfExpired); gatewayctl failed the plan instead."""
    emulator, api = cluster
    state = emulator.state
    for i in range(5):
        state.create(
            {
                "apiVersion": "kuma.io/v1alpha1",
                "kind": "MeshRetry",
                "metadata": {"name": f"r{i}", "namespace": NS, "labels": {"app.kubernetes.io/managed-by": "x"}},
                "spec": {"targetRef": {"kind": "Mesh"}},
            }
        )
    monkeypatch.setattr(kuma_kubernetes, "PAGE_SIZE", 2)
    pages: list[int] = []

    def compact_after_first_page(state: KubeState) -> None:
        pages.append(1)
        if len(pages) == 1:  # someone writes and etcd compacts before the second page
            state.merge_patch("MeshRetry", "r4", NS, {"metadata": {"labels": {"b": "2"}}}, "kubectl-edit")
            state.compact()

    state.after_list = compact_after_first_page
    found = list_kind(api, "MeshRetry", NS, "app.kubernetes.io/managed-by=x")
    assert [o["metadata"]["name"] for o in found] == ["r0", "r1", "r2", "r3", "r4"]
    assert found[4]["metadata"]["labels"]["b"] == "2"  # one consistent view: the full list after the 410


def test_go_durations_match_metav1_duration() -> None:
    # time.Duration.String() for what render produces, as both sides are compared
    assert [comparable_spec(d) for d in ["24h", "5m", "90s", "1h", "25ms", "250ms", "1.5s", "0s", "2h30m"]] == [
        "24h0m0s",
        "5m0s",
        "1m30s",
        "1h0m0s",
        "25ms",
        "250ms",
        "1.5s",
        "0s",
        "2h30m0s",
    ]


def test_a_hand_edited_duration_is_compared_to_the_nanosecond() -> None:
    """Go prints every digit below the second (`123.456789ms`); six significant digits made a MeshTimeout
    edited to 500.0001ms compare equal to the catalog's 500ms, drift never shown nor put right."""
    assert canonical("MeshTimeout", {"t": "123.456789ms"}) == {"t": "123.456789ms"}
    assert canonical("MeshTimeout", {"t": "500.0001ms"}) != canonical("MeshTimeout", {"t": "500ms"})
    assert canonical("MeshTimeout", {"t": "1.000001ms"}) == {"t": "1.000001ms"}
    # the emulator's webhook stores durations as Kuma does, every digit kept
    assert emulated_go_duration("123.456789ms") == "123.456789ms"
    assert emulated_go_duration("500.0001ms") == "500.0001ms"


# ---------------------------------------------------------------------- the emulator answers as Kubernetes does


def test_emulator_status_bodies_selectors_and_paging(tmp_path: Path) -> None:
    state = KubeState()
    with running(state) as emulator, httpx.Client(base_url=emulator.url) as http:
        missing = http.get("/apis/kuma.io/v1alpha1/namespaces/kuma-system/meshfoos")
        assert missing.status_code == 404
        assert missing.json() == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "the server could not find the requested resource",
            "reason": "NotFound",
            "details": {},
            "code": 404,
        }
        apply = {"Content-Type": "application/apply-patch+yaml"}
        path = "/apis/kuma.io/v1alpha1/namespaces/kuma-system/meshretries"
        # apimachinery pkg/apis/meta/v1/validation ValidatePatchOptions, answered by handlers/patch.go as
        # errors.NewInvalid(PatchOptions.meta.k8s.io) before the object is looked up
        no_manager = http.patch(f"{path}/a", content=b"{}", headers=apply)
        assert no_manager.status_code == 422
        assert no_manager.json() == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": (
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
            ),
            "reason": "Invalid",
            "details": {
                "group": "meta.k8s.io",
                "kind": "PatchOptions",
                "causes": [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value: is required for apply patch",
                        "field": "fieldManager",
                    }
                ],
            },
            "code": 422,
        }
        for i, labels in enumerate([{"a": "1", "b": "2"}, {"a": "1"}, {"b": "2"}]):
            body = textwrap.dedent(
                f"""\
                apiVersion: kuma.io/v1alpha1
                kind: MeshRetry
                metadata: {{name: r{i}, namespace: kuma-system, labels: {labels}}}
                spec: {{targetRef: {{kind: Mesh}}}}
                """
            )
            created = http.patch(f"{path}/r{i}?fieldManager=t", content=body.encode(), headers=apply)
            assert created.status_code == 201
        names = lambda q: [o["metadata"]["name"] for o in http.get(path, params=q).json()["items"]]  # noqa: E731
        assert names({"labelSelector": "a=1,b=2"}) == ["r0"]
        assert names({"labelSelector": "a==1"}) == ["r0", "r1"]
        assert names({"labelSelector": "b,a!=1"}) == ["r2"]
        assert names({"labelSelector": "!a"}) == ["r2"]
        page = http.get(path, params={"limit": 2}).json()
        assert [o["metadata"]["name"] for o in page["items"]] == ["r0", "r1"] and page["items"][0][
            "kind"
        ] == "MeshRetry"
        rest = http.get(path, params={"limit": 2, "continue": page["metadata"]["continue"]}).json()
        assert [o["metadata"]["name"] for o in rest["items"]] == ["r2"] and "continue" not in rest["metadata"]
        invalid = http.patch(
            f"{path}/Bad_Name?fieldManager=t", content=body.replace("r2", "Bad_Name").encode(), headers=apply
        )
        assert invalid.status_code == 422
        status = invalid.json()
        assert status["reason"] == "Invalid" and status["details"]["causes"][0]["reason"] == "FieldValueInvalid"
        assert status["message"].startswith('MeshRetry.kuma.io "Bad_Name" is invalid: metadata.name: Invalid value')
        # Re-applied without label a by the manager that set it: SSA drops it.
        again = http.patch(f"{path}/r0?fieldManager=t", content=body.replace("r2", "r0").encode(), headers=apply)
        assert again.status_code == 200 and again.json()["metadata"]["labels"] == {"b": "2"}
        gone = http.delete(f"{path}/r1")
        assert gone.status_code == 200 and gone.json()["status"] == "Success"
        assert http.delete(f"{path}/r1").json()["reason"] == "NotFound"
        no_ns = http.patch(
            "/apis/kuma.io/v1alpha1/namespaces/nope/meshretries/r9?fieldManager=t",
            content=body.replace("r2", "r9").replace("kuma-system", "nope").encode(),
            headers=apply,
        )
        assert no_ns.status_code == 404 and no_ns.json()["message"] == 'namespaces "nope" not found'


def test_emulator_apply_is_a_no_op_when_nothing_changes() -> None:
    state = KubeState()
    with running(state) as emulator, httpx.Client(base_url=emulator.url) as http:
        body = b"apiVersion: kuma.io/v1alpha1\nkind: Mesh\nmetadata: {name: m}\nspec: {mtls: {enabledBackend: ca-1}}\n"
        headers = {"Content-Type": "application/apply-patch+yaml"}
        first = http.patch("/apis/kuma.io/v1alpha1/meshes/m?fieldManager=x", content=body, headers=headers).json()
        second = http.patch("/apis/kuma.io/v1alpha1/meshes/m?fieldManager=x", content=body, headers=headers).json()
        assert first["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]
        assert first["metadata"]["generation"] == 1 and "uid" in first["metadata"]
        other = http.patch(
            "/apis/kuma.io/v1alpha1/meshes/m?fieldManager=y",
            content=body.replace(b"ca-1", b"ca-2"),
            headers=headers,
        )
        assert other.status_code == 409
        assert other.json()["message"] == 'Apply failed with 1 conflict: conflict with "x": .spec.mtls.enabledBackend'
        assert other.json()["details"]["causes"] == [
            {"reason": "FieldManagerConflict", "message": 'conflict with "x"', "field": ".spec.mtls.enabledBackend"}
        ]
        not_forced = http.patch(
            "/apis/kuma.io/v1alpha1/meshes/m?fieldManager=y&force=False",
            content=body.replace(b"ca-1", b"ca-2"),
            headers=headers,
        )
        assert not_forced.status_code == 409
        # query booleans as apimachinery's Convert_Slice_string_To_Pointer_bool reads them: "1" is true
        forced = http.patch(
            "/apis/kuma.io/v1alpha1/meshes/m?fieldManager=z&force=1",
            content=body.replace(b"ca-1", b"ca-3"),
            headers=headers,
        )
        assert forced.status_code == 200 and forced.json()["spec"]["mtls"]["enabledBackend"] == "ca-3"
        http.patch("/apis/kuma.io/v1alpha1/meshes/m?fieldManager=x&force=true", content=body, headers=headers)
        shared = http.patch("/apis/kuma.io/v1alpha1/meshes/m?fieldManager=y", content=body, headers=headers).json()
        assert {m["manager"] for m in shared["metadata"]["managedFields"]} == {"x", "y"}  # same value: co-owned


def test_emulator_checks_patch_and_delete_options_before_the_object() -> None:
    """ValidatePatchOptions / ValidateDeleteOptions (apimachinery pkg/apis/meta/v1/validation): `force` only on
    an apply patch, `dryRun` only `All`; 422 Invalid for the options kind, even for an object that is absent."""
    with running(KubeState()) as emulator, httpx.Client(base_url=emulator.url) as http:
        path = "/apis/kuma.io/v1alpha1/meshes/absent"
        merge = {"Content-Type": "application/merge-patch+json"}
        forced = http.patch(f"{path}?force=true", content=b"{}", headers=merge)
        assert forced.status_code == 422
        assert forced.json()["message"] == (
            'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch'
        )
        apply = {"Content-Type": "application/apply-patch+yaml"}
        both = http.patch(f"{path}?dryRun=Some", content=b"{}", headers=apply).json()
        assert both["reason"] == "Invalid" and [c["field"] for c in both["details"]["causes"]] == [
            "fieldManager",
            "dryRun",
        ]
        assert both["message"] == (
            'PatchOptions.meta.k8s.io "" is invalid: [fieldManager: Required value: is required for apply patch, '
            'dryRun: Unsupported value: []string{"Some"}: supported values: "All"]'
        )
        deleted = http.delete(f"{path}?dryRun=yes")
        assert deleted.status_code == 422 and deleted.json()["details"]["kind"] == "DeleteOptions"


def test_emulator_co_ownership_is_a_write_and_dry_run_create_has_no_resource_version() -> None:
    """managedFields are stored with the object: a second manager applying the same values changes them, so
    the object is written (new resourceVersion, same generation). A dry-run create is not stored: no
    resourceVersion (apiserver registry/generic/registry/dryrun.go DryRunnableStorage.Create)."""
    state = KubeState()
    with running(state) as emulator, httpx.Client(base_url=emulator.url) as http:
        body = b"apiVersion: kuma.io/v1alpha1\nkind: Mesh\nmetadata: {name: m}\nspec: {mtls: {enabledBackend: ca-1}}\n"
        headers = {"Content-Type": "application/apply-patch+yaml"}
        url = "/apis/kuma.io/v1alpha1/meshes/m"
        dry = http.patch(f"{url}?fieldManager=x&dryRun=All", content=body, headers=headers)
        assert dry.status_code == 201 and "resourceVersion" not in dry.json()["metadata"]
        assert state.get("Mesh", "m") is None
        first = http.patch(f"{url}?fieldManager=x", content=body, headers=headers).json()
        shared = http.patch(f"{url}?fieldManager=y", content=body, headers=headers).json()
        assert int(shared["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
        assert shared["metadata"]["generation"] == 1
        stored = state.get("Mesh", "m")
        assert stored is not None and stored["metadata"]["resourceVersion"] == shared["metadata"]["resourceVersion"]
        again = http.patch(f"{url}?fieldManager=y", content=body, headers=headers).json()
        assert again["metadata"]["resourceVersion"] == shared["metadata"]["resourceVersion"]  # a true no-op


def test_emulator_paging_keeps_the_first_pages_view_until_compaction() -> None:
    """etcd3 storage (apiserver pkg/storage/etcd3/store.go GetList): the pages after the first are read at the
    first page's revision from the key after the last one returned, so objects deleted or created meanwhile
    neither shift nor join the list; remainingItemCount only without a selector; after a compaction the token
    answers 410 Expired, with a token that goes on at the latest revision (handleCompactedErrorForPaging)."""
    state = KubeState()
    for i in range(4):
        state.create(
            {
                "apiVersion": "kuma.io/v1alpha1",
                "kind": "MeshRetry",
                "metadata": {"name": f"r{i}", "namespace": NS, "labels": {"a": "1"}},
                "spec": {"targetRef": {"kind": "Mesh"}},
            }
        )
    path = f"/apis/kuma.io/v1alpha1/namespaces/{NS}/meshretries"
    names = lambda page: [o["metadata"]["name"] for o in page["items"]]  # noqa: E731
    with running(state) as emulator, httpx.Client(base_url=emulator.url) as http:
        first = http.get(path, params={"limit": 2}).json()
        assert names(first) == ["r0", "r1"] and first["metadata"]["remainingItemCount"] == 2
        state.merge_patch("MeshRetry", "r2", NS, {"metadata": {"labels": {"b": "2"}}}, "kubectl-edit")
        with state.lock:
            del state.store[("meshretries", NS, "r0")]
        rest = http.get(path, params={"limit": 2, "continue": first["metadata"]["continue"]}).json()
        assert (
            names(rest) == ["r2", "r3"] and rest["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        )
        assert "b" not in rest["items"][0]["metadata"]["labels"]  # as it was when the list began
        selected = http.get(path, params={"limit": 1, "labelSelector": "a=1"}).json()
        assert names(selected) == ["r1"] and "continue" in selected["metadata"]
        assert "remainingItemCount" not in selected["metadata"]
        state.merge_patch("MeshRetry", "r3", NS, {"metadata": {"labels": {"c": "3"}}}, "kubectl-edit")
        state.compact()  # etcd compacts the revisions before the latest: the token's is one of them
        expired = http.get(path, params={"limit": 1, "continue": selected["metadata"]["continue"]})
        assert expired.status_code == 410 and expired.json()["reason"] == "Expired"
        assert expired.json()["message"].startswith("The provided continue parameter is too old")
        latest = http.get(path, params={"limit": 5, "continue": expired.json()["metadata"]["continue"]}).json()
        assert names(latest) == ["r2", "r3"] and latest["items"][1]["metadata"]["labels"]["c"] == "3"
        bad = http.get(path, params={"continue": "not-a-token"})
        assert bad.status_code == 400 and bad.json()["reason"] == "BadRequest"


def test_emulator_an_applied_empty_mapping_is_owned_by_nobody_and_keeps_what_is_there() -> None:
    """structured-merge-diff typed/tofieldset.go doMap: the fields of a struct are walked to their leaves, an
    empty one inserts no path. Applying `mtls: {}` neither conflicts with the owner of `mtls.enabledBackend`
    nor wipes it, and the applier owns nothing there."""
    state = KubeState()
    with running(state) as emulator, httpx.Client(base_url=emulator.url) as http:
        headers = {"Content-Type": "application/apply-patch+yaml"}
        url = "/apis/kuma.io/v1alpha1/meshes/m"
        body = b"apiVersion: kuma.io/v1alpha1\nkind: Mesh\nmetadata: {name: m}\nspec: {mtls: {enabledBackend: ca-1}}\n"
        http.patch(f"{url}?fieldManager=x", content=body, headers=headers)
        empty = http.patch(
            f"{url}?fieldManager=y", content=body.replace(b"{enabledBackend: ca-1}", b"{}"), headers=headers
        )
        assert empty.status_code == 200, empty.json()
        assert empty.json()["spec"] == {"mtls": {"enabledBackend": "ca-1"}}
        assert [m["manager"] for m in empty.json()["metadata"]["managedFields"]] == ["x"]
        new = http.patch(
            f"{url}?fieldManager=y",
            content=body.replace(b"mtls: {enabledBackend: ca-1}", b"mtls: {enabledBackend: ca-1}, networking: {}"),
            headers=headers,
        ).json()
        assert new["spec"]["networking"] == {}  # merged in


def test_emulator_fills_crd_defaults_and_checks_crd_enums_without_kumas_webhook() -> None:
    """The API server itself defaults and validates custom resources against the CRD's structural schema
    (apiextensions-apiserver; managedfields structuredmerge.go defaults the applied result), webhook or not:
    an enum broken is 422 Invalid, each cause a FieldValueNotSupported (validation.go
    kubeOpenAPIResultToFieldErrors -> field.NotSupported)."""
    state = KubeState()  # no Kuma webhook
    with running(state) as emulator, httpx.Client(base_url=emulator.url) as http:
        headers = {"Content-Type": "application/apply-patch+yaml"}
        path = f"/apis/kuma.io/v1alpha1/namespaces/{NS}"
        trace = textwrap.dedent(
            """\
            apiVersion: kuma.io/v1alpha1
            kind: MeshTrace
            metadata: {name: t, namespace: kuma-system}
            spec:
              targetRef: {kind: Mesh}
              default: {backends: [{type: Zipkin, zipkin: {url: "http://zipkin:9411/api/v2/spans"}}]}
            """
        )
        created = http.patch(f"{path}/meshtraces/t?fieldManager=x", content=trace.encode(), headers=headers).json()
        assert created["spec"]["default"]["backends"][0]["zipkin"]["sharedSpanContext"] is True
        permission = textwrap.dedent(
            """\
            apiVersion: kuma.io/v1alpha1
            kind: MeshTrafficPermission
            metadata: {name: p, namespace: kuma-system}
            spec:
              targetRef: {kind: Mesh}
              from: [{targetRef: {kind: Everything}, default: {action: Maybe}}]
            """
        )
        refused = http.patch(
            f"{path}/meshtrafficpermissions/p?fieldManager=x", content=permission.encode(), headers=headers
        )
        assert refused.status_code == 422
        status = refused.json()
        targets = '"Mesh", "MeshSubset", "MeshGateway", "MeshService", "MeshExternalService", "MeshMultiZoneService", '
        targets += '"MeshServiceSubset", "MeshHTTPRoute", "Dataplane"'
        assert status["message"] == (
            'MeshTrafficPermission.kuma.io "p" is invalid: ['
            'spec.from[0].default.action: Unsupported value: "Maybe": supported values: "Allow", "Deny", '
            '"AllowWithShadowDeny", '
            f'spec.from[0].targetRef.kind: Unsupported value: "Everything": supported values: {targets}]'
        )
        assert [c["reason"] for c in status["details"]["causes"]] == ["FieldValueNotSupported"] * 2
        assert state.get("MeshTrafficPermission", "p", NS) is None


def test_emulator_kumas_webhooks_refuse_what_kumas_validators_and_go_decoding_refuse() -> None:
    """kumahq/kuma v2.14.3 with its Helm chart's webhooks (cp-webhooks-and-secrets.yaml): the mutating webhook
    decodes the object first (defaulter.go, admission.Errored(400) on a duration time.ParseDuration refuses);
    on a create the owner-reference webhook makes the object's Mesh its owner, refusing it (400) while the Mesh
    does not exist (owner_reference_mutator.go);
    after the CRD schema, the validating webhook runs the policy's (or the Mesh's, under `spec.`) validator
    (validation.go convertValidationErrorOf: 422, reason Invalid, details name, kind and a FieldValueInvalid
    cause per violation). The API server relays each denial with `admission webhook "<name>" denied the
    request: ` before its message (k8s.io/apiserver webhook/errors/statuserror.go ToStatusErr). A dry run is
    checked the same way (the webhooks have no side effects)."""
    state = KubeState(kuma_webhook=True)
    with running(state) as emulator, httpx.Client(base_url=emulator.url) as http:
        headers = {"Content-Type": "application/apply-patch+yaml"}
        path = f"/apis/kuma.io/v1alpha1/namespaces/{NS}"

        def timeout(default: str) -> bytes:
            return textwrap.dedent(
                f"""\
                apiVersion: kuma.io/v1alpha1
                kind: MeshTimeout
                metadata: {{name: t, namespace: kuma-system}}
                spec:
                  targetRef: {{kind: Mesh}}
                  to: [{{targetRef: {{kind: Mesh}}, default: {default}}}]
                """
            ).encode()

        meshless = http.patch(
            f"{path}/meshtimeouts/t?fieldManager=x&dryRun=All", content=timeout("{idleTimeout: 1h}"), headers=headers
        )
        assert (meshless.status_code, meshless.json()["message"]) == (
            400,
            'admission webhook "owner-reference.kuma-admission.kuma.io" denied the request: '
            'meshes.kuma.io "default" not found',
        )
        assert (
            http.patch(
                "/apis/kuma.io/v1alpha1/meshes/default?fieldManager=x",
                content=b"apiVersion: kuma.io/v1alpha1\nkind: Mesh\nmetadata: {name: default}\n",
                headers=headers,
            ).status_code
            == 201
        )
        undecodable = http.patch(
            f"{path}/meshtimeouts/t?fieldManager=x", content=timeout("{idleTimeout: 1d}"), headers=headers
        )
        assert (undecodable.status_code, undecodable.json()) == (
            400,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": 'admission webhook "mesh.defaulter.kuma-admission.kuma.io" denied the request: '
                'time: unknown unit "d" in duration "1d"',
                "code": 400,
            },
        )
        for query in ("fieldManager=x&dryRun=All", "fieldManager=x"):
            refused = http.patch(
                f"{path}/meshtimeouts/t?{query}", content=timeout("{connectionTimeout: 0s}"), headers=headers
            )
            assert (refused.status_code, refused.json()) == (
                422,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": 'admission webhook "validator.kuma-admission.kuma.io" denied the request: '
                    "spec.to[0].default.connectionTimeout: must be greater than zero when defined",
                    "reason": "Invalid",
                    "details": {
                        "name": "t",
                        "kind": "MeshTimeout",
                        "causes": [
                            {
                                "reason": "FieldValueInvalid",
                                "message": "must be greater than zero when defined",
                                "field": "spec.to[0].default.connectionTimeout",
                            }
                        ],
                    },
                    "code": 422,
                },
            )
        assert (
            http.patch(
                f"{path}/meshtimeouts/t?fieldManager=x", content=timeout("{connectionTimeout: 1s}"), headers=headers
            ).status_code
            == 201
        )
        mesh = (
            b"apiVersion: kuma.io/v1alpha1\nkind: Mesh\nmetadata: {name: m}\n"
            b"spec: {mtls: {enabledBackend: ca-2, backends: [{name: ca-1, type: builtin}]}}\n"
        )
        refused = http.patch("/apis/kuma.io/v1alpha1/meshes/m?fieldManager=x", content=mesh, headers=headers)
        assert refused.status_code == 422
        assert refused.json()["details"]["causes"] == [
            {
                "reason": "FieldValueInvalid",
                "message": "has to be set to one of the backends in the mesh",
                "field": "spec.mtls.enabledBackend",
            }
        ]
        assert [o["metadata"]["name"] for o in state.objects("Mesh")] == ["default"]
        (stored,) = state.objects("MeshTimeout")
        assert stored["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "kuma.io/v1alpha1",
                "kind": "Mesh",
                "name": "default",
                "uid": state.objects("Mesh")[0]["metadata"]["uid"],
            }
        ]


def test_emulator_status_bodies_leave_out_details_where_the_api_server_does() -> None:
    """metav1.Status.Details is an omitempty pointer: errors.NewUnauthorized and NewBadRequest leave it nil
    (apimachinery pkg/api/errors/errors.go), the bare 404 of NewGenericServerResponse sets an empty one."""
    with running(KubeState(token="t0ken-for-tests")) as emulator, httpx.Client(base_url=emulator.url) as http:
        assert http.get("/apis/kuma.io/v1alpha1/meshes").json() == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        }
        auth = {"Authorization": "Bearer t0ken-for-tests"}
        bad = http.get("/apis/kuma.io/v1alpha1/meshes", params={"continue": "x"}, headers=auth).json()
        assert bad["reason"] == "BadRequest" and "details" not in bad
        assert http.get("/apis/kuma.io/v1alpha1/meshfoos", headers=auth).json()["details"] == {}


def test_emulator_apply_of_a_field_the_crd_does_not_declare_is_a_500() -> None:
    """Server-side apply converts the applied configuration to the CRD's schema first; a field the schema
    does not declare fails there with a plain error, which the API server answers 500 with no reason
    (apimachinery managedfields/internal/structuredmerge.go Apply; kubernetes/kubernetes#122480)."""
    with running(KubeState()) as emulator, httpx.Client(base_url=emulator.url) as http:
        body = textwrap.dedent(
            """\
            apiVersion: kuma.io/v1alpha1
            kind: MeshRetry
            metadata: {name: r, namespace: kuma-system}
            spec:
              targetRef: {kind: Mesh}
              retries: 3
              to: [{targetRef: {kind: Mesh}, default: {}, weight: 1}]
            status: {}
            """
        )
        url = f"/apis/kuma.io/v1alpha1/namespaces/{NS}/meshretries/r?fieldManager=x"
        answer = http.patch(url, content=body.encode(), headers={"Content-Type": "application/apply-patch+yaml"})
        assert answer.status_code == 500
        status = answer.json()
        assert {k: v for k, v in status.items() if k != "message"} == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "code": 500,
        }
        # typed.ValidationErrors.Error(): "errors:" and one indented line each, in the map's iteration order;
        # visitMapItems stops walking a map at its first undeclared field: `to`, after `retries` here (in the
        # emulator's order, the body's), is not looked into
        head, *lines = status["message"].split("\n")
        assert head == "failed to create typed patch object (kuma-system/r; kuma.io/v1alpha1, Kind=MeshRetry): errors:"
        assert lines == ["  .spec.retries: field not declared in schema", "  .status: field not declared in schema"]
        body = body.replace("  retries: 3\n", "")
        answer = http.patch(url, content=body.encode(), headers={"Content-Type": "application/apply-patch+yaml"})
        head, *lines = answer.json()["message"].split("\n")
        weight, status_field = (f"  .{p}: field not declared in schema" for p in ("spec.to[0].weight", "status"))
        assert lines == [weight, status_field]


def test_emulator_managed_fields_in_the_api_servers_order() -> None:
    """sortEncodedManagedFields (apimachinery managedfields/internal/managedfields.go): Apply entries before
    Update ones, then by time and manager."""
    state = KubeState()
    state.create(
        {
            "apiVersion": "kuma.io/v1alpha1",
            "kind": "Mesh",
            "metadata": {"name": "m"},
            "spec": {"logging": {"defaultBackend": "file"}},
        }
    )
    with running(state) as emulator, httpx.Client(base_url=emulator.url) as http:
        body = b"apiVersion: kuma.io/v1alpha1\nkind: Mesh\nmetadata: {name: m}\nspec: {mtls: {enabledBackend: ca-1}}\n"
        applied = http.patch(
            "/apis/kuma.io/v1alpha1/meshes/m?fieldManager=zz",
            content=body,
            headers={"Content-Type": "application/apply-patch+yaml"},
        ).json()
        entries = [(m["manager"], m["operation"]) for m in applied["metadata"]["managedFields"]]
        assert entries == [("zz", "Apply"), ("kubectl-create", "Update")]


def test_rollback_after_forced_apply_restores_the_taken_field(
    cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A field another manager owned in the snapshot and gatewayctl took with --force-conflicts since is
    gatewayctl's now: rollback must put the snapshot's value back, not drop the field (an empty MeshRetry)."""
    from gatewayctl.cli import main

    emulator, _ = cluster
    state = emulator.state
    monkeypatch.chdir(tmp_path)
    path, argv = kuma_only_catalog(tmp_path)
    assert main(["apply", str(path), *argv, "--yes"]) == 0
    hand_edited = [
        {"targetRef": {"kind": "MeshService", "name": "orders_shop_svc_8080"}, "default": {"http": {"numRetries": 9}}}
    ]
    state.merge_patch("MeshRetry", "shop-orders", NS, {"spec": {"to": hand_edited}}, "kubectl-edit")
    assert main(["apply", str(path), *argv, "--yes"]) == 3  # a conflict: not taken silently
    assert main(["apply", str(path), *argv, "--yes", "--force-conflicts"]) == 0
    forced = state.get("MeshRetry", "shop-orders", NS)
    assert forced is not None and forced["spec"]["to"][0]["default"]["http"]["numRetries"] == 3

    assert main(["rollback", "--kubeconfig", str(tmp_path / "kubeconfig"), "--yes"]) == 0
    restored = state.get("MeshRetry", "shop-orders", NS)
    assert restored is not None and restored["spec"]["to"] == hand_edited
    assert main(["rollback", "--kubeconfig", str(tmp_path / "kubeconfig"), "--yes", "--dry-run"]) == 0
    writes = len(state.writes())
    assert main(["rollback", "--kubeconfig", str(tmp_path / "kubeconfig"), "--yes"]) == 0
    assert len(state.writes()) == writes  # converged: a second rollback writes nothing


def test_status_names_the_kubernetes_version_as_kubernetes_not_kuma(
    cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gatewayctl.cli import main

    path, argv = kuma_only_catalog(tmp_path)
    assert main(["status", str(path), *argv]) == 0
    out = capsys.readouterr().out
    assert "reachable, Kubernetes v" in out and "Kuma v" not in out, out
    assert main(["status", str(path), *argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kuma"]["product"] == "Kubernetes"


def test_a_setting_removed_inside_a_list_item_is_a_change(
    cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path
) -> None:
    """Lists are atomic in the Kuma CRDs: a key the catalog stops setting inside `to[]` (retry back-off, a
    request timeout) is removed by the apply, so the plan must show it, not project it away."""
    emulator, api = cluster
    converge(api, catalog(tmp_path))
    smaller = catalog(
        tmp_path,
        CATALOG.replace("on: [5xx], backoff: 25ms..250ms}", "on: [5xx]}").replace(
            "timeouts: {connect: 5m, request: 90s}", "timeouts: {connect: 5m}"
        ),
    )
    update = plan(api, smaller)
    assert sorted((c.action, c.kind, c.name) for c in update.changes) == [
        ("update", "MeshRetry", "shop-orders"),
        ("update", "MeshTimeout", "shop-orders"),
    ]
    assert apply_kubernetes(api, update, parallelism=2).ok
    retry = emulator.state.get("MeshRetry", "shop-orders", NS)
    assert retry is not None and "backOff" not in retry["spec"]["to"][0]["default"]["http"]
    timeout = emulator.state.get("MeshTimeout", "shop-orders", NS)
    assert timeout is not None and "http" not in timeout["spec"]["to"][0]["default"]
    writes = len(emulator.state.writes())
    assert plan(api, smaller).changes == []
    assert apply_kubernetes(api, plan(api, smaller), parallelism=2).done == []
    assert len(emulator.state.writes()) == writes


def test_crd_defaults_inside_list_items_are_no_change(cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path) -> None:
    """The API server fills the CRDs' structural defaults in inside atomic lists (a MeshAccessLog backend's
    format.omitEmptyValues, MeshTrace zipkin): not a difference, and a second apply writes nothing."""
    emulator, api = cluster
    text = CATALOG.replace(
        "  gateway_selector: {app: kong}\n",
        "  gateway_selector: {app: kong}\n  access_log: {file: /dev/stdout}\n",
    )
    objects = build_kuma_objects(catalog(tmp_path, text))
    log = next(o for o in objects if o.kind == "MeshAccessLog")
    backend = log.spec["rules"][0]["default"]["backends"][0]
    backend["file"]["format"] = {"type": "Plain", "plain": "%START_TIME% %KUMA_SOURCE_SERVICE%"}

    def plan_objects() -> KumaPlan:
        return plan_kubernetes(api, "shop", objects, NS, Masker())

    assert apply_kubernetes(api, plan_objects(), parallelism=4).ok
    stored = emulator.state.get("MeshAccessLog", log.name, NS)
    assert stored is not None
    assert stored["spec"]["rules"][0]["default"]["backends"][0]["file"]["format"]["omitEmptyValues"] is False
    writes = len(emulator.state.writes())
    assert plan_objects().changes == []
    assert apply_kubernetes(api, plan_objects(), parallelism=2).done == []
    assert len(emulator.state.writes()) == writes


def test_a_field_the_schema_does_not_declare_is_not_sent_again(cluster: tuple[KubeEmulator, KubeApi]) -> None:
    """The API server's 500 for an undeclared field (see the test above) is a refusal, not a passing fault:
    one attempt. Any other 500 is tried again."""
    from kubernetes.client.exceptions import ApiException

    _, api = cluster
    api.retry = RetryPolicy(attempts=4, base=0.001, cap=0.01)
    path = "/apis/kuma.io/v1alpha1/namespaces/kuma-system/meshretries/r"
    refusal = (
        "failed to create typed patch object (kuma-system/r; kuma.io/v1alpha1, Kind=MeshRetry): errors:\n"
        "  .status: field not declared in schema"
    )
    for message, attempts in ((refusal, 1), ("etcdserver: request timed out", 4)):
        failure = ApiException(status=500, reason="Internal Server Error")
        failure.body = json.dumps({"kind": "Status", "status": "Failure", "code": 500, "message": message})

        def send(failure: ApiException = failure) -> None:
            raise failure

        with pytest.raises(KubeError) as caught:
            api.call("PATCH", path, send)
        assert (caught.value.status, caught.value.attempts, caught.value.detail) == (500, attempts, message)


def test_a_tracing_secret_the_catalog_stops_using_is_not_shown(
    cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on Universal: the MeshTrace rendered from a reference carries `gatewayctl.io/holds-secret`, so the
    token in the live URL is <secret> in the diff once the catalog writes a plain endpoint there."""
    _, api = cluster
    secret_url = "http://zipkin.observability.svc:9411/api/v2/spans?token=zipkin-s3cr3t-token"
    monkeypatch.setenv("ZIPKIN_URL", secret_url)
    text = CATALOG.replace(
        "endpoint: http://zipkin.observability.svc:9411/api/v2/spans", 'endpoint: "${env:ZIPKIN_URL}"'
    )
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    loaded = load_catalog(path)
    first = plan_kubernetes(
        api, loaded.catalog.name, build_kuma_objects(loaded.catalog, loaded.secrets()), NS, Masker()
    )
    assert apply_kubernetes(api, first, parallelism=4).ok
    plain = catalog(tmp_path, CATALOG)  # the endpoint written plain: nothing in the catalog says it was secret
    changes = plan(api, plain).changes
    assert [c.kind for c in changes] == ["MeshTrace"]
    shown = repr(changes[0].fields)
    assert "s3cr3t" not in shown and "<secret>" in shown


def test_timeout_bounds_each_kubernetes_request(
    cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--timeout is per request on Kubernetes too: an API server that does not answer in time is given up on
    and asked again (it was 30 s whatever --timeout said)."""
    import time

    from gatewayctl.cli import main

    emulator, _ = cluster
    emulator.state.fail(1, method="GET", path="/version", delay=2.0)
    path, argv = kuma_only_catalog(tmp_path)
    assert main(["diff", str(path), *argv, "--timeout", "0.3"]) == 0, capsys.readouterr().err
    deadline = time.monotonic() + 5  # the slow answer is logged once the emulator has slept
    while len([r for r in emulator.state.requests if r.path == "/version"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len([r for r in emulator.state.requests if r.path == "/version"]) == 2  # timed out, then asked again


def test_rps_caps_kubernetes_requests(
    cluster: tuple[KubeEmulator, KubeApi], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--rps caps request starts on Kubernetes as it does for Kong and Kuma's API."""
    import time

    from gatewayctl.cli import main

    emulator, _ = cluster
    monkeypatch.chdir(tmp_path)
    path, argv = kuma_only_catalog(tmp_path)
    assert main(["apply", str(path), *argv, "--yes"]) == 0
    before = len(emulator.state.requests)
    started = time.monotonic()
    assert main(["apply", str(path), *argv, "--yes", "--rps", "10"]) == 0  # nothing to do: reads only
    elapsed = time.monotonic() - started
    sent = len(emulator.state.requests) - before
    assert sent >= 12 and elapsed >= (sent - 1) / 10 - 0.05, (sent, elapsed)


HTML_200 = {"raw": b"<html><title>Sign in</title></html>", "content_type": "text/html"}
MESHES = "/apis/kuma.io/v1alpha1/meshes"
POLICIES = f"/apis/kuma.io/v1alpha1/namespaces/{NS}/meshretries"


@pytest.mark.parametrize(
    ("command", "method", "path", "fault"),
    [
        ("diff", "GET", "/version", HTML_200),
        ("diff", "GET", MESHES, HTML_200),
        ("diff", "GET", POLICIES, {"reshape": lambda page: [page]}),
        ("diff", "GET", POLICIES, {"reshape": lambda page: {**page, "items": ["x"]}}),
        ("apply", "GET", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases", HTML_200),
        ("apply", "PATCH", MESHES, HTML_200),
    ],
    ids=["version-html", "list-html", "list-a-list", "list-item-a-string", "lease-html", "patch-html"],
)
def test_an_answer_that_is_not_the_api_servers_is_exit_3_naming_the_call(
    cluster: tuple[KubeEmulator, KubeApi],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    method: str,
    path: str,
    fault: dict[str, object],
) -> None:
    """A 200 that is no Kubernetes object (an auth proxy's sign-in page, JSON of another shape) answering a
    read or a write: exit 3 naming the call, no traceback, and a write it answered is not counted as made.
    It was an AttributeError or the client's pydantic ValidationError, and a PATCH answered by a page was
    counted as applied."""
    from gatewayctl.cli import main

    emulator, _ = cluster
    monkeypatch.chdir(tmp_path)
    catalog, argv = kuma_only_catalog(tmp_path)
    emulator.state.fail(1, method=method, path=path, times=1000, **fault)
    code = main([command, str(catalog), *argv, *(["--yes"] if command == "apply" else [])])
    err = capsys.readouterr().err
    assert code == 3, err
    assert f"{method} {path}" in err and "Traceback" not in err, err
    assert "applied" not in err.replace("0 changes applied", ""), err
    emulator.state.rules.clear()
    assert main(["apply", str(catalog), *argv, "--yes"]) == 0  # a later run converges
    assert main(["diff", str(catalog), *argv, "--exit-code"]) == 0


def test_apply_json_counts_the_kubernetes_requests_as_the_api_server_saw_them(
    cluster: tuple[KubeEmulator, KubeApi],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`apply --json` reports what was sent to Kuma on Kubernetes too, as it does for Kong and Kuma's API."""
    from gatewayctl.cli import main

    emulator, _ = cluster
    monkeypatch.chdir(tmp_path)
    path, argv = kuma_only_catalog(tmp_path)
    capsys.readouterr()
    assert main(["apply", str(path), *argv, "--yes", "--json"]) == 0
    requests = json.loads(capsys.readouterr().out)["kuma"]["result"]["requests"]
    seen = emulator.state.requests
    assert requests["writes"] == len(emulator.state.writes()) > 0
    assert requests["reads"] + requests["writes"] + requests["retries"] == len(seen)
