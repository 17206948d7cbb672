"""The Kong Admin API over httpx: TLS options, the admin token, retries, a request-rate cap, paging.

The token comes from the environment (`GATEWAYCTL_KONG_ADMIN_TOKEN`) and is sent as `Kong-Admin-Token`;
it is never accepted on the command line (argv shows in `ps`) and never printed. Sending, retrying and
counting are shared with the Kuma client (`clients/http.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

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
        time."""
        params = {"size": str(PAGE_SIZE)}
        if tags:
            params["tags"] = ",".join(tags)  # a,b = entities carrying all of them
        while True:
            page: Json = self.get(path, params)
            if not isinstance(page, dict) or not isinstance(page.get("data") or [], list):
                detail = f"the answer is not a page of Kong entities: is {self.endpoint.display()} the right URL?"
                raise self.error("GET", path, 200, None, detail, 1)
            yield page.get("data") or []
            offset = page.get("offset")
            if not page.get("next") or not offset:
                return
            params = {**params, "offset": str(offset)}
