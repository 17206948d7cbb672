"""Ownership marks: how gatewayctl recognises what it rendered, in every target.

Kong entities carry tags (`gatewayctl`, `gatewayctl-catalog:<name>`); Kuma and Kubernetes objects carry
labels (`app.kubernetes.io/managed-by: gatewayctl`, `gatewayctl.io/catalog: <name>`). Apply only ever
updates or deletes what carries them. The owner's name is defined once, here.
"""

from __future__ import annotations

OWNER = "gatewayctl"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
CATALOG_LABEL = "gatewayctl.io/catalog"


def catalog_tag(catalog_name: str) -> str:
    """The Kong tag naming the catalog an entity belongs to."""
    return f"{OWNER}-catalog:{catalog_name}"


def ownership_tags(catalog_name: str) -> list[str]:
    """The Kong tags every rendered entity carries."""
    return [OWNER, catalog_tag(catalog_name)]


def ownership_labels(catalog_name: str) -> dict[str, str]:
    """The labels every rendered Kuma or Kubernetes object carries."""
    return {MANAGED_BY_LABEL: OWNER, CATALOG_LABEL: catalog_name}
