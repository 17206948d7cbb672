"""A block-style YAML writer for plain data (dict, list, str, int, float, bool, None).

PyYAML's dumper builds a node graph and runs a Python emitter over it, even with the C extension, which made
writing kong.yaml most of the render time at scale (about 20 s for 10,000 services). Rendered output is plain
data built by us, so it needs none of that: this writes each value directly, quoting a string whenever YAML
would read it as anything but that same string. `yaml.safe_load(emit(data)) == data` holds for every value
(tests/test_yaml_emitter.py holds it to that on real output and on adversarial strings).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml
from yaml.resolver import Resolver

try:
    from yaml import CSafeDumper as _Dumper
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]

INDENT = "  "
_CHUNK_LINES = 20_000

# A string made of these may be written plain: it starts with no YAML indicator, holds no ": " or " #",
# no line break, and does not end in ":" or a space (checked below). Anything else is quoted.
_PLAIN = re.compile(r"[A-Za-z0-9_/.~^$(][A-Za-z0-9 _/.~^$()+=@,:#*%!&?\[\]{}<>|;-]*")
# The shapes most unique strings of rendered output have (names, hosts, paths, UUIDs), which are always
# written plain: a first character no YAML 1.1 implicit type starts with (not a digit, not F N O T Y, see
# _IMPLICIT) followed by name characters only, or a lowercase UUID (a '-' after 8 hex digits is no number,
# date or time). One match instead of the full test in _plain_ok.
_SIMPLE = re.compile(r"[A-EG-MP-SU-XZa-eg-mp-su-xz/_][A-Za-z0-9_./-]*|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")
# Characters YAML must see escaped: C0/C1 controls (but tab and newline), surrogates, non-characters, and
# the Unicode line breaks YAML 1.1 folds.
_NEEDS_ESCAPE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_IMPLICIT = Resolver.yaml_implicit_resolvers  # first character -> [(tag, regexp)], what YAML 1.1 reinterprets
# The same, one regexp per first character (each alternative is anchored; the patterns that are not verbose
# hold no whitespace or '#', so compiling them all verbose changes none).
_IMPLICIT_ANY = {
    first: re.compile("|".join(f"(?:{pattern.pattern})" for _, pattern in resolvers), re.X)
    for first, resolvers in _IMPLICIT.items()
}


def emit(data: Any) -> str:
    """YAML text for `data`, in the data's own key order, ending with a newline."""
    return _Writer().document(data)


class Emitter:
    """Writes many documents with one set of caches: what one document learns about spelling strings and
    starting lines serves the next (a mesh of 10,000 services is 70,000 small documents that spell the
    same few thousand strings). Every document comes out exactly as `emit` alone writes it."""

    def __init__(self) -> None:
        self._writer = _Writer()

    def emit(self, data: Any) -> str:
        return self._writer.document(data)

    def spell(self, text: str) -> str:
        """How a string without a line break is written as a value anywhere (plain, or quoted)."""
        assert "\n" not in text
        return self._writer.spell(text)


class _Spelled(dict[str, str]):
    """String -> how it is written (plain or quoted). A string with a line break is written as a literal
    block unless it was spelled (quoted) earlier in the same document: such strings are listed in
    `multiline`, so that a writer used for several documents can forget them between documents."""

    def __init__(self) -> None:
        super().__init__()
        self.multiline: list[str] = []


class _Level:
    """One indentation level (n) and its caches: mapping keys at `pad` ("  " * n), the first key of a
    mapping that is a list item after `dash_pad` ("  " * (n - 1) + "- "), list items "- x" at `pad`."""

    __slots__ = ("blocks", "dash_heads", "dash_pad", "heads", "inner", "items", "pad")

    def __init__(self, depth: int) -> None:
        self.pad = INDENT * depth
        self.dash_pad = INDENT * (depth - 1) + "- "
        self.heads: dict[str, str] = {}  # key -> pad + spelled key + ": "
        self.dash_heads: dict[str, str] = {}  # key -> dash pad + spelled key + ": "
        self.items: dict[str, str] = {}  # string -> pad + "- " + spelled string
        # A whole list of single-line strings -> its lines joined (tags, protocols, methods: the same few
        # lists over and over), so that such a list is one tuple, one dict hit and one line.
        self.blocks: dict[tuple[str, ...], str] = {}
        self.inner: _Level | None = None  # the next level, made when first needed

    def next(self) -> _Level:
        if self.inner is None:
            self.inner = _Level(len(self.pad) // len(INDENT) + 1)
        return self.inner


class _Writer:
    """The lines of the document being written and what is cached while writing.

    Most of a rendered document is the same few thousand strings (tag names, protocols, `enabled: true`)
    at the same few indentations, so whole line beginnings are cached per indentation level (_Level):
    `key: ` for each key, and `- item` for each string item. A line is then one dict hit and at most one
    concatenation. Strings with a line break stay out of the line caches (see _Spelled).
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.spelled = _Spelled()
        self.top = _Level(0)

    def document(self, data: Any) -> str:
        try:
            return self._document(data)
        finally:
            self.lines.clear()
            spelled = self.spelled
            for text in spelled.multiline:
                spelled.pop(text, None)
            spelled.multiline.clear()

    def _document(self, data: Any) -> str:
        lines = self.lines
        top = self.top
        if isinstance(data, dict) and data:
            # Top-level lists (services, consumers, ...) are joined a few thousand lines at a time, so that a
            # large document never holds a list of every line next to its text.
            chunks: list[str] = []
            for key, value in data.items():
                if isinstance(value, list) and value:
                    lines.append(self.spell(key) + ":")
                    for item in value:
                        self.sequence([item], top)
                        if len(lines) >= _CHUNK_LINES:
                            chunks.append("\n".join(lines))
                            lines.clear()
                else:
                    self.mapping({key: value}, top, False)
            chunks.append("\n".join(lines))
            return "\n".join(c for c in chunks if c) + "\n"
        if isinstance(data, list) and data:
            self.sequence(data, top)
        else:
            lines.append(_scalar(data, self.spelled))
        lines.append("")
        return "\n".join(lines)

    def spell(self, text: str) -> str:
        return _string(text, self.spelled)

    def mapping(self, data: dict[str, Any], level: _Level, dashed: bool) -> None:
        """`data`'s entries at `level`; when `dashed`, the first shares the line of its list item's "- "."""
        lines = self.lines
        append = lines.append
        spelled = self.spelled
        pad = level.pad
        pad_heads = level.heads
        blocks = level.blocks
        if dashed:
            heads = level.dash_heads
            prefix = level.dash_pad
        else:
            heads = pad_heads
            prefix = pad
        for key, value in data.items():
            head = heads.get(key)
            if head is None:
                head = prefix + _string(key, spelled) + ": "
                if "\n" not in key:
                    heads[key] = head
            heads = pad_heads
            prefix = pad
            kind = type(value)
            if kind is str:  # the common case first, with its cached spelling
                written = spelled.get(value)
                if written is not None:
                    append(head + written)
                elif "\n" in value and _literal_ok(value):
                    _literal(head[:-1], value, pad + INDENT, lines)
                else:
                    append(head + _string(value, spelled))
            elif kind is list and value:
                # "key:" then "- item" at the key's own indentation, as decK writes; a list of strings written
                # before (tags, protocols, methods) is a cached block, and a list of one string written before
                # (a route's path or host) a cached line, taken here without a call.
                append(head[:-1])
                block = None
                if type(value[0]) is str:
                    if len(value) > 1:
                        try:
                            block = blocks.get(tuple(value))
                        except TypeError:  # an unhashable item further on
                            block = None
                    else:
                        block = level.items.get(value[0])
                if block is None:
                    self.sequence(value, level)
                else:
                    append(block)
            elif kind is int:
                append(head + str(value))
            elif value is True:
                append(head + "true")
            elif value is False:
                append(head + "false")
            elif isinstance(value, dict) and value:
                append(head[:-1])
                self.mapping(value, level.inner or level.next(), False)
            elif isinstance(value, list) and value:  # a list subclass
                append(head[:-1])
                self.sequence(value, level)
            else:
                append(head + _scalar(value, spelled))

    def item_line(self, item: str, level: _Level) -> str:
        """The line "- item" at `level` for a string without a line break."""
        line = level.items.get(item)
        if line is None:
            line = level.items[item] = level.pad + "- " + _string(item, self.spelled)
        return line

    def sequence(self, items: list[Any], level: _Level) -> None:
        lines = self.lines
        append = lines.append
        if len(items) > 1 and type(items[0]) is str:
            key = tuple(items)
            try:
                block = level.blocks.get(key)
            except TypeError:  # an unhashable item further on: a list of mixed kinds
                block = None
            else:
                if block is None and all(type(item) is str and "\n" not in item for item in items):
                    block = level.blocks[key] = "\n".join(self.item_line(item, level) for item in key)
            if block is not None:
                append(block)
                return
        spelled = self.spelled
        cached = level.items
        inner = level.inner or level.next()
        pad = level.pad
        for item in items:
            kind = type(item)
            if kind is str:
                line = cached.get(item)
                if line is not None:
                    append(line)
                elif item not in spelled and "\n" in item and _literal_ok(item):
                    _literal(pad + "-", item, inner.pad, lines)  # not cached: a string once spelled stays spelled so
                else:
                    line = pad + "- " + _string(item, spelled)
                    if "\n" not in item:
                        cached[item] = line
                    append(line)
            elif kind is dict and item:
                self.mapping(item, inner, True)
            elif isinstance(item, dict | list) and item:
                start = len(lines)
                if isinstance(item, dict):
                    self.mapping(item, inner, False)
                else:
                    self.sequence(item, inner)
                lines[start] = pad + "- " + lines[start][len(inner.pad) :]  # the first entry shares the dash's line
            else:
                append(pad + "- " + _scalar(item, spelled))


def _literal(head: str, text: str, pad: str, lines: list[str]) -> None:
    body = text[:-1] if text.endswith("\n") else text
    lines.append(head + (" |" if text.endswith("\n") else " |-"))
    lines.extend(pad + line if line else "" for line in body.split("\n"))


def _literal_ok(text: str) -> bool:
    # A literal block keeps text verbatim, but its first line sets the indentation and trailing newlines
    # beyond one need explicit chomping: leave those (rare) shapes to the quoted form.
    return (
        not text.startswith((" ", "\t", "\n"))
        and not text.endswith("\n\n")
        and "\r" not in text
        and not any(line.endswith((" ", "\t")) for line in text.split("\n"))
        and _NEEDS_ESCAPE.search(text) is None
    )


def _scalar(value: Any, cache: _Spelled) -> str:
    if isinstance(value, str):
        return _string(value, cache)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, list) and not value:
        return "[]"
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _string(text: str, cache: _Spelled) -> str:
    written = cache.get(text)
    if written is None:
        if _SIMPLE.fullmatch(text) is not None:
            cache[text] = text
            return text
        written = cache[text] = text if _plain_ok(text) else _quoted(text)
        if "\n" in text:
            cache.multiline.append(text)
    return written


def _plain_ok(text: str) -> bool:
    if not _PLAIN.fullmatch(text) or ": " in text or " #" in text or text.endswith((":", " ")):
        return False
    reinterpreted = _IMPLICIT_ANY.get(text[0])
    return reinterpreted is None or reinterpreted.match(text) is None


def _quoted(text: str) -> str:
    if _NEEDS_ESCAPE.search(text) is None:
        return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar
    # Characters JSON leaves raw but YAML must escape: let PyYAML spell them.
    return yaml.dump(text, Dumper=_Dumper, default_style='"', width=2**31 - 1, allow_unicode=False).rstrip("\n")


def _float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "." not in text and "e" in text:  # YAML 1.1 floats need a dot: 1e-05 would read back as a string
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return text
