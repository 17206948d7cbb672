"""Planning without a server: normalisation (no phantom diffs), masking, duplicate names, write order."""

from __future__ import annotations

import random
from typing import Any

from emulators.kong import KongState
from emulators.kong_schemas import ENTITIES, PLUGINS

from gatewayctl.apply.kong import phases
from gatewayctl.plan.entities import Entity, flatten, from_live
from gatewayctl.plan.kong import LiveState, ServerInfo, build_plan, compare
from gatewayctl.plan.masking import SECRET, Masker
from gatewayctl.plan.normalise import basic_auth_hash, plugin_schema

SERVER = ServerInfo("3.9.1", "community", "postgres", frozenset(PLUGINS))


def schema_of(entity: Entity) -> dict[str, object] | None:
    if entity.kind == "plugins":
        return plugin_schema({"fields": ENTITIES["plugins"]["fields"]}, PLUGINS.get(str(entity.body.get("name"))))
    return {"fields": ENTITIES[entity.kind]["fields"]}


def live_copy(kind: str, body: dict[str, Any], entity_id: str) -> Entity:
    """What Kong gives back for `body`: every field, defaults filled, nulls, timestamps."""
    state = KongState()
    if isinstance(body.get("service"), dict):
        state.seed("services", {"id": body["service"]["id"], "host": "h"})
    return from_live(kind, state.upsert(kind, entity_id, dict(body), replace=True))


def test_kong_filling_in_defaults_is_not_a_change() -> None:
    # Kong takes UUID ids only
    service_id, route_id, plugin_id = (f"9d0c5b8e-0000-4000-8000-00000000000{i}" for i in range(3))
    route = Entity(
        "routes", route_id, {"name": "a-b", "paths": ["/a"], "methods": ["POST", "GET"], "service": {"id": service_id}}
    )
    live = live_copy("routes", {**route.body, "methods": ["GET", "POST"]}, route_id)
    assert live.body["https_redirect_status_code"] == 426 and live.body["regex_priority"] == 0
    assert compare(route, live, schema_of(route), Masker()) == []
    plugin = Entity(
        "plugins", plugin_id, {"name": "rate-limiting", "config": {"minute": 5}, "service": {"id": service_id}}
    )
    live_plugin = live_copy("plugins", plugin.body, plugin_id)
    assert live_plugin.body["config"]["redis"]["port"] == 6379
    assert compare(plugin, live_plugin, schema_of(plugin), Masker()) == []
    changed = Entity("plugins", plugin_id, {**plugin.body, "config": {"minute": 6}})
    assert [(c.path, c.old, c.new) for c in compare(changed, live_plugin, schema_of(plugin), Masker())] == [
        ("config.minute", 5, 6)
    ]


def test_secret_fields_and_known_values_are_masked() -> None:
    masker = Masker.of(["hunter22-token"])
    want = Entity(
        "plugins", "p", {"name": "x", "config": {"headers": ["Authorization: Bearer hunter22-token"], "password": "pw"}}
    )
    have = Entity("plugins", "p", {"name": "x", "config": {"headers": [], "password": "old"}})
    changes = {c.path: c for c in compare(want, have, None, masker)}
    assert changes["config.password"].new == f"{SECRET} (changed)"
    assert (changes["config.headers"].old, changes["config.headers"].new) == (SECRET, f"{SECRET} (changed)")
    assert masker.text("a hunter22-token b") == "a <secret> b"
    removed = Entity("plugins", "p", {"name": "x", "config": {"password": None}})
    gone = {c.path: (c.old, c.new) for c in compare(removed, have, None, masker)}
    assert gone["config.password"] == (SECRET, None)  # a secret removed goes away; it does not change


def test_a_rotated_secret_inside_free_text_is_masked_on_both_sides() -> None:
    """The live value holds the previous secret, which the catalog no longer resolves: a field whose desired
    value holds a secret hides the live one too (as Kuma's plans do), in text and --json alike."""
    masker = Masker.of(["n3w-audit-token"])
    want = Entity("plugins", "p", {"name": "x", "config": {"message": "denied n3w-audit-token", "status_code": 403}})
    have = Entity("plugins", "p", {"name": "x", "config": {"message": "denied 0ld-audit-token", "status_code": 401}})
    changes = [(c.path, c.old, c.new) for c in compare(want, have, None, masker)]
    assert changes == [("config.message", SECRET, f"{SECRET} (changed)"), ("config.status_code", 401, 403)]


def test_basic_auth_passwords_compare_through_kongs_hash() -> None:
    desired = Entity(
        "basicauth_credentials", "b", {"username": "ops", "password": "pw", "consumer": {"id": "c"}}, ("consumers", 0)
    )
    live = from_live(
        "basicauth_credentials",
        {"id": "b", "username": "ops", "password": basic_auth_hash("pw", "c"), "consumer": {"id": "c"}},
    )
    assert compare(desired, live, schema_of(desired), Masker()) == []
    rotated = Entity("basicauth_credentials", "b", {**desired.body, "password": "new"}, ("consumers", 0))
    assert [c.path for c in compare(rotated, live, schema_of(desired), Masker())] == ["password"]


def test_a_renamed_entity_frees_its_name_before_the_new_one_is_created() -> None:
    config = {
        "_format_version": "3.0",
        "services": [
            {"id": "new-svc", "name": "orders", "host": "o", "routes": [{"id": "new-route", "name": "orders-api"}]}
        ],
    }
    desired = flatten(config)
    live = LiveState(
        {
            "services": [{"id": "old-svc", "name": "orders", "host": "o"}],
            "routes": [{"id": "old-route", "name": "orders-api", "service": {"id": "old-svc"}}],
            "consumers": [{"id": "gone", "username": "x"}],
        }
    )
    plan = build_plan(desired, live, lambda e: None, SERVER, Masker())
    batches = [[(c.action, c.entity.id) for c in batch] for batch in phases(plan.changes)]
    assert batches == [
        [("delete", "old-route")],  # children of an early delete first
        [("delete", "old-svc")],
        [("create", "new-svc")],
        [("create", "new-route")],
        [("delete", "gone")],  # the rest of the deletes last, bottom-up
    ]


def test_a_key_moving_between_kept_credentials_is_given_up_before_it_is_taken() -> None:
    """key-auth ids follow the list position, so a key put in front moves every key one credential on: each
    credential must give its key up before the next one takes it (Kong's unique key answers 409 otherwise);
    two swapped keys cannot be ordered, so one credential is deleted first and created again."""

    def creds(*keys: str) -> list[dict[str, Any]]:
        return [{"id": f"k{i}", "key": k, "consumer": {"id": "c"}} for i, k in enumerate(keys)]

    def batches(live: list[str], want: list[str]) -> list[list[tuple[str, str]]]:
        desired = flatten({"consumers": [{"id": "c", "username": "app", "keyauth_credentials": creds(*want)}]})
        state = LiveState({"consumers": [{"id": "c", "username": "app"}], "keyauth_credentials": creds(*live)})
        plan = build_plan(desired, state, lambda e: None, SERVER, Masker())
        return [[(c.action, c.entity.id) for c in batch] for batch in phases(plan.changes)]

    assert batches(["old"], ["new", "old"]) == [[("update", "k0")], [("create", "k1")]]
    assert batches(["a", "b"], ["x", "a", "b"]) == [[("update", "k0")], [("update", "k1")], [("create", "k2")]]
    assert batches(["a", "b"], ["b", "a"]) == [
        [("delete", "k0")],
        [("update", "k1")],
        [("create", "k0")],
    ]
    assert batches(["a", "b"], ["b"]) == [[("delete", "k1")], [("update", "k0")]]  # the older rule still holds


def test_the_plan_knows_every_unique_key_kong_holds_for_the_kinds_it_writes() -> None:
    """The emulator holds what Kong 3.9 holds unique (its schemas' `unique = true` fields, and the
    `cache_key` column of plugins, acls and targets): a key the plan does not know is a 409 it cannot order."""
    from gatewayctl.plan.kinds import KINDS

    state = KongState()
    for kind in KINDS:
        assert {frozenset(k) for k in kind.unique} == {frozenset(k) for k in state.unique_keys(kind.name)}, kind.name


def test_a_swap_of_custom_ids_gives_one_up_in_a_first_write_and_a_swap_nothing_can_free_is_left_to_kong() -> None:
    def batches(live: list[dict[str, Any]], want: list[dict[str, Any]], kind: str = "consumers") -> list[list[Any]]:
        plan = build_plan(flatten({kind: want}), LiveState({kind: live}), lambda e: None, SERVER, Masker())
        return [[(c.action, c.entity.id, c.entity.body.get("custom_id")) for c in b] for b in phases(plan.changes)]

    def consumers(*custom_ids: str | None) -> list[dict[str, Any]]:
        return [
            {"id": name, "username": name} | ({"custom_id": cid} if cid else {})
            for name, cid in zip("abc", custom_ids, strict=False)
        ]

    assert batches(consumers("x", "y"), consumers("y", "x")) == [
        [("update", "a", None)],  # a gives x up, takes nothing yet
        [("update", "b", "x")],
        [("update", "a", "y")],
    ]
    assert batches(consumers("x", "y", None), consumers(None, "x", "y")) == [  # along a chain: no first write
        [("update", "a", None)],
        [("update", "b", "x")],
        [("update", "c", "y")],
    ]
    assert batches(consumers("x", "y", "z"), consumers("y", "z", "x")) == [  # round three: one first write
        [("update", "a", None)],
        [("update", "c", "x")],
        [("update", "b", "z")],
        [("update", "a", "y")],
    ]
    # a consumer cannot be without both username and custom_id, nor be deleted (its credentials and plugins
    # go with it), nor an upstream be without its name: such a hand-made swap is left to Kong's 409
    swapped = [{"id": "a", "username": "b", "custom_id": "y"}, {"id": "b", "username": "a", "custom_id": "x"}]
    assert sorted(map(tuple, batches(swapped, [{"id": "a", "username": "a"}, {"id": "b", "username": "b"}]))) == [
        (("update", "a", None),),
        (("update", "b", None),),
    ]
    upstreams = [{"id": "a", "name": "b.upstream"}, {"id": "b", "name": "a.upstream"}]
    wanted = [{"id": "a", "name": "a.upstream"}, {"id": "b", "name": "b.upstream"}]
    assert len(batches(upstreams, wanted, "upstreams")) == 2


def test_server_capabilities_are_checked() -> None:
    from gatewayctl.plan.kong import server_problems

    desired = flatten({"plugins": [{"id": "p", "name": "openid-connect"}]})
    old = ServerInfo("2.8.4", "community", "off", frozenset({"cors"}))
    messages = [m for _, m in server_problems(old, desired, "enterprise", "db")]
    assert any("too old" in m for m in messages)
    assert any("enterprise" in m for m in messages)
    assert any("gateway.mode: dbless" in m for m in messages)
    assert any("plugin 'openid-connect' is not available" in m for m in messages)


def test_free_text_masking_finds_every_secret_among_many() -> None:
    """Masker.text looks only for the secrets whose start occurs in the text: the same result as trying
    every secret, longest first (a secret inside another is not left half-shown)."""
    rng = random.Random(7)
    alphabet = "abcde-_:/"
    secrets = ["".join(rng.choice(alphabet) for _ in range(rng.randint(4, 12))) for _ in range(300)]
    secrets += ["abcd", "abcdabcd", "xabcdx"]  # one inside another
    masker = Masker.of(secrets)

    def every_secret(text: str) -> str:
        for secret in masker.values:  # longest first
            if secret in text:
                text = text.replace(secret, SECRET)
        return text

    for _ in range(2000):
        text = "".join(rng.choice(alphabet + "xyz ") for _ in range(rng.randint(0, 60)))
        assert masker.text(text) == every_secret(text), text
    assert masker.text("key=abcdabcd;") == f"key={SECRET};"
    assert Masker().text("anything") == "anything"
    # a shorter secret starting earlier does not leave the rest of a longer one shown
    assert Masker.of(["abcdefgh", "xabc"]).text("xabcdefgh") == f"x{SECRET}"
    # text that happens to look like the stand-ins text() uses inside is left as it is
    odd = "\x00\U000f0005\x00"
    assert Masker.of(["abcdefgh"]).text(f"{odd} abcdefgh") == f"{odd} {SECRET}"


def test_a_secret_in_free_text_is_shown_by_its_reference_when_known() -> None:
    masker = Masker.of(["s3cr3t-audit", "TOKEN", "other-value"], {"s3cr3t-audit": "${env:AUDIT_TOKEN}"})
    # the reference put in is not searched again: the secret "TOKEN" inside "AUDIT_TOKEN" stays as it is
    assert masker.text("Bearer s3cr3t-audit; TOKEN; other-value") == (
        f"Bearer <secret ${{env:AUDIT_TOKEN}}>; {SECRET}; {SECRET}"
    )


def test_thousands_of_key_auth_keys_moving_along_a_chain_or_round_a_cycle_are_ordered() -> None:
    """Key-auth ids follow the list position, so a key added at the head of a long list moves every key one
    place (a chain of 3,000 moves) and the last key put first moves them round a cycle: each is ordered
    so that no value is taken while another still holds it, however long the chain."""
    count = 3000

    def keys(values: list[str]) -> list[dict[str, Any]]:
        return [{"id": f"k{i}", "key": value} for i, value in enumerate(values)]

    def check(live_values: list[str], wanted_values: list[str]) -> None:
        live = {"consumers": [{"id": "c", "username": "c"}], "keyauth_credentials": []}
        live["keyauth_credentials"] = [{**k, "consumer": {"id": "c"}} for k in keys(live_values)]
        wanted = {"consumers": [{"id": "c", "username": "c", "keyauth_credentials": keys(wanted_values)}]}
        plan = build_plan(flatten(wanted), LiveState(live), lambda e: None, SERVER, Masker())
        held = {k["id"]: k["key"] for k in live["keyauth_credentials"]}
        holder = {value: key_id for key_id, value in held.items()}
        steps = phases(plan.changes)
        for batch in steps:  # a batch runs concurrently: what it takes must be free when it starts
            for change in batch:
                value = change.entity.body.get("key")
                if change.action != "delete":
                    assert holder.get(value, change.entity.id) == change.entity.id, (change.entity.id, value)
            for change in batch:
                holder.pop(held.pop(change.entity.id, None), None)
                if change.action != "delete":
                    held[change.entity.id] = change.entity.body["key"]
                    holder[held[change.entity.id]] = change.entity.id
        assert held == {k["id"]: k["key"] for k in keys(wanted_values)}

    values = [f"key-{i}" for i in range(count)]
    check(values, ["key-new", *values])  # a chain: one move after another
    check(values, [values[-1], *values[:-1]])  # a cycle: one key given up first
    check(values, [values[i ^ 1] for i in range(count)])  # 1,500 swapped pairs: 1,500 cycles


def test_a_value_kong_generates_for_a_field_left_out_is_kept_not_changed() -> None:
    # A raw oauth2 plugin without provision_key: Kong draws one (`auto`). It is no change, and a PUT for
    # another change carries it, or Kong would draw a new one and lock out the clients provisioned with it.
    from gatewayctl.plan.entities import DesiredState

    plugin_id = "9d0c5b8e-0000-4000-8000-000000000031"
    body = {"name": "oauth2", "config": {"enable_client_credentials": True}}
    state = KongState()
    generated = state.upsert("plugins", plugin_id, dict(body), replace=True)
    key = generated["config"]["provision_key"]
    assert key
    unchanged = build_plan(
        DesiredState([Entity("plugins", plugin_id, body)]),
        LiveState({"plugins": [generated]}),
        schema_of,
        SERVER,
        Masker(),
    )
    assert unchanged.changes == []
    changed = {"name": "oauth2", "config": {"enable_client_credentials": True, "token_expiration": 60}}
    plan = build_plan(
        DesiredState([Entity("plugins", plugin_id, changed)]),
        LiveState({"plugins": [generated]}),
        schema_of,
        SERVER,
        Masker(),
    )
    (update,) = plan.changes
    assert [c.path for c in update.fields] == ["config.token_expiration"]
    assert update.entity.body["config"]["provision_key"] == key
    assert changed["config"].get("provision_key") is None  # the desired body itself is left alone


def test_schemas_asked_for_by_threads_at_once_are_fetched_once() -> None:
    """A plan compares each page in the thread that read it, so threads ask for the same schemas at once:
    each is fetched by the first to ask, and the others wait for it rather than fetch it again."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from emulators.kong import running

    from gatewayctl.clients.kong_admin import Endpoint, KongAdmin
    from gatewayctl.plan.kong import SchemaCache

    paths = ["/schemas/services", "/schemas/routes", "/schemas/plugins", "/schemas/plugins/cors"]
    with running(KongState(latency=0.05)) as kong, KongAdmin(Endpoint(kong.url)) as client:
        cache = SchemaCache(client)
        start = threading.Barrier(6)

        def ask(first: int) -> None:
            start.wait()
            cache.fetch(paths[first % 2 :], parallelism=4)  # overlapping sets, all asked at the same moment
            cache.fetch(paths, parallelism=4)

        with ThreadPoolExecutor(6) as pool:
            list(pool.map(ask, range(6)))
        assert sorted(r.path for r in kong.state.requests) == sorted(paths)
        assert all(cache.get(p) for p in paths)
        assert len(kong.state.requests) == len(paths)
