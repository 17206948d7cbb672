"""Findings of the checks and validators that were rewritten for speed (one pass over routes, remembered
values, a regex fast path for urls): each still reports at the same place with the same sentence."""

from __future__ import annotations

import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gatewayctl.catalog.load import LoadedCatalog, load_catalog
from gatewayctl.catalog.types import _url
from gatewayctl.diagnostics import CatalogInvalid
from gatewayctl.render.kong import _split_url


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text("format: 1\nname: demo\n" + textwrap.dedent(body))
    return path


def errors(tmp_path: Path, body: str) -> list[str]:
    path = write(tmp_path, body)
    with pytest.raises(CatalogInvalid) as exc:
        load_catalog(path)
    return [str(d).replace(str(path), "catalog.yaml") for d in exc.value.errors]


def load(tmp_path: Path, body: str) -> LoadedCatalog:
    return load_catalog(write(tmp_path, body))


def test_kong_route_name_made_twice_by_two_services(tmp_path: Path) -> None:
    # a + "b-c" and "a-b" + c both make the Kong route a-b-c; within one service the same name is a duplicate.
    body = """\
    services:
      - name: a
        url: http://a.default.svc:80
        routes:
          - {name: b-c, paths: [/one]}
          - {name: b-c, paths: [/two]}
      - name: a-b
        url: http://ab.default.svc:80
        routes:
          - {name: c, paths: [/three]}
    """
    assert errors(tmp_path, body) == [
        "catalog.yaml:8:16: services[0].routes[1].name: duplicate route name 'b-c' (first defined at "
        "services[0].routes[0])",
        "catalog.yaml:12:16: services[1].routes[0].name: Kong route name 'a-b-c' (<service>-<route>) is also "
        "produced by services[0].routes[0]",
    ]


def test_route_conflicts_are_across_services_only_and_once_per_route(tmp_path: Path) -> None:
    body = """\
    services:
      - name: a
        url: http://a.default.svc:80
        routes:
          - {name: one, paths: [/x], methods: [GET, POST]}
          - {name: two, paths: [/x], methods: [GET]}
      - name: b
        url: http://b.default.svc:80
        routes:
          - {name: three, paths: [/x], methods: [POST, GET]}
    """
    assert errors(tmp_path, body) == [
        "catalog.yaml:12:9: services[1].routes[0]: matches the same requests as services[0].routes[0] (a-one): "
        "host *, method POST, path /x"
    ]


def test_rate_limit_periods_must_grow(tmp_path: Path) -> None:
    body = """\
    services:
      - name: a
        url: http://a.default.svc:80
        routes: [{name: r, paths: [/a]}]
        rate_limit: {second: 100, hour: 50}
    """
    assert errors(tmp_path, body) == [
        "catalog.yaml:7:17: services[0].rate_limit: a longer period must allow at least as many requests as a "
        "shorter one"
    ]


def test_auth_options_without_the_method_warn(tmp_path: Path) -> None:
    body = """\
    services:
      - name: a
        url: http://a.default.svc:80
        routes: [{name: r, paths: [/a]}]
        key_auth: {key_names: [apikey]}
    """
    warnings = [d.message for d in load(tmp_path, body).warnings]
    assert "key_auth options have no effect unless auth lists key-auth" in warnings


def test_a_remembered_value_is_rejected_every_time(tmp_path: Path) -> None:
    """Accepted values are remembered; a rejected one must be reported at each place it appears."""
    body = """\
    services:
      - name: a
        url: http://a.default.svc:80
        routes:
          - {name: r, paths: [/a], methods: [get]}
          - {name: s, paths: [/b], methods: [GET, get]}
    """
    assert errors(tmp_path, body) == [
        "catalog.yaml:7:42: services[0].routes[0].methods[0]: HTTP methods are upper case letters; did you mean 'GET'? "
        "(got 'get')",
        "catalog.yaml:8:47: services[0].routes[1].methods[1]: HTTP methods are upper case letters; did you mean 'GET'? "
        "(got 'get')",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://API.example.com:8080/v1",
        "https://h",
        "grpc://h:0",
        "http://h:65535/a%20b",
        "http://h:65536",
        "http://h:x",
        "http://[::1]:80/p",
        "http://user@h/p?q=1",
        "ftp://h",
        "http://:80",
    ],
)
def test_url_fast_path_agrees_with_urlsplit(url: str) -> None:
    def slow() -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "grpc", "grpcs", "tcp", "tls") or not parts.hostname:
            raise ValueError("not absolute")
        if parts.port == 0:  # raises on a bad port; port 0 is no port to connect to
            raise ValueError("port 0")
        return url

    try:
        expected: str | None = slow()
    except ValueError:
        expected = None
    try:
        got: str | None = _url(url)
    except ValueError:
        got = None
    assert got == expected
    if expected is not None:
        parts = urlsplit(url)
        assert _split_url(url) == (parts.scheme, parts.hostname, parts.port, parts.path)
