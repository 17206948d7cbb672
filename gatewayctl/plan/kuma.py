"""The Kuma plan: the owned Kuma objects the catalog renders, compared with the owned objects the control
plane holds, as a list of create/update/delete changes. Shared by both platforms:

- Universal: objects in the form the Kuma REST API takes (`render.kuma.universal_form`), read and written
  under `/meshes/...` (see `apply/kuma_universal.py`);
- Kubernetes: CRD objects (`render.kuma.kubernetes_form`), written by server-side apply (see
  `apply/kuma_kubernetes.py`).

Only objects carrying this catalog's ownership labels (`render.ownership.ownership_labels`) are ever read
as live state, so anything else in the mesh is invisible to the plan and can never be changed by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gatewayctl.diagnostics import KeyPath
from gatewayctl.plan.fields import FieldChange
from gatewayctl.plan.kong import Action

Platform = Literal["universal", "kubernetes"]
Obj = dict[str, Any]


@dataclass(frozen=True)
class KumaChange:
    action: Action
    kind: str  # Mesh, MeshTrafficPermission, ...
    name: str
    mesh: str | None  # None for the Mesh itself
    desired: Obj | None  # the whole object as it will be written (create/update)
    live: Obj | None  # the whole object as the control plane returned it (update/delete)
    fields: tuple[FieldChange, ...] = ()  # field-level differences (update), values masked
    origin: KeyPath = ()  # the catalog entry it was rendered from, when known

    @property
    def title(self) -> str:
        where = f" in mesh {self.mesh}" if self.mesh else ""
        return f"{self.kind} {self.name}{where}"


@dataclass
class KumaPlan:
    platform: Platform
    server: dict[str, Any]  # what the control plane says of itself (version, mode, zone ...)
    changes: list[KumaChange] = field(default_factory=list)
    live: list[Obj] = field(default_factory=list)  # every owned object read, as returned (for snapshots)

    def counts(self) -> tuple[int, int, int]:
        return (
            sum(c.action == "create" for c in self.changes),
            sum(c.action == "update" for c in self.changes),
            sum(c.action == "delete" for c in self.changes),
        )

    def summary(self) -> str:
        create, update, delete = self.counts()
        return f"kuma: +{create} ~{update} -{delete}"
