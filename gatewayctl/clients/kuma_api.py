"""The Kuma control plane's HTTP API (Universal) over httpx, with the retries, rate cap, TLS options and call
log the Kong client has (`clients/http.py`).

URL: `--kuma-url`, else `GATEWAYCTL_KUMA_URL`, else http://localhost:5681. Token: only from
`GATEWAYCTL_KUMA_TOKEN` (never argv, which shows in `ps`), sent as `Authorization: Bearer` (Kuma 2.14
`api-server-auth`, authn type `tokens`).

Error bodies (Kuma 2.14 `pkg/core/rest/errors/error_handler.go`): `{"type": "/std-errors", "status", "title",
"detail", "invalid_parameters": [{"field", "reason"}], "details", "causes"}`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx

from gatewayctl.clients.http import ApiClient, Endpoint, Json, RemoteError, TlsOptions, json_or_none

TOKEN_ENV = "GATEWAYCTL_KUMA_TOKEN"
URL_ENV = "GATEWAYCTL_KUMA_URL"
DEFAULT_URL = "http://localhost:5681"
PAGE_SIZE = 1000  # the API server's maximum (pkg/api-server/pagination.go, maxPageSize)


def kuma_endpoint(url: str | None, tls: TlsOptions, timeout: float = 30.0) -> Endpoint:
    return Endpoint.from_env(url, URL_ENV, TOKEN_ENV, DEFAULT_URL, tls, timeout)


class KumaError(RemoteError):
    """A Kuma API call failed. `status` is None when the control plane was not reached."""


class KumaApi(ApiClient):
    """One control plane, shared by worker threads."""

    error: ClassVar[type[RemoteError]] = KumaError

    def __enter__(self) -> KumaApi:
        return self

    def error_detail(self, body: Json) -> str | None:
        if not isinstance(body, dict):
            return None
        title, detail = body.get("title"), body.get("detail") or body.get("details")
        if not isinstance(title, str) and not isinstance(detail, str):
            return super().error_detail(body)
        text = ": ".join(str(p).strip() for p in (title, detail) if isinstance(p, str) and p.strip())
        reasons = [
            f"{i.get('field')}: {i.get('reason')}" if i.get("field") else str(i.get("reason"))
            for i in body.get("invalid_parameters") or []
            if isinstance(i, dict)
        ]
        return text + (f" ({'; '.join(reasons)})" if reasons else "")

    def written(self, response: httpx.Response, path: str) -> list[str]:
        """The warnings of Kuma's answer to a write: a PUT answers 201 (created) or 200 (updated), a DELETE 200,
        as `application/json` with `{}`, or `{"warnings": [...]}` for a PUT of something deprecated (v2.14.3
        pkg/api-server/resource_endpoints.go createResource, updateResource, deleteResource:
        WriteHeaderAndJson(..., "application/json"); types/resources.go, warnings omitempty). Any other answer
        (a proxy's page, an empty or cut body, JSON of another shape) does not show the write was made:
        this API's error, naming the call, and the write is not counted as done."""
        media = response.headers.get("content-type", "").split(";")[0].strip().lower()
        answer = json_or_none(response) if media == "application/json" else None
        warnings = answer.get("warnings", []) if isinstance(answer, dict) else None
        if (
            isinstance(answer, dict)
            and set(answer) <= {"warnings"}
            and isinstance(warnings, list)
            and all(isinstance(w, str) for w in warnings)
        ):
            return list(warnings)
        what = "of another shape" if media == "application/json" else f"of type {media or 'unknown'}"
        detail = (
            f"the answer is not Kuma's to a write (a {response.status_code} {what}), so the write is not known "
            f"to be done: is {self.endpoint.display()} the right URL?"
        )
        raise self.error(response.request.method, path, response.status_code, None, detail, 1)

    def list_all(
        self, path: str, labels: dict[str, str] | None = None, kind: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, `size=1000` pages, following `next`. Labels filter with
        `filter[labels.<key>]=<value>`, ANDed (pkg/api-server/filters/filtering.go). Only the `offset` of
        `next` is used (as kumactl does): its host is what the server saw, which behind a proxy is not ours.
        An answer that is not a list of resources (of type `kind`, when given), or paging that comes back to an
        offset or an item already seen, goes on after an empty page or past the `total` it gave, is this API's
        error rather than a crash, a wrong plan or a loop."""
        params = {"size": str(PAGE_SIZE)}
        for key, value in (labels or {}).items():
            params[f"filter[labels.{key}]"] = value
        offsets: set[str] = set()
        seen: set[tuple[str, str]] = set()
        pages = 0
        while True:
            page: Json = self.get(path, params)
            problem = _list_problem(page, kind)
            if problem:
                where = self.endpoint.display()
                detail = f"the answer is not a list of Kuma resources ({problem}): is {where} the right URL?"
                raise self.error("GET", path, 200, None, detail, 1)
            items: list[dict[str, Any]] = page["items"]
            keys = [(str(item.get("mesh") or ""), item["name"]) for item in items]
            if seen.intersection(keys):
                raise self.error("GET", path, 200, None, "the pages repeat resources already listed", 1)
            seen.update(keys)
            yield from items
            pages += 1
            nxt = page.get("next")
            if not nxt:
                return
            offset = parse_qs(urlsplit(nxt).query).get("offset", [""])[0] if isinstance(nxt, str) else ""
            if not offset:
                raise self.error("GET", path, 200, None, "the answer has a next page but no offset to ask for it", 1)
            total = page.get("total")
            # Kuma gives a next page only while items remain: one after an empty page never ends
            if not items or offset in offsets or (isinstance(total, int) and pages * PAGE_SIZE >= total + PAGE_SIZE):
                raise self.error("GET", path, 200, None, f"the pages do not end (offset {offset[:40]!r})", 1)
            offsets.add(offset)
            params = {**params, "offset": offset}


def _list_problem(page: Json, kind: str | None) -> str | None:
    """What makes an answer no page of Kuma resources (`{"total", "items": [{"type", "name", ...}], "next"}`).
    `items` is never null: Kuma 2.14 makes it with `make([]Resource, len(items))` (v2.14.3
    pkg/core/resources/model/rest/converter.go, `From.ResourceList`), `[]` when the list is empty."""
    if not isinstance(page, dict):
        return "not an object"
    items = page.get("items")
    if not isinstance(items, list):
        return "its items are no list"
    for item in items:
        problem = _resource_problem(item, kind)
        if problem:
            return problem
    return None


# The Mesh's fields that are protobuf messages (v2.14.3 api/mesh/v1alpha1/mesh.proto), printed as objects
MESH_MESSAGE_FIELDS = ("mtls", "tracing", "logging", "metrics", "networking", "routing", "constraints", "meshServices")


def _resource_problem(item: Any, kind: str | None) -> str | None:
    """What makes a listed item no resource as Kuma 2.14 prints one (v2.14.3 pkg/core/resources/model/rest:
    v1alpha1/meta.go and resource.go, unversioned/resource.go): `type` and `name` are always there as strings,
    `mesh` a string, `labels` (left out when empty) a map of strings, a policy's `spec` an object, a Mesh's
    message fields (sitting at the top level) objects. Deeper fields are compared as drift."""
    if not isinstance(item, dict):
        return "a resource that is no object"
    if not isinstance(item.get("name"), str) or not item["name"]:
        return "a resource without a name"
    if not isinstance(item.get("type"), str) or not item["type"]:
        return "a resource without a type"
    if kind is not None and item["type"] != kind:
        return f"a resource of type {item['type'][:40]!r} in a list of {kind}"
    if not isinstance(item.get("mesh", ""), str):
        return "a resource whose mesh is no string"
    labels = item.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        return "a resource whose labels are no map of strings"
    if not isinstance(item.get("spec", {}), dict):
        return "a resource whose spec is no object"
    if item["type"] == "Mesh" and not all(isinstance(item.get(f, {}), dict) for f in MESH_MESSAGE_FIELDS):
        return "a Mesh whose settings are no objects"
    return None
