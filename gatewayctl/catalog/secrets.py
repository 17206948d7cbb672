"""Secret references: `${env:NAME}` and `${file:PATH}` are resolved at render/apply time only;
Kong vault references (`{vault://env/x}`) are Kong's business and pass through untouched.

Resolved values never reach printed output: anything shown to a person goes through
`gatewayctl.plan.masking.Masker`, which prints `<secret ${env:NAME}>` (or `<secret>` where the reference is
not known, such as the live side of a rotated secret) in place of the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatewayctl.diagnostics import KeyPath

REFERENCE = re.compile(r"\$\{(env|file):([^}]*)\}")
WHOLE_REFERENCE = re.compile(r"^(\$\{(env|file):[^}]+\}|\{vault://[^}]+\})$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_reference(value: str) -> bool:
    """True when the whole value is a secret reference (the only form allowed in secret fields)."""
    return bool(WHOLE_REFERENCE.fullmatch(value))


@dataclass(frozen=True)
class Reference:
    kind: str  # env | file
    name: str

    def __str__(self) -> str:
        return f"${{{self.kind}:{self.name}}}"

    def malformed(self) -> str | None:
        """Why this reference can never resolve, whatever the environment: found by validate, which runs
        without the secrets."""
        if self.kind == "env" and not ENV_NAME.fullmatch(self.name):
            return f"{self} is not a valid environment variable name"
        if self.kind == "file" and not self.name:
            return "${file:} needs a path"
        return None


def references_in(data: Any, path: KeyPath = ()) -> list[tuple[KeyPath, Reference]]:
    """Every `${env:..}` / `${file:..}` reference in a tree of plain data, with its key path."""
    found: list[tuple[KeyPath, Reference]] = []
    _collect_references(data, path, found)
    return found


def _collect_references(data: Any, path: KeyPath, found: list[tuple[KeyPath, Reference]]) -> None:
    # Called on every value of large catalogs: strings without "${" are skipped before any path is built.
    if isinstance(data, str):
        if "${" in data:
            found.extend((path, Reference(m.group(1), m.group(2))) for m in REFERENCE.finditer(data))
        return
    if isinstance(data, Mapping):
        pairs: Iterable[tuple[str | int, Any]] = data.items()
    elif isinstance(data, list):
        pairs = enumerate(data)
    else:
        return
    for key, value in pairs:
        if isinstance(value, str):
            if "${" in value:
                _collect_references(value, (*path, key), found)
        elif isinstance(value, Mapping | list):
            _collect_references(value, (*path, key), found)


@dataclass
class SecretResolver:
    """Resolves references against the process environment and files relative to the catalog."""

    base_dir: Path
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _cache: dict[Reference, str | None] = field(default_factory=dict)

    def problem(self, ref: Reference) -> str | None:
        """Why `ref` cannot be resolved, or None when it can."""
        malformed = ref.malformed()
        if malformed:
            return malformed
        if ref.kind == "env":
            if ref.name not in self.environ:
                return f"environment variable {ref.name} is not set (needed by {ref})"
            # CI systems set a secret that was never configured to "" (GitHub Actions does): Kong refuses
            # empty keys and passwords, so this is caught here rather than at apply time.
            if not self.environ[ref.name].rstrip("\r\n"):
                return f"environment variable {ref.name} is empty (needed by {ref})"
            if not _is_text(self.environ[ref.name]):  # bytes that are no UTF-8: no YAML or JSON can carry them
                return f"environment variable {ref.name} is not UTF-8 text (needed by {ref})"
            return None
        path = self.file_path(ref.name)
        if not path.is_file():
            why = "is a folder, not a file" if path.is_dir() else "is not a regular file" if path.exists() else None
            return f"secret file {ref.name} {why or 'does not exist'} (needed by {ref})"
        try:
            content = path.read_bytes().decode("utf-8")
        except OSError as exc:
            return f"secret file {ref.name} cannot be read: {exc.strerror} (needed by {ref})"
        except UnicodeDecodeError:
            return f"secret file {ref.name} is not UTF-8 text (needed by {ref})"
        if not content.rstrip("\r\n"):
            return f"secret file {ref.name} is empty (needed by {ref})"
        return None

    def value(self, ref: Reference) -> str:
        if ref not in self._cache:
            if ref.kind == "env":
                # As for a file: a variable filled from a Secret's file (Kubernetes, a CI store) keeps its line
                # break, which no client can send back in an API key's header.
                self._cache[ref] = self.environ[ref.name].rstrip("\r\n")
            else:
                # A trailing newline is almost always an editor's, not part of the secret.
                self._cache[ref] = self.file_path(ref.name).read_text(encoding="utf-8").rstrip("\r\n")
        value = self._cache[ref]
        assert value is not None
        return value

    def resolved_values(self) -> list[str]:
        """Every secret value resolved so far (for scrubbing them from anything printed)."""
        return [v for v in self._cache.values() if v]

    def resolved_references(self) -> dict[str, str]:
        """{value: the reference it was resolved from} (the first, by text, when two resolve alike), so that
        a changed secret can be shown by its reference."""
        named: dict[str, str] = {}
        for ref, value in sorted(self._cache.items(), key=lambda item: str(item[0])):
            if value:
                named.setdefault(value, str(ref))
        return named

    def resolve(self, text: str) -> str:
        """Substitute every reference in `text` (checked beforehand with `problem`)."""
        if "${" not in text:
            return text
        return REFERENCE.sub(lambda m: self.value(Reference(m.group(1), m.group(2))), text)

    def resolve_tree(self, data: Any) -> Any:
        if isinstance(data, str):
            return self.resolve(data)
        if isinstance(data, dict):
            return {k: self.resolve_tree(v) for k, v in data.items()}
        if isinstance(data, list):
            return [self.resolve_tree(v) for v in data]
        return data

    def file_path(self, name: str) -> Path:
        path = Path(name).expanduser()
        return path if path.is_absolute() else self.base_dir / path


def _is_text(value: str) -> bool:
    """Python hands a variable's bytes that are not UTF-8 over as lone surrogates, which nothing encodes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
