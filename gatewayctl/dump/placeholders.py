"""Secret values in a dump: each becomes a `${env:NAME}` placeholder with a name derived from where it sits,
so the same Kong gives the same names; the values stay in memory, only to check the dump."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gatewayctl.catalog.secrets import SecretResolver, is_reference


@dataclass(frozen=True)
class Placeholder:
    env: str
    what: str  # what the variable must hold, for the user (never the value)
    value: str = field(repr=False)  # the live value: kept in memory to check the dump, never written
    hashed: bool = False  # Kong keeps only a hash: the user must set the original, the check uses the hash


class Secrets:
    """Placeholders by deterministic name; a name another value already took gets a numeric suffix."""

    def __init__(self) -> None:
        self.by_env: dict[str, Placeholder] = {}
        self.by_where: dict[str, str] = {}

    def ref(self, parts: Iterable[str], what: str, value: str, hashed: bool = False) -> str:
        """`${env:NAME}` for a secret value; a Kong vault reference is kept as it is (it is no secret)."""
        if is_reference(value):
            return value
        where = "/".join(parts)
        env = self.by_where.get(where)
        if env is None:
            base = re.sub(r"[^A-Za-z0-9]+", "_", "_".join(parts)).strip("_").upper() or "SECRET"
            base = base if not base[0].isdigit() else f"X_{base}"
            env, n = base, 1
            while env in self.by_env:
                n += 1
                env = f"{base}_{n}"
            self.by_where[where] = env
            self.by_env[env] = Placeholder(env, what, value, hashed)
        return f"${{env:{env}}}"

    def resolver(self) -> SecretResolver:
        return SecretResolver(Path("."), {p.env: p.value for p in self.by_env.values()})
