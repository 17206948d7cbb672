"""The fast paths taken for speed must give exactly what the plain paths give: the fused safety walk and
conversion, overlays and defaults merged as data, secret references found through their holders, one
YAML emitter shared by many documents, Kuma heads spliced from a template, folders written whole, and
entities without secrets skipped when a snapshot records where secrets are."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from yaml import _yaml as cyaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from gatewayctl.catalog import load as catalog_load
from gatewayctl.catalog import source as yaml_source
from gatewayctl.catalog.load import load_catalog
from gatewayctl.catalog.secrets import references_in
from gatewayctl.catalog.source import held_references, parse, parse_data, parse_data_in_pieces, to_data
from gatewayctl.diagnostics import CatalogInvalid
from gatewayctl.plan import fields
from gatewayctl.plan.masking import Masker
from gatewayctl.render.kuma import build_kuma_objects, kubernetes_form, render_kuma, universal_form
from gatewayctl.render.output import MANIFEST, PRIVATE, PUBLIC, RenderedFile, write_files
from gatewayctl.render.yaml_emitter import Emitter, emit

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def ordered(data: Any) -> Any:
    """Data with key order made visible, so that comparisons also hold the order."""
    if isinstance(data, dict):
        return [(k, ordered(v)) for k, v in data.items()]
    if isinstance(data, list):
        return [ordered(v) for v in data]
    return (type(data).__name__, data)


def outcome(run: Any) -> Any:
    try:
        return ordered(run())
    except CatalogInvalid as exc:
        return [str(d) for d in exc.diagnostics]


# ---------------------------------------------------------------------- parse_data


PLAIN_DOCUMENTS = [
    "a: 1\nb: [x, 2, 1.5, true, null, ~, 2024-01-01, .inf, 0x1F, '3']\nc: {on: yes, 'y': n}\n",
    "- 1\n- [a, {b: c}]\n",
    "just a scalar\n",
    "a: !!str 12\nb: !!int '7'\nc: {}\nd: []\n",
]
FALLBACK_DOCUMENTS = [
    "base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  y: 3\n",  # merge key
    "t: &t {connect: 5s}\na: *t\nb: *t\n",  # a shared mapping
    "s: &s x\nl: [*s, *s]\n",  # a shared scalar: fine for the fast path too
]
BAD_DOCUMENTS = [
    'name: x\nrun: !!python/object/apply:os.system ["echo hi"]\n',
    "a: 1\na: 2\n",
    "? [a]\n: 1\n",
    "a: &x [*x]\n",
    "a: " + "[" * 70 + "]" * 70 + "\n",
    "a: " + "[" * 64 + "1" + "]" * 64 + "\n",
    "a: !!binary aGVsbG8=\n",
    "x: !secret abc\n",
]


@pytest.mark.parametrize("text", PLAIN_DOCUMENTS + FALLBACK_DOCUMENTS)
def test_parse_data_gives_what_to_data_gives(text: str) -> None:
    _, data, _ = parse_data(text, "c.yaml")
    expected = to_data(parse(text, "c.yaml").root)
    if data is None:
        assert text in FALLBACK_DOCUMENTS
    else:
        assert ordered(data) == ordered(expected)


@pytest.mark.parametrize("text", FALLBACK_DOCUMENTS[:2])
def test_mappings_met_twice_and_merge_keys_take_the_node_path(text: str) -> None:
    assert parse_data(text, "c.yaml")[1] is None


@pytest.mark.parametrize("text", BAD_DOCUMENTS)
def test_parse_data_reports_problems_exactly_as_parse(text: str) -> None:
    assert outcome(lambda: parse_data(text, "c.yaml")[1]) == outcome(lambda: parse(text, "c.yaml").root)
    with pytest.raises(CatalogInvalid):
        parse_data(text, "c.yaml")


def test_a_deep_but_allowed_document_takes_the_fast_path() -> None:
    text = "a: " + "[" * 63 + "1" + "]" * 63 + "\n"
    assert parse_data(text, "c.yaml")[1] == to_data(parse(text, "c.yaml").root)


# ---------------------------------------------------------------------- loading in pieces

ITEMS = "\n".join(f"  - name: s{i}\n    url: http://s{i}\n    tags: [a, '${{env:T{i}}}']" for i in range(7))
PIECEABLE = {
    "indented list": f"format: 1\nservices:\n{ITEMS}\nname: n\n",
    "compact list": "services:\n" + ITEMS.replace("\n  ", "\n").removeprefix("  ") + "\nname: n\n",
    "comments": f"# head\nservices: # the list\n  # first\n{ITEMS}\n# tail\nname: n\n",
    "crlf": f"format: 1\nservices:\n{ITEMS}\n".replace("\n", "\r\n"),
    "literal with dashes": f"services:\n{ITEMS}\n  - name: lit\n    description: |\n      - name: no\n{ITEMS}\n",
    "inline list": "services: [{name: a}, {name: b}]\nother: ${env:O}\n",
    "scalars of every kind": (
        f"services:\n{ITEMS}\n  - name: kinds\n    on: yes\n    1: [0x1F, 1.5, .inf, -.nan, ~, null, 2024-01-01]\n"
        "    'true': !!str 12\n    n: !!int '7'\n    e: {}\n    l: []\n    q: ['${env:Q}', \"${x\", '']\n"
        f"{ITEMS}\nother: {{2: no, ~: 3}}\n"
    ),
}
WHOLE_ONLY = {
    "anchor": f"base: &b {{x: 1}}\nservices:\n{ITEMS}\n",
    "document marker": f"---\nservices:\n{ITEMS}\n",
    "directive": f"%YAML 1.1\n---\nservices:\n{ITEMS}\n",
    "quoted across a split": f'services:\n{ITEMS}\n  - name: q\n    description: "x\n  - name: in\n    y"\n',
    "key inside a quoted scalar": 'a: "x\nb: y"\nc: 1\n',
    "flow across a split": f"services:\n{ITEMS}\n  - name: f\n    list: [1,\n  - 2]\n",
    "top-level list": "- a\n- b\n",
    "section twice": f"services:\n{ITEMS}\nname: a\nname: b\n",
    "content left of the dashes": f"services:\n{ITEMS}\n name: odd\n",
    "tab": f"services:\n{ITEMS}\n\t- name: tabbed\n",
    "duplicate key in an item": f"services:\n{ITEMS}\n  - name: d\n    name: e\n",
    "python tag": f"services:\n{ITEMS}\n  - name: !!python/name:os.system d\n",
    "tagged list": f"services:\n{ITEMS}\n  - name: t\n    tags: !!set {{a: null}}\n",
    "merge key": f"services:\n{ITEMS}\n  - name: m\n    <<: {{url: http://m}}\n",
    "a list as a key": f"services:\n{ITEMS}\n  - name: k\n    ? [a]\n    : 1\n",
    "too deep": f"services:\n{ITEMS}\n  - name: d\n    x: " + "[" * 70 + "]" * 70 + "\n",
    "undefined alias": f"services:\n{ITEMS}\n  - name: a\n    x: *nowhere\n",
}


@pytest.fixture
def tiny_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every list split, one item per piece, so that small catalogs exercise every split."""
    monkeypatch.setattr(yaml_source, "_PIECE_ITEMS", 1)
    monkeypatch.setattr(yaml_source, "_PIECES_FROM", 0)


@pytest.mark.usefixtures("tiny_pieces")
@pytest.mark.parametrize("text", PIECEABLE.values(), ids=PIECEABLE.keys())
def test_a_catalog_loaded_in_pieces_is_the_whole_document(text: str) -> None:
    pieces = parse_data_in_pieces(text.encode(), "c.yaml")
    assert pieces is not None
    data, holders = pieces
    assert ordered(data) == ordered(to_data(parse(text, "c.yaml").root))
    assert held_references(data, holders) == references_in(data)


@pytest.mark.usefixtures("tiny_pieces")
@pytest.mark.parametrize("text", WHOLE_ONLY.values(), ids=WHOLE_ONLY.keys())
def test_unusual_catalogs_are_loaded_whole(text: str) -> None:
    assert parse_data_in_pieces(text.encode(), "c.yaml") is None


@pytest.mark.usefixtures("tiny_pieces")
@pytest.mark.parametrize("text", [PIECEABLE["scalars of every kind"], WHOLE_ONLY["python tag"], "a: [\n"])
def test_loading_in_pieces_leaves_libyaml_building_its_own_nodes(text: str) -> None:
    parse_data_in_pieces(text.encode(), "c.yaml")  # composes with stand-in node classes, and gives them back
    assert (cyaml.ScalarNode, cyaml.SequenceNode, cyaml.MappingNode) == (ScalarNode, SequenceNode, MappingNode)
    root = yaml.compose("a: [b, {c: 1}]\n", Loader=yaml.CSafeLoader)
    assert isinstance(root, MappingNode) and isinstance(root.value[0][0], ScalarNode)
    assert isinstance(root.value[0][1], SequenceNode) and root.value[0][1].value[0].value == "b"


@pytest.mark.usefixtures("tiny_pieces")
def test_an_error_found_after_loading_in_pieces_is_still_located(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("format: 1\nname: x\nservices:\n  - name: a\n    url: http://a\n  - name: b\n    ur: http://b\n")
    with pytest.raises(CatalogInvalid) as exc:
        load_catalog(catalog)
    assert str(exc.value.diagnostics[0]).startswith(f"{catalog}:7:5: services[1].ur: ")


# ---------------------------------------------------------------------- overlays and defaults as data

OVERLAY_CATALOGS = [
    """\
defaults:
  name: not-a-service-name
  tags: [a, b]
  timeouts: {connect: 5s}
services:
  - name: s1
    tags: [b, c, c, {x: 1}]
    url: http://a
    timeouts: {read: 1s}
  - name: s2
    url: "${env:URL}"
  - not a mapping
environments:
  prod:
    services:
      - name: s1
        url: "http://x/${file:f}"
        routes: []
      - name: s3
        plugins: {p: {c: ["${env:P}"]}}
    gateway: {x: "${env:G}"}
  empty:
""",
    """\
defaults: {tags: ["${env:T}", 1]}
services:
  - name: 2
    tags: ["1"]
environments:
  prod:
    services: [{name: "2", url: http://c}]
""",
    """\
services:
  - {name: a, routes: [{name: r, paths: [/a]}]}
  - {name: a, routes: [{name: r2}]}
defaults: {retries: 3}
environments:
  prod:
    services: [{name: a, routes: [{name: r, hosts: [x]}]}, {name: b}]
""",
]


@pytest.mark.parametrize("body", OVERLAY_CATALOGS)
@pytest.mark.parametrize("environment", [None, "prod", "empty", "missing"])
def test_overlays_and_defaults_merged_as_data_match_the_node_merge(body: str, environment: str | None) -> None:
    raw = body.encode()
    fast = outcome(lambda: catalog_load._variant_data(raw, "c.yaml", environment)[0])
    slow = outcome(lambda: to_data(catalog_load._variant_root(raw, "c.yaml", environment)))
    assert fast == slow


@pytest.mark.parametrize("body", OVERLAY_CATALOGS)
@pytest.mark.parametrize("environment", [None, "prod"])
def test_references_found_through_holders_are_all_of_them_in_order(body: str, environment: str | None) -> None:
    data, holders = catalog_load._variant_data(body.encode(), "c.yaml", environment)
    if holders is not None:
        assert held_references(data, holders) == references_in(data)


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_load_the_same_by_either_path(example: Path) -> None:
    raw = example.read_bytes()
    loaded = load_catalog(example)
    assert ordered(loaded.data) == ordered(to_data(catalog_load._variant_root(raw, str(example), None)))
    assert loaded.secret_references == references_in(loaded.data)


# ---------------------------------------------------------------------- the YAML emitter


def test_a_shared_emitter_writes_each_document_as_emit_alone_does() -> None:
    documents: list[Any] = [
        {"a\nb": 1, "v": "a\nb"},  # spelled as a key first: the value is quoted in this document...
        {"v": "a\nb", "w": ["a\nb", "x"]},  # ...and a literal block in the next one
        {"name": "yes", "list": ["no", "1.5", "plain"], "n": {"deep": [{"k": "v"}, ["x"]]}},
        ["a\nb", "a\nb"],
        "scalar",
    ]
    emitter = Emitter()
    for document in documents * 2:
        assert emitter.emit(document) == emit(document)


# ---------------------------------------------------------------------- Kuma heads


@pytest.mark.parametrize("example", ["platform.yaml", "knowledge-base.yaml"])
def test_kuma_documents_are_the_whole_documents_written_at_once(example: str) -> None:
    loaded = load_catalog(EXAMPLES / example)
    secrets = loaded.secrets({ref.name: "x" for _, ref in loaded.secret_references if ref.kind == "env"})
    files = {f.path: f.content for f in render_kuma(loaded, secrets)}
    objects = build_kuma_objects(loaded.catalog, secrets)
    assert objects
    namespace = loaded.catalog.deployment.namespaces.kuma
    for obj in objects:
        assert files[f"kuma/kubernetes/{obj.file_name}"] == emit(kubernetes_form(obj, namespace)).encode()
        assert files[f"kuma/universal/{obj.file_name}"] == emit(universal_form(obj)).encode()


# ---------------------------------------------------------------------- write_files


def modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in sorted(folder.rglob("*"))}


def test_a_first_write_builds_new_folders_whole_with_the_right_modes(tmp_path: Path) -> None:
    write_files(tmp_path, [RenderedFile("kong/old.yaml", b"stale\n")], ["kong"])
    files = [
        RenderedFile("kong/kong.yaml", b"k\n", PRIVATE),
        RenderedFile("kuma/kubernetes/a.yaml", b"a\n"),
        RenderedFile("kuma/universal/a.yaml", b"b\n", PRIVATE),
        RenderedFile("kuma/universal/a.yaml", b"c\n"),  # the same path twice: the last one wins
    ]
    written = write_files(tmp_path, files, ["kong", "kuma"])
    assert written == sorted({tmp_path / f.path for f in files})
    umask = os.umask(0o022)
    os.umask(umask)
    folder = 0o777 & ~umask
    assert modes(tmp_path) == {
        MANIFEST: PUBLIC,
        "kong": folder,
        "kong/kong.yaml": PRIVATE,
        "kuma": folder,
        "kuma/kubernetes": folder,
        "kuma/kubernetes/a.yaml": PUBLIC,
        "kuma/universal": folder,
        "kuma/universal/a.yaml": PUBLIC,
    }
    assert (tmp_path / "kuma" / "universal" / "a.yaml").read_bytes() == b"c\n"


def test_a_restrictive_umask_does_not_change_file_modes(tmp_path: Path) -> None:
    umask = os.umask(0o077)
    try:
        write_files(tmp_path, [RenderedFile("kuma/a.yaml", b"a\n", PUBLIC)], ["kuma"])
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "kuma" / "a.yaml").stat().st_mode) == PUBLIC


def test_a_failed_first_write_leaves_no_folder_and_no_staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_files(tmp_path, [RenderedFile("kong/kong.yaml", b"old\n")], ["kong"])
    real_write = os.write
    calls = 0

    def failing_write(fd: int, data: bytes) -> int:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", failing_write)
    files = [RenderedFile("kong/kong.yaml", b"new\n")] + [RenderedFile(f"kuma/k/{i}.yaml", b"x\n") for i in range(5)]
    with pytest.raises(OSError):
        write_files(tmp_path, files, ["kong", "kuma"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST, "kong"]
    assert (tmp_path / MANIFEST).read_text().splitlines()[1:] == ["kong/kong.yaml"]
    assert sorted(p.name for p in (tmp_path / "kong").iterdir()) == ["kong.yaml"]
    assert (tmp_path / "kong" / "kong.yaml").read_bytes() == b"old\n"


def test_a_rewrite_after_a_first_write_changes_only_what_changed(tmp_path: Path) -> None:
    files = [RenderedFile(f"kuma/k/{i}.yaml", f"{i}\n".encode()) for i in range(4)]
    write_files(tmp_path, files, ["kuma"])
    inodes = {p.name: p.stat().st_ino for p in (tmp_path / "kuma" / "k").iterdir()}
    write_files(tmp_path, [*files[:2], RenderedFile("kuma/k/2.yaml", b"two\n")], ["kuma"])
    after = {p.name: p.stat().st_ino for p in (tmp_path / "kuma" / "k").iterdir()}
    assert sorted(after) == ["0.yaml", "1.yaml", "2.yaml"]
    assert after["0.yaml"] == inodes["0.yaml"] and after["2.yaml"] != inodes["2.yaml"]
    assert (tmp_path / "kuma" / "k" / "2.yaml").read_bytes() == b"two\n"


SECRET_CASES = [
    ("plugins", {"name": "rate-limiting", "config": {"redis": {"password": "pw-1234"}, "minute": 5}}),
    ("plugins", {"name": "rate-limiting", "config": {"redis": {"Password": None}}}),  # secret by name, unset
    ("plugins", {"name": "request-transformer", "config": {"add": {"headers": ["X-Key:tok-98765"]}}}),
    ("plugins", {"name": "request-transformer", "config": {"add": {"headers": ['X-Q:"quoted\\tok-98765"']}}}),
    ("plugins", {"name": "cors", "config": {"origins": ["https://a.example"], "max_age": 60}}),
    ("plugins", {"name": "zipkin", "config": {"http_endpoint": "http://z:9411/api?k=tok-98765"}}),
    ("plugins", {"name": "x", "config": {"api_key": "plain", "tokens": ["none"]}}),
    ("keyauth_credentials", {"key": "k-55555", "tags": ["t"]}),
    ("services", {"name": "s", "host": "tok-98765.internal", "port": 80}),
    ("services", {"name": "s", "host": "orders.internal", "port": 80, "tags": ["<secret>"]}),
    ("routes", {"name": "r", "paths": ["/a"], "headers": {"x-token": ["v"]}}),
    ("MeshTrace", {"spec": {"default": {"backends": [{"zipkin": {"url": "http://z/?t=tok-98765"}}]}}}),
    ("MeshTrace", {"spec": {"default": {"backends": [{"zipkin": {"url": "http://z/"}}]}}}),
]


def test_secret_paths_skip_only_entities_the_walk_finds_nothing_in() -> None:
    masker = Masker.of(["pw-1234", "tok-98765", "quoted\\tok", "k-55555"])
    items = {str(i): case for i, case in enumerate(SECRET_CASES)}
    walked = {key: fields.secret_paths(kind, value, masker) for key, (kind, value) in items.items()}
    found = fields.secret_paths_by_key(items, masker)
    assert found == {key: paths for key, paths in walked.items() if paths}
    assert sorted(found, key=int) == ["0", "1", "2", "3", "5", "6", "7", "8", "9", "11"]
