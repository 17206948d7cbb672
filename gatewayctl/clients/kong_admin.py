"""The Kong Admin API over httpx: TLS options, the admin token, retries, a request-rate cap, paging.

The token comes from the environment (`GATEWAYCTL_KONG_ADMIN_TOKEN`) and is sent as `Kong-Admin-Token`;
it is never accepted on the command line (argv shows in `ps`) and never printed. Sending, retrying and
counting are shared with the Kuma client (`clients/http.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from gatewayctl.clients.http import ApiClient, CallLog, Json, RemoteError, TlsOptions
from gatewayctl.clients.http import Endpoint as _Endpoint

TOKEN_ENV = "GATEWAYCTL_KONG_ADMIN_TOKEN"
URL_ENV = "GATEWAYCTL_KONG_ADMIN_URL"
DEFAULT_URL = "http://localhost:8001"
PAGE_SIZE = 1000  # Kong's maximum page size (kong/api/endpoints.lua, max_page_size)

__all__ = [
    "DEFAULT_URL",
    "PAGE_SIZE",
    "TOKEN_ENV",
    "URL_ENV",
    "CallLog",
    "Endpoint",
    "KongAdmin",
    "KongError",
    "TlsOptions",
]


class Endpoint(_Endpoint):
    @classmethod
    def from_environment(cls, url: str | None, tls: TlsOptions, timeout: float = 30.0) -> _Endpoint:
        return cls.from_env(url, URL_ENV, TOKEN_ENV, DEFAULT_URL, tls, timeout)


class KongError(RemoteError):
    """A Kong call failed. `status` is None when Kong was not reached (connection error)."""

    @property
    def code(self) -> int | None:
        return self.body.get("code") if isinstance(self.body, dict) else None

    def kong_message(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("message"), str):
            return str(self.body["message"])
        return self.detail


class KongAdmin(ApiClient):
    """One Admin API, shared by worker threads."""

    error: ClassVar[type[RemoteError]] = KongError

    def token_headers(self, token: str) -> dict[str, str]:
        return {"Kong-Admin-Token": token}

    def __enter__(self) -> KongAdmin:
        return self

    def list_all(self, path: str, tags: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a collection (see `list_pages`)."""
        for page in self.list_pages(path, tags):
            yield from page

    def list_pages(self, path: str, tags: list[str] | None = None) -> Iterator[list[dict[str, Any]]]:
        """The items of a collection page by page, `size=1000` pages, following `next`. Kong's `next` for
        nested collections carries only `offset` (kong/api/endpoints.lua), so size and tags are re-sent every
        time. An answer that is not a page of entities, or paging that comes back to an offset or an entity
        already seen (a server or proxy paging in a circle), is this API's error rather than a listing that
        is wrong, a crash or a loop without end."""
        params = {"size": str(PAGE_SIZE)}
        if tags:
            params["tags"] = ",".join(tags)  # a,b = entities carrying all of them
        offsets: set[str] = set()
        ids: set[str] = set()
        while True:
            page: Json = self.get(path, params)
            problem = _page_problem(page)
            if problem:
                where = self.endpoint.display()
                detail = f"the answer is not a page of Kong entities ({problem}): is {where} the right URL?"
                raise self.error("GET", path, 200, None, detail, 1)
            items: list[dict[str, Any]] = page["data"]
            if any(item["id"] in ids for item in items):
                raise self.error("GET", path, 200, None, "the pages repeat entities already listed", 1)
            ids.update(item["id"] for item in items)
            yield items
            if not page.get("next"):
                return
            if not items:  # Kong's pages are full but for the last: more after an empty one never ends
                raise self.error("GET", path, 200, None, "the answer has a next page after an empty one", 1)
            offset = page.get("offset") or parse_qs(urlsplit(str(page["next"])).query).get("offset", [""])[0]
            if not isinstance(offset, str) or not offset:
                raise self.error("GET", path, 200, None, "the answer has a next page but no offset to ask for it", 1)
            if offset in offsets:
                raise self.error("GET", path, 200, None, f"the pages come back to offset {offset[:40]!r}", 1)
            offsets.add(offset)
            params = {**params, "offset": offset}


def _page_problem(page: Json) -> str | None:
    """What makes an answer no page of Kong entities (`{"data": [{"id": ..., "tags": [...]}, ...]}`)."""
    if not isinstance(page, dict):
        return "not an object"
    items = page.get("data")
    if not isinstance(items, list):
        return "its data is no list"
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            return "an entity without an id"
        if not isinstance(item.get("tags") or [], list):
            return "an entity whose tags are no list"
    return None
