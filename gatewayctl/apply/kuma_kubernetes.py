"""Kuma on Kubernetes: plan and apply the catalog's Kuma objects as CRDs through the Kubernetes API.

Reading: one label-selected list per Kuma kind gatewayctl renders (`app.kubernetes.io/managed-by=gatewayctl,
gatewayctl.io/catalog=<name>`), the Mesh cluster-wide, policies in the Kuma system namespace
(`deployment.namespaces.kuma`). Anything without both labels is invisible to the plan and never changed.

Writing: server-side apply (`PATCH`, `application/apply-patch+yaml`, `fieldManager=gatewayctl`) of the whole
rendered object, so the API server merges it and drops only fields gatewayctl applied before and no longer
does. Conflicts are not forced by default: a field another manager (`kubectl edit`, a controller) took over
is reported with the fields and managers the API server names, and nothing is taken from them unless the
caller asks (`force_conflicts=True`). An object of the same name that
carries no ownership labels of this catalog is never adopted. Each create and update is dry-run first
(`dryRun=All`, `apply_kubernetes`), so an object the API server or Kuma's webhooks refuse is found before
anything is written. Deletes carry the uid seen in the plan as a
precondition, so an object re-created by someone else meanwhile is not deleted.

Comparing: only what an apply would change is a difference. What the API server and Kuma add is left out:
server metadata (uid, resourceVersion, generation, creationTimestamp, managedFields), annotations (gatewayctl
sets none; Kuma moves `kuma.io/display-name` there), the labels Kuma's defaulting webhook computes (kumahq/kuma
v2.14.3 pkg/core/resources/labels/registry.go `AllComputedLabels`) unless the catalog sets them itself, CRD
defaults and fields other managers own. Durations are compared as Go durations (Kuma re-marshals policy
durations through metav1.Duration: `5m` comes back as `5m0s`), and the Mesh's mTLS mode `STRICT` is the
proto3 zero value that Kuma's jsonpb round-trip leaves out. A field gatewayctl applied before (per
`managedFields`) and no longer renders shows as removed.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from gatewayctl import __version__
from gatewayctl.apply.batches import Cancel, run_batches
from gatewayctl.apply.kuma import MESH_KIND, KumaOutcome, phases
from gatewayctl.apply.kuma_lock import HeldLock, lease_lock, lease_name
from gatewayctl.apply.kuma_universal import fill_schema_defaults
from gatewayctl.clients.http import CallLog, Endpoint
from gatewayctl.clients.retry import RETRYABLE_STATUS, RateLimiter, RetryPolicy, retry_after_seconds
from gatewayctl.plan.kuma import (
    KumaChange,
    KumaPlan,
    Obj,
    comparable_spec,
    field_changes,
    order_free,
    without_secret_label,
)
from gatewayctl.plan.masking import Masker
from gatewayctl.render.kuma import API_VERSION, MESH_LABEL, KumaObject, kubernetes_form
from gatewayctl.render.ownership import OWNER, ownership_labels

GROUP, VERSION = API_VERSION.split("/")
FIELD_MANAGER = OWNER
APPLY_PATCH = "application/apply-patch+yaml"
PAGE_SIZE = 500
# Every kind render/kuma.py can produce (kind -> plural, namespaced). All are listed on every plan, so an
# object of a kind the catalog stopped using is still pruned.
KINDS: dict[str, tuple[str, bool]] = {
    "Mesh": ("meshes", False),
    "MeshTrafficPermission": ("meshtrafficpermissions", True),
    "MeshRetry": ("meshretries", True),
    "MeshTimeout": ("meshtimeouts", True),
    "MeshCircuitBreaker": ("meshcircuitbreakers", True),
    "MeshHealthCheck": ("meshhealthchecks", True),
    "MeshLoadBalancingStrategy": ("meshloadbalancingstrategies", True),
    "MeshRateLimit": ("meshratelimits", True),
    "MeshTrace": ("meshtraces", True),
    "MeshMetric": ("meshmetrics", True),
    "MeshAccessLog": ("meshaccesslogs", True),
}
# Labels Kuma 2.14's defaulting webhook sets (kumahq/kuma v2.14.3 pkg/core/resources/labels/registry.go;
# kuma.io/display-name, k8s.kuma.io/service-account and kuma.io/workload become annotations).
KUMA_COMPUTED_LABELS = frozenset(
    {
        "kuma.io/mesh",
        "kuma.io/origin",
        "kuma.io/zone",
        "kuma.io/env",
        "k8s.kuma.io/namespace",
        "kuma.io/policy-role",
        "kuma.io/proxy-type",
        "k8s.kuma.io/service-account",
        "kuma.io/workload",
        "kuma.io/listener-zoneingress",
        "kuma.io/listener-zoneegress",
        "kuma.io/display-name",
    }
)
INSTALL_HINT = (
    "install Kuma 2.14 first (helm install kuma kuma/kuma -n kuma-system --create-namespace, or "
    "kumactl install control-plane | kubectl apply -f -); gatewayctl writes Kuma's custom resources, it does "
    "not install their definitions"
)


class KubeError(Exception):
    """A Kubernetes API call failed. `status` is None when the API server was not reached."""

    def __init__(
        self,
        method: str,
        path: str,
        status: int | None,
        detail: str,
        attempts: int = 1,
        reason: str = "",
        causes: tuple[dict[str, str], ...] = (),
        hint: str = "",
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        self.attempts = attempts
        self.reason = reason
        self.causes = causes
        self.hint = hint
        super().__init__(method, path, status, detail)

    def __str__(self) -> str:
        return self.describe()

    @property
    def rejected(self) -> bool:
        """The API server understood and refused the request (4xx other than 429): retrying cannot help."""
        return self.status is not None and 400 <= self.status < 500 and self.status != 429

    @property
    def conflict(self) -> bool:
        return self.status == 409 and any(c.get("reason") == "FieldManagerConflict" for c in self.causes)

    def describe(self) -> str:
        if self.method == "read":  # a kubeconfig, read before anything is sent: no server to answer
            return f"read {self.path}: {self.detail}"
        what = f"HTTP {self.status}" + (f" {self.reason}" if self.reason else "") if self.status else "no response"
        tries = f" after {self.attempts} tries" if self.attempts > 1 else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.method} {self.path}: {what}{tries}: {self.detail}{hint}"


@dataclass
class KubeApi:
    """One Kubernetes API server, shared by worker threads (urllib3's pool is thread-safe)."""

    api_client: kube_client.ApiClient
    server: str
    context: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    calls: CallLog = field(default_factory=CallLog)  # what was sent: reads, writes, retries
    timeout: float = 30.0  # seconds per request (--timeout)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(None))  # --rps

    @property
    def custom(self) -> kube_client.CustomObjectsApi:
        return kube_client.CustomObjectsApi(self.api_client)

    def close(self) -> None:
        self.api_client.close()  # type: ignore[no-untyped-call]

    def call(self, method: str, path: str, send: Callable[[], Any], read: bool = False, kind: str | None = None) -> Any:
        """`send()`, a client call made with `_preload_content=False`, with the project's retry policy: 429
        (Retry-After honoured), 5xx and connection errors (a body cut short too) are tried again with capped,
        jittered back-off; other 4xx raise at once. `read`: counted as a read though it is no GET (a dry run
        changes nothing). Returns the JSON object answered (None when `send` returns None: a 404 it takes as
        "there is none"); any other answer, or one not of `kind`, is a KubeError naming the call: a proxy's
        page (an auth proxy's sign-in) shows nothing was read or written."""
        attempt = 0
        while True:
            self.limiter.acquire()
            self.calls.count(method, retry=attempt > 0, read=read)
            attempt += 1
            started = time.monotonic()
            try:
                response = send()
                answer = _Answer.read(response) if response is not None else None
            except ApiException as exc:
                status = int(exc.status or 0)
                self.calls.observe(method, path, status or None, time.monotonic() - started)
                if status in RETRYABLE_STATUS and attempt < self.retry.attempts and not _schema_refusal(exc):
                    wait = self.retry.backoff(attempt - 1)
                    headers = exc.headers or {}
                    asked = retry_after_seconds(headers.get("Retry-After") if hasattr(headers, "get") else None)
                    if asked is None or asked <= self.retry.max_retry_after:
                        self.sleep(max(wait, asked or 0.0))
                        continue
                raise _api_error(method, path, exc, attempt) from None
            except ValueError as exc:  # http.client refusing a header quotes its value: a token, never shown
                if not _header_refusal(exc):
                    raise
                detail = "a credential from the kubeconfig cannot be sent in an HTTP header (value not shown)"
                raise KubeError(method, path, None, detail, attempt) from None
            except urllib3.exceptions.HTTPError as exc:
                self.calls.observe(method, path, None, time.monotonic() - started)
                if attempt < self.retry.attempts:
                    self.sleep(self.retry.backoff(attempt - 1))
                    continue
                raise KubeError(
                    method, path, None, f"{self.server} unreachable: {_transport_reason(exc)}", attempt
                ) from None
            self.calls.observe(method, path, answer.status if answer else 404, time.monotonic() - started)
            return self._object(method, path, answer, kind) if answer is not None else None

    def _object(self, method: str, path: str, answer: _Answer, kind: str | None) -> Obj:
        try:
            value = json.loads(answer.body)
        except ValueError:  # UnicodeDecodeError too
            value = None
        if isinstance(value, dict) and (kind is None or value.get("kind") == kind):
            return value
        what = f"a {kind}" if kind else "a Kubernetes object"
        shape = "JSON of another shape" if value is not None else answer.content_type or "no content type"
        detail = f"the answer is not {what} ({shape}): is {self.server} the Kubernetes API server?"
        raise KubeError(method, path, answer.status, detail)


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str

    @staticmethod
    def read(response: Any) -> _Answer:
        """A urllib3 response read whole (in the retry loop: a body cut short is a connection error), its
        connection back in the pool."""
        try:
            return _Answer(int(response.status), bytes(response.data or b""), response.headers.get("Content-Type", ""))
        finally:
            response.release_conn()


def _header_refusal(exc: ValueError) -> bool:
    """http.client's `Invalid header value b'Bearer ...'`, or a header it cannot encode as Latin-1."""
    return str(exc).startswith("Invalid header") or isinstance(exc, UnicodeEncodeError)


class _Configuration(kube_client.Configuration):
    """The client's configuration, its bearer token without white space around it, as client-go reads a token
    file (`strings.TrimSpace`): the Python client sends a file's closing line break as part of the header,
    which http.client refuses, quoting the token. Trimmed where the header is made: the client's refresh hook
    reads the file again before every request."""

    def get_api_key_with_prefix(self, identifier: str, alias: str | None = None) -> str | None:
        key = super().get_api_key_with_prefix(identifier, alias)
        return key.strip() if isinstance(key, str) else key


def _schema_refusal(exc: ApiException) -> bool:
    """A 500 that is the API server refusing the object itself: an applied field the resource's schema does
    not declare (structured-merge-diff's "failed to create typed patch object"). Sending it again cannot help."""
    return exc.status == 500 and "failed to create typed patch object" in str(exc.body or "")


def _api_error(method: str, path: str, exc: ApiException, attempts: int) -> KubeError:
    body: Any = None
    try:
        body = json.loads(exc.body) if exc.body else None
    except (TypeError, ValueError):
        body = None
    status = int(exc.status or 0) or None
    if isinstance(body, dict) and body.get("kind") == "Status":
        details = body.get("details") or {}
        causes = tuple(
            {k: str(v) for k, v in c.items() if k in ("reason", "message", "field")}
            for c in details.get("causes") or []
            if isinstance(c, dict)
        )
        return KubeError(
            method,
            path,
            status,
            str(body.get("message") or exc.reason),
            attempts,
            str(body.get("reason") or ""),
            causes,
        )
    # No answer (status 0): the client's text, `SSLError\n[SSL: CERTIFICATE_VERIFY_FAILED] ...` for a TLS
    # handshake, on one line, with what to do about a certificate
    lines = [line.strip() for line in str(exc.reason or "").splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].isidentifier():  # the exception's type name
        lines = lines[1:]
    detail = " ".join(lines) or "error"
    return KubeError(method, path, status, detail, attempts, hint=_tls_hint(str(exc.reason or "")))


def _tls_hint(text: str) -> str:
    """What to do about a TLS handshake with the API server that failed for good ("" for anything else)."""
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (
            "the kubeconfig's cluster needs the certificate-authority (or certificate-authority-data) that signed "
            "the API server's certificate; --ca-cert is for the Kong and Kuma APIs"
        )
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
        return "the server does not speak TLS there: check the kubeconfig's cluster server URL"
    return ""


def _transport_reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(reason).split(": ", 1)[-1] if isinstance(reason, Exception) else str(reason)


# ---------------------------------------------------------------------- connecting


def apply_lock(api: KubeApi, namespace: str, catalog_name: str, wait: float) -> AbstractContextManager[HeldLock]:
    """The apply lock on Kubernetes: a Lease in Kuma's namespace (`kuma_lock.lease_lock`). Reading it once
    first turns a cluster that refuses us (401/403) into a KubeError, not a long wait; a namespace that does
    not exist shows only when the Lease is created (a read there finds no Lease), also a KubeError at once."""
    _read_lease(api, namespace, lease_name(catalog_name))
    return lease_lock(CountedCoordination(api), namespace, catalog_name, wait)


class CountedCoordination:
    """The Lease API for `lease_lock`'s elector (which, as client-go's, times and retries its own calls),
    each call counted in `api.calls` with the rest of what was sent."""

    _VERBS = (("read_", "GET"), ("list_", "GET"), ("create_", "POST"), ("replace_", "PUT"), ("patch_", "PATCH"))

    def __init__(self, api: KubeApi) -> None:
        self._api = kube_client.CoordinationV1Api(api.api_client)
        self._calls = api.calls

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._api, name)
        verb = next((v for prefix, v in self._VERBS if name.startswith(prefix)), "DELETE")

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls.count(verb, retry=False)
            return method(*args, **kwargs)

        return counted


def lease_holder(api: KubeApi, namespace: str, catalog_name: str) -> str | None:
    """The identity holding the apply Lease, or None (no Lease, or released: no holder)."""
    name = lease_name(catalog_name)
    lease = _read_lease(api, namespace, name) or {}
    holder = (lease.get("spec") or {}).get("holderIdentity")
    return f"held by {holder} (Lease {namespace}/{name})" if holder else None


def _read_lease(api: KubeApi, namespace: str, name: str) -> Any:
    """The Lease (as JSON), or None when there is none; KubeError when the cluster refuses the read."""
    coordination = kube_client.CoordinationV1Api(api.api_client)

    def read() -> Any:
        try:
            return coordination.read_namespaced_lease(
                name, namespace, _request_timeout=api.timeout, _preload_content=False
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            return None

    return api.call("GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}", read, kind="Lease")


def connect(kubeconfig: Path | None, context: str | None, timeout: float = 30.0, rps: float | None = None) -> KubeApi:
    """A client for the cluster named by `kubeconfig` (else $KUBECONFIG, else ~/.kube/config) and `context`
    (else the file's current context); inside a pod with no kubeconfig at all, the pod's service account.
    `timeout`: seconds per request; `rps`: at most this many request starts per second. Nothing is sent
    yet. Credentials stay inside the client and are never printed."""
    configuration = _Configuration()
    configuration.retries = False  # retries are ours (clients/retry.py), not urllib3's
    configuration.connection_pool_maxsize = 32
    path = kubeconfig or _default_kubeconfig()
    try:
        if path is not None:
            if not path.exists():
                raise KubeError("read", str(path), None, "kubeconfig file not found")
            kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(path), context=context, client_configuration=configuration, persist_config=False
            )
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            if context:
                raise KubeError("read", "in-cluster config", None, f"--context {context} needs a kubeconfig file")
            kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            raise KubeError(
                "read",
                "kubeconfig",
                None,
                "no kubeconfig: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config",
            )
    except ConfigException as exc:
        where = str(path) if path is not None else "in-cluster config"
        raise KubeError("read", where, None, f"cannot use it: {exc}") from None
    except yaml.YAMLError as exc:  # the client parses the file itself and lets the YAML error through
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        raise KubeError("read", where, None, f"not a kubeconfig: {getattr(exc, 'problem', None) or exc}") from None
    except OSError as exc:  # a folder, a file this user may not read
        raise KubeError("read", str(path), None, f"cannot read it: {exc.strerror or exc}") from None
    except (TypeError, AttributeError, KeyError, IndexError, ValueError):
        # valid YAML of another shape (a text, a list, `clusters: 3`): the client indexes it as a mapping of
        # lists of mappings and fails inside; UnicodeDecodeError (a binary file) is a ValueError
        raise KubeError(
            "read", str(path), None, "not a kubeconfig: not a mapping of clusters, users and contexts"
        ) from None
    endpoint = Endpoint(configuration.host)
    server = endpoint.display()  # as messages name it: never a user:password@ or a query
    problem = endpoint.problem()  # what the client would fail on at the first request (LocationParseError)
    if problem:
        where = str(path) if path is not None else "in-cluster config"
        raise KubeError("read", where, None, f"the cluster's server {server} {problem}")
    api = kube_client.ApiClient(configuration)
    api.user_agent = f"{OWNER}/{__version__}"
    return KubeApi(api, server, context, timeout=timeout, limiter=RateLimiter(rps))


def _default_kubeconfig() -> Path | None:
    env = os.environ.get("KUBECONFIG")
    if env:
        first = next((p for p in env.split(os.pathsep) if p), None)
        return Path(first).expanduser() if first else None
    default = Path("~/.kube/config").expanduser()
    return default if default.exists() else None


# ---------------------------------------------------------------------- reading


def resource_path(kind: str, namespace: str, name: str | None = None) -> str:
    plural, namespaced = KINDS[kind]
    where = f"/namespaces/{namespace}" if namespaced else ""
    return f"/apis/{API_VERSION}{where}/{plural}" + (f"/{name}" if name else "")


def list_kind(api: KubeApi, kind: str, namespace: str, selector: str | None) -> list[Obj]:
    """Every object of `kind` matching `selector`, all pages. KubeError 404 when the CRD is not installed.

    A continue token outlives etcd's compaction (every 5 minutes) only so long: a later page then answers
    410 Expired, and the list is read again in one piece, as client-go's pager does (FullListIfExpired):
    pages from two revisions would not be one consistent view."""
    plural, namespaced = KINDS[kind]
    path = resource_path(kind, namespace)
    items: list[Obj] = []
    token: str | None = None
    limit = PAGE_SIZE
    while True:
        kwargs: dict[str, Any] = {"limit": limit, "_request_timeout": api.timeout, "_preload_content": False}
        if selector:
            kwargs["label_selector"] = selector
        if token:
            kwargs["_continue"] = token

        def send(kw: dict[str, Any] = kwargs) -> Any:
            if namespaced:
                return api.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural, **kw)
            return api.custom.list_cluster_custom_object(GROUP, VERSION, plural, **kw)

        called = path + (f"?labelSelector={selector}" if selector else "")
        try:
            page = api.call("GET", called, send, kind=f"{kind}List")
        except KubeError as exc:
            if exc.status != 410 or not token:
                raise
            items, token, limit = [], None, 0  # the whole list again, unpaged (limit 0: no limit)
            continue
        problem = _list_problem(page, kind)
        if problem:
            detail = f"the answer is not a list of {kind} objects ({problem}): is {api.server} the API server?"
            raise KubeError("GET", called, 200, detail)
        items.extend(page["items"])
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items


def _list_problem(page: Obj, kind: str) -> str | None:
    """What makes `page` no page of `kind` objects as the API server lists them (`items` always a list, each
    with its kind and a name), None when it is one: a plan made from anything else would be wrong."""
    items = page.get("items")
    if not isinstance(items, list):
        return "its items are no list"
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("metadata"), dict):
            return "an item that is no object"
        if not isinstance(item["metadata"].get("name"), str) or not item["metadata"]["name"]:
            return "an item without a name"
        if item.get("kind", kind) != kind:
            return f"an item of kind {str(item.get('kind'))[:40]!r}"
    if not isinstance((page.get("metadata") or {}).get("continue", ""), str):
        return "a continue token that is no string"
    return None


def server_info(api: KubeApi) -> dict[str, Any]:
    version = api.call(
        "GET",
        "/version",
        lambda: kube_client.VersionApi(api.api_client).get_code(_request_timeout=api.timeout, _preload_content=False),
    )
    git_version = version.get("gitVersion")
    return {"url": api.server, "context": api.context, "version": git_version if isinstance(git_version, str) else None}


def fetch_live(api: KubeApi, catalog_name: str, namespace: str) -> tuple[dict[str, list[Obj]], set[str]]:
    """(kind -> owned objects, kinds whose CRD is not installed)."""
    selector = ",".join(f"{k}={v}" for k, v in ownership_labels(catalog_name).items())

    def one(kind: str) -> tuple[str, list[Obj] | None]:
        try:
            return kind, list_kind(api, kind, namespace, selector)
        except KubeError as exc:
            if exc.status == 404:
                return kind, None
            raise

    with ThreadPoolExecutor(max_workers=4) as pool:
        found = dict(pool.map(one, KINDS))
    missing = {k for k, items in found.items() if items is None}
    return {k: items for k, items in found.items() if items is not None}, missing


# ---------------------------------------------------------------------- comparing


def canonical(kind: str, spec: Any) -> Any:
    """The spec as Kuma stores it: Go-canonical durations; the Mesh without proto3 zero values we render."""
    out = order_free(comparable_spec(spec))
    if kind == "Mesh" and isinstance(out, dict):
        for backend in (out.get("mtls") or {}).get("backends") or []:
            if isinstance(backend, dict) and backend.get("mode") == "STRICT":
                del backend["mode"]
    return out


def owned_fields(live: Obj) -> dict[str, Any]:
    """The fields gatewayctl's server-side applies own in `live`, as a tree (from managedFields fieldsV1)."""

    def tree(node: dict[str, Any]) -> dict[str, Any]:
        return {k[2:]: tree(v) if isinstance(v, dict) else {} for k, v in node.items() if k.startswith("f:")}

    out: dict[str, Any] = {}
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply":
            out.update(tree(entry.get("fieldsV1") or {}))
    return out


def project(have: Any, want: Any, owned: dict[str, Any] | None) -> Any:
    """The part of `have` an apply of `want` decides: the keys `want` sets, and the keys gatewayctl owns
    (which the apply removes when `want` no longer sets them). Lists are atomic in the Kuma CRDs: an apply
    replaces them whole, so a key inside a list item that `want` no longer sets is a difference (the CRD
    defaults there are in `want` already: `compare`)."""
    if isinstance(have, dict) and isinstance(want, dict):
        keys = set(want) | set(owned or {})
        return {k: project(v, want.get(k), (owned or {}).get(k)) for k, v in have.items() if k in keys}
    return have


def object_from_live(item: Obj, current: Obj | None = None) -> KumaObject:
    """A live CRD object (as a snapshot holds it) as the KumaObject gatewayctl applied to make it: the labels
    and spec fields its server-side applies own (managedFields), without what Kuma's webhook, CRD defaults
    or other managers added. Without managedFields: the labels Kuma does not compute, and the whole spec.

    `current` is the same object as it is now: fields gatewayctl owns now but did not own in the snapshot
    (taken over with --force-conflicts since) are put back to the snapshot's values too; left out, the
    rollback's apply would delete them, leaving neither the old value nor the new one."""
    metadata = item.get("metadata") or {}
    owned = owned_fields(item)
    if current is not None:
        owned = _union(owned, owned_fields(current))
    labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
    owned_labels = (owned.get("metadata") or {}).get("labels")
    if owned_labels:
        labels = {k: v for k, v in labels.items() if k in owned_labels}
    else:
        labels = {k: v for k, v in labels.items() if k not in KUMA_COMPUTED_LABELS}
    spec = item.get("spec") or {}
    if owned.get("spec"):
        spec = _only(spec, owned["spec"])
    kind = str(item.get("kind"))
    mesh = None if kind == "Mesh" else labels.get(MESH_LABEL) or (metadata.get("labels") or {}).get(MESH_LABEL)
    return KumaObject(kind, str(metadata.get("name")), labels, spec, mesh)


def _union(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two fieldsV1 trees (as `owned_fields` gives them) merged; a leaf in either stays a leaf (whole)."""
    out = dict(a)
    for key, sub in b.items():
        if key not in out:
            out[key] = sub
        elif out[key] and sub:
            out[key] = _union(out[key], sub)
        else:
            out[key] = {}
    return out


def _only(value: Any, tree: dict[str, Any]) -> Any:
    """`value` cut down to the fields of a fieldsV1 tree (a leaf, or a list, is kept whole)."""
    if not isinstance(value, dict) or not tree:
        return value
    return {k: _only(v, tree[k]) for k, v in value.items() if k in tree}


def comparable(kind: str, obj: Obj, keep_labels: set[str]) -> Obj:
    labels = without_secret_label((obj.get("metadata") or {}).get("labels") or {})
    labels = {k: v for k, v in labels.items() if k not in KUMA_COMPUTED_LABELS or k in keep_labels}
    return {"metadata": {"labels": labels}, "spec": canonical(kind, obj.get("spec") or {})}


def compare(kind: str, desired: Obj, live: Obj, masker: Masker) -> list[Any]:
    # The API server fills the CRDs' structural defaults in on write (inside list items too, where the
    # projection cannot leave them out): the rendered object is compared as it will be stored.
    spec = copy.deepcopy(desired.get("spec") or {})
    fill_schema_defaults(kind, spec)
    want = comparable(kind, {**desired, "spec": spec}, set(desired["metadata"].get("labels") or {}))
    have = comparable(kind, live, set(want["metadata"]["labels"]))
    have = project(have, want, owned_fields(live))
    return list(field_changes(kind, want, have, masker, (live.get("metadata") or {}).get("labels")))


# ---------------------------------------------------------------------- planning


def plan_kubernetes(
    api: KubeApi, catalog_name: str, objects: list[KumaObject], namespace: str, masker: Masker
) -> KumaPlan:
    """What applying `objects` would change among this catalog's Kuma objects in the cluster."""
    server = server_info(api)
    server["namespace"] = namespace
    live_by_kind, missing = fetch_live(api, catalog_name, namespace)
    needed = sorted({o.kind for o in objects} & missing)
    if needed:
        raise KubeError(
            "GET",
            ", ".join(resource_path(k, namespace) for k in needed),
            404,
            f"the Kuma CRDs for {', '.join(needed)} are not installed in this cluster",
            reason="NotFound",
            hint=INSTALL_HINT,
        )
    live: dict[tuple[str, str], Obj] = {}
    for kind, items in live_by_kind.items():
        for item in items:
            live[(kind, item["metadata"]["name"])] = item
    changes: list[KumaChange] = []
    creates: dict[str, list[int]] = {}
    wanted: set[tuple[str, str]] = set()
    for obj in objects:
        desired = kubernetes_form(obj, namespace)
        key = (obj.kind, obj.name)
        wanted.add(key)
        current = live.get(key)
        if current is None:
            creates.setdefault(obj.kind, []).append(len(changes))
            changes.append(KumaChange("create", obj.kind, obj.name, obj.mesh, desired, None))
            continue
        fields = compare(obj.kind, desired, current, masker)
        if fields:
            changes.append(KumaChange("update", obj.kind, obj.name, obj.mesh, desired, current, tuple(fields)))
    for (kind, name), item in sorted(live.items()):
        if (kind, name) not in wanted:
            mesh = (item["metadata"].get("labels") or {}).get(MESH_LABEL) if kind != "Mesh" else None
            changes.append(KumaChange("delete", kind, name, mesh, None, item))
    _mark_foreign(api, namespace, changes, creates)
    owned = [item for items in live_by_kind.values() for item in items]
    return KumaPlan("kubernetes", server, changes, owned)


def _mark_foreign(api: KubeApi, namespace: str, changes: list[KumaChange], creates: dict[str, list[int]]) -> None:
    """A create whose name is taken by an object this catalog does not own (no labels, another catalog's)
    keeps that object as `live`: apply refuses it instead of adopting someone else's object. Only kinds
    with creates are listed, so a plan without creates reads nothing more."""
    for kind, indexes in creates.items():
        names = {changes[i].name: i for i in indexes}
        for item in list_kind(api, kind, namespace, None):
            index = names.get(item["metadata"]["name"])
            if index is not None:
                change = changes[index]
                changes[index] = KumaChange("create", kind, change.name, change.mesh, change.desired, item)


# ---------------------------------------------------------------------- applying


def apply_kubernetes(
    api: KubeApi,
    plan: KumaPlan,
    parallelism: int,
    progress: Callable[[KumaChange], None] | None = None,
    *,
    force_conflicts: bool = False,
    cancel: Cancel | None = None,
) -> KumaOutcome:
    """Carry out `plan`: the Mesh first, then the policies concurrently (up to `parallelism`), then the
    deletes. After the first failure nothing new starts; writes in flight finish.

    Each create and update is first sent as a server-side dry run (`dryRun=All`): the API server checks the
    object as it would store it (the CRD schema, the field managers, Kuma's admission webhooks, which run on
    dry runs: `sideEffects: None`) and stores nothing; an object refused there stops the apply before it is
    written. Kuma's owner-reference webhook refuses to create a policy whose Mesh does not exist, dry run or
    not, so the policies of a Mesh this plan creates are checked once that Mesh is written: a refusal then
    leaves only the new Mesh. Everything else refused leaves everything unwritten."""
    new_meshes = {c.name for c in plan.changes if c.kind == MESH_KIND and c.action == "create"}
    writes = [c for c in plan.changes if c.action != "delete"]
    mesh_writes = [c for c in writes if c.kind == MESH_KIND]
    later = [c for c in writes if c.kind != MESH_KIND and c.mesh in new_meshes]  # checked once their Mesh exists
    later_ids = {id(c) for c in later}

    def dry_run(changes: list[KumaChange]) -> KumaOutcome:
        return run_batches(
            [changes], lambda c: write(api, c, force_conflicts, dry_run=True), KubeError, parallelism, None, cancel
        )

    def real(batches: list[list[KumaChange]]) -> KumaOutcome:
        return run_batches(batches, lambda c: write(api, c, force_conflicts), KubeError, parallelism, progress, cancel)

    def refused(checked: KumaOutcome, done: list[KumaChange]) -> KumaOutcome:
        settled = {id(c) for c, _ in checked.failed} | {id(c) for c in done}
        return KumaOutcome(list(done), checked.failed, [c for c in plan.changes if id(c) not in settled])

    checked = dry_run([c for c in writes if id(c) not in later_ids])
    if checked.failed:
        return refused(checked, [])
    if not later:
        return real(phases(plan.changes))
    meshes = real([mesh_writes])
    mesh_ids = {id(c) for c in mesh_writes}
    rest = [c for c in plan.changes if id(c) not in mesh_ids]
    if not meshes.ok:
        return KumaOutcome(meshes.done, meshes.failed, meshes.skipped + rest)
    checked = dry_run(later)
    if checked.failed:
        return refused(checked, meshes.done)
    outcome = real(phases(rest))
    return KumaOutcome(meshes.done + outcome.done, outcome.failed, outcome.skipped, outcome.begun, outcome.warnings)


def write(api: KubeApi, change: KumaChange, force_conflicts: bool = False, dry_run: bool = False) -> None:
    """One change; with `dry_run`, a create or update is sent as a server-side dry run (nothing is stored)."""
    plural, namespaced = KINDS[change.kind]
    if change.action == "delete":
        assert change.live is not None
        meta = change.live["metadata"]
        namespace = meta.get("namespace", "")
        path = resource_path(change.kind, namespace, change.name)
        options = kube_client.V1DeleteOptions(preconditions=kube_client.V1Preconditions(uid=meta.get("uid")))
        sent: dict[str, Any] = {"_request_timeout": api.timeout, "_preload_content": False}

        def delete() -> Any:
            if namespaced:
                return api.custom.delete_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, change.name, body=options, **sent
                )
            return api.custom.delete_cluster_custom_object(GROUP, VERSION, plural, change.name, body=options, **sent)

        try:
            api.call("DELETE", path, delete)
        except KubeError as exc:
            if exc.status != 404:  # already gone (a lost response, retried) is what we wanted
                raise
        return
    assert change.desired is not None
    desired = change.desired
    namespace = desired["metadata"].get("namespace", "")
    path = resource_path(change.kind, namespace, change.name)
    if change.action == "create" and change.live is not None:
        labels = change.live["metadata"].get("labels") or {}
        owner = labels.get("gatewayctl.io/catalog")
        whose = f"catalog '{owner}'" if owner else "no gatewayctl catalog (it has no ownership labels)"
        raise KubeError(
            "PATCH",
            path,
            409,
            f"{change.kind} {change.name} already exists and belongs to {whose}",
            reason="AlreadyExists",
            hint="gatewayctl never takes over objects it did not create: rename or delete it, or label it to adopt it",
        )
    kwargs: dict[str, Any] = {
        "field_manager": FIELD_MANAGER,
        "_content_type": APPLY_PATCH,
        "_request_timeout": api.timeout,
        "_preload_content": False,
    }
    if force_conflicts:
        kwargs["force"] = True
    if dry_run:
        kwargs["dry_run"] = "All"
        path += "?dryRun=All"

    def patch() -> Any:
        if namespaced:
            return api.custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, change.name, desired, **kwargs
            )
        return api.custom.patch_cluster_custom_object(GROUP, VERSION, plural, change.name, desired, **kwargs)

    try:
        api.call("PATCH", path, patch, read=dry_run, kind=change.kind)  # the object, as stored or as it would be
    except KubeError as exc:
        if exc.conflict:
            exc.hint = (
                "another field manager owns these fields and gatewayctl does not take them over silently: "
                "align the catalog with them, or hand them to gatewayctl explicitly with kubectl apply "
                f"--server-side --field-manager={FIELD_MANAGER} --force-conflicts -f <the rendered file>"
            )
        elif exc.status == 404 and namespaced and exc.detail.startswith("namespaces "):
            exc.hint = f"create the namespace {namespace} (Kuma's system namespace) first"
        raise
