"""Ownership marks: how gatewayctl recognises what it rendered, in every target.

Kong entities carry tags (`gatewayctl`, `gatewayctl-catalog:<name>`); Kuma and Kubernetes objects carry
labels (`app.kubernetes.io/managed-by: gatewayctl`, `gatewayctl.io/catalog: <name>`). Apply only ever
updates or deletes what carries them. The owner's name is defined once, here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote

OWNER = "gatewayctl"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
CATALOG_LABEL = "gatewayctl.io/catalog"
# A Kuma object whose spec holds a value resolved from a reference (a Zipkin URL with a token) says so: what
# reads it later (a diff after the catalog stopped using the secret, a dump) knows without the catalog. Kong
# entities name the very field instead (SECRET_TAG below); a label value cannot hold a field path reliably.
SECRET_LABEL = "gatewayctl.io/holds-secret"


def catalog_tag(catalog_name: str) -> str:
    """The Kong tag naming the catalog an entity belongs to."""
    return f"{OWNER}-catalog:{catalog_name}"


def ownership_tags(catalog_name: str) -> list[str]:
    """The Kong tags every rendered entity carries."""
    return [OWNER, catalog_tag(catalog_name)]


def ownership_labels(catalog_name: str) -> dict[str, str]:
    """The labels every rendered Kuma or Kubernetes object carries."""
    return {MANAGED_BY_LABEL: OWNER, CATALOG_LABEL: catalog_name}


# A Kong entity field that holds a value resolved from a `${env:}`/`${file:}` reference, where nothing in its
# name says it is secret (a plugin header, a tracing URL with a token), is named in a tag of the entity, so that
# what reads the entity later knows it without the catalog: a diff after the catalog stopped using the secret
# there, a dump, a rollback. The tag holds the field's dotted path (as diffs name fields), percent-encoded
# where Kong's tags take no such character (`,`, `/`).
SECRET_TAG = f"{OWNER}-secret:"


def secret_tag(path: tuple[str | int, ...]) -> str:
    """The tag naming a field path; a path into a list stops at the list (a list is one value to a diff)."""
    keys = []
    for part in path:
        if not isinstance(part, str):
            break
        keys.append(part)
    return SECRET_TAG + quote(".".join(keys), safe="._:~-")


def secret_tag_paths(tags: Iterable[Any] | None) -> list[str]:
    """The dotted field paths `tags` name as secret."""
    return [unquote(t[len(SECRET_TAG) :]) for t in tags or () if isinstance(t, str) and t.startswith(SECRET_TAG)]
