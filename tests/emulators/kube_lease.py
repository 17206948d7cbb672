"""A Kubernetes API server's `coordination.k8s.io/v1` Lease endpoints over real HTTP on 127.0.0.1, enough
for leader election, with the API server's own rules (kubernetes/kubernetes: pkg/registry/coordination/
lease/strategy.go, apiserver's generic registry `Store.Create`/`Store.Update`, apimachinery's
`errors.NewConflict`/`NewAlreadyExists`/`NewNotFound`/`NewInvalid`):

- `GET|PUT|DELETE /apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}`, `POST .../leases`
- every write that changes the Lease bumps a cluster-wide `metadata.resourceVersion` (a string; an update
  to the same content keeps it); `uid`, `creationTimestamp` set on
  create; MicroTime fields (`acquireTime`, `renewTime`) returned as RFC 3339 with microseconds in UTC
- create: 409 AlreadyExists when the name is taken, 500 when `resourceVersion` is set, 400 when the body's
  namespace differs from the URL's, 404 `namespaces "<ns>" not found` when `namespaces` is given and lacks it
  (NamespaceLifecycle admission; also for a create by PUT)
- update (PUT): the Lease strategy allows create-on-update (201 when absent) but not unconditional update:
  no `resourceVersion` -> 422 Invalid "must be specified for an update"; a stale one -> 409 Conflict
  "the object has been modified"
- validation: `spec.leaseDurationSeconds` and `spec.leaseTransitions` must not be negative / zero (422)
- errors are `Status` objects with `reason`, `details` and `code`
- `unavailable = True` answers 503 to everything (an API server outage)

Run on its own: `python -m tests.emulators.kube_lease --port 18443`.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

try:
    from . import server
except ImportError:  # run as a script
    import server  # type: ignore[no-redef,import-not-found]

GROUP = "coordination.k8s.io"
RESOURCE = f"leases.{GROUP}"
ITEM = re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/([^/]+)/leases/([^/]+)$")
COLLECTION = re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/([^/]+)/leases$")
CONFLICT = "the object has been modified; please apply your changes to the latest version and try again"


class StatusError(Exception):
    def __init__(
        self, code: int, reason: str, message: str, name: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        self.code = code
        self.reason = reason
        self.message = message
        self.name = name
        self.details = details

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            out["details"] = self.details
        elif self.name is not None:
            out["details"] = {"name": self.name, "group": GROUP, "kind": "leases"}
        return out


def not_found(name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{RESOURCE} "{name}" not found', name)


def namespace_not_found(namespace: str) -> StatusError:
    """The NamespaceLifecycle admission plugin: no object is created in a namespace that does not exist
    (reads there just find nothing)."""
    return StatusError(
        404, "NotFound", f'namespaces "{namespace}" not found', details={"name": namespace, "kind": "namespaces"}
    )


@dataclass
class LeaseState:
    leases: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    version: int = 1000
    unavailable: bool = False
    namespaces: set[str] | None = None  # the namespaces that exist; None: any
    writes: list[tuple[str, str, int]] = field(default_factory=list)  # (method, name, status) of every write
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            lease = self.leases.get((namespace, name))
            return copy.deepcopy(lease) if lease else None

    # -- API operations (called under the lock)

    def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        meta = body.get("metadata") or {}
        name = meta.get("name") or ""
        if meta.get("namespace") not in (None, "", namespace):
            raise StatusError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        if meta.get("resourceVersion"):
            raise StatusError(
                500,
                "InternalError",
                "Internal error occurred: resourceVersion should not be set on objects to be created",
            )
        if (namespace, name) in self.leases:
            raise StatusError(409, "AlreadyExists", f'{RESOURCE} "{name}" already exists', name)
        self._check_namespace(namespace)
        return self._store(namespace, name, body, None)

    def _check_namespace(self, namespace: str) -> None:
        if self.namespaces is not None and namespace not in self.namespaces:
            raise namespace_not_found(namespace)

    def update(self, namespace: str, name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise StatusError(
                400,
                "BadRequest",
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})",
            )
        current = self.leases.get((namespace, name))
        if current is None:  # the Lease strategy allows create on update
            self._check_namespace(namespace)
            return 201, self._store(namespace, name, body, None)
        given = meta.get("resourceVersion")
        if not given:
            raise StatusError(
                422,
                "Invalid",
                f'{RESOURCE} "{name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified '
                "for an update",
                name,
            )
        if given != current["metadata"]["resourceVersion"]:
            raise StatusError(
                409, "Conflict", f'Operation cannot be fulfilled on {RESOURCE} "{name}": {CONFLICT}', name
            )
        return 200, self._store(namespace, name, body, current)

    def delete(self, namespace: str, name: str) -> dict[str, Any]:
        if self.leases.pop((namespace, name), None) is None:
            raise not_found(name)
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "group": GROUP, "kind": "leases"},
        }

    def _store(self, namespace: str, name: str, body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        spec = _valid_spec(name, body.get("spec") or {})
        labels = (body.get("metadata") or {}).get("labels")
        if current is not None and current["spec"] == spec and current["metadata"].get("labels") == (labels or None):
            # nothing changes: the store writes nothing and the resourceVersion stays (etcd3 GuaranteedUpdate
            # keeps the existing object when the new one encodes to the same bytes)
            return copy.deepcopy(current)
        self.version += 1
        meta = {
            "name": name,
            "namespace": namespace,
            "uid": current["metadata"]["uid"] if current else str(uuid.uuid4()),
            "resourceVersion": str(self.version),
            "creationTimestamp": current["metadata"]["creationTimestamp"] if current else _now_seconds(),
        }
        if labels:
            meta["labels"] = labels
        lease = {"kind": "Lease", "apiVersion": f"{GROUP}/v1", "metadata": meta, "spec": spec}
        self.leases[(namespace, name)] = lease
        return copy.deepcopy(lease)


def _valid_spec(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    out = dict(spec)
    problems = []
    duration = out.get("leaseDurationSeconds")
    if duration is not None and (not isinstance(duration, int) or duration <= 0):
        problems.append(f"spec.leaseDurationSeconds: Invalid value: {duration}: must be greater than 0")
    transitions = out.get("leaseTransitions")
    if transitions is not None and (not isinstance(transitions, int) or transitions < 0):
        problems.append(f"spec.leaseTransitions: Invalid value: {transitions}: must be greater than or equal to 0")
    for key in ("acquireTime", "renewTime"):
        if out.get(key) is not None:
            try:
                out[key] = _micro_time(str(out[key]))
            except ValueError:
                raise StatusError(
                    400,
                    "BadRequest",
                    f'Lease in version "v1" cannot be handled as a Lease: {key}: invalid time {out[key]!r}',
                ) from None
    if problems:
        joined = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
        raise StatusError(422, "Invalid", f'{RESOURCE} "{name}" is invalid: {joined}', name)
    return {k: v for k, v in out.items() if v is not None}


def _micro_time(value: str) -> str:
    """RFC 3339 in, the API server's MicroTime out: UTC with six fraction digits."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(value)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now_seconds() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_lease_path(path: str) -> bool:
    return bool(ITEM.match(path) or COLLECTION.match(path))


def route(state: LeaseState, method: str, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    """One Lease API call, answered as the API server would (errors as `Status` bodies)."""
    name = ""
    try:
        if state.unavailable:
            raise StatusError(503, "ServiceUnavailable", "the server is currently unable to handle the request")
        body = json.loads(raw) if raw else {}
        item, collection = ITEM.match(path), COLLECTION.match(path)
        with state.lock:
            if item and method == "GET":
                lease = state.leases.get((item[1], item[2]))
                if lease is None:
                    raise not_found(item[2])
                status, payload = 200, lease
            elif item and method == "PUT":
                name = item[2]
                status, payload = state.update(item[1], item[2], body)
            elif item and method == "DELETE":
                name = item[2]
                status, payload = 200, state.delete(item[1], item[2])
            elif collection and method == "POST":
                name = (body.get("metadata") or {}).get("name", "")
                status, payload = 201, state.create(collection[1], body)
            else:
                raise StatusError(404, "NotFound", "the server could not find the requested resource")
            if method != "GET":
                state.writes.append((method, name, status))
        return status, payload
    except StatusError as exc:
        if method != "GET":
            with state.lock:
                state.writes.append((method, name, exc.code))
        return exc.code, exc.body()
    except ValueError:
        return 400, StatusError(400, "BadRequest", "the body of the request was in an unknown format").body()


class Handler(server.BaseHandler):
    state: LeaseState

    def handle_method(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        status, payload = route(self.state, method, path, self.read_body())
        self.reply_json(status, payload)


class LeaseApi(server.Emulator[LeaseState]):
    pass


def start(state: LeaseState | None = None, port: int = 0) -> LeaseApi:
    state = state or LeaseState()
    return LeaseApi(state, *server.serve(Handler, state, port, "kube-lease"))


def running(state: LeaseState | None = None) -> AbstractContextManager[LeaseApi]:
    return server.running(start, state)


def main() -> None:
    args = server.arguments("Kubernetes Lease API emulator (coordination.k8s.io/v1)", 18443).parse_args()
    api = start(port=args.port)
    server.serve_until_interrupted(api, f"Lease API emulator on {api.url}")


if __name__ == "__main__":
    main()
