"""The YAML writer must read back as exactly the data it was given, whatever the strings hold."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from gatewayctl.catalog.load import load_catalog
from gatewayctl.render.kong import build_kong_config
from gatewayctl.render.yaml_emitter import emit

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.yaml"))

TRICKY_STRINGS = [
    "",
    " ",
    "  lead",
    "trail ",
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "n",
    "true",
    "False",
    "null",
    "Null",
    "~",
    "-",
    "- x",
    "? x",
    ": x",
    "a: b",
    "a:b",
    "a #b",
    "a#b",
    "#x",
    "x:",
    "0",
    "-1",
    "+1",
    "1_000",
    "0x1F",
    "0o17",
    "017",
    "1:20",
    "1.5",
    ".5",
    "1e3",
    "1.0e+3",
    ".inf",
    "-.Inf",
    ".NaN",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "<<",
    "=",
    "&anchor",
    "*alias",
    "!tag",
    "%TAG",
    "@at",
    "`tick",
    "'single'",
    '"double"',
    "[a]",
    "{a: 1}",
    "a, b",
    "|",
    ">",
    "line\nbreak",
    "line\nbreak\n",
    "trailing\n\n",
    "\nleading newline",
    "  indented\nblock",
    "tab\there",
    "cr\r\nlf",
    "ctrl\x01char",
    "del\x7f",
    "nel\x85x",
    "ls\u2028x",
    "ps\u2029x",
    "bom\ufeffx",
    "é ü 日本",
    "emoji 😀",
    "back\\slash",
    "~/api/v[0-9]+$",
    "http://example.com:8080/a#frag",
    "key: value # comment",
    "a\x00b",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\nhkiG9w0BAQEF\n-----END PUBLIC KEY-----\n",
    "ends with space \nx",
]


def test_tricky_strings_read_back_unchanged_as_values_keys_and_items() -> None:
    for text in TRICKY_STRINGS:
        data = {"value": text, text: 1, "items": [text, {text: text}], "nested": [[text]]}
        assert yaml.safe_load(emit(data)) == data, repr(text)


def test_scalars_of_every_type_keep_their_type() -> None:
    data = {
        "int": 3,
        "negative": -7,
        "big": 2**70,
        "float": 0.1,
        "tiny": 1e-05,
        "huge": 1e300,
        "whole": 2.0,
        "bools": [True, False],
        "none": None,
        "empty_map": {},
        "empty_list": [],
        "inf": float("inf"),
        "ninf": float("-inf"),
    }
    loaded = yaml.safe_load(emit(data))
    assert loaded == data
    assert [type(v) for v in loaded.values()] == [type(v) for v in data.values()]


def test_random_strings_read_back_unchanged() -> None:
    alphabet = "ab:# -?,[]{}'\"\\\n\t|>!&*%@`~.0123456789eE+_yYnNoO\x85\u2028é😀"
    rng = random.Random(20261130)
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        data = {"k": text, text: [text]}
        assert yaml.safe_load(emit(data)) == data, repr(text)


def test_strings_the_plain_fast_path_takes_read_back_as_the_same_strings() -> None:
    """Names, hosts, paths and UUIDs skip the full quoting check; none of them may read back as anything
    else (YAML 1.1 booleans, nulls, numbers, dates, sexagesimals), alone or in lists of strings."""
    rng = random.Random(20261201)
    tail = "abcdefxyzEFNOTYnoty0123456789_./-"
    samples = [
        "yes",
        "No",
        "off",
        "ON",
        "null",
        "Null",
        "true",
        "y",
        "n",
        "1e3",
        "0x1f",
        "0o7",
        "1_000",
        "12:30",
        "2026-12-01",
        ".inf",
        "-.5",
        "<<",
        "=",
        "~",
        "E5",
        "e5",
        "_1",
        "/",
        "a..b",
        "x-1",
    ]
    for _ in range(4000):
        samples.append(rng.choice("ABEGSUXZabegsuxz/_") + "".join(rng.choice(tail) for _ in range(rng.randint(0, 10))))
        samples.append(
            "-".join(
                "".join(rng.choice("0123456789abcdef" if rng.random() < 0.5 else "0123456789") for _ in range(n))
                for n in (8, 4, 4, 4, 12)
            )
        )
    for text in samples:
        data = {"k": text, "items": [text, text + "x"], text: {"n": [text, "b"]}}
        assert yaml.safe_load(emit(data)) == data, repr(text)


def test_layout_is_block_style_with_lists_at_their_key_indentation_as_deck_writes() -> None:
    data = {"services": [{"name": "api", "tags": ["a", "b"], "routes": [{"paths": ["/x"]}]}], "n": 1, "m": [[1]]}
    assert emit(data) == (
        "services:\n- name: api\n  tags:\n  - a\n  - b\n  routes:\n  - paths:\n    - /x\nn: 1\nm:\n- - 1\n"
    )


def test_multiline_text_is_a_literal_block() -> None:
    pem = "-----BEGIN PUBLIC KEY-----\nABC\n-----END PUBLIC KEY-----\n"
    assert emit({"key": pem}) == "key: |\n  -----BEGIN PUBLIC KEY-----\n  ABC\n  -----END PUBLIC KEY-----\n"


def test_values_yaml_would_reinterpret_are_quoted() -> None:
    assert emit({"on": "yes", "version": "3.10", "x": "null"}) == '"on": "yes"\nversion: "3.10"\nx: "null"\n'


@pytest.mark.parametrize("catalog", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_kong_config_reads_back_unchanged(catalog: Path) -> None:
    loaded = load_catalog(catalog)
    environ = {name: f"secret-{name}" for name in _env_names(loaded.data)}
    config = build_kong_config(loaded.catalog, loaded.secrets(environ))
    text = emit(config)
    assert yaml.safe_load(text) == config


def _env_names(data: object) -> set[str]:
    from gatewayctl.catalog.secrets import references_in

    return {ref.name for _, ref in references_in(data) if ref.kind == "env"}


def test_unsupported_types_are_refused() -> None:
    with pytest.raises(TypeError, match="set"):
        emit({"x": {1, 2}})


def test_long_documents_written_in_chunks_read_back_whole() -> None:
    data = {
        "_format_version": "3.0",
        "services": [{"name": f"s{i}", "routes": [{"paths": [f"/p{i}"], "tags": ["a", "b"]}]} for i in range(9000)],
        "empty": [],
        "consumers": [{"username": f"c{i}"} for i in range(100)],
    }
    assert yaml.load(emit(data), Loader=yaml.CSafeLoader) == data
