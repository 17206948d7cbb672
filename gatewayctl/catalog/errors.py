"""Turn pydantic's validation errors into located, plain-English diagnostics."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails
from yaml.nodes import ScalarNode

from gatewayctl.catalog.source import Source
from gatewayctl.catalog.types import SECRET_ADVICE, Secret
from gatewayctl.diagnostics import Diagnostic, KeyPath, quoted_key

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
_BOUNDS = {
    "greater_than": "greater than {gt}",
    "greater_than_equal": "at least {ge}",
    "less_than": "less than {lt}",
    "less_than_equal": "at most {le}",
}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def translate(error: ErrorDetails, source: Source, root_model: type[BaseModel]) -> Diagnostic:
    loc: KeyPath = tuple(p for p in error["loc"] if p != "[key]")
    at_key = "[key]" in error["loc"]
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")

    if kind == "missing":
        parent = loc[:-1]
        return source.diagnostic(parent, f"missing required key '{loc[-1]}'")
    if kind == "extra_forbidden":
        allowed = fields_at(root_model, loc[:-1])
        key = str(loc[-1])
        # A key written one level too high (`allow_from` beside `mesh:` instead of under it) is named
        # where it belongs; a near miss in spelling would point at some unrelated key instead.
        nested = sorted(
            where
            for f in allowed
            for where, path in ((f, (*loc[:-1], f)), (f"{f}[]", (*loc[:-1], f, 0)))
            if key in fields_at(root_model, path)
        )
        hint = f"; did you mean '{nested[0]}.{key}'?" if nested else did_you_mean(key, allowed)
        if not hint and allowed:
            hint = f" (allowed here: {', '.join(sorted(allowed))})" if len(allowed) <= 12 else ""
        return source.diagnostic(loc, f"unknown key {quoted_key(key)}{hint}", key=True)
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        message = f"must be {expected}"
        if isinstance(value, str):
            choices = [c.strip(" '") for c in expected.replace(" or ", ",").split(",")]
            message += f" (got {value!r}){did_you_mean(value, choices)}"
        elif isinstance(value, int | float) and not isinstance(value, bool):
            message += f" (got {value!r})"
        elif value is not None:
            message += f", not {describe(value)}"
        return source.diagnostic(loc, message, key=at_key)
    if kind in _TYPE_WORDS:
        message = f"must be {_TYPE_WORDS[kind]}, not {describe(value)}"
        if isinstance(value, str) and kind != "string_type":
            # .inf and .nan reach the model as their text (see source.to_data): not "a string" to the reader.
            node = source.subtree(loc)
            if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:float":
                message = f"must be {_TYPE_WORDS[kind]}, not {node.value}"
        if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
            node = source.subtree(loc)
            if _is_secret_field(root_model, loc):  # a literal secret: never quoted back, nor to be quoted
                message += f"; {SECRET_ADVICE}"
            elif isinstance(node, ScalarNode):
                message += f'; quote it to keep it as written: "{node.value}"'
        return source.diagnostic(loc, message, key=at_key)
    if kind in _BOUNDS:
        bound = _BOUNDS[kind].format(**{k: ctx.get(k) for k in ("gt", "ge", "lt", "le")})
        return source.diagnostic(loc, f"must be {bound} (got {value!r})")
    if kind == "int_parsing_size":  # an integer too large for the validator to read at all
        return source.diagnostic(loc, f"is far too large a number (got {value!r})")
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return source.diagnostic(loc, f"needs at least {n} item{'s' if n != 1 else ''}")
    if kind == "too_long":
        return source.diagnostic(loc, f"has more than {ctx.get('max_length')} items")
    if kind == "string_too_short":
        return source.diagnostic(loc, "must not be empty")
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return source.diagnostic(loc, message, key=at_key)


def _is_secret_field(root_model: type[BaseModel], loc: KeyPath) -> bool:
    """Whether `loc` is a field typed `Secret` (`key: Secret`, `password: Secret | None`)."""
    parent: Any = root_model
    for part in loc[:-1]:
        parent = _step(parent, part)
        if parent is None:
            return False
    model = _as_model(parent)
    field = model.model_fields.get(loc[-1]) if model is not None and isinstance(loc[-1], str) else None
    if field is None:
        return False
    return typing.get_args(Secret)[1:] == tuple(field.metadata) or Secret in typing.get_args(field.annotation)


def fields_at(root_model: type[BaseModel], path: KeyPath) -> set[str]:
    """The keys the model allows at `path` (for "did you mean"), or an empty set."""
    current: Any = root_model
    for part in path:
        current = _step(current, part)
        if current is None:
            return set()
    model = _as_model(current)
    return set(model.model_fields) if model else set()


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _as_model(annotation: Any) -> type[BaseModel] | None:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _step(annotation: Any, part: str | int) -> Any:
    model = _as_model(annotation)
    if model is not None:
        if isinstance(part, str) and part in model.model_fields:
            return model.model_fields[part].annotation
        return None
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list and isinstance(part, int):
        return args[0]
    if origin is dict and isinstance(part, str):
        return args[1]
    return None
