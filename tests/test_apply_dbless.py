"""DB-less Kong: one `POST /config` per apply, none when the running hash already matches, 304 on a
re-post, others' entities carried over, `flattened_errors` mapped to catalog entries, 429/413 handled."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from emulators.harness import CATALOG, SECRETS, cli, write_catalog
from emulators.kong import KongEmulator, KongState, running

from gatewayctl.apply import dbless
from gatewayctl.clients.kong_admin import Endpoint, KongAdmin

DBLESS = CATALOG.replace("gateway:\n", "gateway:\n  mode: dbless\n")


@pytest.fixture
def kong() -> Iterator[KongEmulator]:
    with running(KongState(dbless=True)) as emulator:
        yield emulator


def config_posts(kong: KongEmulator) -> list[int]:
    return [r.status for r in kong.state.requests if r.method == "POST" and r.path == "/config"]


def test_one_post_then_nothing_and_others_entities_survive(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    kong.state.seed("services", {"name": "legacy", "host": "legacy.internal", "tags": ["team-x"]})
    catalog = str(write_catalog(workdir, DBLESS))
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 0, err
    assert config_posts(kong) == [201]
    assert "configuration loaded" in out
    assert {s["name"] for s in kong.state.entities("services")} == {"orders", "catalogue", "legacy"}
    assert all(r.method in ("GET", "POST") for r in kong.state.requests)  # never an entity write

    time.sleep(1.1)  # Kong stamps what it loads: a second later, the carried-over entity must not look changed
    code, out, err = cli(capsys, kong, "diff", catalog, "--exit-code", "--json")
    assert code == 0, err
    hashes = json.loads(out)["kong"]["configuration_hash"]
    assert hashes["running"] == hashes["catalog"]
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 0 and "nothing to do" in out, err
    assert config_posts(kong) == [201]  # the hash in /status matched: no POST at all


def test_a_dbless_kong_running_exactly_the_catalog_costs_two_reads(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """The version check and the running hash: when the hash is that of the configuration apply would post,
    no entity can differ, so neither the entities, nor their schemas, nor the export are read."""
    catalog = str(write_catalog(workdir, DBLESS))
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    seen = len(kong.state.requests)
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 0 and "nothing to do" in out, err
    assert [(r.method, r.path) for r in kong.state.requests[seen:]] == [("GET", "/"), ("GET", "/status")]
    write_catalog(workdir, DBLESS.replace("paths: [/orders]", "paths: [/orders, /v2/orders]"))
    code, out, err = cli(capsys, kong, "diff", catalog, "--exit-code")
    assert code == 2 and "~ route orders-api" in out, out + err  # a change still shows entity by entity


def test_apply_json_counts_the_changes_one_post_made(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """`result.applied` is a number of changes, as in DB mode: all of the plan's after a POST, 0 after none."""
    catalog = str(write_catalog(workdir, DBLESS))
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes", "--json")
    report = json.loads(out)["kong"]
    assert code == 0 and report["result"]["loaded"] is True, out + err
    assert report["result"]["applied"] == sum(report["summary"].values()) > 0
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes", "--json")
    result = json.loads(out)["kong"]["result"]
    assert code == 0 and result["applied"] == 0 and type(result["applied"]) is int, out + err


def test_an_unchanged_config_posted_again_gets_304(kong: KongEmulator, workdir: Path) -> None:
    text = dbless.payload({"_format_version": "3.0", "_info": {"select_tags": ["x"]}, "services": []})
    assert "_info" not in text
    with KongAdmin(Endpoint(kong.url)) as client:
        assert dbless.post_config(client, text) is True
        assert dbless.running_hash(client) == dbless.config_hash(text)
        assert dbless.post_config(client, text) is False
    assert config_posts(kong) == [201, 304]


def test_info_is_refused_by_kong_which_is_why_it_is_stripped(kong: KongEmulator) -> None:
    with KongAdmin(Endpoint(kong.url)) as client:
        response = client.request(
            "POST", "/config", json={"config": json.dumps({"_format_version": "3.0", "_info": {}})}, ok=(400,)
        )
    assert response.json()["fields"] == {"_info": "unknown field"}


def test_flattened_errors_point_at_the_catalog_entry(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    bad = DBLESS.replace(
        "    rate_limit: {minute: 60}\n", "    rate_limit: {minute: 60}\n    plugins: {cors: {origins: 5}}\n"
    )
    catalog = str(write_catalog(workdir, bad))
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 3
    # Kong names the nested field (kong/db/errors.lua categorize_errors): `config.origins` of a plugin written in
    # a `plugins:` map is that entry's own `origins`, where the 5 is
    line = bad.splitlines().index("    plugins: {cors: {origins: 5}}") + 1
    where = f"{catalog}:{line}:31: services[0].plugins.cors.origins"
    assert f"{where}: Kong refused plugin cors: expected an array" in err, err
    assert "Kong keeps running the previous one" in err
    for value in SECRETS.values():
        assert value not in out + err


def test_busy_kong_is_waited_for_and_a_full_lmdb_is_explained(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    catalog = str(write_catalog(workdir, DBLESS))
    kong.state.fail(1, method="POST", path="/config", status=429, retry_after="0")
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    assert config_posts(kong) == [429, 201]
    Path(catalog).write_text(DBLESS.replace("minute: 60", "minute: 61"))
    message = 'Configuration does not fit in LMDB database, consider raising the "lmdb_map_size" config for Kong'
    kong.state.fail(1, method="POST", path="/config", status=413, body={"message": message})
    code, _, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 3 and "HTTP 413" in err and "lmdb_map_size" in err


def test_a_db_mode_catalog_is_refused_by_a_dbless_kong(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    catalog = str(write_catalog(workdir))
    code, _, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 1 and "set gateway.mode: dbless" in err
    # located at the key to change (here the gateway: section, which does not set mode), not at 1:1
    line = CATALOG.splitlines().index("gateway:") + 1
    assert f"catalog.yaml:{line + 1}:3: gateway.mode: this Kong runs without a database" in err, err
    assert not kong.state.writes()


EXPORT = """_format_version: "3.0"
_transform: false
services:
- name: theirs
  host: a.internal
  port: 8080
  enabled: true
  tags: ["yes", on, "2024-01-01"]
  ca_certificates: null
  client_certificate: ~
  write_timeout: 6.0e4
- name: "b: c"
  host: b
  note: |
    line 1
    line 2
consumers:
- username: u
  custom_id: 0x1F
  keyauth_credentials:
  - key: 'it''s'
    created_at: 1700000000
  note: 2001-12-14
"""


def test_kongs_export_is_read_as_pyyaml_reads_it_and_stays_json() -> None:
    """The export goes through the catalog loader's fast path (7x faster than PyYAML's constructors on a
    4 MB export): the same data, except that an unquoted date stays the text it was, which the JSON
    payload can carry (PyYAML's datetime.date cannot be posted)."""
    expected = yaml.load(EXPORT, Loader=yaml.SafeLoader)
    expected["consumers"][0]["note"] = "2001-12-14"
    assert dbless.export_data(EXPORT) == expected
    json.dumps(dbless.export_data(EXPORT))


def test_two_catalogs_sharing_a_dbless_kong_keep_each_others_passwords_and_stop_reloading(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each apply carries the other catalog's entities over from Kong's export, where basic-auth passwords
    are Kong's hashes: loaded with Kong's default `_transform: true` they were hashed a second time and the
    other catalog's consumers were locked out. And once both are applied, neither apply reloads Kong again:
    the running text differs from each one's own only in form."""
    from gatewayctl.plan.normalise import basic_auth_hash

    shop = write_catalog(workdir, DBLESS)
    other_dir = workdir / "other"
    other_dir.mkdir()
    monkeypatch.setenv("OTHER_KEY", "other-key-0004")
    monkeypatch.setenv("OTHER_PASSWORD", "other-password-0005")
    # names of its own: DB-less Kong refuses a configuration holding a service name, a consumer's username,
    # ... twice, and keeps one of two global plugins of a name (kong/db/schema/others/declarative_config.lua)
    other = write_catalog(
        other_dir,
        DBLESS.replace("name: shop", "name: other")
        .replace("  request_id: {header: X-Request-ID}\n  metrics: {status_codes: true}\n", "")
        .replace("WEB_APP_KEY", "OTHER_KEY")
        .replace("OPS_PASSWORD", "OTHER_PASSWORD")
        .replace("username: ops", "username: ops2")
        .replace("- name: web-app", "- name: web-app2")
        .replace("- name: ops", "- name: ops2")
        .replace("- name: orders", "- name: orders2")
        .replace("- name: catalogue", "- name: catalogue2")
        .replace("/orders", "/o2")
        .replace("/catalogue", "/c2"),
    )
    for catalog in (shop, other):
        code, _, err = cli(capsys, kong, "apply", str(catalog), "--yes")
        assert code == 0, err
    stored = {c["username"]: c for c in kong.state.entities("basicauth_credentials")}
    assert stored["ops"]["password"] == basic_auth_hash(SECRETS["OPS_PASSWORD"], stored["ops"]["consumer"]["id"])
    assert stored["ops2"]["password"] == basic_auth_hash("other-password-0005", stored["ops2"]["consumer"]["id"])
    posts = len(config_posts(kong))
    for catalog in (shop, other, shop):
        code, out, err = cli(capsys, kong, "diff", str(catalog), "--exit-code")
        assert code == 0, out + err
        code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
        assert code == 0 and "nothing to do" in out, out + err
    assert len(config_posts(kong)) == posts


def test_anothers_key_with_a_ttl_survives_being_carried_over(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """DB-less Kong's export shows a credential's ttl as the seconds it has left, but reads the ttl it is given
    as the time the credential expires (kong/db/strategies/off/init.lua process_ttl_field): carried over as
    exported, another team's key expired in 1970. It goes back as that time, by Kong's own clock (the export's
    Date), so it keeps its expiry and the text stays the same from one apply to the next."""
    expires = int(time.time()) + 600
    other = {
        "_format_version": "3.0",
        "consumers": [
            {
                "username": "partner",
                "tags": ["team-x"],
                "keyauth_credentials": [{"key": "partner-key", "ttl": expires, "tags": ["team-x"]}],
            }
        ],
    }
    with httpx.Client(base_url=kong.url) as http:
        assert http.post("/config", json=other).status_code == 201
        catalog = str(write_catalog(workdir, DBLESS))
        code, _, err = cli(capsys, kong, "apply", catalog, "--yes")
        assert code == 0, err
        carried = http.get("/key-auths/partner-key")
        assert carried.status_code == 200 and 590 <= carried.json()["ttl"] <= 600, carried.text
    stored = {c["key"]: c["ttl"] for c in kong.state.entities("keyauth_credentials")}
    assert stored["partner-key"] - expires in (0, 1)  # a second more if the export's Date turned over
    posts = len(config_posts(kong))
    time.sleep(1.1)
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 0, err
    now_stored = {c["key"]: c["ttl"] for c in kong.state.entities("keyauth_credentials")}
    moved = now_stored["partner-key"] - stored["partner-key"]
    assert moved in (0, 1)
    if moved == 0:  # the running hash is that of the text apply would post: no POST at all
        assert "nothing to do" in out and len(config_posts(kong)) == posts, out


def test_anothers_plugin_survives_kongs_export_form_and_stops_reloading(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Kong's export (lyaml) writes an empty array as `{}` and a number in 14 digits: carried over in that form,
    another team's plugin loads again, and from then on each apply posts the same text, so none reloads Kong."""
    other = {
        "_format_version": "3.0",
        "plugins": [
            {"name": "response-transformer", "config": {"add": {"headers": ["X-A:1"]}}, "tags": ["team-x"]},
            {
                "name": "zipkin",
                "config": {"http_endpoint": "http://z:9411/", "sample_ratio": 0.12345678901234567},
                "tags": ["team-x"],
            },
        ],
    }
    with httpx.Client(base_url=kong.url) as http:
        assert http.post("/config", json=other).status_code == 201
    catalog = str(write_catalog(workdir, DBLESS))
    code, _, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 0, err
    kept = {p["name"]: p["config"] for p in kong.state.entities("plugins") if "team-x" in p["tags"]}
    assert kept["response-transformer"]["remove"]["headers"] == [] and kept["zipkin"]["sample_ratio"] > 0.1
    posts = len(config_posts(kong))
    time.sleep(1.1)
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 0 and "nothing to do" in out, out + err
    assert len(config_posts(kong)) == posts


def test_two_variables_holding_one_key_are_refused_before_anything_is_posted(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two key-auth keys written apart but equal once resolved: Kong 3.9 refuses the whole configuration,
    quoting the key (kong/db/schema/others/declarative_config.lua uniqueness_error_msg). gatewayctl tells it
    at the second key, naming the first, without the key, and posts nothing."""
    monkeypatch.setenv("PARTNER_KEY", SECRETS["WEB_APP_KEY"])
    partner = '  - name: partner\n    credentials:\n      key_auth: [{key: "${env:PARTNER_KEY}"}]\n'
    text = DBLESS.replace("  - name: ops\n", partner + "  - name: ops\n")
    catalog = str(write_catalog(workdir, text))
    line = text.splitlines().index('      key_auth: [{key: "${env:PARTNER_KEY}"}]') + 1
    for command in ("diff", "apply"):
        code, out, err = cli(capsys, kong, command, catalog, *(["--yes"] if command == "apply" else []))
        assert code == 1, out + err
        assert (
            f"{catalog}:{line}:24: consumers[1].credentials.key_auth[0].key: this key is the same as "
            "consumers[0].credentials.key_auth[0].key once their references are resolved (value not shown)"
        ) in err
        assert SECRETS["WEB_APP_KEY"] not in out + err
    assert config_posts(kong) == []


def seed_config(kong: KongEmulator, doc: dict[str, object]) -> None:
    with httpx.Client(base_url=kong.url) as http:
        assert http.post("/config", json={"_format_version": "3.0", **doc}).status_code == 201


def test_a_unique_value_held_by_an_entity_of_others_is_told_at_the_catalog_entry_before_posting(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Carried over beside this catalog's, another team's consumer named alike, or key-auth key alike, makes
    DB-less Kong refuse the whole configuration (kong/db/schema/others/declarative_config.lua
    populate_references), quoting the key. gatewayctl says so at the entry, without the key, and posts
    nothing."""
    seed_config(
        kong,
        {
            "consumers": [
                {"username": "web-app", "tags": ["team-x"]},
                {
                    "username": "partner",
                    "tags": ["team-x"],
                    "keyauth_credentials": [{"key": SECRETS["WEB_APP_KEY"], "tags": ["team-x"]}],
                },
            ]
        },
    )
    catalog = str(write_catalog(workdir, DBLESS))
    for command in ("diff", "apply"):
        code, out, err = cli(capsys, kong, command, catalog, *(["--yes"] if command == "apply" else []))
        assert code == 1, out + err
        assert (
            ":8:5: consumers[0]: consumer web-app in Kong's running configuration, not this catalog's, holds the "
            "same username: DB-less Kong refuses a configuration holding it twice"
        ) in err
        assert ":11:18: consumers[0].credentials.key_auth[0]: key-auth credential " in err
        assert "not this catalog's, holds the same key" in err
        assert SECRETS["WEB_APP_KEY"] not in out + err
    assert config_posts(kong) == [201]  # the seeding alone


def test_a_plugin_of_others_with_the_same_name_and_scope_is_not_loaded_beside_the_catalogs(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Nothing in DB-less Kong holds a plugin's (name, service, route, consumer) unique: both would be loaded
    and one of them silently run (kong/db/declarative/import.lua)."""
    seed_config(kong, {"plugins": [{"name": "correlation-id", "config": {"header_name": "X-Trace"}, "tags": ["x"]}]})
    catalog = str(write_catalog(workdir, DBLESS))
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 1, out + err
    assert (
        ":4:3: gateway: Kong's running configuration has another correlation-id (global) plugin, not this catalog's"
    ) in err
    assert config_posts(kong) == [201]


def test_an_entity_of_others_belonging_to_one_the_catalog_drops_is_told_before_posting(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """Another team's plugin on this catalog's service: dropping the service leaves the plugin referring to
    nothing, which DB-less Kong refuses, its error lost to `flatten_errors` (`declarative config is invalid:
    {}`)."""
    catalog = str(write_catalog(workdir, DBLESS))
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    service = next(s for s in kong.state.entities("services") if s["name"] == "catalogue")
    carried = json.loads(json.dumps(yaml.safe_load(kong.state.export())))
    carried["plugins"].append({"name": "cors", "service": service["id"], "tags": ["team-x"], "config": {}})
    with httpx.Client(base_url=kong.url) as http:
        assert http.post("/config", json={"config": json.dumps(carried)}).status_code == 201
    write_catalog(workdir, DBLESS[: DBLESS.index("  - name: catalogue\n")])  # the last entry
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 1, out + err
    assert "plugin cors (service " in err
    assert "in Kong, not this catalog's, belongs to service catalogue, which this catalog no longer has" in err
    assert config_posts(kong) == [201, 201]  # the first apply's and the seeding


def test_a_refusal_quoting_a_key_is_told_without_it(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kong quotes the key it refuses twice (`uniqueness violation: 'keyauth_credentials' entity with key set to
        '<key>'`), in the message as Lua's %q writes it (pl.pretty) and in `fields` as it is: here another team's
        key came between the read and the POST (the body is the emulator's for that document). Left in `fields`
    (flatten_errors matches a nested credential's error with no entity), it is told at the credential holding
    the key it quotes."""
    from emulators.kong import declarative_references, declarative_refusal

    key = 'k"e\\y-0006'
    monkeypatch.setenv("WEB_APP_KEY", key)
    doc = {
        "_format_version": "3.0",
        "consumers": [
            {"username": "a", "keyauth_credentials": [{"key": key}]},
            {"username": "b", "keyauth_credentials": [{"key": key}]},
        ],
    }
    body = declarative_refusal(declarative_references(doc), doc, True)
    assert 'k\\"e\\\\y-0006' in body["message"] and key in body["fields"]["keyauth_credentials"][0]
    kong.state.fail(1, method="POST", path="/config", status=400, body=body)
    code, out, err = cli(capsys, kong, "apply", str(write_catalog(workdir, DBLESS)), "--yes")
    assert code == 3, out + err
    line = DBLESS.splitlines().index('      key_auth: [{key: "${env:WEB_APP_KEY}"}]') + 1
    assert (
        f":{line}:18: consumers[0].credentials.key_auth[0]: Kong refused key-auth credential "
        "a33b2867-9377-5183-882b-ebe0efe7adca: uniqueness violation: 'keyauth_credentials' entity with key set to "
        "'<secret ${env:WEB_APP_KEY}>' already declared"
    ) in err
    for shown in (key, json.dumps(key)[1:-1], 'k\\"e\\\\y-0006'):
        assert shown not in out + err
