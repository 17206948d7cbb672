"""`gatewayctl diff`/`apply`/`status`/`rollback` for Kuma on Universal against the Kuma API emulator:
zero-write no-ops, ownership, deletes of what the catalog dropped, convergence under faults, refusals of
federated zones and read-only APIs, secrets never shown, exit codes; and Kong + Kuma in one run."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from emulators.harness import KUMA_CATALOG as CATALOG
from emulators.harness import ZIPKIN_SECRET
from emulators.kong import KongState
from emulators.kong import running as kong_running
from emulators.kuma import KumaEmulator, KumaRandomFaults, KumaState, running

from gatewayctl.cli import main

EXAMPLES = Path(__file__).parents[1] / "examples"
UNIVERSAL = ["--only", "kuma", "--kuma-platform", "universal"]


def cli(capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--kuma-url", kuma.url])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def owned(kuma: KumaEmulator) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The objects carrying this catalog's labels, without what the server sets on every write."""
    return {
        (o["type"], o.get("mesh", ""), o["name"]): {k: v for k, v in o.items() if k != "modificationTime"}
        for o in kuma.state.objects()
        if (o.get("labels") or {}).get("gatewayctl.io/catalog") == "shop"
    }


def foreign_retry(name: str = "theirs") -> dict[str, Any]:
    return {
        "type": "MeshRetry",
        "mesh": "shop",
        "name": name,
        "labels": {"team": "payments"},
        "spec": {
            "targetRef": {"kind": "Mesh"},
            "to": [{"targetRef": {"kind": "Mesh"}, "default": {"tcp": {"maxConnectAttempt": 2}}}],
        },
    }


def test_fresh_apply_then_diff_is_clean_and_reapply_writes_nothing(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    code, out, err = cli(capsys, kuma, "diff", str(shop), *UNIVERSAL, "--exit-code")
    assert code == 2, err
    assert out.strip().splitlines()[-1] == "kuma: +9 ~0 -0"
    code, out, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
    assert code == 0, err
    assert "kuma: 9 changes applied" in out
    assert len(owned(kuma)) == 9
    # what the control plane added is not a difference: computed labels, Go-printed durations (1m -> 1m0s),
    # schema defaults (MeshTrace zipkin sharedSpanContext), the Mesh's STRICT mode left out
    timeout = kuma.state.objects("MeshTimeout", "shop")
    assert any(o["spec"]["to"][0]["default"].get("connectionTimeout") == "1m0s" for o in timeout)
    [mesh] = [m for m in kuma.state.objects("Mesh") if m["name"] == "shop"]
    assert "mode" not in mesh["mtls"]["backends"][0]
    code, out, err = cli(capsys, kuma, "diff", str(shop), *UNIVERSAL, "--exit-code")
    assert (code, out.strip().splitlines()[-1]) == (0, "kuma: +0 ~0 -0"), out + err

    before = len(kuma.state.writes())
    code, out, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
    assert code == 0 and "nothing to do" in out, out + err
    assert len(kuma.state.writes()) == before  # not one write


def test_reordering_allow_from_or_retry_conditions_is_no_change(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    """Kuma does not act on the order of retryOn, nor of traffic-permission entries that all allow: a
    reordered catalog list was an update of the whole `to`/`from` list, written on every such edit. A
    caller removed is still a change."""
    three = CATALOG.replace("allow_from: [catalogue]", "allow_from: [catalogue, billing]").replace(
        "retries: {attempts: 3}", "retries: {attempts: 3, on: [reset, 5xx, connect-failure]}"
    )
    three += "  - name: billing\n    url: http://billing.default.svc:9090\n"
    shop.write_text(three)
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    shop.write_text(
        three.replace("[catalogue, billing]", "[billing, catalogue]").replace(
            "[reset, 5xx, connect-failure]", "[connect-failure, 5xx, reset]"
        )
    )
    before = len(kuma.state.writes())
    code, out, err = cli(capsys, kuma, "diff", str(shop), *UNIVERSAL, "--exit-code")
    assert (code, out.strip().splitlines()[-1]) == (0, "kuma: +0 ~0 -0"), out + err
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    assert len(kuma.state.writes()) == before
    shop.write_text(three.replace("[catalogue, billing]", "[billing]"))
    code, out, err = cli(capsys, kuma, "diff", str(shop), *UNIVERSAL, "--exit-code")
    assert code == 2 and "~ MeshTrafficPermission shop-orders" in out, out + err


def test_objects_of_others_survive_and_a_removed_service_loses_its_policies(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    kuma.state.seed(foreign_retry())
    other = foreign_retry("other-catalog")
    other["labels"] = {"app.kubernetes.io/managed-by": "gatewayctl", "gatewayctl.io/catalog": "not-shop"}
    kuma.state.seed(other)
    assert cli(capsys, kuma, "diff", str(shop), *UNIVERSAL, "--exit-code")[0] == 0

    # catalogue leaves the catalog: its rate limit and circuit breaker go, and orders no longer lets it in
    shop.write_text(CATALOG.split("  - name: catalogue")[0].replace("      allow_from: [catalogue]\n", ""))
    code, out, err = cli(capsys, kuma, "diff", str(shop), *UNIVERSAL, "--json")
    assert code == 0, err
    report = json.loads(out)["kuma"]
    assert report["summary"] == {"create": 0, "update": 1, "delete": 3}
    changes = {(c["action"], c["kind"], c["name"]): c for c in report["changes"]}
    assert set(changes) == {
        ("delete", "MeshRateLimit", "shop-catalogue"),
        ("delete", "MeshCircuitBreaker", "shop-catalogue"),
        ("delete", "MeshTrafficPermission", "shop-catalogue"),
        ("update", "MeshTrafficPermission", "shop-orders"),  # only Kong may call orders now
    }
    [field] = changes[("update", "MeshTrafficPermission", "shop-orders")]["fields"]
    assert field["path"] == "spec.from" and len(field["old"]) == 2 and len(field["new"]) == 1
    code, out, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
    assert code == 0, err
    names = {(o["type"], o["name"]) for o in kuma.state.objects(mesh="shop")}
    assert ("MeshRateLimit", "shop-catalogue") not in names
    assert ("MeshCircuitBreaker", "shop-catalogue") not in names
    assert {("MeshRetry", "theirs"), ("MeshRetry", "other-catalog")} <= names  # never touched
    assert ("MeshRetry", "mesh-retry-all-shop") in names  # the control plane's own default
    assert cli(capsys, kuma, "diff", str(shop), *UNIVERSAL, "--exit-code")[0] == 0


def test_a_mesh_holding_others_objects_is_kept_when_the_catalog_drops_it(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    kuma.state.seed(foreign_retry())
    shop.write_text(CATALOG.replace("  name: shop\n  mtls", "  name: shop2\n  mtls"))
    code, out, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
    assert code == 0, err
    assert "Mesh shop is no longer in the catalog but is kept" in out and "MeshRetry theirs" in out
    assert {m["name"] for m in kuma.state.objects("Mesh")} == {"default", "shop", "shop2"}
    assert [o["name"] for o in kuma.state.objects("MeshRetry", "shop") if o["name"] == "theirs"] == ["theirs"]
    # every owned policy moved to shop2; nothing of ours is left in shop
    assert not [o for o in kuma.state.objects(mesh="shop") if "gatewayctl.io/catalog" in (o.get("labels") or {})]


def test_the_secrets_kuma_keeps_in_a_mesh_do_not_keep_it_but_others_secrets_do(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    """Kuma 2.14 keeps a builtin CA's root in two Secrets of the Mesh (pkg/plugins/ca/builtin/manager.go) and
    gives every new Mesh a Dataplane Token signing key (pkg/defaults/mesh/mesh.go), all deleted with it: they
    are no reason to keep a Mesh the catalog drops; a Secret someone else made is."""
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    made = {o["name"] for o in kuma.state.objects("Secret", "shop")}
    assert made == {"shop.ca-builtin-cert-ca-1", "shop.ca-builtin-key-ca-1", "dataplane-token-signing-key-shop-1"}
    kuma.state.seed({"type": "Secret", "mesh": "shop", "name": "their-token", "data": "eA=="})
    shop.write_text(CATALOG.replace("  name: shop\n  mtls", "  name: shop2\n  mtls"))
    code, out, err = cli(capsys, kuma, "diff", str(shop), *UNIVERSAL)
    assert code == 0, out + err
    assert "Mesh shop is no longer in the catalog but is kept: it holds objects gatewayctl does not own " in out
    assert "(Secret their-token)" in out  # and not Kuma's own


def test_without_an_admin_token_a_dropped_mesh_is_kept_for_the_secrets_it_cannot_see(
    capsys: pytest.CaptureFixture[str], shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kuma lists Secrets to admins only (admin_resource_access.go): a diff with another token still plans,
    keeping the Mesh it cannot show to hold nothing of others', instead of failing on the 403."""
    from emulators.kuma import KumaState, running

    with running(KumaState(token="admin-token")) as kuma:
        monkeypatch.setenv("GATEWAYCTL_KUMA_TOKEN", "admin-token")
        assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
        monkeypatch.delenv("GATEWAYCTL_KUMA_TOKEN")
        shop.write_text(CATALOG.replace("  name: shop\n  mtls", "  name: shop2\n  mtls"))
        code, out, err = cli(capsys, kuma, "diff", str(shop), *UNIVERSAL)
        assert code == 0, out + err
        assert "Mesh shop is no longer in the catalog but is kept" in out
        assert "any Secret: GET /meshes/shop/secrets needs an admin token" in out
        assert "- Mesh shop\n" not in out and "kuma: +9 ~0 -8" in out


def test_a_disabled_mesh_is_removed_only_when_kuma_is_asked_for_by_name(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    shop.write_text(CATALOG.replace("  enabled: true\n", "  enabled: false\n"))
    writes = len(kuma.state.writes())
    code, out, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
    assert code == 0, err
    assert out.count("- ") >= 9 and "kuma: 9 changes applied" in out
    assert [m["name"] for m in kuma.state.objects("Mesh")] == ["default"]
    assert "is kept" not in out  # the Secrets Kuma made for the Mesh (CA, token signing key) are no reason
    # the nine deletes, between taking and releasing the apply lock
    made = [(r.method, r.path.split("/")[1]) for r in kuma.state.writes()[writes:]]
    assert made[0] == ("PUT", "global-secrets") and made[-1] == ("DELETE", "global-secrets")
    assert [m for m, _ in made[1:-1]] == ["DELETE"] * 9


def test_objects_of_the_same_name_that_are_not_ours_are_never_replaced(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    # Kuma creates the Mesh "default" itself, empty: a catalog managing mesh default takes it over, visibly
    shop.write_text(CATALOG.replace("  name: shop\n  mtls", "  name: default\n  mtls"))
    code, out, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
    assert code == 0 and "~ Mesh default" in out and "created by Kuma at start" in out, out + err
    [mesh] = kuma.state.objects("Mesh")
    assert mesh["mtls"]["enabledBackend"] == "ca-1" and mesh["labels"]["gatewayctl.io/catalog"] == "shop"
    assert cli(capsys, kuma, "diff", str(shop), *UNIVERSAL, "--exit-code")[0] == 0
    # a configured Mesh, or someone else's policy, with a name the catalog renders: refused, nothing sent
    shop.write_text(CATALOG)
    kuma.state.seed({"type": "Mesh", "name": "shop", "mtls": {"enabledBackend": "theirs"}})
    kuma.state.seed(foreign_retry("shop-orders"))
    writes = len(kuma.state.writes())
    code, _, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
    assert code == 1 and "already has Mesh shop" in err and "MeshRetry shop-orders in mesh shop" in err, err
    assert "gatewayctl.io/catalog=shop" in err and len(kuma.state.writes()) == writes
    assert kuma.state.objects("Mesh")[1]["mtls"] == {"enabledBackend": "theirs"}


def test_a_taken_name_says_which_catalog_holds_it_and_speaks_of_mesh_default_only_when_it_is_taken(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    """Renaming a catalog: the old name's objects hold the names the new one renders. The refusal says they
    are catalog 'shop''s (as on Kubernetes), and the note on Kuma's own Mesh 'default' comes only when that
    Mesh is among the names taken, not for a policy in mesh 'default' or a Mesh another catalog owns."""
    shop.write_text(CATALOG.replace("  name: shop\n  mtls", "  name: default\n  mtls"))
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    shop.write_text(CATALOG.replace("name: shop\n", "name: storefront\n", 1).replace("name: shop\n", "name: default\n"))
    writes = len(kuma.state.writes())
    code, _, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
    assert code == 1 and len(kuma.state.writes()) == writes, err
    assert "already has Mesh default (catalog 'shop')" in err, err
    assert "Kuma creates the Mesh 'default' itself" not in err, err
    # someone else's policy in a Mesh 'default' Kuma created: no word of handing over the Mesh
    with running(KumaState()) as fresh:
        fresh.state.seed({**foreign_retry("shop-orders"), "mesh": "default"})
        shop.write_text(CATALOG.replace("  name: shop\n  mtls", "  name: default\n  mtls"))
        code, _, err = cli(capsys, fresh, "apply", str(shop), *UNIVERSAL, "--yes")
        assert code == 1 and "already has MeshRetry shop-orders in mesh default without" in err, err
        assert "Kuma creates the Mesh 'default' itself" not in err, err


def test_a_mesh_with_only_our_objects_and_the_defaults_is_deleted(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    shop.write_text(CATALOG.replace("  name: shop\n  mtls", "  name: shop2\n  mtls"))
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    assert {m["name"] for m in kuma.state.objects("Mesh")} == {"default", "shop2"}


@pytest.mark.parametrize("seed", [3, 17])
def test_ten_percent_faults_converge_to_exactly_the_desired_state(
    capsys: pytest.CaptureFixture[str], shop: Path, seed: int
) -> None:
    with running(KumaState()) as clean:
        assert cli(capsys, clean, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
        wanted = owned(clean)
    faulty = KumaState()
    faulty.random_faults = KumaRandomFaults(0.10, seed, writes_only=False, retry_after="0", resets=True)
    with running(faulty) as kuma:
        code, _, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
        if code != 0:  # a read that kept failing: a re-run converges
            assert code == 3 and "Traceback" not in err
            code, _, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
        assert code == 0, err
        assert any(r.status in (0, 429, 500, 503) for r in faulty.requests), "no fault was injected"
        faulty.random_faults = None
        got = owned(kuma)
        assert got.keys() == wanted.keys()
        for key, obj in wanted.items():
            mine = {k: v for k, v in got[key].items() if k != "creationTime"}
            assert mine == {k: v for k, v in obj.items() if k != "creationTime"}, key
        assert cli(capsys, kuma, "diff", str(shop), *UNIVERSAL, "--exit-code")[0] == 0


def test_a_federated_zone_is_refused_before_anything_is_sent(capsys: pytest.CaptureFixture[str], shop: Path) -> None:
    with running(KumaState(federated=True, zone="eu-1")) as kuma:
        code, _, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
        assert code == 1
        assert "is a zone control plane federated to a global control plane" in err
        assert "point --kuma-url (GATEWAYCTL_KUMA_URL) at the global control plane" in err
        assert kuma.state.writes() == []
        # the emulator refuses the write the same way the real zone does
        import httpx

        answer = httpx.put(f"{kuma.url}/meshes/shop", json={"type": "Mesh", "name": "shop"})
        assert answer.status_code == 405 and answer.json()["detail"].startswith("On zone control plane you can only")


def test_status_of_a_control_plane_that_refuses_the_catalog_names_it_and_claims_no_lock(
    capsys: pytest.CaptureFixture[str], shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """status against a federated zone reached through GATEWAYCTL_KUMA_URL: the URL is named (it was empty), no
    "Kuma None" version, no "apply lock: free" that was never read; the reason is in --json."""
    with running(KumaState(federated=True, zone="eu-1")) as kuma:
        monkeypatch.setenv("GATEWAYCTL_KUMA_URL", kuma.url)
        code = main(["status", str(shop), *UNIVERSAL])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert out.splitlines() == [
            f"kuma: {kuma.url} reachable, Kuma (universal)",
            "kuma cannot plan: the control plane cannot take the catalog (see above)",
        ]
        assert "is a zone control plane federated to a global control plane" in err
        assert main(["status", str(shop), *UNIVERSAL, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)["kuma"]
        assert report["url"] == kuma.url and report["reachable"] and report["version"] is None
        assert "is a zone control plane federated to a global control plane" in report["problem"]


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--kuma-platform", "vm"], "--kuma-platform vm: choose universal or kubernetes"),
        (["--only", "kuma", "--kuma-platform", "kubernetes", "--kubeconfig", "none.yaml"], "kubeconfig file not found"),
    ],
)
def test_status_with_a_kuma_platform_or_kubeconfig_it_cannot_use_is_exit_1(
    capsys: pytest.CaptureFixture[str], shop: Path, kuma: KumaEmulator, flags: list[str], says: str
) -> None:
    """Usage errors, as for diff: status called Kuma "reachable, Kuma None" with them and exited 0."""
    code, out, err = cli(capsys, kuma, "status", str(shop), *flags)
    assert code == 1, out + err
    assert says in err and "reachable" not in out and "Traceback" not in err
    assert kuma.state.requests == []


@pytest.mark.parametrize("command", [["diff"], ["apply", "--yes"]], ids=["diff", "apply"])
def test_diff_and_apply_refuse_an_unknown_kuma_platform_before_asking_kong(
    capsys: pytest.CaptureFixture[str], shop: Path, kuma: KumaEmulator, command: list[str]
) -> None:
    """A usage error is found before anything is sent, as status does: diff and apply read Kong (its root,
    schemas, every owned entity) and only then said that --kuma-platform vm is no platform."""
    with kong_running(KongState()) as kong:
        code, out, err = cli(
            capsys, kuma, *command[:1], str(shop), *command[1:], "--kuma-platform", "vm", "--kong-admin-url", kong.url
        )
        assert code == 1, out + err
        assert "--kuma-platform vm: choose universal or kubernetes" in err and "Traceback" not in err
        assert kong.state.requests == [] and kuma.state.requests == []


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (
            ["--kuma-platform", "universal", "--kuma-url", ""],
            "Kuma API URL (--kuma-url or GATEWAYCTL_KUMA_URL): is empty",
        ),
        (["--kuma-platform", "kubernetes", "--kubeconfig", "none.yaml"], "kubeconfig file not found"),
    ],
    ids=["empty-kuma-url", "missing-kubeconfig"],
)
@pytest.mark.parametrize("command", [["diff"], ["apply", "--yes"], ["status"]], ids=["diff", "apply", "status"])
def test_a_kuma_connection_that_cannot_be_used_is_exit_1_before_kong_is_read(
    capsys: pytest.CaptureFixture[str], shop: Path, command: list[str], flags: list[str], says: str
) -> None:
    """Kuma's URL and kubeconfig are checked before any request, as Kong's are: diff, apply and status read
    Kong first (all of its owned state), then found that Kuma could not be reached with what was given."""
    with kong_running(KongState()) as kong:
        code = main([*command[:1], str(shop), *command[1:], "--kong-admin-url", kong.url, *flags])
        out, err = capsys.readouterr()
        assert code == 1, out + err
        assert says in err and "Traceback" not in err, err
        assert kong.state.requests == []


def test_a_read_only_api_and_a_global_control_plane_with_zone_policies_are_refused(
    capsys: pytest.CaptureFixture[str], shop: Path
) -> None:
    with running(KumaState(read_only=True)) as kuma:
        code, _, err = cli(capsys, kuma, "diff", str(shop), *UNIVERSAL)
        assert code == 1 and "read-only API" in err and "--kuma-platform kubernetes" in err
    with running(KumaState(mode="global")) as kuma:
        shop.write_text(CATALOG + "deployment:\n  kuma: {mode: zone}\n")
        code, _, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
        assert code == 1 and "is a global control plane" in err and "deployment.kuma.mode: global" in err
        assert kuma.state.writes() == []
        shop.write_text(CATALOG + "deployment:\n  kuma: {mode: global}\n")
        code, _, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
        assert code == 0, err
        assert all("kuma.io/origin" not in (o.get("labels") or {}) for o in kuma.state.objects(mesh="shop"))


def test_a_kuma_too_old_for_the_policies_is_refused(capsys: pytest.CaptureFixture[str], shop: Path) -> None:
    with running(KumaState(version="2.9.4")) as kuma:
        code, _, err = cli(capsys, kuma, "diff", str(shop), *UNIVERSAL)
        assert code == 1 and "runs Kuma 2.9.4" in err and "need Kuma 2.10 or newer" in err
        assert [r.path for r in kuma.state.requests] == ["/", "/_resources", "/config"]


def test_secrets_never_appear_in_any_output(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs: list[str] = []
    for argv in (["diff"], ["diff", "--json"], ["apply", "--yes", "--json"], ["status"], ["status", "--json"]):
        outputs += cli(capsys, kuma, argv[0], str(shop), *UNIVERSAL, *argv[1:])[1:]
    shop.write_text(CATALOG.replace("sampling: 10", "sampling: 20"))
    monkeypatch.setenv("ZIPKIN_URL", ZIPKIN_SECRET.replace("0003", "0004"))  # rotated
    outputs += cli(capsys, kuma, "diff", str(shop), *UNIVERSAL, "--json")[1:]
    outputs += cli(capsys, kuma, "diff", str(shop), *UNIVERSAL)[1:]
    outputs += cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[1:]
    assert any("default.sampling.overall" in o for o in outputs)  # the changes are shown, the URLs are not
    assert any("spec.default.backends: <secret> -> <secret ${env:ZIPKIN_URL}> (changed)" in o for o in outputs)
    for text in outputs:
        assert "s3cr3t-zipkin-token-0003" not in text and "s3cr3t-zipkin-token-0004" not in text
    assert "token-0004" in json.dumps(kuma.state.objects("MeshTrace"))  # it was written, just never shown


def test_exit_codes(capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path) -> None:
    assert cli(capsys, kuma, "diff", str(shop), *UNIVERSAL, "--exit-code")[0] == 2
    assert cli(capsys, kuma, "diff", str(shop), "--only", "mesh")[0] == 1
    code, _, err = cli(capsys, kuma, "diff", str(shop), "--only", "kuma", "--kuma-platform", "vms")
    assert code == 1 and "choose universal or kubernetes" in err
    nomesh = shop.parent / "nomesh.yaml"
    nomesh.write_text("format: 1\nname: shop\n")
    code, _, err = cli(capsys, kuma, "diff", str(nomesh), "--only", "kuma")
    assert code == 1 and "no mesh: section" in err and "set mesh: {enabled: false}" in err, err
    # a refused write: exit 3, the call named, what was left unchanged listed
    kuma.state.fail(1, method="PUT", path="/meshes/shop/meshretries", status=400, body={"title": "x", "detail": "no"})
    code, _, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
    assert code == 3 and "PUT /meshes/shop/meshretries/shop-orders: HTTP 400" in err
    assert re.search(r"kuma: \d+ changes? applied, 1 failed(, \d+ left unchanged)?;", err), err
    assert "Traceback" not in err
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0  # a re-run finishes the job
    # unreachable
    code, _, err = main_err(capsys, ["diff", str(shop), *UNIVERSAL, "--kuma-url", "http://127.0.0.1:9"])
    assert code == 3 and "kuma: GET /: no response" in err and "nothing was changed" in err


def main_err(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_token_comes_from_the_environment_as_a_bearer(
    capsys: pytest.CaptureFixture[str], shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running(KumaState(token="tok-kuma-1")) as kuma:
        monkeypatch.setenv("GATEWAYCTL_KUMA_TOKEN", "wrong")
        code, out, err = cli(capsys, kuma, "diff", str(shop), *UNIVERSAL)
        assert code == 3 and "HTTP 401" in err and "wrong" not in out + err
        monkeypatch.setenv("GATEWAYCTL_KUMA_TOKEN", "tok-kuma-1")
        assert cli(capsys, kuma, "diff", str(shop), *UNIVERSAL)[0] == 0


def test_rollback_restores_the_kuma_state_before_the_last_apply(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    before = owned(kuma)
    shop.write_text(
        CATALOG.replace("attempts: 3", "attempts: 5")
        .replace("      allow_from: [catalogue]\n", "")
        .split("  - name: catalogue")[0]
    )
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    assert owned(kuma).keys() != before.keys()
    code, _, err = cli(capsys, kuma, "rollback", "--yes")
    assert code == 0, err
    after = owned(kuma)
    assert after.keys() == before.keys()
    for key in before:
        assert after[key].get("spec") == before[key].get("spec"), key
    code, out, err = cli(capsys, kuma, "rollback", "--yes")  # again: nothing left to do, and it says so
    assert code == 0 and "kuma: nothing to roll back" in out, out + err
    shop.write_text(CATALOG)
    assert cli(capsys, kuma, "diff", str(shop), *UNIVERSAL, "--exit-code")[0] == 0


def test_rollback_warns_that_insecure_leaves_kumas_certificate_unverified(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    """--insecure is said aloud wherever a client uses it: rollback made its Kuma client without the warning."""
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    code, _, err = cli(capsys, kuma, "rollback", "--dry-run", "--insecure")
    assert code == 0, err
    assert "warning: --insecure: the Kuma API's TLS certificate is not verified" in err, err
    # once, where status names a Kuma it cannot reach (it made a second client just for its URL)
    code = main(["status", str(shop), *UNIVERSAL, "--insecure", "--kuma-url", "http://127.0.0.1:9", "--timeout", "0.2"])
    out, err = capsys.readouterr()
    assert code == 3 and "kuma: http://127.0.0.1:9 not reachable" in out, out + err
    assert err.count("--insecure: the Kuma API's TLS certificate is not verified") == 1, err


def test_rollback_masks_a_rotated_secret_on_both_sides(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rollback has no catalog to say that the tracing URL holds a token: the snapshot records which fields
    held a secret when it was taken, so neither the token being rolled back to nor the current one shows."""
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    rotated = ZIPKIN_SECRET.replace("0003", "0004")
    monkeypatch.setenv("ZIPKIN_URL", rotated)
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    for argv in (["--dry-run"], ["--yes"]):
        code, out, err = cli(capsys, kuma, "rollback", *argv)
        assert code == 0, err
        assert "spec.default.backends: <secret> -> <secret> (changed)" in out, out
        assert "s3cr3t-zipkin-token" not in out + err
    assert ZIPKIN_SECRET in json.dumps(list(owned(kuma).values()))  # restored all the same


def test_kong_and_kuma_in_one_run(capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path) -> None:
    with kong_running(KongState()) as kong:
        argv = ["--kong-admin-url", kong.url, "--kuma-platform", "universal"]
        code, out, err = cli(capsys, kuma, "diff", str(shop), *argv, "--exit-code")
        assert code == 2, err
        assert out.strip().splitlines()[-1] == "kong: +4 ~0 -0 · kuma: +9 ~0 -0"
        code, out, err = cli(capsys, kuma, "apply", str(shop), *argv, "--yes", "--json")
        assert code == 0, err
        report = json.loads(out)
        assert report["kuma"]["result"]["applied"] == 9 and report["kong"]["result"]["applied"] == 4
        assert report["kuma"]["platform"] == "universal" and report["kuma"]["server"]["version"] == "2.14.3"
        code, out, err = cli(capsys, kuma, "diff", str(shop), *argv, "--exit-code")
        assert (code, out.strip().splitlines()[-1]) == (0, "kong: +0 ~0 -0 · kuma: +0 ~0 -0"), out + err
        code, out, err = cli(capsys, kuma, "status", str(shop), *argv, "--json")
        status = json.loads(out)
        assert status["kong"]["drift"] is False and status["kuma"]["drift"] is False
        # one snapshot for both systems, taken before the first write
        [snapshot] = sorted((shop.parent / ".gatewayctl" / "snapshots").glob("*.json"))
        saved = json.loads(snapshot.read_text())
        assert saved["targets"] == ["kong", "kuma"] and saved["kuma"]["objects"] == []
        # --only limits both planning and writing to one system
        shop.write_text(CATALOG.replace("attempts: 3", "attempts: 4").replace("/orders]", "/orders, /v2/orders]"))
        code, out, err = cli(capsys, kuma, "diff", str(shop), *argv, "--only", "kong")
        assert out.strip().splitlines()[-1] == "kong: +0 ~1 -0", out + err
        writes = len(kuma.state.writes())
        assert cli(capsys, kuma, "apply", str(shop), *argv, "--only", "kong", "--yes")[0] == 0
        assert len(kuma.state.writes()) == writes
        code, out, err = cli(capsys, kuma, "diff", str(shop), *argv, "--exit-code")
        assert (code, out.strip().splitlines()[-1]) == (2, "kong: +0 ~0 -0 · kuma: +0 ~1 -0"), out + err


def test_apply_json_result_is_a_count_and_lists_in_every_ending(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    """A CI step reading `--json` finds `applied` as a number of changes and `left_unchanged` as a list
    however the run ended: a dry run, Kuma left alone because Kong refused a write, nothing to do."""
    with kong_running(KongState()) as kong:
        argv = ["--kong-admin-url", kong.url, "--kuma-platform", "universal", "--json"]
        kong.state.seed("services", {"name": "orders", "host": "theirs.internal"})  # not ours: Kong answers 409
        code, out, err = cli(capsys, kuma, "apply", str(shop), *argv, "--dry-run")
        report = json.loads(out)
        assert code == 0 and [report[s]["result"]["applied"] for s in ("kong", "kuma")] == [0, 0], out + err
        assert all(type(report[s]["result"]["applied"]) is int for s in ("kong", "kuma"))
        code, out, err = cli(capsys, kuma, "apply", str(shop), *argv, "--yes")
        assert code == 3 and "kuma: not applied because Kong failed" in err, out + err
        result = json.loads(out)["kuma"]["result"]
        assert result["applied"] == 0 and result["failed"] == []
        assert len(result["left_unchanged"]) == 9 and all(isinstance(t, str) for t in result["left_unchanged"])
        [theirs] = [s for s in kong.state.entities("services") if s["name"] == "orders"]
        kong.state.delete("services", theirs["id"])
        writes_before = len(kuma.state.writes())
        code, out, err = cli(capsys, kuma, "apply", str(shop), *argv, "--yes")
        report = json.loads(out)
        assert code == 0 and report["kuma"]["result"]["applied"] == 9, out + err
        # every write counted, the lock's taking and release among them (9 objects + 2)
        assert report["kuma"]["result"]["requests"]["writes"] == len(kuma.state.writes()) - writes_before == 11
        assert report["kong"]["result"]["applied"] == sum(report["kong"]["summary"].values()) > 0
        code, out, err = cli(capsys, kuma, "apply", str(shop), *argv, "--yes")
        report = json.loads(out)
        assert code == 0 and [report[s]["result"]["applied"] for s in ("kong", "kuma")] == [0, 0], out + err
        assert all(type(report[s]["result"]["applied"]) is int for s in ("kong", "kuma"))


def test_rollback_says_kuma_was_left_alone_when_kongs_part_fails(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gatewayctl.cli import remote_commands
    from gatewayctl.clients.retry import RetryPolicy

    with kong_running(KongState()) as kong:
        argv = ["--kong-admin-url", kong.url, "--kuma-platform", "universal"]
        assert cli(capsys, kuma, "apply", str(shop), *argv, "--yes")[0] == 0
    monkeypatch.setattr(remote_commands, "RetryPolicy", lambda: RetryPolicy(attempts=1))
    writes = len(kuma.state.writes())
    # named: without a name rollback takes the newest snapshot of this Kong, and none was taken from this one
    (snapshot,) = (shop.parent / ".gatewayctl" / "snapshots").glob("*.json")
    code, out, err = cli(capsys, kuma, "rollback", str(snapshot), "--yes", "--kong-admin-url", "http://127.0.0.1:9")
    assert code == 3 and "kong: GET /: no response" in err, out + err
    assert "kuma: not rolled back because Kong's rollback did not finish; nothing was changed in Kuma" in err
    assert len(kuma.state.writes()) == writes


@pytest.mark.parametrize("example", ["platform.yaml", "knowledge-base.yaml"])
def test_example_catalogs_apply_to_kuma_universal_and_then_plan_nothing(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, workdir: Path, example_env: dict[str, str], example: str
) -> None:
    catalog = str(EXAMPLES / example)
    code, out, err = cli(capsys, kuma, "apply", catalog, *UNIVERSAL, "--yes")
    assert code == 0, err
    writes = len(kuma.state.writes())
    assert writes > 5
    code, out, err = cli(capsys, kuma, "apply", catalog, *UNIVERSAL, "--yes")
    assert code == 0 and "nothing to do" in out, out + err
    assert len(kuma.state.writes()) == writes
    for value in example_env.values():
        assert value not in out + err


def test_kubernetes_platform_through_the_cli(capsys: pytest.CaptureFixture[str], shop: Path) -> None:
    """`--kuma-platform kubernetes` goes through apply/kuma_kubernetes.py (server-side apply); the summary,
    exit codes and zero-write re-apply are the same as on Universal."""
    from emulators.kubernetes import KubeState
    from emulators.kubernetes import running as kube_running

    with kube_running(KubeState(kuma_webhook=True)) as cluster:
        kubeconfig = str(cluster.kubeconfig(shop.parent / "kubeconfig"))
        argv = ["--only", "kuma", "--kuma-platform", "kubernetes", "--kubeconfig", kubeconfig]
        code, out, err = main_err(capsys, ["diff", str(shop), *argv, "--exit-code"])
        assert code == 2 and out.strip().splitlines()[-1] == "kuma: +9 ~0 -0", out + err
        code, out, err = main_err(capsys, ["apply", str(shop), *argv, "--yes"])
        assert code == 0 and "kuma: 9 changes applied" in out, out + err
        code, out, err = main_err(capsys, ["apply", str(shop), *argv, "--yes"])
        assert code == 0 and "nothing to do" in out, out + err
        code, out, err = main_err(capsys, ["diff", str(shop), *argv, "--json"])
        assert json.loads(out)["kuma"]["platform"] == "kubernetes"
        for text in (out, err):
            assert "s3cr3t-zipkin-token-0003" not in text
        code, _, err = main_err(capsys, ["diff", str(shop), *argv[:-1], str(shop.parent / "missing")])
        assert code == 1 and "kubeconfig file not found" in err and "Traceback" not in err
        # a file that is no kubeconfig (valid YAML of another shape), a folder: exit 1 naming it, no traceback
        (shop.parent / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
        for path, why in (("passwd", "not a kubeconfig"), ("", "cannot read it: Is a directory")):
            code, _, err = main_err(capsys, ["diff", str(shop), *argv[:-1], str(shop.parent / path)])
            assert code == 1 and f"kuma: read {shop.parent / path}: {why}" in err, err
            assert "Traceback" not in err and "no response" not in err


@pytest.mark.parametrize(
    ("server", "shown"),
    [
        ("https://kube..example:6443", "https://kube..example:6443"),
        (f"https://{'k' * 64}.example", f"https://{'k' * 64}.example"),
        ("https://kube:99999", "https://kube:99999"),
        ("https://admin:s3cr3t-kube-token@kube..example", "https://kube..example"),  # never its password
    ],
)
def test_a_kubeconfig_server_no_connection_can_be_made_to_is_exit_1(
    capsys: pytest.CaptureFixture[str], shop: Path, server: str, shown: str
) -> None:
    """A cluster `server:` that is no URL urllib3 can connect to (a typo's empty label, a port past 65535):
    exit 1 naming the kubeconfig, nothing sent; the first request raised urllib3's LocationParseError, a
    ValueError the client let through, as a traceback."""
    kubeconfig = shop.parent / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        f"clusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: u, user: {token: s3cr3t-kube-token}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    argv = ["--only", "kuma", "--kuma-platform", "kubernetes", "--kubeconfig", str(kubeconfig)]
    code, out, err = main_err(capsys, ["diff", str(shop), *argv])
    assert code == 1, out + err
    assert f"kuma: read {kubeconfig}: the cluster's server {shown} " in err, err
    assert "Traceback" not in err and "s3cr3t-kube-token" not in out + err


def test_an_unreachable_kubeconfig_server_is_named_without_its_password(
    capsys: pytest.CaptureFixture[str], shop: Path
) -> None:
    """The cluster's server URL is named in failures and in the plan's `server.url`: never its user:password@
    (it was printed as written in the kubeconfig)."""
    kubeconfig = shop.parent / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: c, cluster: {server: 'http://admin:s3cr3t-kube-token@127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    argv = ["--only", "kuma", "--kuma-platform", "kubernetes", "--kubeconfig", str(kubeconfig), "--json"]
    code, out, err = main_err(capsys, ["diff", str(shop), *argv])
    assert code == 3, out + err
    assert "http://127.0.0.1:9 unreachable" in err and "s3cr3t-kube-token" not in out + err, out + err


def test_a_policy_kumas_webhook_refuses_is_a_remote_failure_naming_it_and_no_policy_is_written(
    capsys: pytest.CaptureFixture[str], shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Kubernetes, Kuma's validating webhook refuses a policy its validator refuses (relayed as 422
    Invalid). Every create and update is dry-run first, so the apply stops before any policy is written (a
    policy's Mesh must exist for its dry run: a new Mesh is written first): exit 3, the object and the failed
    call named, everything else left unchanged."""
    from emulators.kubernetes import KubeState
    from emulators.kubernetes import running as kube_running

    from gatewayctl.render import kuma as render_kuma

    rendered = render_kuma.outbound_settings

    def zero_connect_timeout(w: render_kuma.Workload) -> list[tuple[str, Any]]:  # what Kuma refuses
        return [
            (kind, {**default, "connectionTimeout": "0s"} if kind == "MeshTimeout" else default)
            for kind, default in rendered(w)
        ]

    monkeypatch.setattr(render_kuma, "outbound_settings", zero_connect_timeout)
    with kube_running(KubeState(kuma_webhook=True)) as cluster:
        kubeconfig = str(cluster.kubeconfig(shop.parent / "kubeconfig"))
        argv = ["--only", "kuma", "--kuma-platform", "kubernetes", "--kubeconfig", kubeconfig]
        code, out, err = main_err(capsys, ["apply", str(shop), *argv, "--yes"])
        assert code == 3, out + err
        failed = [line for line in (out + err).splitlines() if " failed: " in line]
        assert len(failed) == 1, out + err
        assert re.match(
            r"kuma: create MeshTimeout (\S+) in mesh \S+ failed: PATCH /apis/kuma.io/v1alpha1/namespaces/kuma-system/"
            r"meshtimeouts/\1\?dryRun=All: HTTP 422 Invalid: admission webhook \"validator.kuma-admission.kuma.io\" "
            r"denied the request: spec.to\[0\].default.connectionTimeout: must be greater than zero when defined$",
            failed[0],
        ), failed[0]
        assert "kuma: 1 change applied, 1 failed, 7 left unchanged" in out + err
        assert [o["kind"] for o in cluster.state.objects()] == ["Mesh"]
        assert "Traceback" not in err


def test_an_apply_killed_midway_is_finished_by_the_next(
    capsys: pytest.CaptureFixture[str], shop: Path, example_env: dict[str, str]
) -> None:
    catalog = str(EXAMPLES / "platform.yaml")
    with running(KumaState()) as clean:
        assert cli(capsys, clean, "apply", catalog, *UNIVERSAL, "--yes")[0] == 0
        wanted = {k: v.get("spec") for k, v in owned_by(clean, "shop-platform").items()}
    state = KumaState(latency=0.03)  # slow answers, so that the kill lands mid-apply
    with running(state) as kuma:
        command = [sys.executable, "-m", "gatewayctl", "apply", catalog, *UNIVERSAL, "--yes", "--parallelism", "2"]
        process = subprocess.Popen(
            [*command, "--kuma-url", kuma.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1"},
        )
        try:
            deadline = time.monotonic() + 60
            while len([r for r in state.writes() if r.method == "PUT"]) < 10:
                assert process.poll() is None and time.monotonic() < deadline, process.communicate()
                time.sleep(0.005)
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == -signal.SIGKILL
        assert 10 <= len(state.writes()) < len(wanted)
        assert [o["name"] for o in state.objects("GlobalSecret")] == ["gatewayctl-lock-shop-platform"]  # left held
        state.latency = 0.0
        code, out, err = cli(capsys, kuma, "apply", catalog, *UNIVERSAL, "--yes")
        assert code == 0, err
        # the killed holder ran on this machine and is gone: its lock is taken over at once, not in 15 minutes
        assert "took over a stale Kuma apply lock (held by" in err and state.objects("GlobalSecret") == []
        assert {k: v.get("spec") for k, v in owned_by(kuma, "shop-platform").items()} == wanted
        code, out, err = cli(capsys, kuma, "apply", catalog, *UNIVERSAL, "--yes")
        assert code == 0 and "nothing to do" in out


def owned_by(kuma: KumaEmulator, catalog: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (o["type"], o.get("mesh", ""), o["name"]): o
        for o in kuma.state.objects()
        if (o.get("labels") or {}).get("gatewayctl.io/catalog") == catalog
    }


def test_long_applies_show_a_progress_bar_on_a_terminal_only(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    from gatewayctl.cli import remote_commands

    terminal = io.StringIO()
    monkeypatch.setattr(remote_commands, "err", Console(file=terminal, force_terminal=True, width=100))
    monkeypatch.setattr(remote_commands, "PROGRESS_MIN", 5)
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes", "--json")[0] == 0
    assert "kuma" in terminal.getvalue() and "9/9" not in terminal.getvalue()  # never with --json
    shop.write_text(CATALOG.replace("  name: shop\n  mtls", "  name: other\n  mtls"))
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    assert "/18" in terminal.getvalue()  # 9 creates in the new mesh, 9 deletes in the old one


def test_apply_pushes_its_run_to_a_pushgateway(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    from test_watch_push import Pushgateway, pushed_metrics

    fake = Pushgateway()
    received = fake.received

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            received.append((self.command, self.path, self.headers.get("Content-Type", ""), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    fake.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=fake.server.serve_forever, daemon=True).start()
    try:
        code, _, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes", "--pushgateway", fake.url)
        assert code == 0, err
        kuma.state.fail(1, method="PUT", status=400, body={"title": "t", "detail": "d"})
        shop.write_text(CATALOG.replace("attempts: 3", "attempts: 4"))
        code, _, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes", "--pushgateway", fake.url)
        assert code == 3, err
    finally:
        fake.server.shutdown()
        fake.server.server_close()
    [first, second] = [pushed_metrics(body) for _, path, _, body in received if path.endswith("/catalog/shop")]
    assert first["gatewayctl_apply_run_changes"][(("action", "create"), ("system", "kuma"))] == 9
    assert first["gatewayctl_apply_run_success"] == {(): 1.0}
    assert second["gatewayctl_apply_run_changes"][(("action", "update"), ("system", "kuma"))] == 1
    assert second["gatewayctl_apply_run_exit_code"] == {(): 3.0}


def test_rollback_on_kubernetes_restores_what_gatewayctl_applied(
    capsys: pytest.CaptureFixture[str], shop: Path, workdir: Path
) -> None:
    """The snapshot holds the live CRD objects; rollback applies back the labels and spec fields gatewayctl's
    own server-side applies set (managedFields), not what Kuma's webhook or CRD defaults added, and
    removes what the later apply created."""
    from emulators.kubernetes import KubeState
    from emulators.kubernetes import running as kube_running

    def ours(state: KubeState) -> dict[tuple[str, str], Any]:
        return {
            (o["kind"], o["metadata"]["name"]): (o["spec"], o["metadata"]["labels"])
            for o in state.objects()
            if (o["metadata"].get("labels") or {}).get("gatewayctl.io/catalog") == "shop"
        }

    def managed(state: KubeState) -> dict[tuple[str, str], Any]:
        return {
            key: [m["fieldsV1"] for m in o["metadata"]["managedFields"] if m["manager"] == "gatewayctl"]
            for o in state.objects()
            if (key := (o["kind"], o["metadata"]["name"])) and "gatewayctl.io/catalog" in o["metadata"]["labels"]
        }

    with kube_running(KubeState(kuma_webhook=True)) as cluster:
        kubeconfig = str(cluster.kubeconfig(workdir / "kubeconfig"))
        argv = ["--kubeconfig", kubeconfig]
        apply = ["--only", "kuma", "--kuma-platform", "kubernetes", *argv, "--yes"]
        assert main_err(capsys, ["apply", str(shop), *apply])[0] == 0
        before, owned_before = ours(cluster.state), managed(cluster.state)
        shop.write_text(
            CATALOG.replace("attempts: 3", "attempts: 5")
            .replace("      allow_from: [catalogue]\n", "")
            .split("  - name: catalogue")[0]
        )
        assert main_err(capsys, ["apply", str(shop), *apply])[0] == 0
        assert ours(cluster.state).keys() != before.keys()
        snapshot = json.loads(sorted((workdir / ".gatewayctl" / "snapshots").glob("*.json"))[-1].read_text())
        assert snapshot["kuma"]["namespace"] == "kuma-system" and snapshot["targets"] == ["kuma"]
        code, out, err = main_err(capsys, ["rollback", "--yes", *argv])
        assert code == 0, out + err
        assert ours(cluster.state) == before
        shop.write_text(CATALOG)
        code, out, err = main_err(capsys, ["diff", str(shop), *apply[:-1], "--exit-code"])
        assert code == 0, out + err
        # gatewayctl's field manager owns what it owned after the first apply, nothing the webhook added
        assert managed(cluster.state) == owned_before


def test_a_tracing_secret_the_catalog_stops_using_is_not_shown_and_its_mark_is_no_change(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    """The MeshTrace rendered from a `${env:}` endpoint carries `gatewayctl.io/holds-secret`: when the catalog
    writes a plain endpoint there, the diff shows the live URL (with its token) as <secret>. The same URL
    written plain where the reference stood is no change: the label alone is never written."""
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    [trace] = kuma.state.objects("MeshTrace", "shop")
    assert trace["labels"]["gatewayctl.io/holds-secret"] == "true"
    text = shop.read_text()
    shop.write_text(text.replace("${env:ZIPKIN_URL}", ZIPKIN_SECRET))
    code, out, err = cli(capsys, kuma, "diff", str(shop), *UNIVERSAL, "--exit-code")
    assert (code, out.strip().splitlines()[-1]) == (0, "kuma: +0 ~0 -0"), out + err

    shop.write_text(text.replace("${env:ZIPKIN_URL}", "http://zipkin.internal:9411/api/v2/spans"))
    code, out, err = cli(capsys, kuma, "diff", str(shop), *UNIVERSAL, "--json")
    assert code == 0, err
    assert "s3cr3t" not in out + err
    [change] = json.loads(out)["kuma"]["changes"]
    assert change["fields"] == [{"path": "spec.default.backends", "old": "<secret>", "new": change["fields"][0]["new"]}]
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    [trace] = kuma.state.objects("MeshTrace", "shop")
    assert "gatewayctl.io/holds-secret" not in trace["labels"]
