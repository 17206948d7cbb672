"""The Kuma API emulator answers as Kuma 2.14.3 does (status codes, error bodies, computed labels, value
shapes, paging), and the Kuma client reads it: paging by `next`, label filters, Bearer token, error text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from emulators.kuma import KumaEmulator, KumaState, running

from gatewayctl.clients.http import Endpoint, TlsOptions
from gatewayctl.clients.kuma_api import KumaApi, KumaError, kuma_endpoint
from gatewayctl.clients.retry import RetryPolicy

MESH = {"type": "Mesh", "name": "m1"}


def retry(name: str, mesh: str = "m1", **labels: str) -> dict[str, Any]:
    return {
        "type": "MeshRetry",
        "mesh": mesh,
        "name": name,
        "labels": labels,
        "spec": {"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": {"kind": "Mesh"}, "default": {"tcp": {}}}]},
    }


@pytest.fixture
def kuma() -> Iterator[KumaEmulator]:
    with running(KumaState(zone="zone-1")) as emulator:
        yield emulator


def test_put_creates_then_updates_and_the_control_plane_adds_its_labels(kuma: KumaEmulator) -> None:
    with httpx.Client(base_url=kuma.url) as http:
        assert (http.put("/meshes/m1", json=MESH).status_code, http.put("/meshes/m1", json=MESH).status_code) == (
            201,
            200,
        )
        answer = http.put("/meshes/m1/meshretries/r1", json=retry("r1", team="a"))
        assert (answer.status_code, answer.json()) == (201, {})
        got = http.get("/meshes/m1/meshretries/r1").json()
        assert got["labels"] == {
            "team": "a",
            "kuma.io/mesh": "m1",
            "kuma.io/origin": "zone",
            "kuma.io/zone": "zone-1",
            "kuma.io/env": "universal",
        }
        assert got["kri"] == "kri_mr_m1_zone-1__r1_" and got["creationTime"].endswith("Z")
        # the defaults every new Mesh gets (pkg/defaults/mesh/mesh.go)
        names = {i["name"] for i in http.get("/meshes/m1/meshretries").json()["items"]}
        assert names == {"r1", "mesh-retry-all-m1"}


def test_errors_have_kumas_body(kuma: KumaEmulator) -> None:
    with httpx.Client(base_url=kuma.url) as http:
        missing = http.put("/meshes/nope/meshretries/r1", json=retry("r1", mesh="nope"))
        assert missing.status_code == 404
        assert missing.json() == {
            "type": "/std-errors",
            "status": 404,
            "title": "Failed to retrieve Mesh",
            "detail": "Not found",
            "details": "Not found",
        }
        http.put("/meshes/m1", json=MESH)
        mismatch = http.put("/meshes/m1/meshretries/r2", json=retry("r1")).json()
        assert mismatch["status"] == 400 and mismatch["detail"] == "Resource is not valid"
        assert mismatch["invalid_parameters"] == [
            {"field": "name", "reason": "name from the URL has to be the same as in body"}
        ]
        bad_kind = retry("r3")
        bad_kind["spec"]["targetRef"] = {"kind": "MeshExternalService", "name": "x"}  # a kind, not for MeshRetry
        assert http.put("/meshes/m1/meshretries/r3", json=bad_kind).json()["invalid_parameters"] == [
            {"field": "spec.targetRef.kind", "reason": "value 'MeshExternalService' is not supported"}
        ]
        bad_kind["spec"]["targetRef"] = {"kind": "MeshGatewayRoute"}  # not a targetRef kind at all (schema enum)
        [problem] = http.put("/meshes/m1/meshretries/r3", json=bad_kind).json()["invalid_parameters"]
        assert problem["field"] == "spec.targetRef.kind" and problem["reason"].startswith("in body should be one of")
        assert http.get("/meshes/m1/meshretries/absent").json()["title"] == "Could not retrieve a resource"
        assert http.delete("/meshes/m1/meshretries/absent").status_code == 404
        assert http.get("/meshes/m1/nosuchthings").status_code == 404
        size = http.get("/meshes?size=2000").json()
        assert size["invalid_parameters"] == [
            {"field": "size", "reason": "invalid page size of 2000. Maximum page size is 1000"}
        ]


def test_values_come_back_as_kuma_prints_them(kuma: KumaEmulator) -> None:
    with httpx.Client(base_url=kuma.url) as http:
        mesh = {
            "type": "Mesh",
            "name": "m1",
            "labels": {"x": "y"},
            "mtls": {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin", "mode": "STRICT"}]},
            "unknownField": 1,
        }
        http.put("/meshes/m1", json=mesh)
        got = http.get("/meshes/m1").json()
        assert got["mtls"] == {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]}
        assert "unknownField" not in got
        timeout = {
            "type": "MeshTimeout",
            "mesh": "m1",
            "name": "t",
            "spec": {
                "targetRef": {"kind": "Mesh"},
                "to": [{"targetRef": {"kind": "Mesh"}, "default": {"connectionTimeout": "1m", "idleTimeout": "90m"}}],
            },
        }
        http.put("/meshes/m1/meshtimeouts/t", json=timeout)
        default = http.get("/meshes/m1/meshtimeouts/t").json()["spec"]["to"][0]["default"]
        assert default == {"connectionTimeout": "1m0s", "idleTimeout": "1h30m0s"}
        trace = {
            "type": "MeshTrace",
            "mesh": "m1",
            "name": "tr",
            "spec": {
                "targetRef": {"kind": "Mesh"},
                "default": {"backends": [{"type": "Zipkin", "zipkin": {"url": "u"}}]},
            },
        }
        answer = http.put("/meshes/m1/meshtraces/tr", json=trace)
        assert answer.status_code == 201
        zipkin = http.get("/meshes/m1/meshtraces/tr").json()["spec"]["default"]["backends"][0]["zipkin"]
        assert zipkin == {"url": "u", "apiVersion": "httpJson", "sharedSpanContext": True, "traceId128bit": False}


def test_deleting_a_mesh_deletes_what_is_in_it_unless_dataplanes_are_attached(kuma: KumaEmulator) -> None:
    with httpx.Client(base_url=kuma.url) as http:
        http.put("/meshes/m1", json=MESH)
        http.put("/meshes/m1/meshretries/r1", json=retry("r1"))
        kuma.state.seed({"type": "Dataplane", "mesh": "m1", "name": "dp-1"})
        refused = http.delete("/meshes/m1").json()
        assert refused["invalid_parameters"] == [
            {"field": "mesh", "reason": "unable to delete mesh, there are still some dataplanes attached"}
        ]
        del kuma.state.store[("Dataplane", "m1", "dp-1")]
        assert http.delete("/meshes/m1").json() == {}
        assert kuma.state.objects(mesh="m1") == []


def test_the_client_pages_by_next_and_filters_by_labels(kuma: KumaEmulator) -> None:
    kuma.state.seed(MESH)
    for i in range(2300):
        kuma.state.seed(retry(f"r{i:04}", owner="me" if i % 2 else "them"))
    with KumaApi(Endpoint(kuma.url), sleep=lambda _: None) as client:
        mine = list(client.list_all("/meshretries", {"owner": "me"}))
        assert len(mine) == 1150 and {r["labels"]["owner"] for r in mine} == {"me"}
        assert len({r["name"] for r in mine}) == 1150
    pages = [r for r in kuma.state.requests if r.path == "/meshretries"]
    assert len(pages) == 2 and all("size=1000" in r.query for r in pages)


def test_the_client_sends_the_token_as_a_bearer_and_reads_kuma_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAYCTL_KUMA_TOKEN", "tok-9")
    monkeypatch.setenv("GATEWAYCTL_KUMA_URL", "https://user:pw@kuma.test:5682/")
    endpoint = kuma_endpoint(None, TlsOptions())
    assert endpoint.token == "tok-9" and endpoint.display() == "https://kuma.test:5682"
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        body = {
            "type": "/std-errors",
            "status": 400,
            "title": "Could not process a resource",
            "detail": "Resource is not valid",
            "invalid_parameters": [{"field": "spec.to", "reason": "must not be defined"}],
        }
        return httpx.Response(400, json=body)

    client = KumaApi(endpoint, transport=httpx.MockTransport(handler), retry=RetryPolicy(), sleep=lambda _: None)
    with client, pytest.raises(KumaError) as caught:
        client.request("PUT", "/meshes/m/meshretries/r", json={})
    assert seen == ["Bearer tok-9"]  # a 400 is not retried
    assert caught.value.rejected and caught.value.invalid_parameters() == [("spec.to", "must not be defined")]
    assert "Could not process a resource: Resource is not valid (spec.to: must not be defined)" in str(caught.value)


def test_read_only_rules_follow_the_mode() -> None:
    with running(KumaState(mode="global")) as kuma, httpx.Client(base_url=kuma.url) as http:
        assert http.put("/meshes/m1", json=MESH).status_code == 201  # a global provides meshes and policies
        answer = http.put("/meshes/m1/dataplanes/dp", json={"type": "Dataplane", "mesh": "m1", "name": "dp"})
        assert answer.status_code == 405 and answer.json()["title"] == "Method not allowed"
        assert answer.json()["detail"].startswith("On global control plane you can not modify dataplane resources")
        zone_labelled = retry("r1", **{"kuma.io/origin": "zone"})
        assert http.put("/meshes/m1/meshretries/r1", json=zone_labelled).json()["invalid_parameters"] == [
            {"field": 'labels["kuma.io/origin"]', "reason": "the origin label must be set to 'global'"}
        ]
        assert http.put("/meshes/m1/meshretries/r1", json=retry("r1")).status_code == 201
        assert "kuma.io/origin" not in http.get("/meshes/m1/meshretries/r1").json()["labels"]
        assert {r["readOnly"] for r in http.get("/_resources").json()["resources"]} == {False}
    with running(KumaState(federated=True)) as kuma, httpx.Client(base_url=kuma.url) as http:
        kuma.state.seed(MESH)  # synced from the global control plane
        assert {r["readOnly"] for r in http.get("/_resources").json()["resources"]} == {True}
        unlabelled = http.put("/meshes/m1/meshretries/r1", json=retry("r1")).json()
        assert unlabelled["invalid_parameters"] == [
            {"field": 'labels["kuma.io/origin"]', "reason": "the origin label must be set to 'zone'"}
        ]
        assert http.put("/meshes/m1/meshretries/r1", json=retry("r1", **{"kuma.io/origin": "zone"})).status_code == 201
    with running(KumaState(read_only=True)) as kuma, httpx.Client(base_url=kuma.url) as http:
        answer = http.put("/meshes/m1", json=MESH)
        assert answer.status_code == 405 and "On zone control plane" in answer.json()["detail"]


def test_policy_specs_are_decoded_like_go_structs_and_enums_checked(kuma: KumaEmulator) -> None:
    with httpx.Client(base_url=kuma.url) as http:
        http.put("/meshes/m1", json=MESH)
        body = retry("r1")
        body["spec"]["unknownTop"] = 1
        body["spec"]["to"][0]["extra"] = True
        assert http.put("/meshes/m1/meshretries/r1", json=body).status_code == 201
        spec = http.get("/meshes/m1/meshretries/r1").json()["spec"]
        assert "unknownTop" not in spec and "extra" not in spec["to"][0]  # dropped, not refused
        mtp = {
            "type": "MeshTrafficPermission",
            "mesh": "m1",
            "name": "p",
            "spec": {
                "targetRef": {"kind": "Mesh"},
                "from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "allow"}}],
            },
        }
        refused = http.put("/meshes/m1/meshtrafficpermissions/p", json=mtp).json()
        assert refused["invalid_parameters"] == [
            {
                "field": "spec.from[0].default.action",
                "reason": "in body should be one of [Allow Deny AllowWithShadowDeny]",
            }
        ]
