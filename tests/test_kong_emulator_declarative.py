"""The emulator's DB-less `POST /config` past the schema, as Kong 3.9 does it: references and uniqueness across
the whole document (kong/db/schema/others/declarative_config.lua validate_references and flatten), the error
reported by kong/api/routes/config.lua with kong/db/errors.lua declarative_config(_flattened). The expected
bodies of the first three tests are those of Kong's own spec/02-integration/04-admin_api/15-off_spec.lua."""

from __future__ import annotations

import json
from typing import Any

import httpx
from emulators.kong import KongState, running

UUID_1 = "a73dc9a7-93df-584d-97c0-7f41a1bbce3d"
UUID_2 = "a73dc9a7-93df-584d-97c0-7f41a1bbce32"


def post(doc: dict[str, Any], flatten: bool = True, state: KongState | None = None) -> tuple[int, Any]:
    with running(state or KongState(dbless=True)) as kong, httpx.Client(base_url=kong.url) as client:
        answer = client.post(
            "/config", params={"flatten_errors": "1"} if flatten else {}, json={"config": json.dumps(doc)}
        )
        return answer.status_code, answer.json()


def test_an_endpoint_key_declared_twice_is_refused_at_the_second_position() -> None:
    # 15-off_spec.lua "returns 400 on an endpoint key uniqueness error"
    doc = {
        "_format_version": "1.1",
        "services": [{"name": "foo", "host": "example.com"}, {"name": "foo", "host": "example.test", "port": 3000}],
    }
    message = "uniqueness violation: 'services' entity with name set to 'foo' already declared"
    assert post(doc, flatten=False) == (
        400,
        {
            "code": 14,
            "name": "invalid declarative configuration",
            "fields": {"services": [None, message]},
            "message": f'declarative config is invalid: {{services={{[2]="{message}"}}}}',
        },
    )


def test_a_regular_unique_field_is_refused_by_the_endpoint_key_and_only_the_last_of_a_type() -> None:
    # 15-off_spec.lua "returns 400 on a regular key uniqueness error"; flatten resets a type's errors at each
    # violation (`errs[entity] = errors[entity] or {}`), so of two clashes only the last is told
    doc = {
        "_format_version": "1.1",
        "consumers": [
            {"username": "foo", "custom_id": "conflict"},
            {"username": "bar", "custom_id": "conflict"},
            {"username": "baz", "custom_id": "other"},
            {"username": "qux", "custom_id": "other"},
        ],
    }
    status, body = post(doc, flatten=False)
    message = "uniqueness violation: 'consumers' entity with custom_id set to 'other' already declared"
    assert status == 400 and body["fields"] == {"consumers": {"qux": message}}
    assert body["message"] == f'declarative config is invalid: {{consumers={{qux="{message}"}}}}'
    # keyed by a name, not a position: flatten_errors finds no entity for it and it is lost from both lists
    status, body = post(doc)
    assert (status, body["fields"], body["flattened_errors"]) == (400, {}, {})
    assert body["message"] == "declarative config is invalid: {}"


def test_a_flattened_uniqueness_error_names_the_second_entity() -> None:
    # 15-off_spec.lua "origin error do not loss when enable flatten_errors - (#12167)": a consumer has no
    # `name`, so there is no entity_name at all (validate_name)
    second = {"id": UUID_2, "username": "test-consumer-1", "tags": ["consumer-2"]}
    doc = {
        "_format_version": "3.0",
        "consumers": [{"id": UUID_1, "username": "test-consumer-1", "tags": ["consumer-1"]}, second],
    }
    status, body = post(doc)
    assert status == 400 and body["fields"] == {} and body["message"] == "declarative config is invalid: {}"
    assert body["flattened_errors"] == [
        {
            "entity_type": "consumer",
            "entity_id": UUID_2,
            "entity_tags": ["consumer-2"],
            "entity": second,
            "errors": [
                {
                    "type": "entity",
                    "message": "uniqueness violation: 'consumers' entity with username set to "
                    "'test-consumer-1' already declared",
                }
            ],
        }
    ]


def test_a_key_auth_key_held_by_two_consumers_is_refused_under_the_credentials_own_type() -> None:
    """populate_references keeps a nested entity's error at its position in its own list, under its own type
    (errs.keyauth_credentials[1]); a document without a top-level list of that type leaves it unflattened,
    in `fields`, the key quoted in the message."""
    doc = {
        "_format_version": "3.0",
        "consumers": [
            {"username": "a", "keyauth_credentials": [{"key": "k-1"}]},
            {"username": "b", "keyauth_credentials": [{"key": "k-1"}]},
        ],
    }
    message = "uniqueness violation: 'keyauth_credentials' entity with key set to 'k-1' already declared"
    status, body = post(doc)
    assert status == 400 and body["flattened_errors"] == {}  # an empty Lua table: cjson writes `{}`
    assert body["fields"] == {"keyauth_credentials": [message]}
    assert body["message"] == f'declarative config is invalid: {{keyauth_credentials={{"{message}"}}}}'


def test_a_nested_entitys_error_is_flattened_onto_the_top_level_entity_at_its_position() -> None:
    """flatten_errors matches errs.keyauth_credentials[n] with the document's top-level keyauth_credentials[n],
    whichever entity the error was about: here the top-level one is the second holder of the key (nested
    entities are visited with their parent, before the top-level list of their type)."""
    carried = {"id": UUID_2, "key": "k-1", "consumer": UUID_1, "tags": ["team-x"]}
    doc = {
        "_format_version": "3.0",
        "consumers": [{"id": UUID_1, "username": "a", "keyauth_credentials": [{"key": "k-1"}]}],
        "keyauth_credentials": [carried],
    }
    status, body = post(doc)
    assert status == 400 and body["fields"] == {}
    assert body["flattened_errors"] == [
        {
            "entity_type": "keyauth_credential",
            "entity_id": UUID_2,
            "entity_tags": ["team-x"],
            "entity": carried,
            "errors": [
                {
                    "type": "entity",
                    "message": "uniqueness violation: 'keyauth_credentials' entity with key set to 'k-1' "
                    "already declared",
                }
            ],
        }
    ]


def test_an_id_declared_twice_under_one_parent_is_refused_under_it() -> None:
    """errs.upstreams[1].targets[2]: flattened onto the target, its upstream's primary key filled in
    (errors.lua add_entity_errors)."""
    target = {"id": UUID_2, "target": "10.0.0.2:80"}
    doc = {
        "_format_version": "3.0",
        "upstreams": [{"id": UUID_1, "name": "u", "targets": [{"id": UUID_2, "target": "10.0.0.1:80"}, target]}],
    }
    status, body = post(doc)
    assert status == 400 and body["fields"] == {}
    assert body["flattened_errors"] == [
        {
            "entity_type": "target",
            "entity_id": UUID_2,
            "entity": {**target, "upstream": {"id": UUID_1}},
            "errors": [
                {
                    "type": "entity",
                    "message": f"uniqueness violation: 'targets' entity with primary key set to '{UUID_2}' "
                    "already declared",
                }
            ],
        }
    ]


def test_a_reference_to_nothing_is_refused_and_lost_when_flattened_with_a_top_level_list() -> None:
    # 03-flatten_spec.lua "fixes #7696": keyed by the route's name; flatten_errors matches no entity with it
    doc = {
        "_format_version": "3.0",
        "services": [
            {
                "name": "my-service-1",
                "host": "localhost",
                "routes": [{"name": "my-route-1", "service": {"id": UUID_1}, "paths": ["/status"]}],
            }
        ],
    }
    message = f"invalid reference 'service: {{\"id\":\"{UUID_1}\"}}' (no such entry in 'services')"
    for flatten in (False, True):  # the document has no top-level routes: the section stays in `fields`
        status, body = post(doc, flatten=flatten)
        assert status == 400 and body["fields"] == {"routes": {"my-route-1": [message]}}
        assert body.get("flattened_errors", {}) == {}
    # with a top-level list of routes, the section is drained and the error keyed by name goes nowhere
    doc["routes"] = [{"name": "my-route-2", "service": UUID_2, "paths": ["/b"]}]
    status, body = post(doc)
    assert (status, body["fields"], body["flattened_errors"]) == (400, {}, {})
    assert body["message"] == "declarative config is invalid: {}"


def test_a_top_level_entity_may_reference_a_nested_one_by_id_or_endpoint_key() -> None:
    doc = {
        "_format_version": "3.0",
        "services": [{"id": UUID_1, "name": "s", "host": "h"}],
        "routes": [{"name": "r1", "service": UUID_1, "paths": ["/a"]}, {"name": "r2", "service": "s", "paths": ["/b"]}],
    }
    assert post(doc)[0] == 201


def test_two_plugins_of_one_name_and_scope_are_both_taken() -> None:
    """Nothing in the declarative schema holds a plugin's (name, service, route, consumer) unique: with ids
    of their own both load, and the cache key one is found by is whichever was written last
    (kong/db/declarative/import.lua insert_entity_for_txn `t:set(key, ...)`): a silent collision."""
    doc = {
        "_format_version": "3.0",
        "plugins": [
            {"id": UUID_1, "name": "cors", "config": {"origins": ["a"]}},
            {"id": UUID_2, "name": "cors", "config": {"origins": ["b"]}},
        ],
    }
    state = KongState(dbless=True)
    assert post(doc, state=state)[0] == 201
    assert len(state.entities("plugins")) == 2


def test_flattened_schema_errors_leave_only_top_level_keys_in_fields() -> None:
    # 15-off_spec.lua "does not throw for invalid input" (#10767's neighbour): with flatten_errors, `fields`
    # keeps only `{abnormal_extra_field = "unknown field"}`; the entity errors are in flattened_errors alone,
    # without an entity_name where the entity has none (a consumer)
    doc = {
        "_format_version": "3.0",
        "abnormal_extra_field": 123,
        "consumers": [{"id": UUID_1, "username": "c", "custom_id": ""}],
    }
    status, body = post(doc)
    assert status == 400 and body["fields"] == {"abnormal_extra_field": "unknown field"}
    assert body["message"] == 'declarative config is invalid: {abnormal_extra_field="unknown field"}'
    [consumer] = body["flattened_errors"]
    assert consumer["entity_type"] == "consumer" and consumer["entity_id"] == UUID_1 and "entity_name" not in consumer
    assert [e["field"] for e in consumer["errors"]] == ["custom_id"]


def test_a_services_url_shorthand_is_taken_on_import_as_on_a_write() -> None:
    """declarative_config.lua validates each entity with its own schema, whose `url` shorthand
    (services.lua, shorthand_fields) process_auto_fields turns into protocol, host, port and path."""
    doc = {"_format_version": "3.0", "services": [{"name": "legacy", "url": "https://legacy.internal:8443/v1"}]}
    with running(KongState(dbless=True)) as kong, httpx.Client(base_url=kong.url) as client:
        answer = client.post("/config", json={"config": json.dumps(doc)})
        assert answer.status_code == 201, answer.text
        service = client.get("/services/legacy").json()
    assert (service["protocol"], service["host"], service["port"], service["path"]) == (
        "https",
        "legacy.internal",
        8443,
        "/v1",
    )
    status, body = post({"_format_version": "3.0", "services": [{"name": "bad", "url": 42}]})
    assert status == 400 and body["flattened_errors"][0]["errors"] == [
        {"field": "url", "type": "field", "message": "expected a string"}
    ], body
