"""What a person may see of an entity: secret fields and any resolved secret value become `<secret>`.

Two nets, so that neither alone has to be perfect: fields known to hold secrets (credential keys and
passwords, `password`/`token`/... keys inside plugin config) are masked whatever their value, and any
string containing a value the catalog's secret references resolved to is masked wherever it appears
(a raw plugin config, an error message Kong echoes back)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gatewayctl.plan.kinds import BY_NAME, SECRET_CONFIG_KEYS

SECRET = "<secret>"
_STAND_IN = 0xF0000  # Unicode's private use plane 15: no secret, reference or Kong message holds it
_STAND_INS = re.compile("\x00([\U000f0000-\U000ffffd])\x00")
_NAMED = "<secret ${"  # how a secret shown by its reference starts: `<secret ${env:NAME}>`
MIN_SCRUB_LENGTH = 4  # shorter values would mask innocent text ("on", "80"): masked only where quoted


@dataclass(frozen=True)
class Masker:
    values: tuple[str, ...] = ()
    references: tuple[tuple[str, str], ...] = ()  # (resolved value, the `${env:NAME}` it was resolved from)

    @classmethod
    def of(cls, values: Iterable[str], references: Mapping[str, str] | None = None) -> Masker:
        unique = {form for v in values if v for form in written_forms(v)}
        named = tuple(sorted({(form, r) for v, r in (references or {}).items() if v for form in written_forms(v)}))
        return cls(tuple(sorted(unique, key=len, reverse=True)), named)

    def secret(self, desired: Any) -> str:
        """How a desired value holding a secret is shown: `<secret ${env:NAME}>` naming the references whose
        values it holds, so a reader knows which variable changed; `<secret>` when none is known (the live
        side, whose value came from wherever the previous apply got it)."""
        if not self.references or desired is None:
            return SECRET
        text = desired if isinstance(desired, str) else json.dumps(desired, default=str)
        found = sorted({ref for value, ref in self.references if value in text})
        return f"<secret {', '.join(found)}>" if found else SECRET

    @staticmethod
    def masked(shown: Any) -> bool:
        """Whether a value as shown (`value`, `text`) has a secret masked in it."""
        text = shown if isinstance(shown, str) else json.dumps(shown, default=str)
        return SECRET in text or _NAMED in text

    def is_secret_field(self, kind: str, path: tuple[str | int, ...]) -> bool:
        if not path:
            return False
        spec = BY_NAME.get(kind)
        if spec and len(path) == 1 and path[0] in spec.secret_fields:
            return True
        if kind == "plugins" and path[0] == "config":
            return any(isinstance(p, str) and p.lower() in SECRET_CONFIG_KEYS for p in path[1:])
        return False

    def value(self, kind: str, path: tuple[str | int, ...], value: Any) -> Any:
        """`value` as shown at `path` of an entity of `kind`."""
        if value is None:
            return None
        if self.is_secret_field(kind, path):
            return SECRET
        if isinstance(value, dict):
            return {k: self.value(kind, (*path, k), v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(kind, (*path, i), v) for i, v in enumerate(value)]
        if isinstance(value, str):
            return self.text(value)
        return value

    def holds_secret(self, text: str) -> bool:
        """`text` contains a known secret value (so `text(text)` would change it)."""
        return bool(self.values) and len(text) >= MIN_SCRUB_LENGTH and self._any_secret.search(text) is not None

    def text(self, text: str) -> str:
        """Any known secret value inside free text replaced: by `<secret ${env:NAME}>` when the reference it
        was resolved from is known (a reader can tell which one), else by `<secret>`."""
        if not self.holds_secret(text):
            return text  # most strings: one regex search, not one scan per secret (1,000 keys, 100,000 strings)
        # Longest first, so that a secret overlapping a shorter one is never left half-shown; each goes to a
        # stand-in first, so that what is put in (`${env:AUDIT_TOKEN}`) is never searched for a secret again.
        shown: list[str] = []
        for secret in self.values:
            if secret in text:
                text = text.replace(secret, f"\x00{chr(_STAND_IN + len(shown))}\x00")
                named = self._named.get(secret)
                shown.append(f"<secret {named}>" if named else SECRET)
        return _STAND_INS.sub(lambda m: _nth(shown, ord(m.group(1)) - _STAND_IN, m.group()), text)

    @functools.cached_property
    def _named(self) -> dict[str, str]:
        return dict(self.references)

    @functools.cached_property
    def _any_secret(self) -> re.Pattern[str]:
        """Matches where any of the secrets occurs: the secrets as one trie-shaped regex, so that a position
        is ruled out in one step however many secrets share their first characters."""
        try:
            return re.compile(_trie_regex(self.values))
        except RecursionError:  # thousands of secrets nested inside each other: a plain alternation
            return re.compile("|".join(re.escape(v) for v in self.values))


def written_forms(secret: str) -> set[str]:
    """`secret` as itself and as a server may write it inside a message: JSON-escaped (a body shown as text),
    with cjson's `\\/`, Go's %q (Kuma's and the Kubernetes API server's messages) and Lua's %q, as Kong's
    Penlight quotes a unique key it refuses (`UNIQUE violation detected on '{key="pa\\"ss"}'`). A secret with
    a quote, a backslash or a control character is otherwise missed where it is echoed back escaped."""
    forms = {secret}
    for ascii_only in (False, True):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        forms |= {escaped, escaped.replace("/", "\\/")}
    forms |= {_lua_quoted(secret), _go_quoted(secret)}
    if len(secret) < MIN_SCRUB_LENGTH:  # a short key ("abc") only where quoted as a value: `{key="abc"}`
        return {f'"{form}"' for form in forms}
    return forms


def _lua_quoted(text: str) -> str:
    """LuaJIT's `string.format("%q", text)` without its quotes (lj_strfmt_putquoted): `"`, `\\` and a line
    break after a backslash, other control characters as `\\ddd` decimal (three digits before a digit)."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text  # nearly every secret: nothing to escape
    try:
        data = text.encode("utf-8", "surrogateescape")  # a variable's bytes that are no UTF-8 come back as such
    except UnicodeEncodeError:  # a lone surrogate no bytes stand behind (JSON's "\ud800"): no Lua string holds it
        return text
    out = bytearray()
    for at, byte in enumerate(data):
        if byte in b'"\\\n':
            out += b"\\" + bytes([byte])
        elif byte < 32 or byte == 127:
            digits = f"{byte:03d}" if data[at + 1 : at + 2].isdigit() else str(byte)
            out += b"\\" + digits.encode()
        else:
            out.append(byte)
    return out.decode("utf-8", "surrogateescape")


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_quoted(text: str) -> str:
    """Go's strconv.Quote without its quotes: `"` and `\\` escaped, \\n and the like by letter, other
    characters that do not print as `\\xff`, `\\u00ad` or `\\U000e0001`; printable ones as they are."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80 or 0xDC80 <= ord(char) <= 0xDCFF:  # a byte that is no UTF-8 came as a surrogate
            out.append(f"\\x{ord(char) & 0xFF:02x}")
        else:
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
    return "".join(out)


def _nth(items: list[str], index: int, otherwise: str) -> str:
    return items[index] if index < len(items) else otherwise


def _trie_regex(words: Iterable[str]) -> str:
    """A regex matching exactly `words` (non-empty), shaped as their prefix tree: `bench-key-(?:1|2)`."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def pattern(node: dict[str, Any]) -> str:
        run = ""
        while len(node) == 1 and "" not in node:  # a chain of single children: a literal run
            char, node = next(iter(node.items()))
            run += re.escape(char)
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return run
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return run + (f"(?:{body})?" if "" in node else body)

    return pattern(root)
