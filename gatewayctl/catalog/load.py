"""The catalog stage's entry point: file -> YAML nodes -> overlays -> typed, checked Catalog."""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gatewayctl.catalog import source as yaml_source
from gatewayctl.catalog.checks import (
    DEPLOYMENT_SECRET_PROBLEMS,
    MESH_ZIPKIN,
    MESH_ZIPKIN_REFUSED,
    UNIQUE_CREDENTIAL_FIELDS,
    run_checks,
    service_url_refusals,
)
from gatewayctl.catalog.errors import did_you_mean, translate
from gatewayctl.catalog.kuma_values import is_url
from gatewayctl.catalog.model import Catalog
from gatewayctl.catalog.public_keys import public_key_problem
from gatewayctl.catalog.secrets import Reference, SecretResolver, references_in
from gatewayctl.catalog.source import (
    Source,
    Unsure,
    merge_data,
    merge_nodes,
    note_holder,
    overlay_additions,
    replace_child,
)
from gatewayctl.catalog.types import kong_address, url_problem
from gatewayctl.diagnostics import CatalogInvalid, Diagnostic, KeyPath, format_path, sorted_unique
from gatewayctl.gcpause import paused_gc

# Sections whose secrets each render target needs; nothing else is resolved for it. The observability
# target resolves none: the Grafana admin password goes only into the platform's Secret or grafana.env.
# The platform targets also write a DB-less Kong's configuration (see `secret_sections`).
SECRET_SECTIONS: dict[str, tuple[str, ...]] = {
    "kong": ("gateway", "consumers", "services"),
    "kuma": ("mesh",),
    "observability": (),
    "kubernetes": ("deployment",),
    "vm": ("deployment",),
}
PLATFORM_TARGETS = ("kubernetes", "vm")
STDIN = "-"  # the catalog argument that reads the catalog from standard input
STDIN_PATH = Path("<stdin>")  # how messages name it (`<stdin>:3:5: ...`)
OVERLAY_FORBIDDEN = ("format", "environments")


def is_stdin(path: str | Path) -> bool:
    """Whether the catalog argument names standard input (`-`)."""
    return str(path) == STDIN


def display_path(path: str | Path) -> str:
    """How messages name the catalog argument: `<stdin>` for `-`, as its located errors do."""
    return str(STDIN_PATH) if is_stdin(path) else str(path)


NOT_SHOWN = " (value not shown)"  # ends a message about a value that holds a secret, named by its references


@dataclass
class LoadedCatalog:
    """A valid catalog with what later stages need to stay located and resolve secrets."""

    catalog: Catalog
    source: Source
    data: dict[str, Any]
    path: Path
    environment: str | None = None
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        """What a relative `${file:...}` reference is read from: the catalog's folder, or the current
        directory for a catalog read from standard input."""
        return Path(".") if self.path == STDIN_PATH else self.path.parent

    def secrets(self, environ: Mapping[str, str] | None = None) -> SecretResolver:
        if environ is None:
            return SecretResolver(self.base_dir)
        return SecretResolver(self.base_dir, dict(environ))

    def input_files(self) -> list[Path]:
        """The files `${file:...}` references read (the catalog itself aside)."""
        resolver = self.secrets({})
        return [resolver.file_path(ref.name) for _, ref in self.secret_references if ref.kind == "file" and ref.name]

    @functools.cached_property
    def secret_references(self) -> list[tuple[KeyPath, Reference]]:
        """Every `${env:..}`/`${file:..}` reference in the catalog, with its key path (found once per load)."""
        return references_in(self.data)

    def secret_sections(self, target: str) -> tuple[str, ...]:
        """The sections whose secrets `target` resolves for this catalog: a platform target writes nothing
        for the other platform, and writes a DB-less Kong's configuration (Kong's secrets) for its own."""
        if target not in PLATFORM_TARGETS:
            return SECRET_SECTIONS.get(target, ())
        deployment = self.catalog.deployment
        if deployment.platform != target:
            return ()
        if deployment.kong.database == "off":
            return (*SECRET_SECTIONS[target], *SECRET_SECTIONS["kong"])
        return SECRET_SECTIONS[target]

    def needed_references(self, targets: list[str]) -> list[tuple[KeyPath, Reference]]:
        """The references rendering `targets` resolves (those in their secret sections), with their paths."""
        sections = {s for t in targets for s in self.secret_sections(t)}
        return [(path, ref) for path, ref in self.secret_references if path[0] in sections]

    def unresolved(self, targets: list[str], resolver: SecretResolver) -> list[Reference]:
        """The distinct references `targets` need that `resolver` cannot resolve (a variable not set or empty,
        a file missing, ...), in catalog order: what a run without the secrets (status on a laptop) lacks."""
        return list(dict.fromkeys(ref for _, ref in self.needed_references(targets) if resolver.problem(ref)))

    def check_secrets(
        self, targets: list[str], resolver: SecretResolver, *, files_only: bool = False
    ) -> list[Diagnostic]:
        """Raise CatalogInvalid naming every secret the targets need that cannot be resolved, and every URL,
        host or JWT public key holding a reference that is not one once resolved (validation could not check
        it), and every deployment secret the program reading it would change (DEPLOYMENT_SECRET_PROBLEMS).

        Two credentials written apart but equal once resolved are an error when Kong is to be written to (it
        refuses the second); with `files_only` (render) they are the warnings returned: the files are right for
        the values given, which are often placeholders (one dummy value for every variable), and Kong refuses
        such a configuration only when it loads it."""
        sections = {s for t in targets for s in self.secret_sections(t)}
        needed = self.needed_references(targets)
        problems: list[Diagnostic] = []
        warnings: list[Diagnostic] = []
        urls: dict[KeyPath, bool] = {}
        hosts: dict[KeyPath, bool] = {}
        for path, ref in needed:
            why = resolver.problem(ref)
            if why:
                problems.append(self.source.diagnostic(path, why))
            elif (http_only := _url_field(path)) is not None:
                urls[path] = http_only
            elif (port_allowed := _host_field(path)) is not None:
                hosts[path] = port_allowed
        resolved = not problems  # every reference can be resolved: check each value that holds one
        if resolved:
            problems.extend(_public_key_diagnostics(self.catalog, self.source, needed, resolver))
            if "consumers" in sections:
                equal = _resolved_duplicate_diagnostics(self.catalog, self.source, resolver, files_only)
                (warnings if files_only else problems).extend(equal)
        for path, http_only in urls.items():
            if resolved:
                text = resolver.resolve(str(_value_at(self.data, path)))
                why = url_problem(text, http_only=http_only)
                if not why and path == MESH_ZIPKIN and not is_url(text):
                    why = MESH_ZIPKIN_REFUSED  # what checks.py says of a literal endpoint
                if not why and _is_service_url(path) and (refused := service_url_refusals(text)):
                    part, _, kong_says = refused[0]  # what checks.py says of a literal url, without the value
                    why = f"Kong refuses its {part}: {kong_says}"
                if why:
                    problems.append(self._once_resolved(path, why))
        for path, changed_by in DEPLOYMENT_SECRET_PROBLEMS.items():
            refs = self._references_at(path)
            wanted = bool(resolved and refs and path[0] in sections)
            why = changed_by(resolver.resolve(str(_value_at(self.data, path)))) if wanted else None
            if why:
                problems.append(self.source.diagnostic(path, f"the value of {refs} {why}{NOT_SHOWN}"))
        for path, port_allowed in hosts.items():
            if resolved:
                problem, has_port = kong_address(resolver.resolve(str(_value_at(self.data, path))))
                if problem or (has_port and not port_allowed):
                    why = f"Kong refuses this host: it {problem or 'must not have a port'}"
                    problems.append(self._once_resolved(path, why))
        if problems:
            raise CatalogInvalid(problems)
        return warnings

    def _once_resolved(self, path: KeyPath, why: str) -> Diagnostic:
        """`why` the value at `path` is refused once its references are resolved, naming only those."""
        return self.source.diagnostic(path, f"{why}, once {self._references_at(path)} is resolved{NOT_SHOWN}")

    def _references_at(self, path: KeyPath) -> str:
        """The references the value at `path` holds, as a message about a secret value names it: the value
        itself is never shown."""
        return ", ".join(str(ref) for p, ref in self.secret_references if p == path)


# The URL-typed keys (`*` for any index), with whether they must be http(s). A reference in one skips the
# URL check at load time; the resolved value is checked at render time instead.
_URL_FIELDS: dict[tuple[str, ...], bool] = {
    ("services", "*", "url"): False,
    ("consumers", "*", "credentials", "oauth2", "*", "redirect_uris", "*"): False,
    ("services", "*", "authz", "opa", "url"): True,
    ("gateway", "tracing", "zipkin", "endpoint"): True,
    ("mesh", "tracing", "zipkin", "endpoint"): True,
}


def _url_field(path: KeyPath) -> bool | None:
    return _URL_FIELDS.get(tuple("*" if isinstance(part, int) else part for part in path))


def _is_service_url(path: KeyPath) -> bool:
    return len(path) == 3 and path[0] == "services" and path[2] == "url"


# The host keys a reference may fill (render resolves them), with whether a port is allowed: checked as
# Kong checks them (kong_address) once resolved, like the URLs above.
_HOST_FIELDS: dict[tuple[str, ...], bool] = {
    ("services", "*", "upstream", "host_header"): True,
    ("services", "*", "rate_limit", "redis", "host"): False,
    ("consumers", "*", "rate_limit", "redis", "host"): False,
    ("gateway", "rate_limit", "redis", "host"): False,
}


def _host_field(path: KeyPath) -> bool | None:
    return _HOST_FIELDS.get(tuple("*" if isinstance(part, int) else part for part in path))


# Where render substitutes a reference, besides the URL and host keys above and anything under a raw
# `plugins:` entry: the secret keys (which take nothing else) and a jwt public key. Anywhere else a
# reference would reach Kong or Kuma as written.
_SUBSTITUTED: frozenset[tuple[str, ...]] = frozenset(
    {
        *_URL_FIELDS,
        *_HOST_FIELDS,
        ("consumers", "*", "credentials", "key_auth", "*", "key"),
        ("consumers", "*", "credentials", "jwt", "*", "secret"),
        ("consumers", "*", "credentials", "jwt", "*", "rsa_public_key"),
        ("consumers", "*", "credentials", "basic_auth", "*", "password"),
        ("consumers", "*", "credentials", "oauth2", "*", "client_secret"),
        ("services", "*", "oauth2", "provision_key"),
        ("services", "*", "rate_limit", "redis", "password"),
        ("consumers", "*", "rate_limit", "redis", "password"),
        ("gateway", "rate_limit", "redis", "password"),
        ("deployment", "kong", "postgres_password"),
        ("deployment", "observability", "grafana", "admin_password"),
    }
)


def is_substituted(path: KeyPath) -> bool:
    """Whether render substitutes a `${env:}`/`${file:}` reference at `path` (an overlay's or `defaults`'
    path counts as the key it is merged into)."""
    pattern = tuple("*" if isinstance(part, int) else part for part in path)
    if pattern[:1] == ("environments",):
        pattern = pattern[2:]
    if pattern[:1] == ("defaults",):
        pattern = ("services", "*", *pattern[1:])
    return "plugins" in pattern[:-1] or pattern in _SUBSTITUTED


def _public_key_diagnostics(
    catalog: Catalog,
    source: Source,
    references: list[tuple[KeyPath, Reference]],
    resolver: SecretResolver,
    *,
    files_only: bool = False,
) -> list[Diagnostic]:
    """What is wrong with each JWT public key read from a reference, once resolved (see public_keys.py).
    With `files_only` (validate, which runs without the secrets) only keys read from files that are there:
    a public key is no secret and usually lies next to the catalog, so a pull request's check can judge it."""
    held: dict[KeyPath, list[Reference]] = {}
    for path, ref in references:
        if (
            len(path) == 6
            and path[0] == "consumers"
            and path[2:4] == ("credentials", "jwt")
            and path[5] == "rsa_public_key"
        ):
            held.setdefault(path, []).append(ref)
    found: list[Diagnostic] = []
    for path, refs in held.items():
        if (files_only and any(ref.kind != "file" for ref in refs)) or any(resolver.problem(ref) for ref in refs):
            continue  # reported where the secrets are resolved
        jwt = catalog.consumers[int(path[1])].credentials.jwt[int(path[4])]
        if jwt.algorithm.startswith("HS") or not jwt.rsa_public_key:
            continue  # Kong ignores the key
        if why := public_key_problem(resolver.resolve(jwt.rsa_public_key), jwt.algorithm):
            found.append(source.diagnostic(path, f"{', '.join(map(str, refs))}: {why}"))
    return found


def _resolved_duplicate_diagnostics(
    catalog: Catalog, source: Source, resolver: SecretResolver, as_warnings: bool
) -> list[Diagnostic]:
    """Two credentials whose values differ as written but not once resolved (two variables holding one key):
    Kong takes the first and refuses the second (a 409; DB-less, the whole configuration, quoting the
    value). Told at the second, naming the first, never the value."""
    seen: dict[tuple[str, str], tuple[KeyPath, str]] = {}
    out: list[Diagnostic] = []
    for i, consumer in enumerate(catalog.consumers):
        for kind, attr in UNIQUE_CREDENTIAL_FIELDS:
            for j, credential in enumerate(getattr(consumer.credentials, kind)):
                written = getattr(credential, attr)
                if not isinstance(written, str):
                    continue
                path: KeyPath = ("consumers", i, "credentials", kind, j, attr)
                first_path, first_written = seen.setdefault((kind, resolver.resolve(written)), (path, written))
                if first_written != written:  # the same text as written is checks.py's to report
                    out.append(
                        source.diagnostic(
                            path,
                            f"this {attr} is the same as {format_path(first_path)} once their references are "
                            f"resolved{NOT_SHOWN}; Kong requires it to be unique",
                            severity="warning" if as_warnings else "error",
                        )
                    )
    return out


def _value_at(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


def load_catalog(path: str | Path, environment: str | None = None, *, all_environments: bool = False) -> LoadedCatalog:
    """Load, merge the named environment overlay, validate and check a catalog file (`-`: standard input,
    named `<stdin>` in messages, its relative `${file:...}` references read from the current directory).

    With `all_environments`, every overlay is also validated and errors that lie inside an overlay are
    reported too (base errors once), so `gatewayctl validate` catches a broken prod overlay in a PR.
    """
    with paused_gc():
        return _load(Path(path), environment, all_environments)


def _load(path: Path, environment: str | None, all_environments: bool) -> LoadedCatalog:
    if is_stdin(path):
        return _load_raw(_read_stdin(), STDIN_PATH, environment, all_environments)
    display = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CatalogInvalid([Diagnostic(display, 1, 1, "", "file not found")]) from None
    except IsADirectoryError:
        raise CatalogInvalid([Diagnostic(display, 1, 1, "", "is a folder, not a catalog file")]) from None
    except OSError as exc:
        raise CatalogInvalid([Diagnostic(display, 1, 1, "", f"cannot read: {exc.strerror}")]) from None
    return _load_raw(raw, path, environment, all_environments)


def _read_stdin() -> bytes:
    # Python leaves sys.stdin None when the process started with it closed (`<&-`).
    why = "standard input is closed"
    if sys.stdin is not None:
        try:
            return sys.stdin.buffer.read()
        except OSError as exc:  # a folder (`< dir`), a terminal gone
            why = exc.strerror or str(exc)
        except ValueError:  # closed by the caller
            pass
    raise CatalogInvalid([Diagnostic(str(STDIN_PATH), 1, 1, "", f"cannot read: {why}")]) from None


def _load_raw(raw: bytes, path: Path, environment: str | None, all_environments: bool) -> LoadedCatalog:
    loaded = _load_variant(raw, path, environment)
    if all_environments and environment is None:
        # Any problem an overlay brings is reported, wherever it lies: an overlay value can break a check
        # whose position is in the base (two routes colliding once prod renames a host, say).
        known = {(d.line, d.col, d.message) for d in loaded.warnings}
        extra: list[Diagnostic] = []
        for env in loaded.catalog.environments:
            try:
                diagnostics = _load_variant(raw, path, env).warnings
            except CatalogInvalid as exc:
                diagnostics = exc.diagnostics
            for d in diagnostics:
                if (d.line, d.col, d.message) not in known:
                    # a finding placed in the overlay itself names the environment in its path already
                    inside = d.path.startswith(f"environments.{env}.")
                    message = d.message if inside else f"[{env}] {d.message}"
                    extra.append(Diagnostic(d.file, d.line, d.col, d.path, message, d.severity))
        if any(d.severity == "error" for d in extra):
            raise CatalogInvalid(extra + loaded.warnings)
        loaded.warnings = sorted_unique(loaded.warnings + extra)
    return loaded


def _variant_root(raw: bytes, display: str, environment: str | None) -> MappingNode:
    """The catalog's node tree with the environment overlay and `defaults` merged in."""
    return _merged_root(yaml_source.parse(raw, display), environment)


def _variant_data(
    raw: bytes, display: str, environment: str | None, additions: list[tuple[KeyPath, str]] | None = None
) -> tuple[Any, set[int] | None]:
    """`to_data(_variant_root(...))`, by the fast path when it can: the overlay and `defaults` merged as
    plain data (see merge_data), the node tree used only for the checks that place a problem and then
    dropped. Otherwise (aliases, merge keys, a `name` that is not a string) by merging the node tree.
    Also the data's `${` holders (see parse_data) from the fast path, None from the other.
    `additions` receives the overlay's items that look like misspelt base items (see overlay_additions)."""
    pieces = yaml_source.parse_data_in_pieces(raw, display)
    if pieces is not None:  # no node tree of the whole document at all (peak memory)
        base_data, holders = pieces
        try:
            overlay = _overlay_data(base_data, environment) if environment is not None else None
            return _merged_data(base_data, overlay, holders, environment, additions), holders
        except (Unsure, _NeedsNodes):
            pass
    base, base_data, holders = yaml_source.parse_data(raw, display)
    _catalog_mapping(base)
    if base_data is not None:
        try:
            overlay = None
            if environment is not None and _environment_overlay(base, environment) is not None:
                overlay = base_data["environments"][environment]
            return _merged_data(base_data, overlay, holders, environment, additions), holders
        except Unsure:
            pass
    merged = yaml_source.to_data(_merged_root(base, environment))
    if environment is not None and additions is not None:  # aliases or merge keys: rare, and small
        whole = yaml_source.to_data(base.root)
        _note_additions(whole, whole["environments"][environment], environment, additions)
    return merged, None


def _merged_data(
    base_data: Any,
    overlay: Any,
    holders: set[int],
    environment: str | None,
    additions: list[tuple[KeyPath, str]] | None,
) -> Any:
    """The base data with the overlay (if any) and `defaults` merged in, as plain data; the overlay's
    additions that look like misspelt base items noted."""
    data = merge_data(base_data, overlay, holders) if overlay is not None else base_data
    merged = _defaults_data(data, holders)
    _note_additions(base_data, overlay, environment, additions)
    return merged


def _note_additions(
    base: Any, overlay: Any, environment: str | None, additions: list[tuple[KeyPath, str]] | None
) -> None:
    if additions is not None and environment is not None and overlay is not None:
        additions.extend(overlay_additions(base, overlay, ("environments", environment)))


class _NeedsNodes(Exception):
    """Something to report that needs positions: the node path reports it."""


def _overlay_data(data: dict[str, Any], environment: str) -> dict[str, Any] | None:
    """The named overlay as data when `_environment_overlay` would accept it (None for an empty one);
    _NeedsNodes when it would report a problem."""
    envs = data.get("environments")
    if not isinstance(envs, dict) or environment not in envs:
        raise _NeedsNodes
    overlay = envs[environment]
    if overlay is None:
        return None
    if not isinstance(overlay, dict) or any(key in OVERLAY_FORBIDDEN for key in overlay):
        raise _NeedsNodes
    return overlay


def _catalog_mapping(base: Source) -> MappingNode:
    root = base.root
    if not isinstance(root, MappingNode):
        kind = "a list" if isinstance(root, SequenceNode) else "a single value"
        raise CatalogInvalid(
            [
                base.diagnostic(
                    (), f"the catalog must be a mapping of sections (format, name, services, ...), not {kind}"
                )
            ]
        )
    return root


def _merged_root(base: Source, environment: str | None) -> MappingNode:
    root = _catalog_mapping(base)
    if environment is not None:
        overlay = _environment_overlay(base, environment)
        if overlay is not None:
            merged = merge_nodes(root, overlay)
            assert isinstance(merged, MappingNode)
            root = merged
    problems: list[Diagnostic] = []
    root = _apply_defaults(Source(base.file, root), root, problems)
    if problems:
        raise CatalogInvalid(problems)
    return root


def _load_variant(raw: bytes, path: Path, environment: str | None) -> LoadedCatalog:
    display = str(path)
    additions: list[tuple[KeyPath, str]] = []
    data, holders = _variant_data(raw, display, environment, additions)
    # From here on positions are needed only for diagnostics: the tree is built again if one comes.
    source = Source(display, None, rebuild=lambda: _variant_root(raw, display, environment))
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        raise CatalogInvalid(translate(e, source, Catalog) for e in exc.errors()) from None
    # The fast path knows which mappings hold a `${`: the same list references_in(data) builds, without
    # walking all the data.
    references = references_in(data) if holders is None else yaml_source.held_references(data, holders)
    diagnostics = run_checks(catalog, source)
    diagnostics.extend(source.diagnostic(key_path, message, severity="warning") for key_path, message in additions)
    for key_path, reference in references:
        malformed = reference.malformed()  # never resolvable, whatever the environment: validate says so
        if malformed:
            diagnostics.append(source.diagnostic(key_path, malformed))
        elif not is_substituted(key_path):
            diagnostics.append(
                source.diagnostic(
                    key_path,
                    f"{reference} is not substituted in this key: it would be sent as written (references are read"
                    " in secret keys, URLs, hosts, a jwt rsa_public_key and raw plugins: configs)",
                    severity="warning",
                )
            )
    diagnostics.extend(
        _public_key_diagnostics(catalog, source, references, SecretResolver(path.parent, {}), files_only=True)
    )
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors:
        raise CatalogInvalid(sorted_unique(diagnostics))
    source.release()  # the checks may have rebuilt it to place a warning
    loaded = LoadedCatalog(catalog, source, data, path, environment, sorted_unique(diagnostics))
    loaded.__dict__["secret_references"] = references  # the cached property, filled
    return loaded


def _environment_overlay(base: Source, environment: str) -> MappingNode | None:
    """The named overlay's node, checked (None for an empty overlay)."""
    envs = base.subtree(("environments",))
    names = [k.value for k, _ in envs.value] if isinstance(envs, MappingNode) else []
    overlay = base.subtree(("environments", environment))
    if overlay is None:
        known = "defined: " + ", ".join(names) if names else "none are defined"
        hint = did_you_mean(environment, names)
        raise CatalogInvalid(
            [
                base.diagnostic(
                    ("environments",) if names else (), f"unknown environment '{environment}' ({known}){hint}"
                )
            ]
        )
    if isinstance(overlay, ScalarNode) and overlay.tag.endswith(":null"):
        return None
    if not isinstance(overlay, MappingNode):
        raise CatalogInvalid(
            [
                base.diagnostic(
                    ("environments", environment), "an environment overlay must be a mapping of catalog sections"
                )
            ]
        )
    problems = [
        base.diagnostic(("environments", environment, k.value), f"an overlay cannot change '{k.value}'", key=True)
        for k, _ in overlay.value
        if isinstance(k, ScalarNode) and k.value in OVERLAY_FORBIDDEN
    ]
    if problems:
        raise CatalogInvalid(problems)
    return overlay


def _apply_defaults(source: Source, root: MappingNode, problems: list[Diagnostic]) -> MappingNode:
    """Merge `defaults` under every service: a key a service sets wins, mappings merge deeply, tags add up."""
    defaults = source.subtree(("defaults",))
    services = source.subtree(("services",))
    if not isinstance(defaults, MappingNode) or not isinstance(services, SequenceNode):
        return root
    merged_services: list[Node] = []
    for item in services.value:
        if not isinstance(item, MappingNode):
            merged_services.append(item)
            continue
        merged = merge_nodes(_without_identity(defaults), item)
        assert isinstance(merged, MappingNode)
        # merge_nodes keeps the base's marks; a problem with the service itself is at the service, not at
        # `defaults`.
        merged = MappingNode(merged.tag, merged.value, item.start_mark, item.end_mark, item.flow_style)
        base_tags = _child_value(defaults, "tags")
        own_tags = _child_value(item, "tags")
        if isinstance(base_tags, SequenceNode) and isinstance(own_tags, SequenceNode):
            union = list(base_tags.value) + [t for t in own_tags.value if not any(_same(t, b) for b in base_tags.value)]
            merged = replace_child(
                merged, "tags", SequenceNode(own_tags.tag, union, own_tags.start_mark, own_tags.end_mark)
            )
        merged_services.append(merged)
    new_services = SequenceNode(services.tag, merged_services, services.start_mark, services.end_mark)
    return replace_child(root, "services", new_services)


def _defaults_data(data: dict[str, Any], holders: set[int]) -> dict[str, Any]:
    """`_apply_defaults` on plain data (the same result, key order included), or Unsure."""
    defaults = data.get("defaults")
    services = data.get("services")
    if not isinstance(defaults, dict) or not isinstance(services, list):
        return data
    base = {k: v for k, v in defaults.items() if k != "name"}
    base_tags = defaults.get("tags")
    merged_services: list[Any] = []
    for item in services:
        if not isinstance(item, dict):
            merged_services.append(item)
            continue
        merged = merge_data(base, item, holders)  # a new dict
        own_tags = item.get("tags")
        if isinstance(base_tags, list) and isinstance(own_tags, list):
            merged.pop("tags")
            merged["tags"] = note_holder(_tags_union(base_tags, own_tags), (*base_tags, *own_tags), holders)
            note_holder(merged, merged.values(), holders)
        merged_services.append(merged)
    out = {k: v for k, v in data.items() if k != "services"}
    out["services"] = note_holder(merged_services, merged_services, holders)
    return note_holder(out, out.values(), holders)


def _tags_union(base: list[Any], own: list[Any]) -> list[Any]:
    """The defaults' tags, then the service's that are not among them (`_same` compares scalar text,
    which data keeps only for strings)."""
    if any(not isinstance(t, str | dict | list) for t in (*base, *own)):
        raise Unsure
    strings = {t for t in base if isinstance(t, str)}
    return base + [t for t in own if not (isinstance(t, str) and t in strings)]


def _without_identity(defaults: MappingNode) -> MappingNode:
    # A stray `name:` under defaults must not rename every service; the model reports it as unknown.
    return defaults if _child_value(defaults, "name") is None else replace_child(defaults, "name", None)


def _child_value(node: MappingNode, key: str) -> Node | None:
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key:
            return v  # type: ignore[no-any-return]
    return None


def _same(a: Node, b: Node) -> bool:
    return isinstance(a, ScalarNode) and isinstance(b, ScalarNode) and a.value == b.value
