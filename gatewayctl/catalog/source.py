"""Safe YAML loading that remembers where every value came from.

The document is composed into a node tree (libyaml's C parser when present), checked for the
things that make YAML dangerous (unknown tags, alias bombs, recursion, absurd nesting, duplicate
keys), and only then turned into plain Python data. A node tree can be rebuilt whenever a later error,
found by pydantic or by a semantic check, must be mapped from its key path back to `file:line:col`.
Overlays (environments, defaults) are merged as node trees for that, so a merged value keeps the
position of the text it came from.

The fast path (`parse_data_in_pieces`, `parse_data`, `merge_data`) builds the same data without keeping
a node tree: the safety checks and the conversion in one pass, a usual catalog composed a piece at a
time, merges done on the data. Whatever it is not sure of goes the way described above.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import itertools
import math
import operator
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gatewayctl.catalog.secrets import Reference, references_in
from gatewayctl.diagnostics import CatalogInvalid, Diagnostic, KeyPath, format_path

try:  # the C parser is ~10x faster; the pure-Python one behaves the same
    from yaml import CSafeLoader as _Loader
    from yaml import _yaml

    _cyaml: Any = _yaml  # libyaml's composer, whose node classes a piece swaps for lighter ones (_LightData)
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

    _cyaml = None

YAML_TAG = "tag:yaml.org,2002:"
MAX_DEPTH = 64
# Aliases may add this many nodes beyond those written in the file; a "billion laughs" adds billions.
MAX_ALIAS_EXPANSION = 1_000_000
MERGE_KEY_TAG = YAML_TAG + "merge"

_scalar_constructor = yaml.SafeLoader("")  # only its construct_yaml_* helpers are used


_RESOLVER = yaml.resolver.Resolver()  # the safe loader's tag resolution, without path resolvers


class _Composer(_Loader):
    """The safe loader with its per-node Python callbacks made cheap: the C composer calls `resolve`,
    `descend_resolver` and `ascend_resolver` for every node (800,000 times for 10,000 services).
    A catalog repeats the same few thousand scalars (protocols, methods, tags) hundreds of thousands of
    times, so `resolve` is memoised by an lru_cache (a C-level hit, no Python frame); the two path
    resolver hooks do nothing without path resolvers (none for safe loading), so they become C no-ops.
    The cache wraps a module-level resolver, not this loader, so that it makes no reference cycle."""

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        self.resolve = functools.lru_cache(maxsize=None)(_RESOLVER.resolve)  # type: ignore[method-assign]
        self.descend_resolver = operator.is_  # type: ignore[method-assign,assignment]  # (parent, index) -> ignored
        self.ascend_resolver = tuple  # type: ignore[method-assign,assignment]  # () -> ignored


@dataclass(frozen=True)
class Position:
    file: str
    line: int  # 1-based
    col: int  # 1-based


class Source:
    """A composed YAML document plus the name to report positions under.

    The node tree of a large catalog is several times the size of its data, and it is only needed to
    place a diagnostic. A Source made with `rebuild` can `release()` its tree once the data is built,
    or start without one (root None); the first position asked for afterwards composes it (the slow path
    is the error path).
    """

    def __init__(self, file: str, root: Node | None, rebuild: Callable[[], Node] | None = None) -> None:
        assert root is not None or rebuild is not None
        self.file = file
        self._root: Node | None = root
        self._rebuild = rebuild

    @property
    def root(self) -> Node:
        if self._root is None:
            assert self._rebuild is not None
            self._root = self._rebuild()
        return self._root

    def release(self) -> None:
        """Drop the node tree if it can be rebuilt."""
        if self._rebuild is not None:
            self._root = None

    def position_of(self, path: KeyPath, *, key: bool = False) -> Position:
        """Where the value at `path` was written; with `key=True`, where its key was written.

        When the path runs past what exists (a missing key), the deepest existing node is used,
        which is where the missing key belongs.
        """
        node = self.root
        key_node: Node | None = None
        for part in path:
            child = _child(node, part)
            if child is None:
                break
            key_node, node = child
        else:
            if key and key_node is not None:
                node = key_node
        mark = node.start_mark
        return Position(self.file, mark.line + 1, mark.column + 1)

    def diagnostic(self, path: KeyPath, message: str, *, key: bool = False, severity: str = "error") -> Diagnostic:
        pos = self.position_of(path, key=key)
        return Diagnostic(pos.file, pos.line, pos.col, format_path(path), message, severity)  # type: ignore[arg-type]

    def subtree(self, path: KeyPath) -> Node | None:
        node = self.root
        for part in path:
            child = _child(node, part)
            if child is None:
                return None
            node = child[1]
        return node


def _child(node: Node, part: str | int) -> tuple[Node | None, Node] | None:
    if isinstance(node, MappingNode) and isinstance(part, str):
        for k, v in _mapping_pairs(node):
            if isinstance(k, ScalarNode) and k.value == part:
                return k, v
    elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None


def _mapping_pairs(node: MappingNode) -> Iterator[tuple[Node, Node]]:
    """A mapping's pairs with YAML merge keys (`<<: *base`) expanded, own keys first."""
    merged: list[tuple[Node, Node]] = []
    for k, v in node.value:
        if k.tag == MERGE_KEY_TAG:
            sources = v.value if isinstance(v, SequenceNode) else [v]
            for src in sources:
                if isinstance(src, MappingNode):
                    merged.extend(_mapping_pairs(src))
        else:
            yield k, v
    yield from merged


# --------------------------------------------------------------------------- loading


def parse(text: str | bytes, file: str) -> Source:
    """Compose one YAML document and check it; raise CatalogInvalid with a located error when it is not
    YAML or not safe."""
    source = Source(file, _compose(text, file))
    check_safety(source)
    return source


def parse_data(text: str | bytes, file: str) -> tuple[Source, Any, set[int]]:
    """`parse`, plus the document as plain data (`to_data`) when the fast path can build it: a document
    without aliases or merge keys and without problems, which is every catalog people write. Otherwise
    the data is None: the document uses aliases or merge keys (it is checked and the caller builds its
    data from the node tree), or it has a problem (raised, exactly as `parse` raises it).

    The third value is the ids of the mappings and lists in the data that hold a `${` string at any depth
    (see `held_references`; empty when the data is None)."""
    source = Source(file, _compose(text, file))
    fast = _FastData()
    try:
        data = fast.document(source.root)
    except _Fallback:
        check_safety(source)
        return source, None, set()
    return source, data, fast.holders


# --------------------------------------------------------------------------- loading in pieces

# A line that starts a top-level key of a block mapping: a plain key at column 0, then ':' and a space or
# the line's end. Whatever else starts at column 0 (but comments and a compact list's "- ") is left to the
# whole-document path.
_TOP_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*:(?=[ \t\r\n]|$)")
_COLUMN0 = re.compile(r"\n[^ \t\r\n#]")  # a newline, then content at column 0 (a literal first: fast search)
# List items composed at a time. Smaller pieces peak lower but cost more time (10,000 services with mesh
# settings: 256 items 161 MB / 2.6 s, 2,048 items 315 MB / 2.2 s, the whole document 601 MB / 2.1 s).
_PIECE_ITEMS = 2048
_PIECES_FROM = 64 * 1024  # sections at least this long are composed a few list items at a time


def parse_data_in_pieces(text: str | bytes, file: str) -> tuple[dict[str, Any], set[int]] | None:
    """`parse_data`'s data and holders for a catalog written the usual way (a block mapping of sections,
    no anchors, no directives), composed a piece at a time: each top-level section alone, and a long list
    (the services) 2,048 items at a time, each piece's node tree dropped once its data is built. The whole
    document's node tree is several times the size of its data (600 MB for 10,000 services with mesh
    settings) and it set the peak memory of a whole render; a piece's is a fraction of that.

    None whenever anything is unusual: a piece that does not compose or that the fast path gives up on, a
    line at column 0 that is not a plain key, a comment or "- ", an anchor ('&' anywhere), a directive or
    document marker, a section written twice, or text that is not UTF-8. The caller then loads the whole
    document (`parse_data`), which reports every problem exactly. Splitting at a line where YAML would
    still be inside a quoted scalar or a flow collection leaves that piece unterminated: it fails to compose
    and the whole document is loaded instead."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if "&" in text or text.startswith("\ufeff"):
        return None  # (a directive or document marker is a line at column 0 that is not a key: see below)
    starts: list[tuple[str, int]] = []  # (key, offset of its line)
    first_line = [0] if text[:1] not in ("", " ", "\t", "\r", "\n", "#") else []
    for at in first_line + [match.start() + 1 for match in _COLUMN0.finditer(text)]:
        head = _TOP_KEY.match(text, at)
        if head is not None:
            starts.append((head.group()[:-1], at))
        elif not (text.startswith("- ", at) or text.startswith("-\n", at) or text.startswith("-\r", at)):
            return None
        elif not starts:
            return None  # a list at the top level
    if not starts or len({key for key, _ in starts}) != len(starts) or _cyaml is None:
        return None
    # Text before the first section belongs to no piece: only comments and blank lines may stand there (an
    # indented line would be left unparsed, and a broken document called valid), and only characters YAML
    # allows (libyaml reads no piece of it, so a control character in a comment there would go unnoticed).
    preamble = text[: starts[0][1]]
    if any(line.strip() and not line.lstrip().startswith("#") for line in preamble.splitlines()):
        return None
    if yaml.reader.Reader.NON_PRINTABLE.search(preamble):
        return None
    light = _LightData()
    data: dict[str, Any] = {}
    try:
        for i, (key, at) in enumerate(starts):
            end = starts[i + 1][1] if i + 1 < len(starts) else len(text)
            data[key] = _section_data(text, at, end, key, light)
    except (_Fallback, RecursionError):
        return None
    return note_holder(data, data.values(), light.holders), light.holders


def _section_data(text: str, at: int, end: int, key: str, light: _LightData) -> Any:
    """The value of the top-level `key` whose text runs from `at` to `end`."""
    pieces = _list_pieces(text, at, end) if end - at >= _PIECES_FROM else None
    if pieces is None:
        root = light.compose(text[at:end])
        if root.__class__ is not _LightMapping or len(root.value) != 1 or _light_key(root.value[0][0]) != key:
            raise _Fallback
        return light.mapping(root, 0)[key]
    items: list[Any] = []
    for start, stop in pieces:
        root = light.compose(text[start:stop])
        if root.__class__ is not _LightSequence:
            raise _Fallback
        items += light.sequence(root, 1)
    return note_holder(items, items, light.holders)


def _list_pieces(text: str, at: int, end: int) -> list[tuple[int, int]] | None:
    """Where a section whose value is a block list splits into runs of items, or None when its value is
    not written that way (an inline value, a mapping, content left of the list's dashes)."""
    line_end = text.find("\n", at, end)
    rest = text[at:line_end].split(":", 1)[1].strip() if line_end >= 0 else "-"
    if rest and not rest.startswith("#"):
        return None  # `key: value` on the key's own line (or no body at all)
    first = re.compile(r"^([ ]*)-(?:[ \t\r\n]|$)", re.M).search(text, line_end + 1, end)
    if first is None:
        return None
    indent = len(first.group(1))
    # Every line with content that is not right of the dashes: each must be one of the list's "- " lines.
    outer = re.compile(rf"\n( {{0,{indent}}})(?=[^ \r\n#])(-(?:[ \t\r\n]|$))?")
    starts: list[int] = []
    for line in outer.finditer(text, line_end, end):
        if len(line.group(1)) != indent or line.group(2) is None:
            return None  # content left of the dashes, or beside them: not one list
        starts.append(line.start() + 1)
    starts[0] = line_end + 1  # comments above the first item go with it
    return list(itertools.pairwise([*starts[::_PIECE_ITEMS], end]))


# ---- the light node tree of a piece
#
# libyaml's composer (yaml._yaml) builds each node by calling the node classes it finds among its module's
# globals, a Python-level __init__ per node (800,000 nodes for 10,000 services), and the tree is then walked
# once and dropped. For a piece those names are swapped, while it is composed, for cheaper stand-ins: a
# scalar is its text when YAML resolves it to a string (nearly every one) and a (tag, text) tuple otherwise,
# and a mapping or list keeps only its tag and its pairs or items. Composing, walking and freeing the pieces
# of 10,000 services takes 0.9 s instead of 1.3 s. The swap is process-wide while it lasts: it is serialised
# by a lock and undone before the compose returns or raises. A thread that used libyaml's composer or
# emitter meanwhile would meet the stand-ins; gatewayctl's other uses of libyaml (apply's export parsing,
# the YAML writer's rare quoted strings) never run beside a catalog load. Nodes with positions, for
# diagnostics, come from `_compose`, which never sees the stand-ins.


def _light_scalar(tag: str, value: str, start_mark: object, end_mark: object, style: object) -> str | tuple[str, str]:
    return value if tag == _STR_TAG else (tag, value)


class _LightCollection:
    __slots__ = ("end_mark", "tag", "value")  # end_mark: set by the composer once the collection ends

    def __init__(self, tag: str, value: list[Any], start_mark: object, end_mark: object, flow_style: object) -> None:
        self.tag = tag
        self.value = value


class _LightMapping(_LightCollection):
    __slots__ = ()  # value: [(key, value)]


class _LightSequence(_LightCollection):
    __slots__ = ()  # value: [item]


_LIGHT_KINDS: dict[object, type[Node]] = {
    _light_scalar: ScalarNode,
    _LightSequence: SequenceNode,
    _LightMapping: MappingNode,
}
_LIGHT_LOCK = threading.Lock()


def _light_resolver() -> Callable[[object, str | None, Any], str]:
    """The safe loader's `resolve` for the stand-in kinds, memoised (see _Composer)."""

    def resolve(kind: object, value: str | None, implicit: Any) -> str:
        return _RESOLVER.resolve(_LIGHT_KINDS[kind], value, implicit)  # type: ignore[no-untyped-call,no-any-return]

    return functools.lru_cache(maxsize=None)(resolve)


def _light_key(key: Any) -> str:
    """A mapping key's text, whatever its scalar tag (as `to_data` keys are); _Fallback for a mapping or
    list used as a key."""
    if key.__class__ is str:
        return key
    if key.__class__ is tuple:
        return key[1]  # type: ignore[no-any-return]
    raise _Fallback


class _LightData:
    """`_FastData` for light node trees (see above): the same data and holders, and _Fallback for the same
    things. Pieces come from text without '&', hence without aliases: every node is met once, and the
    scalar values alone cannot add up to an alias bomb, so no node is counted or remembered."""

    def __init__(self) -> None:
        self.resolve = _light_resolver()  # one cache for every piece of the document
        self.scalars: dict[tuple[str, str], Any] = {}  # (tag, text) -> value, for int/float/bool/null
        self.references = 0  # strings holding "${" so far
        self.holders: set[int] = set()  # ids of the mappings and lists built that hold one, at any depth

    def compose(self, text: str) -> Any:
        """The light node tree of `text`; _Fallback when it is not one YAML document."""
        loader = _Loader(text)
        loader.resolve = self.resolve  # type: ignore[method-assign]
        loader.descend_resolver = operator.is_  # type: ignore[method-assign,assignment]
        loader.ascend_resolver = tuple  # type: ignore[method-assign,assignment]
        try:
            with _LIGHT_LOCK:
                names = _cyaml.ScalarNode, _cyaml.SequenceNode, _cyaml.MappingNode
                _cyaml.ScalarNode, _cyaml.SequenceNode, _cyaml.MappingNode = (
                    _light_scalar,
                    _LightSequence,
                    _LightMapping,
                )
                try:
                    return loader.get_single_node()
                finally:
                    _cyaml.ScalarNode, _cyaml.SequenceNode, _cyaml.MappingNode = names
        except (yaml.YAMLError, AttributeError):
            # AttributeError: a second document in the piece (a file whose lines end in a bare CR is one piece),
            # which libyaml reports with the first one's start_mark, a thing the stand-ins do not keep
            raise _Fallback from None
        finally:
            loader.dispose()

    def mapping(self, node: _LightMapping, depth: int) -> dict[str, Any]:
        pairs = node.value
        if node.tag != _MAP_TAG or (depth >= MAX_DEPTH and pairs):
            raise _Fallback
        references = self.references
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k.__class__ is not str:
                k = _light_key(k)
            kind = v.__class__
            if kind is str:
                out[k] = v
                if "${" in v:
                    self.references += 1
            elif kind is _LightMapping:
                out[k] = self.mapping(v, depth + 1)
            elif kind is _LightSequence:
                out[k] = self.sequence(v, depth + 1)
            else:
                out[k] = self.scalar(v)
        if len(out) != len(pairs) or "<<" in out:
            raise _Fallback  # a duplicate key or a merge key
        if self.references != references:
            self.holders.add(id(out))
        return out

    def sequence(self, node: _LightSequence, depth: int) -> list[Any]:
        items = node.value
        if node.tag != _SEQ_TAG or (depth >= MAX_DEPTH and items):
            raise _Fallback
        references = self.references
        out: list[Any] = []
        append = out.append
        for v in items:
            kind = v.__class__
            if kind is str:
                append(v)
                if "${" in v:
                    self.references += 1
            elif kind is _LightMapping:
                append(self.mapping(v, depth + 1))
            elif kind is _LightSequence:
                append(self.sequence(v, depth + 1))
            else:
                append(self.scalar(v))
        if self.references != references:
            self.holders.add(id(out))
        return out

    def scalar(self, node: tuple[str, str]) -> Any:
        """A scalar YAML resolves to something else than a string."""
        try:
            return self.scalars[node]
        except KeyError:
            pass
        tag, text = node
        if tag == YAML_TAG + "timestamp":
            return text
        if tag not in _SCALAR_TAGS:
            raise _Fallback
        try:
            value = self.scalars[node] = to_data(ScalarNode(tag, text))
        except _BAD_SCALAR:  # an explicit tag on text it cannot be: the whole-document path reports it
            raise _Fallback from None
        return value


_YAML_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _compose(text: str | bytes, file: str) -> Node:
    if isinstance(text, bytes):
        raw = text
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            raise CatalogInvalid(
                [Diagnostic(file, line, col, "", "not a text file: the catalog must be UTF-8 YAML")]
            ) from None
    try:
        root = yaml.compose(text, Loader=_Composer)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "not valid YAML"
        if exc.context and "expected a single document" in exc.context:
            problem = "a catalog is a single YAML document; remove the extra '---' document"
        elif exc.context and exc.context_mark and exc.context.startswith("while parsing a flow"):
            # Point back at the bracket that was never closed; the problem mark alone is often lines later.
            opened = exc.context_mark
            bracket = "[" if "sequence" in exc.context else "{"
            problem += f" (for the '{bracket}' opened on line {opened.line + 1}, column {opened.column + 1})"
        elif problem.startswith("found character that cannot start any token") and mark and text[mark.index] == "\t":
            problem = "found a tab character that violates indentation"  # as PyYAML says it elsewhere
        raise CatalogInvalid([Diagnostic(file, line, col, "", f"YAML syntax error: {problem}")]) from None
    except yaml.YAMLError as exc:  # reader errors: control characters, bad encodings
        position: int | None = getattr(exc, "position", None)
        message = "not a text file: it contains characters YAML does not allow"
        if position is not None:
            if _cyaml is not None:  # libyaml counts the position in UTF-8 bytes, PyYAML's reader in characters
                position = len(text.encode("utf-8")[:position].decode("utf-8", "ignore"))
            # counted as YAML counts lines (a bare CR, NEL and the Unicode separators end one too), as every
            # other diagnostic's position is
            breaks = list(_YAML_LINE_BREAK.finditer(text, 0, position))
            line = len(breaks) + 1
            col = position - (breaks[-1].end() if breaks else 0) + 1
        else:
            line, col = 1, 1
        raise CatalogInvalid([Diagnostic(file, line, col, "", message)]) from None
    if root is None:
        raise CatalogInvalid([Diagnostic(file, 1, 1, "", "the catalog is empty")])
    return root


def check_safety(source: Source) -> None:
    """Reject tags we do not construct, cycles, deep nesting, alias bombs and duplicate keys."""
    check = _SafetyCheck(source.file)
    with contextlib.suppress(_Stop):  # the problem that stopped the walk is already recorded
        check.walk(source.root, None, 0)
    if check.problems:
        raise CatalogInvalid(check.problems)


class _SafetyCheck:
    # A class rather than a recursive closure: a closure that calls itself is a reference cycle, and with
    # the cyclic collector paused (gcpause.py) it would keep the whole node tree alive.
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Diagnostic] = []
        self.sizes: dict[int, int] = {}
        self.in_progress: set[int] = set()
        self.distinct = 0

    def walk(self, node: Node, path: _Chain, depth: int) -> int:
        ident = id(node)
        if ident in self.sizes:  # an alias: counted once when first composed, expands again here
            return self.sizes[ident]
        if ident in self.in_progress:
            self.problems.append(self.diagnostic(node, path, "an alias refers to the mapping or list that contains it"))
            raise _Stop
        if depth > MAX_DEPTH:
            self.problems.append(self.diagnostic(node, path, f"nested more than {MAX_DEPTH} levels deep"))
            raise _Stop
        self.distinct += 1
        size = 1
        if isinstance(node, ScalarNode):
            if not _known_scalar_tag(node.tag):
                self.problems.append(self.diagnostic(node, path, f"unsupported YAML tag {_short_tag(node.tag)}"))
            elif (why := _scalar_problem(node)) is not None:
                self.problems.append(self.diagnostic(node, path, why))
        elif isinstance(node, SequenceNode):
            if node.tag != YAML_TAG + "seq":
                self.problems.append(self.diagnostic(node, path, f"unsupported YAML tag {_short_tag(node.tag)}"))
            self.in_progress.add(ident)
            for i, item in enumerate(node.value):
                size += self.walk(item, (path, i), depth + 1)
            self.in_progress.discard(ident)
        elif isinstance(node, MappingNode):
            if node.tag != YAML_TAG + "map":
                self.problems.append(self.diagnostic(node, path, f"unsupported YAML tag {_short_tag(node.tag)}"))
            self.in_progress.add(ident)
            seen: dict[str, Node] = {}
            for k, v in node.value:
                if k.tag == MERGE_KEY_TAG:
                    # Anything else would be dropped without a word when the pairs are expanded.
                    sources = v.value if isinstance(v, SequenceNode) else [v]
                    if not all(isinstance(src, MappingNode) for src in sources):
                        self.problems.append(
                            self.diagnostic(k, path, "`<<` merges a mapping or a list of mappings (such as *base)")
                        )
                    size += self.walk(v, path, depth + 1)
                    continue
                if not isinstance(k, ScalarNode):
                    self.problems.append(self.diagnostic(k, path, "mapping keys must be plain strings"))
                    continue
                if k.value in seen:
                    first = seen[k.value].start_mark.line + 1
                    self.problems.append(
                        self.diagnostic(k, (path, k.value), f"duplicate key (first written on line {first})")
                    )
                seen[k.value] = k
                size += self.walk(v, (path, k.value), depth + 1)
            self.in_progress.discard(ident)
        self.sizes[ident] = size
        if size - self.distinct > MAX_ALIAS_EXPANSION:
            self.problems.append(
                self.diagnostic(
                    node,
                    path,
                    f"aliases expand the document by more than {MAX_ALIAS_EXPANSION:,} values (a YAML alias bomb?)",
                )
            )
            raise _Stop
        return size

    def diagnostic(self, node: Node, path: _Chain, message: str) -> Diagnostic:
        mark = node.start_mark
        return Diagnostic(self.file, mark.line + 1, mark.column + 1, format_path(_unchain(path)), message)


# A key path built only when a problem is reported: (parent chain, key or index), None at the root.
_Chain = tuple[Any, str | int] | None


def _unchain(chain: _Chain) -> KeyPath:
    parts: list[str | int] = []
    while chain is not None:
        chain, part = chain
        parts.append(part)
    return tuple(reversed(parts))


class _Stop(Exception):
    pass


_SCALAR_TAGS = {YAML_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}


def _known_scalar_tag(tag: str) -> bool:
    return tag in _SCALAR_TAGS


def _scalar_problem(node: ScalarNode) -> str | None:
    """Why a scalar cannot be the value its tag names (an explicit `!!int x`, `!!bool maybe`), or None."""
    try:
        to_data(node)
    except _BAD_SCALAR:
        return f"not a valid {_short_tag(node.tag)} value (got {node.value!r}); remove the tag or fix the value"
    return None


# What PyYAML's constructors raise for a scalar text its tag cannot be (only explicit tags allow such text).
_BAD_SCALAR = (ValueError, KeyError, IndexError)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(YAML_TAG) :] if tag.startswith(YAML_TAG) else tag


# --------------------------------------------------------------------------- construction


def to_data(node: Node) -> Any:
    """Plain Python data from a checked node tree. Keys are always their source text, so that a key
    such as `on:` stays the string "on" instead of YAML 1.1's boolean True."""
    if isinstance(node, ScalarNode):
        tag = node.tag
        if tag == YAML_TAG + "str" or tag == YAML_TAG + "timestamp":
            return node.value
        if tag == YAML_TAG + "int":
            return _scalar_constructor.construct_yaml_int(node)
        if tag == YAML_TAG + "float":
            value = _scalar_constructor.construct_yaml_float(node)
            return value if math.isfinite(value) else node.value
        if tag == YAML_TAG + "bool":
            return _scalar_constructor.construct_yaml_bool(node)
        if tag == YAML_TAG + "null":
            return None
        return node.value
    if isinstance(node, SequenceNode):
        return [to_data(item) for item in node.value]
    if isinstance(node, MappingNode):
        if any(k.tag == MERGE_KEY_TAG for k, _ in node.value):
            return {k.value: to_data(v) for k, v in _ordered_unique_pairs(node)}
        # No merge keys: the pairs are already unique (duplicates were rejected, merges dedupe).
        return {k.value: to_data(v) for k, v in node.value}
    raise TypeError(f"unexpected YAML node {node!r}")  # pragma: no cover


class _Fallback(Exception):
    """The fast path met something only `check_safety` and `to_data` handle exactly."""


_STR_TAG = YAML_TAG + "str"
_MAP_TAG = YAML_TAG + "map"
_SEQ_TAG = YAML_TAG + "seq"


class _FastData:
    """`check_safety` and `to_data` in one pass, for the documents both accept without surprise.

    It builds the same data `to_data` builds, and gives up (raises _Fallback) at the first thing the
    safety walk would report or that needs its bookkeeping: an unknown tag, a non-scalar, duplicate or
    merge (`<<`) key, nesting deeper than MAX_DEPTH, or any mapping or list met twice (an alias: it could be
    a cycle or a bomb; giving up at once means a bomb is never expanded). The caller then runs the full
    walk, so every problem is reported exactly as before. Aliases of scalars expand nothing; they only
    count towards MAX_ALIAS_EXPANSION, which a document with fewer scalar values than that cannot exceed.
    Twice as fast as the two walks it replaces, as it skips their per-node bookkeeping."""

    def __init__(self) -> None:
        self.containers: set[int] = set()
        self.children = 0  # values in every mapping and list: scalars plus containers (bar the root)
        self.scalars: dict[tuple[str, str], Any] = {}  # (tag, text) -> value, for int/float/bool/null
        self.references = 0  # strings holding "${" so far
        self.holders: set[int] = set()  # ids of the mappings and lists built that hold one, at any depth

    def document(self, root: Node) -> Any:
        try:
            if isinstance(root, MappingNode):
                data: Any = self.mapping(root, 0)
            elif isinstance(root, SequenceNode):
                data = self.sequence(root, 0)
            else:
                data = self.scalar(root)
        except (TypeError, RecursionError):  # a mapping or list used as a key (unhashable), say
            raise _Fallback from None
        if self.children - (len(self.containers) - 1) > MAX_ALIAS_EXPANSION:
            raise _Fallback  # so many scalar values that aliases among them could be a bomb: count exactly
        return data

    def mapping(self, node: MappingNode, depth: int) -> dict[str, Any]:
        pairs = node.value
        if node.tag != _MAP_TAG or (depth >= MAX_DEPTH and pairs):
            raise _Fallback
        ident = id(node)
        if ident in self.containers:
            raise _Fallback
        self.containers.add(ident)
        self.children += len(pairs)
        references = self.references
        out: dict[str, Any] = {}
        for k, v in pairs:
            kind = v.__class__
            if kind is ScalarNode:
                if v.tag == _STR_TAG:
                    text = out[k.value] = v.value
                    if "${" in text:
                        self.references += 1
                else:
                    out[k.value] = self.scalar(v)
            elif kind is MappingNode:
                out[k.value] = self.mapping(v, depth + 1)
            else:
                out[k.value] = self.sequence(v, depth + 1)
        # A key that is a mapping or a list has a list as its value: unhashable, a TypeError above.
        if len(out) != len(pairs) or "<<" in out:
            raise _Fallback  # a duplicate key or a merge key
        if self.references != references:
            self.holders.add(id(out))
        return out

    def sequence(self, node: SequenceNode, depth: int) -> list[Any]:
        items = node.value
        if node.tag != _SEQ_TAG or (depth >= MAX_DEPTH and items):
            raise _Fallback
        ident = id(node)
        if ident in self.containers:
            raise _Fallback
        self.containers.add(ident)
        self.children += len(items)
        references = self.references
        out: list[Any] = []
        append = out.append
        for v in items:
            kind = v.__class__
            if kind is ScalarNode:
                if v.tag == _STR_TAG:
                    text = v.value
                    append(text)
                    if "${" in text:
                        self.references += 1
                else:
                    append(self.scalar(v))
            elif kind is MappingNode:
                append(self.mapping(v, depth + 1))
            else:
                append(self.sequence(v, depth + 1))
        if self.references != references:
            self.holders.add(id(out))
        return out

    def scalar(self, node: Node) -> Any:
        if node.__class__ is not ScalarNode:
            raise _Fallback
        tag = node.tag
        if tag == _STR_TAG or tag == YAML_TAG + "timestamp":
            return node.value
        key = (tag, node.value)
        try:
            return self.scalars[key]
        except KeyError:
            pass
        if tag not in _SCALAR_TAGS:
            raise _Fallback
        try:
            value = self.scalars[key] = to_data(node)
        except _BAD_SCALAR:  # an explicit tag on text it cannot be: check_safety reports it
            raise _Fallback from None
        return value


def _ordered_unique_pairs(node: MappingNode) -> Iterator[tuple[ScalarNode, Node]]:
    """Own keys win over merged ones (YAML merge-key rule); the first written wins among merged."""
    seen: set[str] = set()
    for k, v in _mapping_pairs(node):
        if isinstance(k, ScalarNode) and k.value not in seen:
            seen.add(k.value)
            yield k, v


# --------------------------------------------------------------------------- merging


def merge_nodes(base: Node, overlay: Node) -> Node:
    """Deep-merge `overlay` onto `base`: mappings merge by key, lists of named mappings merge by
    `name` (a new name adds an item), anything else is replaced by the overlay's value."""
    if isinstance(base, MappingNode) and isinstance(overlay, MappingNode):
        pairs = list(_ordered_unique_pairs(base))
        index = {k.value: i for i, (k, _) in enumerate(pairs)}
        for k, v in _ordered_unique_pairs(overlay):
            if k.value in index:
                i = index[k.value]
                pairs[i] = (pairs[i][0], merge_nodes(pairs[i][1], v))
            else:
                index[k.value] = len(pairs)
                pairs.append((k, v))
        return MappingNode(base.tag, list(pairs), base.start_mark, base.end_mark, base.flow_style)
    if isinstance(base, SequenceNode) and isinstance(overlay, SequenceNode):
        base_names = _names(base)
        overlay_names = _names(overlay)
        if base_names is not None and overlay_names is not None:
            items = list(base.value)
            position = {name: i for i, name in enumerate(base_names)}
            for name, item in zip(overlay_names, overlay.value, strict=True):
                if name in position:
                    items[position[name]] = merge_nodes(items[position[name]], item)
                else:
                    position[name] = len(items)
                    items.append(item)
            return SequenceNode(base.tag, items, base.start_mark, base.end_mark, base.flow_style)
    return overlay


class Unsure(Exception):
    """`merge_data` cannot tell what `merge_nodes` would do: a list item's `name` that is not a string.
    The node merge compares scalar text, so `1` and `"1"` are the same name to it; plain data no longer
    says how a number or a boolean was written."""


def merge_data(base: Any, overlay: Any, holders: set[int]) -> Any:
    """`merge_nodes` on plain data: `to_data(merge_nodes(b, o)) == merge_data(to_data(b), to_data(o))` for
    trees without merge keys (`parse_data`'s fast path has none), or Unsure. Merging data is many times
    cheaper than merging node trees and converting the result; the node merge stays for positions.
    The arguments are not changed: the result shares their unchanged parts. A new mapping or list that
    holds a `${` string is added to `holders` (see parse_data)."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for k, v in overlay.items():
            out[k] = merge_data(out[k], v, holders) if k in out else v
        return note_holder(out, out.values(), holders)
    if isinstance(base, list) and isinstance(overlay, list):
        base_names = _data_names(base)
        overlay_names = _data_names(overlay)
        if base_names is not None and overlay_names is not None:
            items = list(base)
            position = {name: i for i, name in enumerate(base_names)}
            for name, item in zip(overlay_names, overlay, strict=True):
                if name in position:
                    items[position[name]] = merge_data(items[position[name]], item, holders)
                else:
                    position[name] = len(items)
                    items.append(item)
            return note_holder(items, items, holders)
    return overlay


# An overlay item whose name is this close to a base item's (difflib's ratio, the measure of "did you mean"
# for unknown keys, with a stricter cutoff: this warns unasked) is more likely a misspelling than a new item.
CLOSE_NAME = 0.8
_DIGIT_RUNS = re.compile(r"\d+")
_KINDS = {"services": "service", "consumers": "consumer", "routes": "route"}


def overlay_additions(base: Any, overlay: Any, path: KeyPath) -> list[tuple[KeyPath, str]]:
    """Where the overlay at `path` adds a list item (see merge_data) whose name is close to a base item's
    name in the same list, with the warning: a misspelt `helo` for `hello` silently adds a service."""
    found: list[tuple[KeyPath, str]] = []
    _additions(base, overlay, path, "the base catalog", found)
    return found


def _additions(base: Any, overlay: Any, path: KeyPath, owner: str, found: list[tuple[KeyPath, str]]) -> None:
    if isinstance(base, dict) and isinstance(overlay, dict):
        for key, value in overlay.items():
            if key in base:
                _additions(base[key], value, (*path, key), owner, found)
        return
    if not (isinstance(base, list) and isinstance(overlay, list)):
        return
    try:
        base_names = _data_names(base)
        overlay_names = _data_names(overlay)
    except Unsure:
        return
    if base_names is None or overlay_names is None:
        return
    kind = _KINDS.get(str(path[-1]), f"{path[-1]} entry")
    position = {name: i for i, name in enumerate(base_names)}
    for i, name in enumerate(overlay_names):
        if name in position:
            _additions(base[position[name]], overlay[i], (*path, i), f"{kind} '{name}' in the base catalog", found)
            continue
        candidates = [b for b in base_names if not _variant_of(name, b)]
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=CLOSE_NAME)
        if close:
            has = "the base catalog does not have" if owner == "the base catalog" else f"{owner} does not have"
            found.append(((*path, i, "name"), f"adds {kind} '{name}', which {has} (did you mean '{close[0]}'?)"))


def _variant_of(a: str, b: str) -> bool:
    """Names one deliberately derives from another: differing only in digits (`orders-v1`, `orders-v2`;
    `api`, `api2`), or one the other plus a part joined by `-` (`orders`, `orders-canary`)."""
    if _DIGIT_RUNS.sub("", a) == _DIGIT_RUNS.sub("", b):
        return True
    short, long = sorted((a, b), key=len)
    return long.startswith(short + "-") or long.endswith("-" + short)


_Container = TypeVar("_Container", dict[str, Any], list[Any])


def note_holder(container: _Container, values: Iterable[Any], holders: set[int]) -> _Container:
    """Add `container` to `holders` when one of its `values` is a `${` string or a holder."""
    for value in values:
        if (value.__class__ is str and "${" in value) or id(value) in holders:
            holders.add(id(container))
            break
    return container


def held_references(data: Any, holders: set[int]) -> list[tuple[KeyPath, Reference]]:
    """`references_in(data)`, looking only inside the mappings and lists `holders` names (see parse_data):
    the same references in the same order, without walking the whole catalog. `holders` may name more than
    the holders (ids of objects since freed can be reused), never fewer."""
    found: list[tuple[KeyPath, Reference]] = []
    if id(data) in holders and isinstance(data, dict | list):
        _held(data, (), holders, found)
    return found


def _held(data: Any, path: KeyPath, holders: set[int], found: list[tuple[KeyPath, Reference]]) -> None:
    pairs: Iterable[tuple[str | int, Any]] = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in pairs:
        if isinstance(value, str):
            if "${" in value:
                found.extend(references_in(value, (*path, key)))
        elif id(value) in holders and isinstance(value, dict | list):
            _held(value, (*path, key), holders, found)


def _data_names(seq: list[Any]) -> list[str] | None:
    """`_names` on data."""
    names: list[str] = []
    for item in seq:
        if not isinstance(item, dict) or "name" not in item or isinstance(item["name"], dict | list):
            return None
        if not isinstance(item["name"], str):
            raise Unsure
        names.append(item["name"])
    return names


def _names(seq: SequenceNode) -> list[str] | None:
    names: list[str] = []
    for item in seq.value:
        if not isinstance(item, MappingNode):
            return None
        child = _child(item, "name")
        if child is None or not isinstance(child[1], ScalarNode):
            return None
        names.append(child[1].value)
    return names


def replace_child(mapping: MappingNode, key: str, value: Node | None) -> MappingNode:
    """A copy of `mapping` with `key` set to `value` (or removed when value is None)."""
    pairs = [(k, v) for k, v in _ordered_unique_pairs(mapping) if k.value != key]
    if value is not None:
        original = _child(mapping, key)
        key_node = (
            original[0]
            if original and original[0] is not None
            else ScalarNode(YAML_TAG + "str", key, value.start_mark, value.end_mark)
        )
        pairs.append((key_node, value))  # type: ignore[arg-type]
    return MappingNode(mapping.tag, list(pairs), mapping.start_mark, mapping.end_mark, mapping.flow_style)
