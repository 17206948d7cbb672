"""What both Kuma platforms share when carrying out a plan: the order of writes and the outcome.

Order: the Mesh is written before the policies that live in it, and policies are deleted before a Mesh
is. Within a phase, writes are independent and may run concurrently. The platform modules
(`kuma_universal.py`: REST API; `kuma_kubernetes.py`: server-side apply) do the writes themselves,
through `batches.run_batches`.
"""

from __future__ import annotations

from gatewayctl.apply.batches import Outcome
from gatewayctl.plan.kuma import KumaChange

MESH_KIND = "Mesh"
# Every kind gatewayctl renders (render/kuma.py), so that an owned object of a kind the catalog no longer
# renders at all is still found and deleted.
OWNED_KINDS = (
    "Mesh",
    "MeshTrace",
    "MeshMetric",
    "MeshAccessLog",
    "MeshTrafficPermission",
    "MeshRetry",
    "MeshTimeout",
    "MeshCircuitBreaker",
    "MeshHealthCheck",
    "MeshLoadBalancingStrategy",
    "MeshRateLimit",
)


# Failures are the platform client's error (KumaError on Universal, KubeError on Kubernetes).
KumaOutcome = Outcome[KumaChange, Exception]


def phases(changes: list[KumaChange]) -> list[list[KumaChange]]:
    """The plan as batches that run one after another; each batch may run concurrently."""
    writes = [c for c in changes if c.action != "delete"]
    deletes = [c for c in changes if c.action == "delete"]
    batches = [
        [c for c in writes if c.kind == MESH_KIND],
        [c for c in writes if c.kind != MESH_KIND],
        [c for c in deletes if c.kind != MESH_KIND],
        [c for c in deletes if c.kind == MESH_KIND],
    ]
    return [b for b in batches if b]
