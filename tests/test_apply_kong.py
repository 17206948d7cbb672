"""`gatewayctl diff` and `apply` against the Kong Admin API emulator (DB mode): convergence, zero-write
no-ops, ownership, retries, refusals mapped to the catalog, secrets never shown."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from emulators.harness import CATALOG, SECRETS, cli, write_catalog
from emulators.kong import KongEmulator, KongState, running

from gatewayctl.cli import main
from gatewayctl.clients.retry import RetryPolicy
from gatewayctl.render.kong import entity_id


def no_secrets(*texts: str) -> None:
    for text in texts:
        for value in SECRETS.values():
            assert value not in text


def test_fresh_apply_then_diff_is_clean_and_reapply_writes_nothing(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    catalog = str(write_catalog(workdir))
    code, out, err = cli(capsys, kong, "diff", catalog, "--exit-code")
    assert code == 2, err
    assert "kong: +19 ~0 -0" in out
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 0, err
    assert "19 changes applied" in out
    no_secrets(out, err)
    assert len(kong.state.entities("services")) == 2
    assert len(kong.state.entities("targets")) == 2

    code, out, err = cli(capsys, kong, "diff", catalog, "--exit-code")
    assert (code, out.strip().splitlines()[-1]) == (0, "kong: +0 ~0 -0"), out + err

    before = len(kong.state.writes())
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 0 and "nothing to do" in out
    assert len(kong.state.writes()) == before  # not one write, not even the lock


def test_an_oauth2_secret_kong_stores_hashed_is_no_change_on_reapply(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With hash_secret, Kong reads back a salted PBKDF2 of the client_secret (kong/plugins/oauth2/daos.lua),
    never the secret written: a second apply must not take that for a change, and a rotated secret must."""
    monkeypatch.setenv("APP_CLIENT_SECRET", "s3cr3t-client-0009")
    credential = (
        '      oauth2: [{name: app, client_id: app-client, client_secret: "${env:APP_CLIENT_SECRET}", '
        "hash_secret: true, redirect_uris: [https://app.example.com/cb]}]\n"
    )
    text = CATALOG.replace(
        '      key_auth: [{key: "${env:WEB_APP_KEY}"}]\n',
        '      key_auth: [{key: "${env:WEB_APP_KEY}"}]\n' + credential,
    )
    catalog = str(write_catalog(workdir, text))
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    stored = kong.state.entities("oauth2_credentials")[0]["client_secret"]
    assert stored.startswith("$pbkdf2-sha512$")
    code, out, err = cli(capsys, kong, "diff", catalog, "--exit-code")
    assert (code, out.strip().splitlines()[-1]) == (0, "kong: +0 ~0 -0"), out + err
    before = len(kong.state.writes())
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 0 and "nothing to do" in out, out + err
    assert len(kong.state.writes()) == before
    # the secret rotated: the new one, hashed with the salt Kong keeps, differs from Kong's hash
    monkeypatch.setenv("APP_CLIENT_SECRET", "s3cr3t-client-0010")
    code, out, err = cli(capsys, kong, "diff", catalog, "--exit-code")
    assert code == 2 and "client_secret: <secret> -> <secret ${env:APP_CLIENT_SECRET}> (changed)" in out, out + err
    no_secrets(out, err)
    assert "s3cr3t-client-00" not in out + err
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    assert kong.state.entities("oauth2_credentials")[0]["client_secret"] != stored
    code, out, err = cli(capsys, kong, "diff", catalog, "--exit-code")
    assert code == 0, out + err


def test_a_number_kong_keeps_to_14_digits_is_no_change_on_reapply(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Kong with Postgres keeps a plugin's config as JSONB written by lua-cjson at its default "%.14g"
    (kong/db/strategies/postgres/init.lua escape_literal, pgmoon's encode_json): a ratio whose double takes 17
    digits reads back rounded to 14, which is Kong's form of the same setting, not a change."""
    text = CATALOG.replace(
        "  metrics: {status_codes: true}\n",
        "  metrics: {status_codes: true}\n"
        "  tracing: {zipkin: {endpoint: 'http://zipkin:9411/api/v2/spans', sample_ratio: 0.12345678901234567}}\n",
    )
    catalog = str(write_catalog(workdir, text))
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    code, out, err = cli(capsys, kong, "diff", catalog, "--exit-code")
    assert (code, out.strip().splitlines()[-1]) == (0, "kong: +0 ~0 -0"), out + err
    before = len(kong.state.writes())
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 0 and "nothing to do" in out, out + err
    assert len(kong.state.writes()) == before


def test_targets_kong_writes_in_normal_form_are_no_change_on_reapply(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Kong's targets DAO keeps an IPv6 address written in full and an IPv4 address without leading zeros
    (kong/db/dao/targets.lua format_target, kong/tools/ip.lua): rendered so, they read back unchanged."""
    text = CATALOG.replace("targets: [10.0.0.1:8080,", "targets: ['[2001:DB8::1]:8080', 010.0.0.3, 10.0.0.1:8080,")
    catalog = str(write_catalog(workdir, text))
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    assert "[2001:0db8:0000:0000:0000:0000:0000:0001]:8080" in {t["target"] for t in kong.state.entities("targets")}
    code, out, err = cli(capsys, kong, "diff", catalog, "--exit-code")
    assert (code, out.strip().splitlines()[-1]) == (0, "kong: +0 ~0 -0"), out + err
    before = len(kong.state.writes())
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 0 and "nothing to do" in out, out + err
    assert len(kong.state.writes()) == before


def test_a_target_port_written_with_leading_zeros_reads_back_unchanged(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """kong/tools/ip.lua reads a target's port with tonumber, so Kong keeps `10.0.0.4:08080` as
    `10.0.0.4:8080`: rendered with its zeros, the target was an update on every apply."""
    text = CATALOG.replace("targets: [10.0.0.1:8080,", "targets: ['10.0.0.4:08080', 'b.internal:0081', 10.0.0.1:8080,")
    catalog = str(write_catalog(workdir, text))
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    assert {"10.0.0.4:8080", "b.internal:81"} <= {t["target"] for t in kong.state.entities("targets")}
    code, out, err = cli(capsys, kong, "diff", catalog, "--exit-code")
    assert (code, out.strip().splitlines()[-1]) == (0, "kong: +0 ~0 -0"), out + err


def test_a_key_auth_ttl_given_or_taken_away_is_a_change_its_time_left_is_not(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Kong reads a credential's ttl as the seconds left (kong/db/strategies/postgres/init.lua), never the ttl
    written, so its value cannot be compared; whether there is one can: a ttl added to a key that has none, or
    taken away from one that has it (a PUT without the option leaves none), is a change."""
    key = 'key_auth: [{key: "${env:WEB_APP_KEY}"}]'
    catalog = write_catalog(workdir)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0

    def stored_ttl() -> object:
        return kong.state.entities("keyauth_credentials")[0]["ttl"]

    catalog.write_text(CATALOG.replace(key, key.replace("}]", ", ttl: 30d}]")))
    code, out, err = cli(capsys, kong, "diff", str(catalog), "--exit-code")
    assert code == 2 and "kong: +0 ~1 -0" in out and "ttl" in out, out + err
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    assert stored_ttl() is not None
    before = len(kong.state.writes())
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")  # a second less left: no change
    assert code == 0 and "nothing to do" in out and len(kong.state.writes()) == before, out + err

    catalog.write_text(CATALOG)
    code, out, err = cli(capsys, kong, "diff", str(catalog), "--exit-code")
    assert code == 2 and "kong: +0 ~1 -0" in out and "ttl" in out, out + err
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    assert stored_ttl() is None


def test_changes_and_removals_are_planned_per_field_and_applied(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    catalog = write_catalog(workdir)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    changed = CATALOG.replace("rate_limit: {minute: 60}", "rate_limit: {minute: 90}").replace(
        "      - {name: browse, paths: [/catalogue]}\n", "      - {name: browse, paths: [/catalogue, /shop]}\n"
    )
    changed = changed.replace("    groups: [admins]\n", "    groups: []\n")
    catalog.write_text(changed)
    code, out, err = cli(capsys, kong, "diff", str(catalog), "--json")
    assert code == 0, err
    report = json.loads(out)["kong"]
    assert report["summary"] == {"create": 0, "update": 2, "delete": 1}
    fields = {c["name"]: c["fields"] for c in report["changes"] if c["action"] == "update"}
    assert fields["route catalogue-browse"] == [
        {"path": "paths", "old": ["/catalogue"], "new": ["/catalogue", "/shop"]}
    ]
    assert fields["plugin rate-limiting (service orders)"] == [{"path": "config.minute", "old": 60, "new": 90}]
    assert [c["catalog_path"] for c in report["changes"] if c["action"] == "update"] == [
        "services[1].routes[0]",
        "services[0]",
    ]

    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 0, err
    routes = {r["name"]: r for r in kong.state.entities("routes")}
    assert routes["catalogue-browse"]["paths"] == ["/catalogue", "/shop"]
    assert not [a for a in kong.state.entities("acls") if a["group"] == "admins"]
    assert cli(capsys, kong, "diff", str(catalog), "--exit-code")[0] == 0


def test_entities_without_the_ownership_tags_are_never_touched(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    theirs = kong.state.seed("services", {"name": "billing", "host": "billing.internal", "tags": ["team-billing"]})
    other_catalog = kong.state.seed(
        "services", {"name": "search", "host": "search.internal", "tags": ["gatewayctl", "gatewayctl-catalog:other"]}
    )
    kong.state.seed("routes", {"name": "billing-api", "paths": ["/billing"], "service": {"id": theirs["id"]}})
    catalog = str(write_catalog(workdir))
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    # the catalog is emptied of services: only its own go
    empty = CATALOG.split("services:")[0] + "services: []\n"
    Path(catalog).write_text(empty)
    code, _out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 0, err
    names = {s["name"] for s in kong.state.entities("services")}
    assert names == {"billing", "search"}
    assert kong.state.find("services", "billing") == theirs | {"updated_at": theirs["updated_at"]}
    assert kong.state.find("services", "search")["id"] == other_catalog["id"]
    deleted = {r.path for r in kong.state.writes() if r.method == "DELETE"}
    assert f"/services/{theirs['id']}" not in deleted


def test_an_untagged_target_on_an_owned_upstream_is_left_alone(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Kong lists an upstream's targets by the upstream alone, whatever `tags` says (page_for_upstream in
    kong/db/dao/targets.lua): a target someone added by hand to an upstream of ours is not ours to delete."""
    catalog = str(write_catalog(workdir))
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    upstream = next(u for u in kong.state.entities("upstreams") if u["name"] == "catalogue.upstream")
    theirs = kong.state.seed("targets", {"target": "10.9.9.9:80", "upstream": {"id": upstream["id"]}})
    code, out, err = cli(capsys, kong, "diff", catalog, "--exit-code")
    assert (code, out.strip().splitlines()[-1]) == (0, "kong: +0 ~0 -0"), out + err
    before = len(kong.state.writes())
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    assert len(kong.state.writes()) == before
    assert theirs["id"] in {t["id"] for t in kong.state.entities("targets")}


def test_a_tls_passthrough_route_is_applied(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """The catalog refused snis on a tls_passthrough route ("add tls to protocols", which the protocol groups
    refuse too), though that is the route Kong 3.9 wants (routes_subschemas.lua)."""
    catalog = write_catalog(
        workdir,
        "format: 1\nname: pass\nservices:\n  - name: db\n    url: tcp://db.internal:5432\n    routes:\n"
        "      - {name: sni, protocols: [tls_passthrough], snis: [db.example.com]}\n",
    )
    code, _out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 0, err
    (route,) = kong.state.entities("routes")
    assert (route["protocols"], route["snis"]) == (["tls_passthrough"], ["db.example.com"])


def test_two_catalogs_with_several_auth_methods_share_one_kong(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each needs the anonymous consumer; Kong holds usernames unique, so each catalog has its own (the
    second apply got 409 on a shared `gatewayctl-anonymous`). A catalog applied with the earlier name has it
    renamed in place: the id, which the auth plugins point at, stays."""
    multi = CATALOG.replace("    auth: [key-auth]\n", "    auth: [key-auth, basic-auth]\n")
    shop = write_catalog(workdir, multi)
    other_dir = workdir / "other"
    other_dir.mkdir()
    monkeypatch.setenv("OTHER_KEY", "other-key-0004")
    other = write_catalog(
        other_dir,
        multi.replace("name: shop", "name: other")
        .replace("gateway:\n  request_id: {header: X-Request-ID}\n  metrics: {status_codes: true}\n", "")
        .replace("WEB_APP_KEY", "OTHER_KEY")
        .replace("username: ops", "username: ops2")
        .replace("- name: web-app", "- name: web-app2")
        .replace("- name: ops", "- name: ops2")
        .replace("- name: orders", "- name: orders2")
        .replace("- name: catalogue", "- name: catalogue2"),
    )
    old = kong.state.seed(
        "consumers",
        {
            "id": entity_id("shop", "consumer", "gatewayctl-anonymous"),
            "username": "gatewayctl-anonymous",
            "tags": ["gatewayctl", "gatewayctl-catalog:shop"],
        },
    )
    code, out, err = cli(capsys, kong, "diff", str(shop))
    assert code == 0 and 'username: "gatewayctl-anonymous" -> "gatewayctl-anonymous.shop"' in out, out + err
    for catalog in (shop, other):
        code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
        assert code == 0, out + err
    anonymous = {c["username"]: c["id"] for c in kong.state.entities("consumers") if "anonymous" in c["username"]}
    assert set(anonymous) == {"gatewayctl-anonymous.shop", "gatewayctl-anonymous.other"}
    assert anonymous["gatewayctl-anonymous.shop"] == old["id"]
    for catalog in (shop, other):
        assert cli(capsys, kong, "diff", str(catalog), "--exit-code")[0] == 0


def test_a_name_taken_by_someone_else_is_refused_at_the_catalog_entry(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    kong.state.seed("services", {"name": "orders", "host": "legacy.internal"})
    catalog = str(write_catalog(workdir))
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 3
    assert f"{catalog}:16:5: services[0]: Kong refused service orders (POST /services, HTTP 409)" in err, err
    assert "UNIQUE violation detected on '{name=\"orders\"}'" in err
    assert "without this catalog's ownership tags" in err and "catalog's own " not in err
    # the refused write is counted as failed, apart from the route never started
    # how many others had started before the refusal came back depends on timing
    assert re.search(r"kong: \d+ changes? applied, 1 failed, \d+ left unchanged;", err) and "Traceback" not in err
    assert kong.state.find("services", "orders")["host"] == "legacy.internal"
    no_secrets(out, err)


def test_a_renamed_catalog_is_told_whose_names_it_meets_and_how_to_hand_them_over(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Renaming a catalog changes its ownership tag (and its ids): the old name's entities hold the names.
    The 409 says whose they are and how to move them; doing so, the renamed catalog takes them over."""
    catalog = write_catalog(workdir)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    catalog.write_text(CATALOG.replace("name: shop\n", "name: storefront\n", 1))
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 3 and "UNIQUE violation detected on '{username=\"web-app\"}'" in err, out + err
    assert "the entity holding it in Kong is catalog 'shop''s, not this catalog's" in err, err
    assert "replacing their tag gatewayctl-catalog:shop with gatewayctl-catalog:storefront" in err, err
    assert "without this catalog's ownership tags" not in err and "Traceback" not in err, err
    no_secrets(out, err)
    for dao in list(kong.state.store):  # done as told
        for entity in kong.state.entities(dao):
            if "gatewayctl-catalog:shop" in (entity.get("tags") or []):
                tags = [t.replace(":shop", ":storefront") for t in entity["tags"]]
                kong.state.upsert(dao, entity["id"], {"tags": tags}, replace=False, partial=True)
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 0, out + err
    assert cli(capsys, kong, "diff", str(catalog), "--exit-code")[0] == 0
    assert not [
        e
        for d in kong.state.store
        for e in kong.state.entities(d)
        if "gatewayctl-catalog:shop" in (e.get("tags") or [])
    ]


def test_a_delete_that_would_take_unowned_entities_with_it_is_refused(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Kong deletes a consumer's credentials and plugins with it (and a service's or route's plugins): when
    someone added one by hand to a consumer the catalog drops, deleting the consumer would delete theirs,
    which no snapshot holds. diff and apply refuse before anything is sent; handed over, it goes."""
    catalog = write_catalog(workdir)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    ops = kong.state.find("consumers", "ops")
    theirs = kong.state.seed("keyauth_credentials", {"key": "their-own-key-0042", "consumer": {"id": ops["id"]}})
    kong.state.seed(
        "plugins", {"name": "rate-limiting", "config": {"minute": 5}, "service": None, "consumer": {"id": ops["id"]}}
    )
    catalog.write_text(
        CATALOG.replace('      basic_auth: [{username: ops, password: "${env:OPS_PASSWORD}"}]\n', "").replace(
            "  - name: ops\n    groups: [admins]\n    credentials:\n", ""
        )
    )
    assert "ops" not in catalog.read_text()
    writes = len(kong.state.writes())
    for command in ("diff", "apply"):
        code, out, err = cli(capsys, kong, command, str(catalog), *(["--yes"] if command == "apply" else []))
        assert code == 1, out + err
        assert "consumer ops, which this plan deletes, has what this catalog does not own hanging off it" in err
        assert f"key-auth {theirs['id']}" in err and "plugin rate-limiting" in err, err
        assert "their-own-key-0042" not in out + err and "Traceback" not in err
    assert len(kong.state.writes()) == writes  # nothing sent, not even the lock
    assert kong.state.find("consumers", "ops") and kong.state.find("keyauth_credentials", theirs["id"])
    for dao in ("keyauth_credentials", "plugins"):  # handed over: this catalog may delete them now
        for entity in kong.state.entities(dao):
            if not entity.get("tags"):
                tags = ["gatewayctl", "gatewayctl-catalog:shop"]
                kong.state.upsert(dao, entity["id"], {"tags": tags}, replace=False, partial=True)
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 0 and kong.state.find("consumers", "ops") is None, out + err


def test_dropping_a_service_another_team_routes_to_is_refused_before_anything_is_written(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """A route someone else made on an owned service makes Kong refuse the service's delete, after the apply's
    other writes: the plan says so up front instead (exit 1), and nothing is written."""
    catalog = write_catalog(workdir)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    orders = kong.state.find("services", "orders")
    kong.state.seed("routes", {"name": "their-orders", "paths": ["/legacy-orders"], "service": {"id": orders["id"]}})
    before, after = CATALOG.split("  - name: orders\n")[0], CATALOG.split("  - name: catalogue\n")[1]
    catalog.write_text(before + "  - name: catalogue\n" + after)  # the orders service and its route dropped
    writes = len(kong.state.writes())
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 1, out + err
    assert "service orders, which this plan deletes, has what this catalog does not own hanging off it" in err
    assert "(route their-orders)" in err and "for a route, refuse to delete it" in err, err
    assert len(kong.state.writes()) == writes and kong.state.find("routes", "their-orders") is not None


def test_an_entity_holding_our_id_without_our_tags_is_never_overwritten(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Someone took a service over by hand (or a decK sync of a dump put their own tags on it): it keeps the
    id this catalog gives it but no longer carries the ownership tags, so the plan does not see it and shows
    a create. Kong's PUT by id would replace their service, tags and all (and no snapshot holds it): the
    create must be refused at the catalog entry, their service left as it is."""
    catalog = write_catalog(workdir)
    assert cli(capsys, kong, "apply", catalog.as_posix(), "--yes")[0] == 0
    taken = kong.state.find("services", "orders")
    kong.state.upsert(
        "services", taken["id"], {"tags": ["team-legacy"], "host": "legacy.internal"}, replace=False, partial=True
    )
    theirs = kong.state.find("services", "orders")
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 3, out + err
    assert "+ service orders  (services[0])" in out, out
    assert f"{catalog}:16:5: services[0]: Kong refused service orders (POST /services, HTTP 400)" in err, err
    assert f"primary key violation on key '{{id=\"{taken['id']}\"}}'" in err, err
    assert "exists in Kong without this catalog's ownership tags" in err and "Traceback" not in err, err
    assert "putting the tags gatewayctl and gatewayctl-catalog:shop on it again" in err, err
    assert kong.state.find("services", "orders") == theirs  # not one field of theirs changed
    no_secrets(out, err)


def test_a_name_one_of_our_own_entities_holds_is_refused_saying_so(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Two owned upstreams whose names were swapped by hand: an upstream can neither be without its name nor
    be deleted and created again (its targets), so no order of writes works and Kong answers 409. The
    holder is this catalog's own upstream, and the message says so instead of blaming an untagged one."""
    text = CATALOG + "  - name: stock\n    upstream:\n      targets: [10.0.0.3:8080]\n    routes:\n"
    text += "      - {name: levels, paths: [/stock]}\n"
    catalog = write_catalog(workdir, text)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    swaps = [("catalogue.upstream", "swap"), ("stock.upstream", "catalogue.upstream"), ("swap", "stock.upstream")]
    for name, new_name in swaps:
        kong.state.upsert(
            "upstreams", kong.state.find("upstreams", name)["id"], {"name": new_name}, replace=False, partial=True
        )
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 3, out + err
    assert f"{catalog}:25:7: services[1].upstream: Kong refused upstream catalogue.upstream (PUT /upstreams/" in err, (
        err
    )
    assert "UNIQUE violation detected on '{name=\"catalogue.upstream\"}'" in err
    assert "this catalog's own upstream stock.upstream (services[2].upstream)" in err, err
    assert "without this catalog's ownership tags" not in err
    assert "Traceback" not in err


def test_a_renamed_consumer_taking_someone_elses_username_blames_them_not_its_own_custom_id(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """A consumer renamed to a username another team's consumer holds keeps its custom_id, which the old
    owned consumer holds too: Kong's 409 names the username (its `fields`), so the message must blame the
    untagged holder, not this catalog's own consumer for a value Kong did not refuse (fuzz seed 10, case 85)."""
    text = "format: 1\nname: shop\nconsumers:\n  - {name: alice, custom_id: crm-1}\n"
    catalog = write_catalog(workdir, text)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    kong.state.seed("consumers", {"username": "bob", "tags": ["team-x"]})
    catalog.write_text(text.replace("alice", "bob"))
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 3, out + err
    assert "UNIQUE violation detected on '{username=\"bob\"}'" in err, err
    assert "without this catalog's ownership tags" in err, err
    assert "this catalog's own consumer" not in err, err
    assert kong.state.find("consumers", "bob")["tags"] == ["team-x"]


@pytest.mark.parametrize("theirs", ["plugins", "routes"])
def test_a_service_another_teams_entity_hangs_off_is_not_dropped(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, theirs: str
) -> None:
    """Kong deletes a plugin with its service (on_delete cascade) and refuses to delete a service a route
    references, after the apply's other writes were made: either is told before anything is written (exit 1),
    as on DB-less Kong, and their entity stays (fuzz seed 14: a service dropped under another team's route)."""
    catalog = write_catalog(workdir)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    orders = kong.state.find("services", "orders")["id"]
    body = {"name": "request-termination", "config": {}} if theirs == "plugins" else {"paths": ["/theirs"]}
    other = kong.state.seed(theirs, {**body, "service": {"id": orders}, "tags": ["team-x"]})
    catalog.write_text(CATALOG.replace("  - name: orders\n", "  - name: orders-v2\n"))  # renamed: a new service
    for command in (["diff"], ["apply", "--yes"]):
        writes = len(kong.state.writes())
        code, out, err = cli(capsys, kong, *command, str(catalog))
        assert code == 1, out + err
        label = "(plugin request-termination" if theirs == "plugins" else f"(route {other['id']}"
        assert "service orders, which this plan deletes, has what this catalog does not own hanging off it" in err
        assert label in err, err
        assert "this Kong cannot take the catalog (1 problem); nothing was changed" in err
        assert kong.state.writes()[writes:] == []
    assert kong.state.entities(theirs)[-1]["id"] == other["id"] and kong.state.find("services", "orders")


def test_a_global_plugin_someone_else_has_is_explained(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """There is nothing to rename on a global plugin: the refusal says that only one owner can set it."""
    kong.state.seed("plugins", {"name": "prometheus", "tags": ["gatewayctl", "gatewayctl-catalog:other"]})
    code, _, err = cli(capsys, kong, "apply", str(write_catalog(workdir)), "--yes")
    assert code == 3
    assert "Kong runs one global prometheus plugin" in err and "another catalog sharing this Kong" in err
    assert "rename one of them" not in err


def test_429_and_5xx_and_dropped_connections_are_retried(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    # creates are POSTs carrying the id (the first POST /consumers is the lock's)
    kong.state.fail(1, method="POST", path="/services", status=429, retry_after="0")
    kong.state.fail(1, method="POST", path="/routes", status=503)
    kong.state.fail(1, method="POST", path="/key-auths", drop=True)
    # done, but the answer is lost: the retry finds the id taken, by this very plugin, and is harmless
    kong.state.fail(1, method="POST", path="/plugins", drop_after=True)
    kong.state.fail(1, method="POST", path="/upstreams", drop_after=True)  # a target created, answer lost
    kong.state.fail(1, method="GET", path="/services", status=500)
    catalog = str(write_catalog(workdir))
    code, _out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 0, err
    assert cli(capsys, kong, "diff", catalog, "--exit-code")[0] == 0
    assert len(kong.state.entities("targets")) == 2


def test_retry_after_is_honoured(kong: KongEmulator, workdir: Path) -> None:
    from gatewayctl.clients.kong_admin import Endpoint, KongAdmin

    slept: list[float] = []
    kong.state.fail(1, method="GET", path="/services", status=429, retry_after="7")
    with KongAdmin(Endpoint(kong.url), sleep=slept.append) as client:
        assert client.get("/services") == {"data": [], "next": None}
    assert slept and slept[0] >= 7


def test_validation_errors_are_not_retried(kong: KongEmulator) -> None:
    from gatewayctl.clients.kong_admin import Endpoint, KongAdmin, KongError

    with KongAdmin(Endpoint(kong.url), sleep=lambda _: None) as client, pytest.raises(KongError) as caught:
        client.request("PUT", "/services/2d6b6f3e-7c1a-4a83-9d67-3f9a4a0a1b2c", json={"name": "x", "port": "eighty"})
    assert caught.value.status == 400 and caught.value.code == 2 and caught.value.attempts == 1
    assert caught.value.body["fields"] == {"host": "required field missing", "port": "expected an integer"}
    assert len(kong.state.writes()) == 1


def test_a_crash_midway_is_finished_by_the_next_apply(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    catalog = str(write_catalog(workdir))
    kong.state.fail(6, method="POST", status=400, body={"code": 2, "name": "schema violation", "message": "boom"})
    code, _, err = cli(capsys, kong, "apply", catalog, "--yes", "--parallelism", "1")
    assert code == 3 and "left unchanged" in err
    half = sum(len(kong.state.entities(d)) for d in kong.state.store)
    assert half > 0
    code, _out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 0, err
    assert cli(capsys, kong, "diff", catalog, "--exit-code")[0] == 0
    assert len(kong.state.entities("services")) == 2


def test_secrets_never_appear_in_any_output(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = write_catalog(workdir)
    outputs = list(cli(capsys, kong, "diff", str(catalog))[1:])
    outputs += cli(capsys, kong, "diff", str(catalog), "--json")[1:]
    outputs += cli(capsys, kong, "apply", str(catalog), "--yes", "--json")[1:]
    monkeypatch.setenv("WEB_APP_KEY", "s3cr3t-web-app-key-ROTATED")
    monkeypatch.setenv("OPS_PASSWORD", "s3cr3t-ops-password-ROTATED")
    _code, out, err = cli(capsys, kong, "diff", str(catalog), "--json")
    outputs += [out, err]
    changes = {c["kind"]: c for c in json.loads(out)["kong"]["changes"]}
    # A changed secret is shown by the reference it now comes from, never by a value.
    assert changes["keyauth_credentials"]["fields"] == [
        {"path": "key", "old": "<secret>", "new": "<secret ${env:WEB_APP_KEY}> (changed)"}
    ]
    assert changes["basicauth_credentials"]["fields"] == [  # found through the hash
        {"path": "password", "old": "<secret>", "new": "<secret ${env:OPS_PASSWORD}> (changed)"}
    ]
    outputs += cli(capsys, kong, "diff", str(catalog))[1:]
    outputs += cli(capsys, kong, "status", str(catalog))[1:]
    no_secrets(*outputs)
    assert not any("ROTATED" in o for o in outputs)
    snapshots = list((workdir / ".gatewayctl" / "snapshots").glob("*.json"))
    assert snapshots and all(p.stat().st_mode & 0o777 == 0o600 for p in snapshots)


def test_unreachable_kong_exits_3_without_traceback(capsys: pytest.CaptureFixture[str], workdir: Path) -> None:
    catalog = str(write_catalog(workdir))
    code = main(["diff", catalog, "--kong-admin-url", "http://admin:hunter2@127.0.0.1:9", "--timeout", "1"])
    err = capsys.readouterr().err
    assert code == 3 and "GET /: no response" in err and "Traceback" not in err
    assert "cannot connect to http://127.0.0.1:9 (" in err and "hunter2" not in err  # where, without credentials


def test_pagination_follows_next_over_more_than_a_thousand_entities(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    tags = ["gatewayctl", "gatewayctl-catalog:shop"]
    for i in range(1500):
        kong.state.seed("consumers", {"username": f"old-{i:04d}", "tags": tags})
    upstream = kong.state.seed("upstreams", {"name": "old.upstream", "tags": tags})
    for i in range(1001):
        kong.state.seed(
            "targets", {"target": f"10.1.{i // 250}.{i % 250}:80", "upstream": {"id": upstream["id"]}, "tags": tags}
        )
    kong.state.seed("consumers", {"username": "not-ours", "tags": ["gatewayctl"]})  # owner tag, other catalog: no
    catalog = str(write_catalog(workdir))
    code, out, err = cli(capsys, kong, "diff", catalog, "--json")
    assert code == 0, err
    summary = json.loads(out)["kong"]["summary"]
    assert summary == {"create": 19, "update": 0, "delete": 1500 + 1 + 1001}
    pages = [r for r in kong.state.requests if r.path == "/consumers"]
    assert len(pages) == 2 and all("size=1000" in r.query for r in pages)
    assert all("tags=gatewayctl%2Cgatewayctl-catalog%3Ashop" in r.query for r in pages)
    # the owned targets' pages (the upstream's whole list is read apart, once more: the plan deletes it)
    target_pages = [r for r in kong.state.requests if r.path.startswith("/upstreams/") and "tags=" in r.query]
    assert len(target_pages) == 2 and all("size=1000" in r.query for r in target_pages)


def is_lock_write(request: Any) -> bool:
    """The apply lock's create (a consumer named gatewayctl-lock.<catalog>) or its release (a delete of that
    consumer; the applies in these tests delete no other consumer)."""
    return b"gatewayctl-lock." in request.body or (
        request.method == "DELETE" and request.path.startswith("/consumers/")
    )


def test_concurrent_applies_do_not_interleave(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from gatewayctl.apply.lock import KongLock

    state = KongState(latency=0.005)
    results: list[int] = []
    # both have planned (and found the same work) before either takes the lock: without this, a run that
    # starts late could plan after the other has finished, and never meet the lock at all
    both_planned = threading.Barrier(2, timeout=30)
    take_lock = KongLock.acquire

    def acquire_once_both_planned(lock: KongLock) -> None:
        both_planned.wait()
        take_lock(lock)

    monkeypatch.setattr(KongLock, "acquire", acquire_once_both_planned)
    with running(state) as kong:
        catalog = str(write_catalog(workdir))

        def one() -> None:
            results.append(main(["apply", catalog, "--yes", "--kong-admin-url", kong.url, "--parallelism", "4"]))

        threads = [threading.Thread(target=one) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert results == [0, 0]
        writers = [r for r in state.writes() if not is_lock_write(r)]
        runs = [r.user_agent for r in writers]
        # every entity write came from one run (the other planned again under the lock and found nothing)
        assert len(set(runs)) == 1 and len(runs) == 19
        lock_posts = [r for r in state.requests if r.method == "POST" and b"gatewayctl-lock." in r.body]
        assert [r.status for r in lock_posts].count(201) >= 1 and 409 in [r.status for r in lock_posts]
        assert not [c for c in state.entities("consumers") if c["username"].startswith("gatewayctl-lock")]


def test_rollback_restores_the_state_before_the_last_apply(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    catalog = write_catalog(workdir)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    before = {s["name"]: s for s in kong.state.entities("routes")}
    catalog.write_text(CATALOG.replace("paths: [/orders]", "paths: [/orders, /v2/orders]"))
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    assert kong.state.find("routes", "orders-api")["paths"] == ["/orders", "/v2/orders"]
    code, _out, err = cli(capsys, kong, "rollback")  # not a terminal: says how to go ahead, changes nothing
    assert code == 1 and "not interactive: pass --yes to roll back; nothing was changed" in err, err
    assert kong.state.find("routes", "orders-api")["paths"] == ["/orders", "/v2/orders"]
    code, out, err = cli(capsys, kong, "rollback", "--yes")
    assert code == 0, err
    assert "~ route orders-api" in out
    assert kong.state.find("routes", "orders-api")["paths"] == before["orders-api"]["paths"]
    assert "nothing to roll back" not in out
    writes = len(kong.state.writes())
    code, out, err = cli(capsys, kong, "rollback", "--yes")  # again: it says there is nothing left to do
    assert code == 0 and "kong: nothing to roll back" in out, out + err
    assert len(kong.state.writes()) == writes
    catalog.write_text(CATALOG)
    assert cli(capsys, kong, "diff", str(catalog), "--exit-code")[0] == 0


def test_rollback_takes_the_newest_snapshot_of_the_kong_it_writes_to(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Two environments applied from one folder share its snapshots: after staging's apply, `rollback` aimed
    at prod restores prod's last snapshot, never staging's (which would write staging's state over prod)."""
    catalog = write_catalog(workdir)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    catalog.write_text(CATALOG.replace("paths: [/orders]", "paths: [/orders, /v2/orders]"))
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0  # prod's snapshot: paths [/orders]
    with running(KongState()) as staging:
        assert cli(capsys, staging, "apply", str(catalog), "--yes")[0] == 0  # newest snapshot: staging, empty
        newest = sorted((workdir / ".gatewayctl" / "snapshots").glob("*.json"))[-1]
        code, out, err = cli(capsys, kong, "rollback", "--yes")
        assert code == 0, out + err
        assert newest.name not in out and "~ route orders-api" in out and "- service" not in out, out
        assert kong.state.find("routes", "orders-api")["paths"] == ["/orders"]
        assert len(kong.state.entities("services")) == 2
        # named on purpose, staging's snapshot is restored here, and the run says where it came from
        code, out, err = cli(capsys, kong, "rollback", str(newest), "--dry-run")
        assert code == 0 and f"note: the snapshot was taken from {staging.url}; restoring it to {kong.url}" in err
        with running(KongState()) as other:  # a Kong no snapshot was taken from: refused, nothing sent
            code, out, err = cli(capsys, other, "rollback", "--yes")
            assert (code, other.state.requests) == (1, []), out + err
            assert f"no snapshot in .gatewayctl/snapshots was taken from Kong at {other.url}" in err, err
            assert f"the newest, {newest.relative_to(workdir)}, is of Kong at {staging.url}" in err, err


def test_rollback_never_deletes_what_hangs_off_an_owned_entity_without_our_tags(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Rolling back the first apply deletes every owned entity; a key someone added by hand to one of its
    consumers since would go with it (Kong cascades). Refused, as apply refuses it, nothing sent."""
    catalog = write_catalog(workdir)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    ops = kong.state.find("consumers", "ops")
    theirs = kong.state.seed("keyauth_credentials", {"key": "their-own-key-0042", "consumer": {"id": ops["id"]}})
    writes = len(kong.state.writes())
    code, out, err = cli(capsys, kong, "rollback", "--yes")
    assert code == 1, out + err
    lead = "consumer ops, which this plan deletes, has what this catalog does not own hanging off it"
    assert f"{lead} (key-auth {theirs['id']})" in err, err
    assert "this rollback would delete entities catalog shop does not own; nothing was changed" in err, err
    assert "their-own-key-0042" not in out + err and len(kong.state.writes()) == writes
    assert kong.state.find("keyauth_credentials", theirs["id"]) is not None


def test_rollback_masks_a_rotated_secret_inside_free_text(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret inside a field not named as one (a plugin message) is hidden by rollback too, although it has
    no catalog: the snapshot says which fields held a secret."""
    plugin = '    plugins:\n      request-termination: {status_code: 403, message: "no ${env:WEB_APP_KEY} here"}\n'
    catalog = write_catalog(workdir, CATALOG.replace("    auth: [basic-auth]\n", "    auth: [basic-auth]\n" + plugin))
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    monkeypatch.setenv("WEB_APP_KEY", "s3cr3t-web-app-key-0009")
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    code, out, err = cli(capsys, kong, "rollback", "--yes")
    assert code == 0, err
    assert "config.message: <secret> -> <secret> (changed)" in out, out
    assert "s3cr3t-web-app-key" not in out + err
    messages = [p["config"]["message"] for p in kong.state.entities("plugins") if p["name"] == "request-termination"]
    assert messages == [f"no {SECRETS['WEB_APP_KEY']} here"]  # restored all the same


def test_rollback_masks_a_credential_kong_echoes_when_it_refuses_it(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rolling a rotated key back when someone else's credential now holds it: Kong's 409 names the key,
    and rollback, which has no catalog, still masks it (it knows the snapshot's secret fields)."""
    catalog = str(write_catalog(workdir))
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    monkeypatch.setenv("WEB_APP_KEY", "s3cr3t-web-app-key-0009")
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    theirs = kong.state.seed("consumers", {"username": "theirs"})
    kong.state.seed("keyauth_credentials", {"key": SECRETS["WEB_APP_KEY"], "consumer": {"id": theirs["id"]}})
    code, out, err = cli(capsys, kong, "rollback", "--yes")
    assert code == 3 and """HTTP 409: UNIQUE violation detected on '{key="<secret>"}'""" in err, out + err
    no_secrets(out, err)
    assert "s3cr3t-web-app-key-0009" not in out + err


def test_a_snapshot_holds_one_entity_per_line_and_reads_back_the_same(workdir: Path) -> None:
    from gatewayctl.apply.snapshot import read_snapshot, read_snapshot_extras, write_snapshot
    from gatewayctl.plan.kong import LiveState

    services = [{"id": f"id-{i}", "name": f"svc-{i}", "tags": ["gatewayctl"], "port": 80} for i in range(3)]
    live = LiveState({"services": services, "routes": []})
    kuma = {"platform": "universal", "url": "http://cp:5681", "objects": [{"type": "Mesh", "name": "shop"}]}
    path = write_snapshot(workdir / "snaps", "shop", "http://kong:8001", live, kuma=kuma)
    lines = path.read_text().splitlines()
    assert '   {"id": "id-1", "name": "svc-1", "port": 80, "tags": ["gatewayctl"]},' in lines
    assert '   {"name": "shop", "type": "Mesh"}' in lines
    assert read_snapshot(path) == ("shop", live)
    assert read_snapshot_extras(path) == (["kong", "kuma"], kuma, {})


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"entities": {}}, "catalog: the catalog name is missing"),
        ({"catalog": "shop", "entities": {"services": 5}}, "entities.services: not a list"),
        ({"catalog": "shop", "entities": {"services": [5]}}, "entities.services[0]: not an entity with an id"),
        ({"catalog": "shop", "entities": {"servicez": []}}, "entities.servicez: not a Kong entity kind"),
        ({"catalog": "shop", "entities": {}, "targets": "kong"}, "targets: not a list of kong and kuma"),
        ({"catalog": "shop", "entities": {}, "targets": ["kuma"], "kuma": "x"}, "the Kuma objects are missing"),
        (
            {"catalog": "shop", "entities": {}, "targets": ["kuma"], "kuma": {"objects": [{"type": "M", "spec": 1}]}},
            "kuma.objects[0]: not a Kuma object",
        ),
        (  # a kind a newer gatewayctl (or a hand edit) wrote: on Kubernetes it ended in a KeyError
            {
                "catalog": "shop",
                "entities": {},
                "targets": ["kuma"],
                "kuma": {"platform": "kubernetes", "objects": [{"kind": "MeshFooBar", "metadata": {"name": "x"}}]},
            },
            "kuma.objects[0].kind: 'MeshFooBar' is not a Kuma kind gatewayctl manages",
        ),
        (
            {"catalog": "shop", "entities": {}, "targets": ["kuma"], "kuma": {"objects": [{"type": "Dataplane"}]}},
            "kuma.objects[0].type: 'Dataplane' is not a Kuma kind gatewayctl manages",
        ),
    ],
)
def test_rollback_refuses_a_damaged_snapshot_before_sending_anything(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, document: dict[str, object], problem: str
) -> None:
    snapshot = workdir / "damaged.json"
    snapshot.write_text(json.dumps({"format": 1, **document}))
    code, out, err = cli(capsys, kong, "rollback", str(snapshot), "--yes")
    assert (code, "Traceback" in out + err) == (1, False), out + err
    assert f"{snapshot}: not a usable snapshot: " in err and problem in err, err
    assert kong.state.requests == []


def test_schemas_are_read_only_for_what_is_compared(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Defaults matter only where a desired entity meets its live self: an initial apply reads no schema;
    a later one reads each schema it compares with once, though it plans twice (again under the lock)."""

    def schema_reads(since: int) -> list[str]:
        return [r.path for r in kong.state.requests[since:] if r.path.startswith("/schemas")]

    catalog = str(write_catalog(workdir))
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    assert schema_reads(0) == []
    seen = len(kong.state.requests)
    write_catalog(workdir, CATALOG.replace("paths: [/orders]", "paths: [/orders-v2]"))
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 0 and "1 change applied" in out, out + err
    reads = schema_reads(seen)
    assert "/schemas/routes" in reads and "/schemas/services" in reads and len(reads) == len(set(reads))


def test_rollback_waits_for_the_apply_lock_like_apply(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    from gatewayctl.apply.lock import KongLock
    from gatewayctl.clients.kong_admin import Endpoint, KongAdmin

    catalog = write_catalog(workdir)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    catalog.write_text(CATALOG.replace("paths: [/orders]", "paths: [/orders, /v2/orders]"))
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    with KongAdmin(Endpoint(kong.url, None)) as other:
        holder = KongLock(other, "shop")
        holder.acquire()  # another apply of the catalog is writing
        code, out, err = cli(capsys, kong, "rollback", "--yes", "--lock-wait", "0.2")
        assert code == 3 and "another apply of catalog 'shop' is running" in err, out + err
        assert kong.state.find("routes", "orders-api")["paths"] == ["/orders", "/v2/orders"]  # untouched
        holder.release()
    code, out, err = cli(capsys, kong, "rollback", "--yes")
    assert code == 0 and kong.state.find("routes", "orders-api")["paths"] == ["/orders"], out + err
    assert not [c for c in kong.state.entities("consumers") if c["username"].startswith("gatewayctl-lock")]


def test_status_says_who_holds_the_apply_lock(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    from gatewayctl.apply.lock import KongLock
    from gatewayctl.clients.kong_admin import Endpoint, KongAdmin

    catalog = str(write_catalog(workdir))
    code, out, err = cli(capsys, kong, "status", catalog)
    assert code == 0 and "apply lock: free" in out, out + err
    with KongAdmin(Endpoint(kong.url, None)) as other:
        holder = KongLock(other, "shop")
        holder.acquire()
        code, out, err = cli(capsys, kong, "status", catalog, "--json")
        assert json.loads(out)["kong"]["apply_lock"].startswith("held by ")
        code, out, err = cli(capsys, kong, "status", catalog)
        assert re.search(r"apply lock: held by \S+ pid \d+, for \d+ s", out), out
        holder.release()


def test_an_apply_interrupted_by_ctrl_c_says_so_releases_the_lock_and_a_rerun_converges(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gatewayctl.apply import kong as apply_kong

    catalog = str(write_catalog(workdir))
    real_write = apply_kong.write
    calls: list[int] = []

    def interrupted_write(client: object, change: object) -> None:
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt  # as the main thread gets it from Ctrl-C while waiting for this batch
        real_write(client, change)  # type: ignore[arg-type]

    monkeypatch.setattr(apply_kong, "write", interrupted_write)
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes", "--parallelism", "1")
    assert (code, "Traceback" in err) == (130, False), err
    made = re.search(r"interrupted: (\d+) of 19 changes were made", err)
    assert made and "run the same apply or rollback again" in err, err
    # every write but the interrupted one was made and counted; the few a worker had already taken up may follow
    # it (how many depends on timing), the rest were never started
    assert int(made.group(1)) == len(calls) - 1 and len(calls) < 19, (made.group(0), len(calls))
    assert not [c for c in kong.state.entities("consumers") if c["username"].startswith("gatewayctl-lock")]
    monkeypatch.setattr(apply_kong, "write", real_write)
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    applied = re.search(r"kong: (\d+) changes applied", out)
    assert code == 0 and applied and 0 < int(applied.group(1)) < 19, out + err  # only what was left
    assert cli(capsys, kong, "diff", catalog, "--exit-code")[0] == 0


def test_json_is_one_document_on_stdout_on_failure_paths_too(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CI step parsing --json gets a document whatever happens: the exit code and what stderr said."""
    catalog = str(write_catalog(workdir))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal
    unreachable = ["--kong-admin-url", "http://127.0.0.1:9"]
    cases = [
        (["diff", catalog, "--json", *unreachable], 3, "kong: GET /: no response"),
        (["apply", catalog, "--json", "--kong-admin-url", kong.url], 1, "not interactive: pass --yes to apply"),
    ]
    monkeypatch.setattr("gatewayctl.cli.remote_commands.RetryPolicy", lambda: RetryPolicy(attempts=1))
    for argv, expected, message in cases:
        code = main(argv)
        captured = capsys.readouterr()
        assert code == expected, captured.err
        error = json.loads(captured.out)["error"]
        assert error["exit_code"] == expected and any(message in m for m in error["messages"]), error
        assert message in captured.err  # stderr is unchanged
    code = main(["status", catalog, "--json", *unreachable])  # status reports each system, reachable or not
    kong_status = json.loads(capsys.readouterr().out)["kong"]
    assert code == 3 and kong_status["reachable"] is False and "kong: GET /: no response" in kong_status["error"]
    monkeypatch.delenv("OPS_PASSWORD")
    code = main(["diff", catalog, "--json", "--kong-admin-url", kong.url])
    captured = capsys.readouterr()
    assert code == 1 and "OPS_PASSWORD is not set" in json.dumps(json.loads(captured.out)["error"]["messages"])
    no_secrets(captured.out, captured.err)
    monkeypatch.setenv("OPS_PASSWORD", SECRETS["OPS_PASSWORD"])
    code, out, _ = cli(capsys, kong, "diff", catalog, "--json")  # and the report itself is unchanged
    assert code == 0 and "error" not in json.loads(out) and json.loads(out)["kong"]["summary"]["create"] == 19


def test_apply_reuses_its_plan_only_when_the_owned_entities_are_unchanged_under_the_lock(
    kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan shown before the lock is carried out as it is when the entities read again under the lock
    are the ones it was made from; when another writer changed one meanwhile, it is made again."""
    from gatewayctl.apply import session
    from gatewayctl.catalog.load import load_catalog
    from gatewayctl.clients.kong_admin import Endpoint, KongAdmin
    from gatewayctl.plan.kong import read_server

    catalog = write_catalog(workdir)
    assert main(["apply", str(catalog), "--yes", "--kong-admin-url", kong.url]) == 0
    catalog.write_text(CATALOG.replace("paths: [/orders]", "paths: [/orders, /v2/orders]"))
    monkeypatch.setenv("GATEWAYCTL_KONG_ADMIN_URL", kong.url)
    loaded = load_catalog(catalog)
    desired = session.render_desired(loaded)
    made: list[int] = []
    real_build_plan = session.build_plan
    monkeypatch.setattr(session, "build_plan", lambda *a, **k: made.append(1) or real_build_plan(*a, **k))

    def apply_with(planned: session.KongPlan) -> session.ApplyResult:
        return session.apply_db(
            client, loaded, server, desired, parallelism=4, state_dir=workdir, lock_wait=1, planned=planned
        )

    with KongAdmin(Endpoint(kong.url, None)) as client:
        server = read_server(client)
        shown = session.plan(client, "shop", server, desired, 4)
        assert [(c.action, c.entity.body.get("name")) for c in shown.changes] == [("update", "orders-api")]
        result = apply_with(shown)
        assert made == [1] and result.plan.changes == shown.changes  # planned once, before the lock
        assert kong.state.find("routes", "orders-api")["paths"] == ["/orders", "/v2/orders"]

        catalog.write_text(CATALOG)
        loaded = load_catalog(catalog)
        desired = session.render_desired(loaded)
        shown = session.plan(client, "shop", server, desired, 4)  # to put /orders back
        route = kong.state.find("routes", "orders-api")
        kong.state.seed("routes", {**route, "paths": ["/orders"]})  # another writer does it first
        result = apply_with(shown)
        assert len(made) == 3 and result.plan.changes == []  # planned again under the lock: nothing left
        assert result.outcome.done == []


CUSTOM_IDS = """\
format: 1
name: shop
consumers:
  - name: alice
    custom_id: crm-1
  - name: bob
    custom_id: crm-2
  - name: carol
services:
  - name: orders
    url: http://orders.default.svc:8080
    routes: [{name: api, paths: [/orders]}]
"""


def custom_ids(kong: KongEmulator) -> dict[str, str | None]:
    return {c["username"]: c.get("custom_id") for c in kong.state.entities("consumers")}


@pytest.mark.parametrize("parallelism", ["1", "8"])
@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # swapped between two kept consumers: no order of two writes works
        (
            lambda t: t.replace("crm-1", "crm-x").replace("crm-2", "crm-1").replace("crm-x", "crm-2"),
            {"alice": "crm-2", "bob": "crm-1", "carol": None},
        ),
        # moved on to a consumer listed before the one giving it up
        (
            lambda t: t.replace("    custom_id: crm-1\n", "    custom_id: crm-2\n", 1).replace(
                "  - name: bob\n    custom_id: crm-2\n", "  - name: bob\n"
            ),
            {"alice": "crm-2", "bob": None, "carol": None},
        ),
        # around three consumers: alice's to bob, bob's to carol, carol's (none) to alice
        (
            lambda t: (
                t.replace("    custom_id: crm-1\n", "")
                .replace("    custom_id: crm-2\n", "    custom_id: crm-1\n")
                .replace("  - name: carol\n", "  - name: carol\n    custom_id: crm-2\n")
            ),
            {"alice": None, "bob": "crm-1", "carol": "crm-2"},
        ),
        # a deleted consumer's custom_id taken by a kept one and by a new one
        (
            lambda t: (
                t.replace("  - name: alice\n    custom_id: crm-1\n", "")
                .replace("  - name: bob\n    custom_id: crm-2\n", "  - name: bob\n    custom_id: crm-1\n")
                .replace("  - name: carol\n", "  - name: carol\n  - name: dave\n    custom_id: crm-2\n")
            ),
            {"bob": "crm-1", "carol": None, "dave": "crm-2"},
        ),
    ],
    ids=["swap", "move", "cycle-of-three", "from-deleted"],
)
def test_a_custom_id_moving_between_consumers_is_applied_in_one_run_without_a_conflict(
    capsys: pytest.CaptureFixture[str],
    kong: KongEmulator,
    workdir: Path,
    edit: object,
    expected: object,
    parallelism: str,
) -> None:
    """Kong holds custom_id unique: the consumer giving one up is written before the one taking it, and in
    a cycle (a swap) one consumer has its custom_id cleared first; Kong never answers 409."""
    catalog = write_catalog(workdir, CUSTOM_IDS)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    catalog.write_text(edit(CUSTOM_IDS))  # type: ignore[operator]
    seen = len(kong.state.requests)
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes", "--parallelism", parallelism)
    assert code == 0, out + err
    assert [r for r in kong.state.requests[seen:] if r.status == 409] == []
    assert custom_ids(kong) == expected
    assert cli(capsys, kong, "diff", str(catalog), "--exit-code")[0] == 0


def credentials_catalog(alice: str, bob: str) -> str:
    """Two consumers with the credentials given (YAML flow mappings of `credentials:`, '' for none)."""
    consumers = "".join(
        f"  - name: {name}\n" + (f"    credentials: {creds}\n" if creds else "")
        for name, creds in (("alice", alice), ("bob", bob))
        if creds is not None
    )
    return (
        "format: 1\nname: shop\nconsumers:\n"
        + consumers
        + "services:\n  - name: orders\n    url: http://orders.default.svc:8080\n"
        + "    routes: [{name: api, paths: [/orders]}]\n    auth: [key-auth, basic-auth, jwt]\n"
    )


KEYS = {"KEY_1": "s3cr3t-key-0001", "KEY_2": "s3cr3t-key-0002", "KEY_3": "s3cr3t-key-0003", "PW": "s3cr3t-pw-0004"}
ALICE = (
    '{key_auth: [{key: "${env:KEY_1}"}, {key: "${env:KEY_2}"}], basic_auth: [{username: login-1, password: '
    '"${env:PW}"}], jwt: [{key: iss-1, secret: "${env:PW}"}]}'
)
BOB = '{key_auth: [{key: "${env:KEY_3}"}]}'


@pytest.mark.parametrize(
    ("alice", "bob", "env"),
    [
        (ALICE, BOB, {"KEY_1": KEYS["KEY_2"], "KEY_2": KEYS["KEY_1"]}),  # alice's two keys swapped
        (ALICE, BOB, {"KEY_1": KEYS["KEY_3"], "KEY_3": KEYS["KEY_1"]}),  # alice's first and bob's key swapped
        (ALICE.replace('[{key: "${env:KEY_1}"}, ', '[{key: "${env:KEY_3}"}, {key: "${env:KEY_1}"}, '), "", {}),
        (None, BOB, {"KEY_3": KEYS["KEY_1"]}),  # a deleted consumer's key taken by a kept credential
        (  # every other credential moved from alice to bob: other ids, so deleted and created again
            '{key_auth: [{key: "${env:KEY_1}"}]}',
            ALICE.replace('{key: "${env:KEY_1}"}, {key: "${env:KEY_2}"}', '{key: "${env:KEY_2}"}'),
            {},
        ),
    ],
    ids=["keys-swapped", "keys-swapped-across-consumers", "key-put-in-front", "from-deleted", "moved-to-bob"],
)
def test_a_credential_value_moving_between_credentials_is_applied_in_one_run_without_a_conflict(
    capsys: pytest.CaptureFixture[str],
    kong: KongEmulator,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    alice: str | None,
    bob: str,
    env: dict[str, str],
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    catalog = write_catalog(workdir, credentials_catalog(ALICE, BOB))
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    catalog.write_text(credentials_catalog(alice, bob))  # type: ignore[arg-type]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    seen = len(kong.state.requests)
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 0, out + err
    assert [r for r in kong.state.requests[seen:] if r.status == 409] == []
    assert cli(capsys, kong, "diff", str(catalog), "--exit-code")[0] == 0
    assert all(value not in out + err for value in KEYS.values())


def test_a_custom_id_swap_reads_as_two_updates_and_a_crash_between_its_writes_is_finished_by_a_rerun(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """The plan shows the swap as what it is, two updates, and says that one custom_id is given up first;
    when the apply stops after that first write, the next run finds the value free and plain order does."""
    catalog = write_catalog(workdir, CUSTOM_IDS)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    catalog.write_text(CUSTOM_IDS.replace("crm-1", "crm-x").replace("crm-2", "crm-1").replace("crm-x", "crm-2"))
    code, out, err = cli(capsys, kong, "diff", str(catalog))
    assert code == 0, err
    assert out.count("~ consumer ") == 2 and out.strip().splitlines()[-1] == "kong: +0 ~2 -0", out
    note = "(custom_id given up first in a separate write: unique values move in a cycle between consumers)"
    assert out.count(note) == 1, out
    report = json.loads(cli(capsys, kong, "diff", str(catalog), "--json")[1])["kong"]
    assert [c.get("first") for c in report["changes"]].count({"action": "update", "without": ["custom_id"]}) == 1

    kong.state.fail(2, method="PUT", path="/consumers/", status=403, body={"message": "Forbidden"})
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes", "--parallelism", "1")
    assert code == 3 and "Kong refused consumer bob" in err, out + err
    assert "  left half done: update consumer alice (custom_id given up first in a separate write" in err, err
    assert sorted(custom_ids(kong).values(), key=str) == [None, None, "crm-2"]  # one given up, none taken yet
    seen = len(kong.state.requests)
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 0 and "2 changes applied" in out, out + err
    assert [r for r in kong.state.requests[seen:] if r.status == 409] == []
    assert custom_ids(kong) == {"alice": "crm-2", "bob": "crm-1", "carol": None}


def test_renames_are_a_delete_and_a_create_applied_in_one_run_without_a_conflict(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Ids follow names, so a renamed service (its upstream, routes and plugins with it) or consumer is a new
    entity: what the old one held that the new one takes (the basic-auth username 'ops') is deleted first."""
    catalog = write_catalog(workdir)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    renamed = CATALOG.replace("- name: catalogue", "- name: shelf").replace("- name: ops", "- name: operators")
    catalog.write_text(renamed)
    seen = len(kong.state.requests)
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 0, out + err
    assert [r for r in kong.state.requests[seen:] if r.status == 409] == []
    assert {u["name"] for u in kong.state.entities("upstreams")} == {"shelf.upstream"}
    login = kong.state.entities("basicauth_credentials")[0]
    assert login["consumer"]["id"] == entity_id("shop", "consumer", "operators") and login["username"] == "ops"
    assert cli(capsys, kong, "diff", str(catalog), "--exit-code")[0] == 0


def test_a_plan_compares_each_page_as_it_arrives(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Comparing is most of a plan's own time and reading is mostly waiting for Kong: every owned entity the
    catalog has too is compared as its page arrives, so that the plan made afterwards only looks them up."""
    from gatewayctl.apply.session import compared_as_read, render_desired
    from gatewayctl.catalog.load import load_catalog
    from gatewayctl.clients.kong_admin import Endpoint, KongAdmin
    from gatewayctl.plan.kong import SchemaCache, build_plan, fetch_live, read_server

    catalog = write_catalog(workdir)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    kong.state.seed("services", {"name": "theirs", "host": "theirs.internal"})  # not owned: never read
    catalog.write_text(CATALOG.replace("rate_limit: {minute: 60}", "rate_limit: {minute: 90}"))
    loaded = load_catalog(catalog)
    desired = render_desired(loaded)
    with KongAdmin(Endpoint(kong.url)) as client:
        server = read_server(client)
        schemas = SchemaCache(client)
        with compared_as_read(desired, schemas, 8) as on_page:
            live = fetch_live(client, "shop", server, 8, on_page)
        memo = dict(schemas.compared)
        assert set(memo) == {e.id for e in desired.state.entities} == live.ids()
        changed = [entity_id for entity_id, (_, _, diffs) in memo.items() if diffs]
        the_plan = build_plan(desired.state, live, schemas.for_entity, server, desired.masker, schemas.compared)
    assert [c.entity.id for c in the_plan.changes] == changed
    assert [f.path for c in the_plan.changes for f in c.fields] == ["config.minute"]
