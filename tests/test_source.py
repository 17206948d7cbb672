"""Safe YAML loading: positions, overlays as node merges, and the things that make YAML dangerous."""

from __future__ import annotations

import time

import pytest

from gatewayctl.catalog.source import merge_nodes, parse, to_data
from gatewayctl.diagnostics import CatalogInvalid


def messages(exc: pytest.ExceptionInfo[CatalogInvalid]) -> list[str]:
    return [str(d) for d in exc.value.diagnostics]


def test_positions_point_at_values_and_keys() -> None:
    src = parse("a: 1\nservices:\n  - name: x\n    routes:\n      - paths: [/a, b]\n", "c.yaml")
    assert src.position_of(("services", 0, "routes", 0, "paths", 1)).line == 5
    assert src.position_of(("services", 0, "routes", 0, "paths", 1)).col == 21
    key = src.position_of(("services", 0, "routes"), key=True)
    assert (key.line, key.col) == (4, 5)


def test_missing_key_locates_its_parent() -> None:
    src = parse("services:\n  - name: x\n", "c.yaml")
    pos = src.position_of(("services", 0, "url"))
    assert (pos.line, pos.col) == (2, 5)


def test_keys_stay_strings_even_when_yaml_11_would_make_them_booleans() -> None:
    data = to_data(parse("on: [5xx]\nyes: 1\nvalue: on\n", "c.yaml").root)
    assert data == {"on": ["5xx"], "yes": 1, "value": True}


def test_timestamps_and_non_finite_floats_stay_as_written() -> None:
    data = to_data(parse("date: 2024-01-01\nf: .inf\n", "c.yaml").root)
    assert data == {"date": "2024-01-01", "f": ".inf"}


def test_merge_keys_are_honoured_and_own_keys_win() -> None:
    data = to_data(parse("base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  y: 3\n", "c.yaml").root)
    assert data["item"] == {"x": 1, "y": 3}


def test_python_tags_are_rejected_with_location() -> None:
    with pytest.raises(CatalogInvalid) as exc:
        parse('name: x\nrun: !!python/object/apply:os.system ["echo hi"]\n', "c.yaml")
    assert messages(exc) == ["c.yaml:2:6: run: unsupported YAML tag !!python/object/apply:os.system"]


def test_custom_local_tags_are_rejected() -> None:
    with pytest.raises(CatalogInvalid) as exc:
        parse("x: !secret abc\n", "c.yaml")
    assert "unsupported YAML tag !secret" in messages(exc)[0]


def test_billion_laughs_is_rejected_quickly() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    started = time.perf_counter()
    with pytest.raises(CatalogInvalid) as exc:
        parse("\n".join(lines) + "\n", "bomb.yaml")
    assert "YAML alias bomb" in messages(exc)[0]
    # Not a timing assertion on the product, a guard that the test itself did not expand the bomb.
    assert time.perf_counter() - started < 30


def test_modest_alias_use_is_fine() -> None:
    data = to_data(parse("t: &t {connect: 5s}\na: *t\nb: *t\n", "c.yaml").root)
    assert data["a"] == data["b"] == {"connect": "5s"}


def test_recursive_alias_is_rejected() -> None:
    with pytest.raises(CatalogInvalid) as exc:
        parse("a: &x [*x]\n", "c.yaml")
    assert "refers to the mapping or list that contains it" in messages(exc)[0]


def test_excessive_nesting_is_rejected() -> None:
    with pytest.raises(CatalogInvalid) as exc:
        parse("a: " + "[" * 200 + "]" * 200 + "\n", "c.yaml")
    assert "nested more than 64 levels deep" in messages(exc)[0]


def test_duplicate_keys_are_errors_naming_the_first() -> None:
    with pytest.raises(CatalogInvalid) as exc:
        parse("name: a\nformat: 1\nname: b\n", "c.yaml")
    assert messages(exc) == ["c.yaml:3:1: name: duplicate key (first written on line 1)"]


def test_syntax_error_is_located() -> None:
    with pytest.raises(CatalogInvalid) as exc:
        parse("a: [1, 2\nb: 3\n", "c.yaml")
    msg = messages(exc)[0]
    assert msg.startswith("c.yaml:2:") and "YAML syntax error" in msg


def test_binary_garbage_is_reported_as_not_text() -> None:
    with pytest.raises(CatalogInvalid) as exc:
        parse(b"format: 1\n\xff\xfe\x00garbage", "c.yaml")
    assert messages(exc) == ["c.yaml:2:1: not a text file: the catalog must be UTF-8 YAML"]


def test_control_characters_are_reported() -> None:
    with pytest.raises(CatalogInvalid) as exc:
        parse("a: b\x07c\n", "c.yaml")
    assert "not a text file" in messages(exc)[0]


def test_several_documents_are_refused() -> None:
    with pytest.raises(CatalogInvalid) as exc:
        parse("a: 1\n---\nb: 2\n", "c.yaml")
    assert "single YAML document" in messages(exc)[0]


def test_empty_and_comment_only_files_are_empty() -> None:
    for text in ("", "# just a comment\n"):
        with pytest.raises(CatalogInvalid) as exc:
            parse(text, "c.yaml")
        assert messages(exc) == ["c.yaml:1:1: the catalog is empty"]


def test_merge_nodes_merges_mappings_and_named_lists_and_keeps_overlay_positions() -> None:
    base = parse(
        "gateway: {mode: db, edition: oss}\nservices:\n  - {name: a, url: 'http://a'}\n  - {name: b, url: 'http://b'}\n"
        "tags: [x]\n",
        "c.yaml",
    )
    overlay = parse(
        "gateway: {mode: dbless}\nservices:\n  - {name: b, url: 'http://b2'}\n  - {name: c, url: 'http://c'}\n"
        "tags: [y]\n",
        "c.yaml",
    )
    merged = merge_nodes(base.root, overlay.root)
    assert to_data(merged) == {
        "gateway": {"mode": "dbless", "edition": "oss"},
        "services": [
            {"name": "a", "url": "http://a"},
            {"name": "b", "url": "http://b2"},
            {"name": "c", "url": "http://c"},
        ],
        "tags": ["y"],
    }
    from gatewayctl.catalog.source import Source

    src = Source("c.yaml", merged)
    # b's url came from the overlay: its position is the overlay's line 3.
    assert src.position_of(("services", 1, "url")).line == 3
    # b's name is merged: a key both sides have keeps the base key's node, the overlay's value.
    assert src.position_of(("gateway", "edition")).line == 1
