"""The Kuma API emulator answers as Kuma 2.14.3 does (status codes, error bodies, computed labels, value
shapes, paging), and the Kuma client reads it: paging by `next`, label filters, Bearer token, error text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from emulators.kuma import KumaEmulator, KumaState, running

from gatewayctl.apply.kuma_universal import write
from gatewayctl.clients.http import Endpoint, TlsOptions
from gatewayctl.clients.kuma_api import KumaApi, KumaError, kuma_endpoint
from gatewayctl.clients.retry import RetryPolicy
from gatewayctl.plan.kuma import KumaChange

MESH = {"type": "Mesh", "name": "m1"}


def retry(name: str, mesh: str = "m1", **labels: str) -> dict[str, Any]:
    return {
        "type": "MeshRetry",
        "mesh": mesh,
        "name": name,
        "labels": labels,
        "spec": {
            "targetRef": {"kind": "Mesh"},
            "to": [{"targetRef": {"kind": "Mesh"}, "default": {"tcp": {"maxConnectAttempt": 2}}}],
        },
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


def test_writes_answer_json_with_201_on_create_and_200_on_update_and_delete(kuma: KumaEmulator) -> None:
    """v2.14.3 pkg/api-server/resource_endpoints.go: createResource WriteHeaderAndJson(201,
    CreateOrUpdateSuccessResponse, "application/json"), updateResource the same with 200, deleteResource 200
    with DeleteSuccessResponse{}; api-server/types/resources.go: `warnings` omitempty, so `{}` without any. The
    Mesh (PUT /meshes/{name}) is written by the same endpoints. gatewayctl's client takes exactly these."""
    with httpx.Client(base_url=kuma.url) as http, KumaApi(Endpoint(kuma.url)) as client:
        for path, body in (("/meshes/m1", MESH), ("/meshes/m1/meshretries/r1", retry("r1"))):
            for status in (201, 200):
                answer = http.put(path, json=body)
                assert (answer.status_code, answer.headers["content-type"], answer.json()) == (
                    status,
                    "application/json",
                    {},
                )
                assert client.written(answer, path) == []
        for path in ("/meshes/m1/meshretries/r1", "/meshes/m1"):
            answer = http.delete(path)
            assert (answer.status_code, answer.headers["content-type"], answer.json()) == (200, "application/json", {})
            assert client.written(answer, path) == []
        answer = http.put("/meshes/aa.a", json={"type": "Mesh", "name": "aa.a"})
        assert client.written(answer, "/meshes/aa.a")[0].startswith("Invalid Mesh resource name: 'aa.a'.")


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (200, "text/html", b"<html><head><title>Welcome</title></head></html>"),
        (201, "application/json", b""),
        (200, "application/json", b"[]"),
        (200, "application/json", b'{"id": "x"}'),
        (200, "application/json", b'{"warnings": "old"}'),
        (201, "text/plain", b"{}"),
        (200, "", b"{}"),
    ],
)
def test_a_write_answered_otherwise_is_not_known_to_be_done(status: int, content_type: str, body: bytes) -> None:
    """A 200/201 that is not Kuma's answer to a write (a proxy's page, an empty body, other JSON) is the API's
    error naming the call: the write may not have been made."""
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.Response(status, content=body, headers=headers, request=httpx.Request("PUT", "http://x/p"))
    with KumaApi(Endpoint("http://127.0.0.1:1")) as client, pytest.raises(KumaError) as caught:
        client.written(response, "/meshes/m1")
    assert caught.value.status == status
    assert "PUT /meshes/m1" in str(caught.value) and "not known to be done" in str(caught.value)


def test_a_delete_answered_200_by_a_proxy_is_not_counted_done(kuma: KumaEmulator) -> None:
    """DELETE answers 200 `{}` (deleteResource, DeleteSuccessResponse{}): a proxy's 200 page is an error
    naming the call, and the policy is still there; a 404 (already gone) still counts as done."""
    kuma.state.seed(MESH)
    kuma.state.seed(retry("r1"))
    server = {"types": {"MeshRetry": {"path": "meshretries"}}}
    change = KumaChange("delete", "MeshRetry", "r1", "m1", None, retry("r1"))
    kuma.state.fail(method="DELETE", path="/meshes/m1/meshretries/r1", raw=b"<html>OK</html>", content_type="text/html")
    with KumaApi(Endpoint(kuma.url)) as client:
        with pytest.raises(KumaError, match="DELETE /meshes/m1/meshretries/r1"):
            write(client, server, change)
        assert any(o["name"] == "r1" for o in kuma.state.objects("MeshRetry", "m1"))
        assert write(client, server, change) == []  # the real answer
        assert write(client, server, change) == []  # 404: already gone
    assert not [o for o in kuma.state.objects("MeshRetry", "m1") if o["name"] == "r1"]


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
        # the cross-mesh list is a GET route only: go-restful answers other methods 405 (server.go)
        assert (http.put("/meshretries", json={}).status_code, http.get("/meshretries/r1").status_code) == (405, 404)
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
                "default": {"backends": [{"type": "Zipkin", "zipkin": {"url": "http://zipkin:9411/api/v2/spans"}}]},
            },
        }
        answer = http.put("/meshes/m1/meshtraces/tr", json=trace)
        assert answer.status_code == 201
        zipkin = http.get("/meshes/m1/meshtraces/tr").json()["spec"]["default"]["backends"][0]["zipkin"]
        assert zipkin == {
            "url": "http://zipkin:9411/api/v2/spans",
            "apiVersion": "httpJson",
            "sharedSpanContext": True,
            "traceId128bit": False,
        }


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


def test_an_empty_list_answers_an_empty_items_array_never_null(kuma: KumaEmulator) -> None:
    """Kuma 2.14.3 pkg/core/resources/model/rest/converter.go `From.ResourceList` makes `items` with
    make([]Resource, len(...)), so an empty list is `"items": []`, and list.go has no omitempty on it."""
    kuma.state.seed(MESH)
    http = httpx.Client(base_url=kuma.url)
    for path in ("/meshes/m1/meshtraces", "/meshtraces", "/meshes/m1/meshretries?filter[labels.a]=b&offset=5"):
        answer = http.get(path)
        assert answer.status_code == 200
        assert answer.json() == {"total": 0, "items": [], "next": None}


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
    assert caught.value.rejected
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


def _policy(kind: str, name: str, default: dict[str, Any], section: str = "to") -> dict[str, Any]:
    item = {"targetRef": {"kind": "Mesh"}, "default": default}
    return {"type": kind, "mesh": "m1", "name": name, "spec": {"targetRef": {"kind": "Mesh"}, section: [item]}}


def _go_refusal(kind: str, text: str, struct: str, field: str, go_type: str) -> dict[str, Any]:
    detail = (
        f"invalid {kind} object: "
        f'"json: cannot unmarshal number {text} into Go struct field {struct}.{field} of type {go_type}"'
    )
    return {"type": "/std-errors", "status": 400, "title": "Bad Request", "detail": detail, "details": detail}


HEALTH = {"interval": "10s", "timeout": "2s", "unhealthyThreshold": 3}


@pytest.mark.parametrize(
    ("path", "kind", "default", "fitting", "refusal"),
    [
        (
            "meshretries",
            "MeshRetry",
            {"http": {"numRetries": -2}, "tcp": {"maxConnectAttempt": -1}},
            {"http": {"numRetries": 2**31 - 1}, "tcp": {"maxConnectAttempt": 2**31 - 1}},
            ("-2", "HTTP", "spec.to.default.http.numRetries", "uint32"),  # keys sorted: http before tcp
        ),
        (
            "meshretries",
            "MeshRetry",
            {"tcp": {"maxConnectAttempt": -1}},
            {"tcp": {"maxConnectAttempt": 1}},
            ("-1", "TCP", "spec.to.default.tcp.maxConnectAttempt", "uint32"),
        ),
        (
            "meshcircuitbreakers",
            "MeshCircuitBreaker",
            {"outlierDetection": {"detectors": {"totalFailures": {"consecutive": -(2**31)}}}},
            {"outlierDetection": {"detectors": {"totalFailures": {"consecutive": 2**31 - 1}}}},
            (
                str(-(2**31)),
                "DetectorTotalFailures",
                "spec.to.default.outlierDetection.detectors.totalFailures.consecutive",
                "uint32",
            ),
        ),
        (
            "meshratelimits",
            "MeshRateLimit",
            {"local": {"http": {"requestRate": {"num": -5, "interval": "1s"}}}},
            {"local": {"http": {"requestRate": {"num": 2**31 - 1, "interval": "1s"}}}},
            ("-5", "Rate", "spec.to.default.local.http.requestRate.num", "uint32"),
        ),
    ],
)
def test_a_number_its_go_field_cannot_hold_is_refused_as_kuma_decodes_it(
    kuma: KumaEmulator,
    path: str,
    kind: str,
    default: dict[str, Any],
    fitting: dict[str, Any],
    refusal: tuple[str, str, str, str],
) -> None:
    """pkg/core/resources/model/rest/unmarshaller.go (v2.14.3) Unmarshal: the schema (`format: int32`) passes
    a negative number, then json.Unmarshal into the policy's Go struct refuses what its uint32 field cannot
    hold: InvalidResourceError, which pkg/core/rest/errors/error_handler.go answers 400 "Bad Request" with the
    error as detail (as put_dataplanes_08.golden.json shows for another type error). What the type holds is
    taken, up to the int32 the schema allows."""
    kuma.state.seed(MESH)
    with httpx.Client(base_url=kuma.url) as http:
        answer = http.put(f"/meshes/m1/{path}/p", json=_policy(kind, "p", default))
        assert (answer.status_code, answer.json()) == (400, _go_refusal(kind, *refusal))
        assert not [o for o in kuma.state.objects(kind, "m1") if o["name"] == "p"]
        assert http.put(f"/meshes/m1/{path}/p", json=_policy(kind, "p", fitting)).status_code == 201


@pytest.mark.parametrize(
    ("path", "kind", "default", "field"),
    [
        ("meshretries", "MeshRetry", {"http": {"numRetries": 2**31}}, "spec.to[0].default.http.numRetries"),
        (
            "meshcircuitbreakers",
            "MeshCircuitBreaker",
            {"outlierDetection": {"detectors": {"totalFailures": {"consecutive": 2**32 - 1}}}},
            "spec.to[0].default.outlierDetection.detectors.totalFailures.consecutive",
        ),
        (
            "meshratelimits",
            "MeshRateLimit",
            {"local": {"http": {"requestRate": {"num": 2**31, "interval": "1s"}}}},
            "spec.to[0].default.local.http.requestRate.num",
        ),
        (
            "meshhealthchecks",
            "MeshHealthCheck",
            {**HEALTH, "healthyThreshold": 2**31, "http": {"path": "/"}},
            "spec.to[0].default.healthyThreshold",
        ),
        (
            "meshhealthchecks",
            "MeshHealthCheck",
            {**HEALTH, "http": {"expectedStatuses": [200, -(2**31) - 1]}},
            "spec.to[0].default.http.expectedStatuses[1]",
        ),
    ],
)
def test_a_number_beyond_int32_fails_the_schema_even_where_go_holds_a_uint32(
    kuma: KumaEmulator, path: str, kind: str, default: dict[str, Any], field: str
) -> None:
    """kube-openapi aa012df4f4af (Kuma 2.14.3's go.mod), pkg/validation/validate/schema.go numberValidator
    passes `format: int32` on (kube-openapi 1d94e88), and validator.go numberValidator.Validate checks
    IsValueValidAgainstRange (values.go: swag.ConvertInt32 of the number): a number outside the int32 range is
    refused by the schema, even in a uint32 Go field. The error's first word is no `spec.` path, so
    unmarshaller.go toValidationError files it under field ""."""
    kuma.state.seed(MESH)
    with httpx.Client(base_url=kuma.url) as http:
        answer = http.put(f"/meshes/m1/{path}/p", json=_policy(kind, "p", default))
        assert (answer.status_code, answer.json()["title"], answer.json()["invalid_parameters"]) == (
            400,
            "Could not process a resource",
            [{"field": "", "reason": f"Checked value must be of type integer with format int32 in {field}"}],
        )


def test_a_number_no_float64_integer_or_out_of_the_schemas_bounds_fails_the_schema(kuma: KumaEmulator) -> None:
    """kube-openapi typeValidator (format int32, data a float64 that swag's IsFloat64AJSONInteger refuses: a
    fraction or beyond 2^53 - 1) and numberValidator (the MeshLoadBalancingStrategy rest.yaml bounds), both
    before the Go decoding: 400 "Could not process a resource" with the schema's reasons."""
    kuma.state.seed(MESH)
    with httpx.Client(base_url=kuma.url) as http:
        retry_body = _policy("MeshRetry", "r", {"http": {"numRetries": 2**53}, "tcp": {"maxConnectAttempt": 1.5}})
        answer = http.put("/meshes/m1/meshretries/r", json=retry_body).json()
        assert (answer["title"], answer["invalid_parameters"]) == (
            "Could not process a resource",
            [
                {"field": "spec.to[0].default.http.numRetries", "reason": 'in body must be of type int32: "float64"'},
                {
                    "field": "",
                    "reason": "Checked value must be of type integer with format int32 in "
                    "spec.to[0].default.http.numRetries",
                },
                {
                    "field": "spec.to[0].default.tcp.maxConnectAttempt",
                    "reason": 'in body must be of type int32: "float64"',
                },
                {
                    "field": "",
                    "reason": "Checked value must be of type integer with format int32 in "
                    "spec.to[0].default.tcp.maxConnectAttempt",
                },
            ],
        )
        balancer = {"loadBalancer": {"type": "Maglev", "maglev": {"tableSize": 5000012}}}
        answer = http.put(
            "/meshes/m1/meshloadbalancingstrategies/l", json=_policy("MeshLoadBalancingStrategy", "l", balancer)
        )
        assert answer.json()["invalid_parameters"] == [
            {
                "field": "spec.to[0].default.loadBalancer.maglev.tableSize",
                "reason": "in body should be less than or equal to 5000011",
            }
        ]


# ---------------------------------------------------------------------- audited against kumahq/kuma v2.14.3
# (pkg/api-server/resource_endpoints.go and its golden files, pkg/api-server/testdata/resources/crud/)


def test_secrets_are_provided_by_a_zone_and_labelled_as_its_own() -> None:
    """Secret and GlobalSecret are GlobalToZones | ProvidedByZone (pkg/core/resources/apis/system/
    zz_generated.resources.go, global_secret.go): a zone labels them (put_globalsecret_01.golden.json) and a
    federated zone still takes them; the GlobalSecret's WsPath is `globalsecrets`, `global-secrets` its
    alternative path (server.go serves both, /_resources lists the first)."""
    secret = {"type": "GlobalSecret", "name": "sec-1", "data": "dGVzdAo="}
    with running(KumaState()) as kuma, httpx.Client(base_url=kuma.url) as http:
        assert http.put("/global-secrets/sec-1", json=secret).status_code == 201
        got = http.get("/globalsecrets/sec-1").json()
        assert got["labels"] == {"kuma.io/env": "universal", "kuma.io/origin": "zone", "kuma.io/zone": "default"}
        assert "kri" not in got and got["data"] == "dGVzdAo="
        described = {r["name"]: r for r in http.get("/_resources").json()["resources"]}
        assert described["GlobalSecret"]["path"] == "globalsecrets"
        assert described["Zone"]["includeInFederation"] is False  # ProvidedByGlobal | ProvidedByZone only
        assert described["MeshProxyPatch"]["pluralDisplayName"] == "Mesh Proxy Patches"
    with running(KumaState(federated=True)) as kuma, httpx.Client(base_url=kuma.url) as http:
        assert http.put("/global-secrets/sec-1", json=secret).status_code == 201
        assert http.put("/meshes/m1", json=MESH).status_code == 405  # a Mesh comes from the global
    with running(KumaState(mode="global")) as kuma, httpx.Client(base_url=kuma.url) as http:
        assert http.put("/global-secrets/sec-1", json=secret).status_code == 201
        assert "labels" not in http.get("/global-secrets/sec-1").json()  # compute.go labels only on a zone


def test_a_policy_is_checked_against_its_schema_before_the_request() -> None:
    """rest.JSON.Unmarshal validates a policy against its rest.yaml schema (`required: [type, name, spec]`,
    `type` an enum of one, `mesh` defaulting to "default") before validateResourceRequest: a wrong type is
    the schema's error at field "" (put_mtp_01.golden.json), and a body without `mesh` is in mesh default
    (put_mtp_00.request.json gets past it). A Mesh has no schema: its wrong type is the request's error."""
    with running(KumaState()) as kuma, httpx.Client(base_url=kuma.url) as http:
        wrong = {**retry("r1", mesh="default"), "type": "MeshTimeout"}
        assert http.put("/meshes/default/meshretries/r1", json=wrong).json()["invalid_parameters"] == [
            {"field": "", "reason": "type in body should be one of [MeshRetry]"}
        ]
        no_spec = {k: v for k, v in retry("r1", mesh="default").items() if k != "spec"}
        assert http.put("/meshes/default/meshretries/r1", json=no_spec).json()["invalid_parameters"] == [
            {"field": "", "reason": "spec in body is required"}
        ]
        meshless = {k: v for k, v in retry("r1").items() if k != "mesh"}
        assert http.put("/meshes/default/meshretries/r1", json=meshless).status_code == 201
        assert http.get("/meshes/default/meshretries/r1").json()["mesh"] == "default"
        http.put("/meshes/m1", json=MESH)
        assert http.put("/meshes/m1/meshretries/r1", json=meshless).json()["invalid_parameters"] == [
            {"field": "mesh", "reason": "mesh from the URL has to be the same as in body"}
        ]
        mesh_typed = http.put("/meshes/m2", json={"type": "Meshes", "name": "m2"}).json()
        assert mesh_typed["invalid_parameters"] == [
            {"field": "type", "reason": "type from the URL has to be the same as in body"}
        ]
        broken = http.put("/meshes/m1/meshretries/r1", content=b"{,}", headers={"Content-Type": "application/json"})
        assert broken.status_code == 400 and broken.json()["title"] == "Bad Request"
        assert broken.json()["detail"].startswith("invalid MeshRetry object: ")


def test_names_and_label_keys_are_validated_as_kuma_does() -> None:
    """core_mesh.ValidateMeta (meta_validator.go) checks the body's name as an RFC 1123 subdomain and its mesh
    against the old character set, after the URL checks (put_dataplanes_01/06.golden.json); label keys are
    qualified names (put_mtp_02.golden.json); a federated zone wants room for its zone prefix
    (doesNameLengthFitsGlobal)."""
    with running(KumaState()) as kuma, httpx.Client(base_url=kuma.url) as http:
        http.put("/meshes/m1", json=MESH)
        bad = http.put("/meshes/m1/meshretries/r1", json=retry("r1$", mesh="m$1")).json()["invalid_parameters"]
        assert bad == [
            {"field": "name", "reason": "name from the URL has to be the same as in body"},
            {"field": "mesh", "reason": "mesh from the URL has to be the same as in body"},
            {
                "field": "name",
                "reason": "invalid characters. A lowercase RFC 1123 subdomain must consist of lower case "
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            },
            {
                "field": "mesh",
                "reason": "invalid characters. Valid characters are numbers, lowercase latin letters and '-', '_', "
                "'.' symbols.",
            },
        ]
        dotted = http.put("/meshes/m1/meshretries/a..b", json=retry("a..b")).json()["invalid_parameters"]
        assert [p["field"] for p in dotted] == ["name"]  # empty label between the dots
        long_name = "a" * 254
        assert http.put(f"/meshes/m1/meshretries/{long_name}", json=retry(long_name)).json()["invalid_parameters"] == [
            {"field": "name", "reason": "value length must less or equal 253"}
        ]
        keys = http.put("/meshes/m1/meshretries/r2", json=retry("r2", **{"foo/bar/baz": "x", "": "y"})).json()
        reasons = [(p["field"], p["reason"].split(" (e.g.")[0]) for p in keys["invalid_parameters"]]
        assert reasons == [
            ('labels[""]', "name part must be non-empty"),
            (
                'labels[""]',
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                "an alphanumeric character",
            ),
            (
                'labels["foo/bar/baz"]',
                "a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                "end with an alphanumeric character",
            ),
        ]
    with running(KumaState(federated=True, zone="zone-1")) as kuma, httpx.Client(base_url=kuma.url) as http:
        kuma.state.seed(MESH)
        name = "r" * 246  # "zone-1." + name is 253 long: not shorter than 253
        body = retry(name, **{"kuma.io/origin": "zone"})
        assert http.put(f"/meshes/m1/meshretries/{name}", json=body).json()["invalid_parameters"] == [
            {"field": "name", "reason": "the length of the name must be shorter"}
        ]
        assert http.put(f"/meshes/m1/meshretries/{name[1:]}", json={**body, "name": name[1:]}).status_code == 201


def test_a_delete_refused_for_its_origin_names_the_label_itself() -> None:
    """deleteResource answers validateOriginForWrite as it is, at `["kuma.io/origin"]` (not under `labels`
    as a PUT's validateLabels puts it)."""
    with running(KumaState(federated=True)) as kuma, httpx.Client(base_url=kuma.url) as http:
        kuma.state.seed(MESH)
        kuma.state.seed(retry("from-global", **{"kuma.io/origin": "global"}))  # synced down from the global
        refused = http.delete("/meshes/m1/meshretries/from-global")
        assert refused.status_code == 400 and refused.json()["title"] == "Could not delete a resource"
        assert refused.json()["invalid_parameters"] == [
            {"field": '["kuma.io/origin"]', "reason": "the origin label must be set to 'zone'"}
        ]


def test_list_parameters_are_read_as_go_restful_and_the_pagination_store_read_them(kuma: KumaEmulator) -> None:
    """pagination.go: `size` is the first value, read by strconv.Atoi (a sign is fine); filtering.go then
    checks the filters (the last value of each), then the Mesh is looked up; the offset is read by the
    pagination store as it lists (pagination_store.go: a negative one is refused); `next` keeps every
    other parameter (url.Values.Encode)."""
    kuma.state.seed(MESH)
    for n in range(3):
        kuma.state.seed(retry(f"r{n}", team="a"))
    with httpx.Client(base_url=kuma.url) as http:
        page = http.get("/meshes/m1/meshretries?size=%2B1&size=1000&filter[labels.team]=b&filter[labels.team]=a")
        assert [i["name"] for i in page.json()["items"]] == ["r0"] and page.json()["total"] == 3
        assert "filter%5Blabels.team%5D=b&filter%5Blabels.team%5D=a&offset=1&size=%2B1" in page.json()["next"]
        negative = http.get("/meshes/m1/meshretries?offset=-1").json()
        assert negative["detail"] == "invalid: invalid offset: must be non-negative"
        filtered = http.get("/meshes/nope/meshretries?filter[name]=x").json()  # the filter before the Mesh
        assert filtered["invalid_parameters"] == [
            {"field": "/meshes/{mesh}/meshretries.filter[name]", "reason": "filters are only supported on labels"}
        ]
        assert http.get("/meshes/nope/meshretries?offset=x").json()["title"] == "Failed to retrieve Mesh"


def test_a_put_warns_of_what_kuma_deprecates(kuma: KumaEmulator) -> None:
    """core_model.Deprecations as the PUT's `warnings`: a Mesh name that is no DNS-1035 label
    (put_meshes_04.golden.json, pkg/core/resources/apis/mesh/deprecated.go) and a policy's top-level
    targetRef kinds replaced by Dataplane (jsonpatch/validators TopLevelTargetRefDeprecations)."""
    with httpx.Client(base_url=kuma.url) as http:
        answer = http.put("/meshes/aa.a", json={"type": "Mesh", "name": "aa.a"})
        assert (answer.status_code, answer.json()) == (
            201,
            {
                "warnings": [
                    "Invalid Mesh resource name: 'aa.a'. It does not conform to the DNS format (RFC 1035). This is "
                    "deprecated. Errors: a DNS-1035 label must consist of lower case alphanumeric characters or "
                    "'-', start with an alphabetic character, and end with an alphanumeric character (e.g. "
                    "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
                ]
            },
        )
        http.put("/meshes/m1", json=MESH)
        mtp = {
            "type": "MeshTrafficPermission",
            "mesh": "m1",
            "name": "p",
            "spec": {
                "targetRef": {"kind": "MeshSubset", "tags": {"app": "x"}},
                "from": [{"targetRef": {"kind": "MeshService", "name": "y"}, "default": {"action": "Allow"}}],
            },
        }
        assert http.put("/meshes/m1/meshtrafficpermissions/p", json=mtp).json()["warnings"] == [
            "'from' field is deprecated and will be removed in 3.0, use 'rules' with MeshIdentity (spiffeId) instead",
            "MeshService value for 'from[].targetRef.kind' is deprecated, use MeshSubset with 'kuma.io/service' "
            "instead",
            "MeshSubset value for 'targetRef.kind' is deprecated, use Dataplane with labels instead",
        ]


def test_the_config_and_times_read_as_kuma_writes_them() -> None:
    """GET /config is the whole kuma-cp config: both multizone sections, the zone named "default" unless set
    (pkg/config/multizone/multicluster.go DefaultZoneConfig); times are Go's RFC 3339 with the fraction's
    trailing zeros left out."""
    with running(KumaState(mode="global")) as kuma, httpx.Client(base_url=kuma.url) as http:
        multizone = http.get("/config").json()["multizone"]
        assert multizone["zone"]["name"] == "default" and "global" in multizone
        assert "globalAddress" not in multizone["zone"]
        created = http.get("/meshes/default").json()["creationTime"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z", created)


def test_every_schema_default_of_the_policies_gatewayctl_writes_is_filled_in(kuma: KumaEmulator) -> None:
    """defaulting.Default on the rest.yaml schema: MeshAccessLog's openTelemetry `endpoint` defaults to ""
    (pkg/plugins/policies/meshaccesslog/api/v1alpha1/rest.yaml) in to[], from[] and rules[] alike."""
    with httpx.Client(base_url=kuma.url) as http:
        http.put("/meshes/m1", json=MESH)
        backend = {"type": "OpenTelemetry", "openTelemetry": {"backendRef": {"kind": "MeshOpenTelemetryBackend"}}}
        log = {
            "type": "MeshAccessLog",
            "mesh": "m1",
            "name": "log",
            "spec": {"targetRef": {"kind": "Mesh"}, "rules": [{"default": {"backends": [backend]}}]},
        }
        assert http.put("/meshes/m1/meshaccesslogs/log", json=log).status_code == 201
        got = http.get("/meshes/m1/meshaccesslogs/log").json()["spec"]["rules"][0]["default"]["backends"][0]
        assert got["openTelemetry"]["endpoint"] == ""


def test_without_a_token_secrets_are_refused_and_only_a_bad_bearer_is_unauthenticated() -> None:
    """tokens/authenticator.go validates only an `Authorization: Bearer ...` header (401 "Invalid
    authentication data" for a bad one); without one the user is mesh-system:anonymous, whom
    admin_resource_access.go refuses Secrets and GlobalSecrets (403 "Access Denied"), after the request checks."""
    secret = {"type": "GlobalSecret", "name": "sec-1", "data": "dGVzdAo="}
    with running(KumaState(token="tok")) as kuma, httpx.Client(base_url=kuma.url) as http:
        refused = http.put("/global-secrets/sec-1", json=secret)
        assert refused.status_code == 403 and refused.json()["detail"] == (
            'user "mesh-system:anonymous/mesh-system:unauthenticated" cannot access the resource of type "GlobalSecret"'
        )
        assert http.put("/global-secrets/sec-2", json=secret).json()["title"] == "Could not process a resource"
        assert http.get("/global-secrets").status_code == 403
        assert http.get("/meshes", headers={"Authorization": "Basic eDp5"}).status_code == 200  # anonymous
        assert http.get("/meshes", headers={"Authorization": "Bearer nope"}).status_code == 401
        admin = {"Authorization": "Bearer tok"}
        assert http.put("/global-secrets/sec-1", json=secret, headers=admin).status_code == 201
        assert http.get("/global-secrets/sec-1", headers=admin).status_code == 200


def test_route_policies_keep_their_rules_when_decoded(kuma: KumaEmulator) -> None:
    """MeshHTTPRoute's to[] items are {targetRef, hostnames, rules} (meshhttproute.go To), not the
    {targetRef, default} of the other policies: decoding keeps them."""
    with httpx.Client(base_url=kuma.url) as http:
        http.put("/meshes/m1", json=MESH)
        rules = [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "default": {}}]
        route = {
            "type": "MeshHTTPRoute",
            "mesh": "m1",
            "name": "r",
            "spec": {
                "targetRef": {"kind": "Mesh"},
                "to": [{"targetRef": {"kind": "MeshService", "name": "s"}, "hostnames": ["a.b"], "rules": rules}],
            },
        }
        assert http.put("/meshes/m1/meshhttproutes/r", json=route).status_code == 201
        to = http.get("/meshes/m1/meshhttproutes/r").json()["spec"]["to"][0]
        assert to["hostnames"] == ["a.b"] and to["rules"] == rules


def test_a_mesh_is_validated_and_its_ca_kept_while_mtls_is_on(kuma: KumaEmulator) -> None:
    """MeshResource.Validate (pkg/core/resources/apis/mesh/mesh_validator.go) on decoding, then the mesh
    manager's ValidateCreate/ValidateUpdate (pkg/core/managers/apis/mesh/mesh_validator.go): an installed CA
    type, and no change of the enabled CA while mTLS is on."""

    def mesh(backend: str, kind: str = "builtin", expiration: str = "24h") -> dict[str, Any]:
        ca = {"name": backend, "type": kind, "dpCert": {"rotation": {"expiration": expiration}}}
        return {"type": "Mesh", "name": "m1", "mtls": {"enabledBackend": backend, "backends": [ca]}}

    with httpx.Client(base_url=kuma.url) as http:
        bad = http.put("/meshes/m1", json={**mesh("ca-1", expiration="1h30m"), "mtls": {"enabledBackend": "x"}})
        assert bad.json()["invalid_parameters"] == [
            {"field": "mtls.enabledBackend", "reason": "has to be set to one of the backends in the mesh"}
        ]
        rotation = http.put("/meshes/m1", json=mesh("ca-1", expiration="1h30m")).json()  # one unit only
        assert rotation["invalid_parameters"] == [
            {"field": "mtls.dpcert.rotation.expiration", "reason": "has to be a valid format"}
        ]
        vault = http.put("/meshes/m1", json=mesh("ca-1", kind="vault")).json()
        assert (vault["title"], vault["invalid_parameters"]) == (
            "Failed to create a resource",
            [{"field": "mtls.backends[0].type", "reason": "could not find installed plugin for this type"}],
        )
        assert http.put("/meshes/m1", json=mesh("ca-1")).status_code == 201
        changed = http.put("/meshes/m1", json=mesh("ca-2")).json()
        assert (changed["title"], changed["invalid_parameters"][0]["field"]) == (
            "Failed to update a resource",
            "mtls.enabledBackend",
        )
        assert http.put("/meshes/m1", json=mesh("ca-1", expiration="36h")).status_code == 200


def test_a_builtin_ca_keeps_its_root_in_two_secrets_of_the_mesh(kuma: KumaEmulator) -> None:
    """EnsureCAs on create and update of a Mesh (pkg/core/managers/apis/mesh/mesh_manager.go): the builtin CA
    manager (pkg/plugins/ca/builtin/manager.go) makes `<mesh>.ca-builtin-cert-<backend>` and `...-key-...`
    through the secret manager (no labels), owned by the Mesh and deleted with it."""
    with httpx.Client(base_url=kuma.url) as http:
        ca = {"name": "ca-1", "type": "builtin"}
        http.put(
            "/meshes/m1", json={"type": "Mesh", "name": "m1", "mtls": {"enabledBackend": "ca-1", "backends": [ca]}}
        )
        secrets = http.get("/meshes/m1/secrets").json()["items"]
        assert [(s["name"], "labels" in s) for s in secrets] == [
            ("dataplane-token-signing-key-m1-1", False),  # every new Mesh's (pkg/defaults/mesh/mesh.go)
            ("m1.ca-builtin-cert-ca-1", False),
            ("m1.ca-builtin-key-ca-1", False),
        ]
        assert http.delete("/meshes/m1").status_code == 200
        assert kuma.state.objects("Secret", "m1") == []
