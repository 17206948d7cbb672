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
# Characters YAML must see escaped: C0/C1 controls (but tab and newline), surrogates, non-characters, and
# the Unicode line breaks YAML 1.1 folds.
_NEEDS_ESCAPE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_IMPLICIT = Resolver.yaml_implicit_resolvers  # first character -> [(tag, regexp)], what YAML 1.1 reinterprets


def emit(data: Any) -> str:
    """YAML text for `data`, in the data's own key order, ending with a newline."""
    lines: list[str] = []
    cache: dict[str, str] = {}
    if isinstance(data, dict) and data:
        # Top-level lists (services, consumers, ...) are joined a few thousand lines at a time, so that a
        # large document never holds a list of every line next to its text.
        chunks: list[str] = []
        for key, value in data.items():
            if isinstance(value, list) and value:
                lines.append(_string(key, cache) + ":")
                for item in value:
                    _sequence([item], "", lines, cache)
                    if len(lines) >= _CHUNK_LINES:
                        chunks.append("\n".join(lines))
                        lines.clear()
            else:
                _mapping({key: value}, "", lines, cache)
        chunks.append("\n".join(lines))
        return "\n".join(c for c in chunks if c) + "\n"
    if isinstance(data, list) and data:
        _sequence(data, "", lines, cache)
    else:
        lines.append(_scalar(data, cache))
    lines.append("")
    return "\n".join(lines)


def _mapping(data: dict[str, Any], pad: str, lines: list[str], cache: dict[str, str]) -> None:
    append = lines.append
    for key, value in data.items():
        head = pad + (cache.get(key) or _string(key, cache)) + ":"
        kind = type(value)
        if kind is str:  # the common case first, with its cached spelling
            written = cache.get(value)
            if written is not None:
                append(head + " " + written)
            elif "\n" in value and _literal_ok(value):
                _literal(head, value, pad + INDENT, lines)
            else:
                append(head + " " + _string(value, cache))
        elif isinstance(value, dict) and value:
            append(head)
            _mapping(value, pad + INDENT, lines, cache)
        elif isinstance(value, list) and value:
            append(head)
            _sequence(value, pad, lines, cache)  # "key:" then "- item" at the key's own indentation, as decK writes
        else:
            append(head + " " + _scalar(value, cache))


def _sequence(items: list[Any], pad: str, lines: list[str], cache: dict[str, str]) -> None:
    inner = pad + INDENT
    dash = pad + "- "
    for item in items:
        kind = type(item)
        if kind is str:
            written = cache.get(item)
            if written is not None:
                lines.append(dash + written)
            elif "\n" in item and _literal_ok(item):
                _literal(pad + "-", item, inner, lines)
            else:
                lines.append(dash + _string(item, cache))
        elif isinstance(item, dict | list) and item:
            start = len(lines)
            if isinstance(item, dict):
                _mapping(item, inner, lines, cache)
            else:
                _sequence(item, inner, lines, cache)
            lines[start] = dash + lines[start][len(inner) :]  # the first entry shares the dash's line
        else:
            lines.append(dash + _scalar(item, cache))


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


def _scalar(value: Any, cache: dict[str, str]) -> str:
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


def _string(text: str, cache: dict[str, str]) -> str:
    written = cache.get(text)
    if written is None:
        written = cache[text] = text if _plain_ok(text) else _quoted(text)
    return written


def _plain_ok(text: str) -> bool:
    if not _PLAIN.fullmatch(text) or ": " in text or " #" in text or text.endswith((":", " ")):
        return False
    return not any(pattern.match(text) for _, pattern in _IMPLICIT.get(text[0], ()))


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
