"""Lua 5.1 patterns (string.match, string.find) as Python regexes, for the emulator's schema validators: Kong's
`match`, `not_match`, `match_all`, `match_none` and `match_any` (kong/db/schema/init.lua) call `value:match(pattern)`.

Lua matches bytes in the C locale, so the regex is a bytes regex and the subject is the value's UTF-8 bytes:
`.` is any byte, `%a` only ASCII letters. Supported: the classes %a %c %d %g %l %p %s %u %w %x and their
complements (%A ...), `%` before any other character as an escape, sets `[...]`/`[^...]` with ranges and
classes, the quantifiers `*` `+` `?` and the lazy `-`, anchors `^` (only first) and `$` (only last), and
captures. %b, %f and back references (%1) have no regex form here: ValueError (no schema the emulator
carries uses them)."""

from __future__ import annotations

import functools
import re

_PUNCT = frozenset(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_CLASSES: dict[str, frozenset[int]] = {
    "a": frozenset(range(65, 91)) | frozenset(range(97, 123)),
    "c": frozenset(range(0, 32)) | {127},
    "d": frozenset(range(48, 58)),
    "g": frozenset(range(33, 127)),
    "l": frozenset(range(97, 123)),
    "p": _PUNCT,
    "s": frozenset(b" \t\n\v\f\r"),
    "u": frozenset(range(65, 91)),
    "w": frozenset(range(48, 58)) | frozenset(range(65, 91)) | frozenset(range(97, 123)),
    "x": frozenset(range(48, 58)) | frozenset(range(65, 71)) | frozenset(range(97, 103)),
}
_ALL = frozenset(range(256))
_QUANTIFIERS = {"*": "*", "+": "+", "-": "*?", "?": "?"}


def _escape_class(char: str) -> frozenset[int]:
    """The bytes `%char` stands for: a class, its complement (upper case), or the character itself."""
    lower = char.lower()
    if lower in _CLASSES:
        return _CLASSES[lower] if char == lower else _ALL - _CLASSES[lower]
    if char.isalnum() and (char in "bf" or char.isdigit()):
        raise ValueError(f"unsupported Lua pattern item: %{char}")
    return frozenset(char.encode())


def _render(byte_set: frozenset[int]) -> str:
    """A regex character class for a set of bytes, as escaped ranges."""
    if not byte_set:
        return "(?!)"
    parts, ordered = [], sorted(byte_set)
    start = prev = ordered[0]
    for byte in [*ordered[1:], None]:
        if byte is not None and byte == prev + 1:
            prev = byte
            continue
        parts.append(f"\\x{start:02x}" if start == prev else f"\\x{start:02x}-\\x{prev:02x}")
        if byte is not None:
            start = prev = byte
    return "[" + "".join(parts) + "]"


def _parse_set(pattern: str, at: int) -> tuple[frozenset[int], int]:
    """lstrlib.c matchbracketclass over `[...]` starting at `at` (just past `[`): the bytes it matches and the
    index past its `]`. The first character (after a `^`) is always a member, even `]`."""
    negate = at < len(pattern) and pattern[at] == "^"
    i = at + 1 if negate else at
    members: set[int] = set()
    first = True
    while True:
        if i >= len(pattern):
            raise ValueError("malformed Lua pattern (missing ']')")
        char = pattern[i]
        if char == "]" and not first:
            break
        first = False
        if char == "%" and i + 1 < len(pattern):
            members |= _escape_class(pattern[i + 1])
            i += 2
        elif i + 2 < len(pattern) and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            members |= set(range(ord(char), ord(pattern[i + 2]) + 1))
            i += 3
        else:
            members |= set(char.encode())
            i += 1
    return (_ALL - members if negate else frozenset(members)), i + 1


@functools.cache
def lua_pattern_regex(pattern: str) -> re.Pattern[bytes]:
    """The compiled bytes regex that finds what `pattern` finds (use `.search` on the subject's bytes)."""
    out: list[str] = []
    i = 0
    if pattern.startswith("^"):
        out.append(r"\A")
        i = 1
    while i < len(pattern):
        char = pattern[i]
        if char == "$" and i == len(pattern) - 1:
            out.append(r"\Z")
            i += 1
            continue
        if char in "()":
            out.append(char)
            i += 1
            continue
        if char == ".":
            item, i = _render(_ALL), i + 1
        elif char == "%":
            if i + 1 >= len(pattern):
                raise ValueError("malformed Lua pattern (ends with '%')")
            item, i = _render(_escape_class(pattern[i + 1])), i + 2
        elif char == "[":
            members, i = _parse_set(pattern, i + 1)
            item = _render(members)
        else:
            item, i = _render(frozenset(char.encode())), i + 1
        if i < len(pattern) and pattern[i] in _QUANTIFIERS:
            item += _QUANTIFIERS[pattern[i]]
            i += 1
        out.append(item)
    return re.compile("".join(out).encode())


def lua_match(value: str, pattern: str) -> bool:
    """`value:match(pattern)` found something."""
    return lua_pattern_regex(pattern).search(value.encode()) is not None
