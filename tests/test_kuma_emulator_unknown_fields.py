"""What the Kuma emulators do with fields the real servers do not know, at every depth of a spec.

Universal (kumahq/kuma v2.14.3 pkg/core/resources/model/rest/unmarshaller.go): a policy's schema does not
refuse unknown properties (no `additionalProperties: false`), and encoding/json into the policy's Go struct
drops them silently, at any depth; the Mesh goes through jsonpb with AllowUnknownFields
(pkg/util/proto/proto.go FromJSON), the same. Maps (targetRef labels and tags) and free-form values
(MeshAccessLog openTelemetry.body, a Mesh CA backend's `conf`) keep every key.

Kubernetes: server-side apply checks the applied object against the CRD's schema first
(structured-merge-diff typed/validate.go visitMapItems): a field the schema does not declare, at any depth, is
`field not declared in schema`, and the API server answers the plain error 500. Kuma's defaulting webhook
re-marshals a Mesh from its proto message, dropping what mesh.proto does not declare.
"""

from __future__ import annotations

import copy
import json
import textwrap
from typing import Any

import httpx
import pytest
from emulators.kubernetes import KubeState
from emulators.kubernetes import running as kube_running
from emulators.kuma import KumaState, running

SERVICE = {"kind": "MeshService", "name": "api"}
WORKLOAD = {"kind": "Dataplane", "labels": {"app": "api"}}
# valid specs reaching deep into each policy's Go structs
SPECS: dict[str, tuple[str, dict[str, Any]]] = {
    "MeshRetry": (
        "meshretries",
        {
            "targetRef": {"kind": "Mesh"},
            "to": [
                {
                    "targetRef": SERVICE,
                    "default": {
                        "http": {"numRetries": 3, "backOff": {"baseInterval": "25ms", "maxInterval": "250ms"}},
                        "tcp": {"maxConnectAttempt": 2},
                    },
                }
            ],
        },
    ),
    "MeshTimeout": (
        "meshtimeouts",
        {"targetRef": WORKLOAD, "rules": [{"default": {"idleTimeout": "1h", "http": {"requestTimeout": "15s"}}}]},
    ),
    "MeshCircuitBreaker": (
        "meshcircuitbreakers",
        {
            "targetRef": {"kind": "Mesh"},
            "to": [
                {
                    "targetRef": SERVICE,
                    "default": {
                        "connectionLimits": {"maxConnections": 10},
                        "outlierDetection": {"detectors": {"totalFailures": {"consecutive": 5}}},
                    },
                }
            ],
        },
    ),
    "MeshHealthCheck": (
        "meshhealthchecks",
        {
            "targetRef": {"kind": "Mesh"},
            "to": [
                {
                    "targetRef": SERVICE,
                    "default": {
                        "interval": "10s",
                        "timeout": "2s",
                        "unhealthyThreshold": 3,
                        "healthyThreshold": 1,
                        "http": {"path": "/health", "requestHeadersToAdd": {"add": [{"name": "x", "value": "1"}]}},
                    },
                }
            ],
        },
    ),
    "MeshLoadBalancingStrategy": (
        "meshloadbalancingstrategies",
        {
            "targetRef": {"kind": "Mesh"},
            "to": [
                {
                    "targetRef": SERVICE,
                    "default": {
                        "loadBalancer": {
                            "type": "RingHash",
                            "ringHash": {"hashPolicies": [{"type": "Header", "header": {"name": "x-user"}}]},
                        }
                    },
                }
            ],
        },
    ),
    "MeshRateLimit": (
        "meshratelimits",
        {
            "targetRef": WORKLOAD,
            "rules": [
                {
                    "default": {
                        "local": {
                            "http": {
                                "requestRate": {"num": 10, "interval": "1s"},
                                "onRateLimit": {"status": 429, "headers": {"add": [{"name": "x", "value": "y"}]}},
                            }
                        }
                    }
                }
            ],
        },
    ),
    "MeshTrace": (
        "meshtraces",
        {
            "targetRef": {"kind": "Mesh"},
            "default": {
                "backends": [{"type": "Zipkin", "zipkin": {"url": "http://zipkin:9411/api/v2/spans"}}],
                "tags": [{"name": "team", "header": {"name": "x-team", "default": "none"}}],
            },
        },
    ),
    "MeshMetric": (
        "meshmetrics",
        {
            "targetRef": {"kind": "Mesh"},
            "default": {
                "backends": [{"type": "Prometheus", "prometheus": {"port": 5670, "path": "/metrics"}}],
                "sidecar": {"profiles": {"appendProfiles": [{"name": "Basic"}]}},
            },
        },
    ),
    "MeshAccessLog": (
        "meshaccesslogs",
        {
            "targetRef": {"kind": "Mesh"},
            "rules": [
                {
                    "default": {
                        "backends": [
                            {
                                "type": "File",
                                "file": {
                                    "path": "/dev/stdout",
                                    "format": {"type": "Json", "json": [{"key": "a", "value": "%START_TIME%"}]},
                                },
                            }
                        ]
                    }
                }
            ],
        },
    ),
    "MeshTrafficPermission": (
        "meshtrafficpermissions",
        {
            "targetRef": WORKLOAD,
            "from": [{"targetRef": {"kind": "MeshSubset", "tags": {"app": "kong"}}, "default": {"action": "Allow"}}],
        },
    ),
}


MAPS = ("labels", "tags")  # map[string]string: a key there is no field (and its value must be a string)


def sprinkled(value: Any, mark: str = "zzUnknown") -> Any:
    """`value` with an unknown field added to every object in it but the maps."""
    if isinstance(value, list):
        return [sprinkled(item, mark) for item in value]
    if isinstance(value, dict):
        inner = {k: v if k in MAPS else sprinkled(v, mark) for k, v in value.items()}
        return {**inner, mark: {"deep": [1]}}
    return value


def has_mark(value: Any, mark: str = "zzUnknown") -> bool:
    if isinstance(value, list):
        return any(has_mark(item, mark) for item in value)
    if isinstance(value, dict):
        return mark in value or any(has_mark(v, mark) for v in value.values())
    return False


@pytest.fixture(scope="module")
def http() -> Any:
    with running(KumaState()) as kuma, httpx.Client(base_url=kuma.url) as client:
        assert client.put("/meshes/m1", json={"type": "Mesh", "name": "m1"}).status_code == 201
        yield client


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_unknown_fields_at_every_depth_of_a_policy_are_dropped_silently(http: httpx.Client, kind: str) -> None:
    path, spec = SPECS[kind]
    plain = {"type": kind, "mesh": "m1", "name": "plain", "spec": spec}
    first = http.put(f"/meshes/m1/{path}/plain", json=plain)
    assert first.status_code == 201
    noisy_spec = {k: sprinkled(v) for k, v in spec.items()}
    noisy_spec["zzUnknown"] = 1
    answer = http.put(f"/meshes/m1/{path}/noisy", json={**plain, "name": "noisy", "spec": noisy_spec})
    assert (answer.status_code, answer.json()) == (201, first.json())  # no error, no warning of its own
    stored = http.get(f"/meshes/m1/{path}/noisy").json()["spec"]
    assert not has_mark(stored)
    assert stored == http.get(f"/meshes/m1/{path}/plain").json()["spec"]  # nothing known was lost


def test_maps_and_free_form_values_keep_every_key(http: httpx.Client) -> None:
    """targetRef.tags and .labels are map[string]string; MeshAccessLog's openTelemetry.body is
    apiextensionsv1.JSON (x-kubernetes-preserve-unknown-fields): nothing there is unknown."""
    permission = copy.deepcopy(SPECS["MeshTrafficPermission"][1])
    permission["targetRef"]["labels"]["zzUnknown"] = "kept"
    permission["from"][0]["targetRef"]["tags"]["zzUnknown"] = "kept"
    body = {"type": "MeshTrafficPermission", "mesh": "m1", "name": "maps", "spec": permission}
    assert http.put("/meshes/m1/meshtrafficpermissions/maps", json=body).status_code == 201
    stored = http.get("/meshes/m1/meshtrafficpermissions/maps").json()["spec"]
    assert stored["targetRef"]["labels"] == {"app": "api", "zzUnknown": "kept"}
    assert stored["from"][0]["targetRef"]["tags"] == {"app": "kong", "zzUnknown": "kept"}
    otel = {"type": "OpenTelemetry", "openTelemetry": {"endpoint": "otel:4317", "body": {"zzUnknown": {"x": 1}}}}
    log = {"targetRef": {"kind": "Mesh"}, "rules": [{"default": {"backends": [otel]}}]}
    body = {"type": "MeshAccessLog", "mesh": "m1", "name": "otel", "spec": log}
    assert http.put("/meshes/m1/meshaccesslogs/otel", json=body).status_code == 201
    stored = http.get("/meshes/m1/meshaccesslogs/otel").json()["spec"]
    assert stored["rules"][0]["default"]["backends"][0]["openTelemetry"]["body"] == {"zzUnknown": {"x": 1}}


def test_unknown_fields_deep_in_a_mesh_are_dropped_but_a_backends_conf_is_kept(http: httpx.Client) -> None:
    backend = {
        "name": "ca-1",
        "type": "builtin",
        "mode": "PERMISSIVE",
        "zzUnknown": 1,
        "dpCert": {"rotation": {"expiration": "1d", "zzUnknown": 1}, "zzUnknown": 1},
        "conf": {"caCert": {"rsaBits": 2048, "expiration": "10y"}, "zzAnything": True},
    }
    mesh = {
        "type": "Mesh",
        "name": "m2",
        "mtls": {"enabledBackend": "ca-1", "backends": [backend], "zzUnknown": 1},
        "routing": {"zoneEgress": True, "zzUnknown": 1},
        "zzUnknown": 1,
    }
    assert http.put("/meshes/m2", json=mesh).status_code == 201
    got = http.get("/meshes/m2").json()
    assert got["mtls"] == {
        "enabledBackend": "ca-1",
        "backends": [
            {
                "name": "ca-1",
                "type": "builtin",
                "mode": "PERMISSIVE",
                "dpCert": {"rotation": {"expiration": "1d"}},
                "conf": {"caCert": {"rsaBits": 2048, "expiration": "10y"}, "zzAnything": True},
            }
        ],
    }
    assert got["routing"] == {"zoneEgress": True} and "zzUnknown" not in got


APPLY = "application/apply-patch+yaml"


def test_server_side_apply_refuses_a_field_the_crd_does_not_declare_at_any_depth() -> None:
    with kube_running(KubeState()) as emulator, httpx.Client(base_url=emulator.url) as http:
        body = textwrap.dedent(
            """\
            apiVersion: kuma.io/v1alpha1
            kind: MeshRetry
            metadata: {name: r, namespace: kuma-system}
            spec:
              targetRef: {kind: Mesh}
              to:
              - targetRef: {kind: MeshService, name: api}
                default:
                  http:
                    numRetries: 3
                    backOff: {baseInterval: 25ms, tooFast: true}
            """
        )
        url = "/apis/kuma.io/v1alpha1/namespaces/kuma-system/meshretries/r?fieldManager=x"
        answer = http.patch(url, content=body.encode(), headers={"Content-Type": APPLY})
        assert (answer.status_code, answer.json()["message"]) == (
            500,
            "failed to create typed patch object (kuma-system/r; kuma.io/v1alpha1, Kind=MeshRetry): "
            ".spec.to[0].default.http.backOff.tooFast: field not declared in schema",
        )
        assert emulator.state.get("MeshRetry", "r", "kuma-system") is None
        fixed = body.replace(", tooFast: true", "")
        assert http.patch(url, content=fixed.encode(), headers={"Content-Type": APPLY}).status_code == 201


def test_kumas_defaulting_webhook_drops_what_mesh_proto_does_not_declare() -> None:
    """The Mesh CRD's spec is x-kubernetes-preserve-unknown-fields: the API server keeps everything, and only
    Kuma's defaulting webhook (pkg/plugins/runtime/k8s/webhooks/defaulter.go, the whole object re-marshalled
    from the proto message) drops the unknown fields."""
    body = textwrap.dedent(
        """\
        apiVersion: kuma.io/v1alpha1
        kind: Mesh
        metadata: {name: shop}
        spec:
          mtls:
            enabledBackend: ca-1
            backends:
            - {name: ca-1, type: builtin, mode: PERMISSIVE, dpCert: {rotation: {expiration: 1d, every: 2}}}
          zzUnknown: 1
        """
    )
    for webhook, kept in ((False, True), (True, False)):
        with kube_running(KubeState(kuma_webhook=webhook)) as emulator, httpx.Client(base_url=emulator.url) as http:
            url = "/apis/kuma.io/v1alpha1/meshes/shop?fieldManager=x"
            assert http.patch(url, content=body.encode(), headers={"Content-Type": APPLY}).status_code == 201
            stored = emulator.state.get("Mesh", "shop")
            assert stored is not None
            rotation = stored["spec"]["mtls"]["backends"][0]["dpCert"]["rotation"]
            assert ("every" in rotation, "zzUnknown" in stored["spec"]) == (kept, kept)
            assert rotation["expiration"] == "1d"


RETRY_YAML = """\
apiVersion: kuma.io/v1alpha1
kind: MeshRetry
metadata: {name: r, namespace: kuma-system}
spec:
  targetRef: {kind: Dataplane, labels: {app: api}}
  to:
  - targetRef: {kind: MeshService, name: api}
    default:
      http: {numRetries: 3, retryOn: [5xx], backOff: {baseInterval: 25ms}}
"""


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        (
            "numRetries: 3",
            "numRetries: '3'",
            ".spec.to[0].default.http.numRetries: expected numeric (int or float), got string",
        ),
        (
            "numRetries: 3",
            "numRetries: true",
            ".spec.to[0].default.http.numRetries: expected numeric (int or float), got bool",
        ),
        (
            "baseInterval: 25ms",
            "baseInterval: 25",
            ".spec.to[0].default.http.backOff.baseInterval: expected string, got &value.valueUnstructured{Value:25}",
        ),
        (
            "baseInterval: 25ms",
            "baseInterval: 2500000",
            ".spec.to[0].default.http.backOff.baseInterval: expected string, got "
            "&value.valueUnstructured{Value:2.5e+06}",
        ),
        ("app: api", "app: 1", ".spec.targetRef.labels.app: expected string, got &value.valueUnstructured{Value:1}"),
        ("retryOn: [5xx]", "retryOn: 5xx", ".spec.to[0].default.http.retryOn: expected list, got &{5xx}"),
        (
            "backOff: {baseInterval: 25ms}",
            "backOff: fast",
            ".spec.to[0].default.http.backOff: expected map, got &{fast}",
        ),
        ("  to:\n  - targetRef", "  to:\n    targetRef", ".spec.to: expected list, got &{map[default:map[http:"),
    ],
)
def test_server_side_apply_refuses_a_value_of_another_type_than_the_crds(old: str, new: str, error: str) -> None:
    """structured-merge-diff typed/validate.go validateScalar, mapValue, listValue: a plain error of the
    apply (500), with Go's formatting of the value: `%T` for a number field, `%#v` of the walker's
    *value.valueUnstructured for a string field, `%v` of it for a map or a list (the body's numbers decode
    to float64, which Go prints in %e form from 1e+06 on)."""
    body = RETRY_YAML.replace(old, new)
    assert body != RETRY_YAML
    with kube_running(KubeState()) as emulator, httpx.Client(base_url=emulator.url) as http:
        url = "/apis/kuma.io/v1alpha1/namespaces/kuma-system/meshretries/r?fieldManager=x"
        answer = http.patch(url, content=body.encode(), headers={"Content-Type": APPLY})
        prefix = "failed to create typed patch object (kuma-system/r; kuma.io/v1alpha1, Kind=MeshRetry): "
        assert answer.status_code == 500
        assert answer.json()["message"].startswith(prefix + error)
        assert http.patch(url, content=RETRY_YAML.encode(), headers={"Content-Type": APPLY}).status_code == 201


TRACE_YAML = """\
apiVersion: kuma.io/v1alpha1
kind: MeshTrace
metadata: {name: t, namespace: kuma-system}
spec:
  targetRef: {kind: Mesh}
  default:
    backends: [{type: Zipkin, zipkin: {url: "http://zipkin:9411/api/v2/spans"}}]
    sampling: {overall: 80}
"""


@pytest.mark.parametrize(
    ("kind", "plural", "yaml_body", "old", "new", "causes"),
    [
        (
            "MeshRetry",
            "meshretries",
            RETRY_YAML,
            "numRetries: 3",
            "numRetries: 2.5",
            [
                {
                    "reason": "FieldValueTypeInvalid",
                    "message": 'Invalid value: "float64": spec.to[0].default.http.numRetries in body must be of type '
                    'int32: "float64"',
                    "field": "spec.to[0].default.http.numRetries",
                },
                {  # numberValidator: a plain error, no name (ConvertInt32("2.5") fails)
                    "reason": "FieldValueInvalid",
                    "message": 'Invalid value: "": Checked value must be of type integer with format int32 in '
                    "spec.to[0].default.http.numRetries",
                    "field": "<nil>",
                },
            ],
        ),
        (
            "MeshTrace",
            "meshtraces",
            TRACE_YAML,
            "overall: 80",
            "overall: true",
            [
                {
                    "reason": "FieldValueInvalid",
                    "message": 'Invalid value: "": "spec.default.sampling.overall" must validate at least one schema '
                    "(anyOf)",
                    "field": "<nil>",
                },
                {
                    "reason": "FieldValueTypeInvalid",
                    "message": 'Invalid value: "boolean": spec.default.sampling.overall in body must be of type '
                    'integer: "boolean"',
                    "field": "spec.default.sampling.overall",
                },
            ],
        ),
    ],
)
def test_what_the_crd_type_lets_through_its_schema_validation_refuses(
    kind: str, plural: str, yaml_body: str, old: str, new: str, causes: list[dict[str, str]]
) -> None:
    """A fraction is a number to structured-merge-diff, an int-or-string untyped: the apply gets past the
    typed conversion, and the CRD's schema validation (apiextensions-apiserver, kube-openapi) refuses the
    object: 422 Invalid, a cause per error (validation.go kubeOpenAPIResultToFieldErrors)."""
    body = yaml_body.replace(old, new)
    assert body != yaml_body
    with kube_running(KubeState()) as emulator, httpx.Client(base_url=emulator.url) as http:
        name = "r" if kind == "MeshRetry" else "t"
        url = f"/apis/kuma.io/v1alpha1/namespaces/kuma-system/{plural}/{name}?fieldManager=x"
        answer = http.patch(url, content=body.encode(), headers={"Content-Type": APPLY})
        assert (answer.status_code, answer.json()["reason"], answer.json()["details"]["causes"]) == (
            422,
            "Invalid",
            causes,
        )
        assert http.patch(url, content=yaml_body.encode(), headers={"Content-Type": APPLY}).status_code == 201


def test_a_merge_patch_loses_the_fields_the_crd_does_not_declare_and_is_schema_checked() -> None:
    """An object written whole (kubectl edit's JSON merge patch) is pruned of undeclared fields, at every
    depth, under the default fieldValidation (Warn); a value of the wrong type fails the CRD's validation."""
    with kube_running(KubeState()) as emulator, httpx.Client(base_url=emulator.url) as http:
        url = "/apis/kuma.io/v1alpha1/namespaces/kuma-system/meshretries/r"
        assert http.patch(f"{url}?fieldManager=x", content=RETRY_YAML.encode(), headers={"Content-Type": APPLY})
        merge = {"Content-Type": "application/merge-patch+json"}
        patch = {"spec": {"to": [{"targetRef": SERVICE, "default": {"http": {"numRetries": 4, "zzUnknown": 1}}}]}}
        answer = http.patch(url, json=patch, headers=merge)
        assert answer.status_code == 200
        assert answer.headers["Warning"] == '299 - "unknown field \\"spec.to[0].default.http.zzUnknown\\""'
        assert "Warning" not in http.patch(f"{url}?fieldValidation=Ignore", json=patch, headers=merge).headers
        stored = emulator.state.get("MeshRetry", "r", "kuma-system")
        assert stored is not None and stored["spec"]["to"][0]["default"] == {"http": {"numRetries": 4}}
        patch["spec"]["to"][0]["default"]["http"]["numRetries"] = "5"
        answer = http.patch(url, json=patch, headers=merge)
        assert (answer.status_code, answer.json()["details"]["causes"]) == (
            422,
            [
                {
                    "reason": "FieldValueTypeInvalid",
                    "message": 'Invalid value: "string": spec.to[0].default.http.numRetries in body must be of type '
                    'integer: "string"',
                    "field": "spec.to[0].default.http.numRetries",
                }
            ],
        )


def apply_policy(http: httpx.Client, namespace: str, kind: str, plural: str, spec: dict[str, Any]) -> httpx.Response:
    body = {"apiVersion": "kuma.io/v1alpha1", "kind": kind, "metadata": {"name": "p", "namespace": namespace}}
    url = f"/apis/kuma.io/v1alpha1/namespaces/{namespace}/{plural}/p?fieldManager=x"
    return http.patch(url, json={**body, "spec": spec}, headers={"Content-Type": APPLY})


MESH_YAML = "apiVersion: kuma.io/v1alpha1\nkind: Mesh\nmetadata: {name: default}\n"
RETRY_DEFAULT = {"http": {"numRetries": 1}}
GATEWAY = {"kind": "MeshGateway", "name": "edge"}


@pytest.mark.parametrize(
    ("kind", "plural", "spec", "role"),
    [
        (
            "MeshRetry",
            "meshretries",
            {"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": SERVICE, "default": RETRY_DEFAULT}]},
            "producer",
        ),
        (
            "MeshRetry",
            "meshretries",
            {"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": {"kind": "Mesh"}, "default": RETRY_DEFAULT}]},
            "consumer",
        ),
        (
            "MeshRetry",
            "meshretries",
            {
                "targetRef": {"kind": "Mesh"},
                "to": [{"targetRef": {**SERVICE, "namespace": "other"}, "default": RETRY_DEFAULT}],
            },
            "consumer",
        ),
        (
            "MeshTimeout",
            "meshtimeouts",
            {"targetRef": WORKLOAD, "rules": [{"default": {"idleTimeout": "1h"}}]},
            "workload-owner",
        ),
        (
            "MeshTrafficPermission",
            "meshtrafficpermissions",
            SPECS["MeshTrafficPermission"][1],
            "workload-owner",
        ),
    ],
)
def test_kuma_computes_the_role_of_a_policy_outside_its_system_namespace(
    kind: str, plural: str, spec: dict[str, Any], role: str
) -> None:
    """labels/compute.go ComputePolicyRole, from the defaulting webhook; in the system namespace: system."""
    state = KubeState(kuma_webhook=True, namespaces=("kuma-system", "shop"))
    with kube_running(state) as emulator, httpx.Client(base_url=emulator.url) as http:
        http.patch(
            "/apis/kuma.io/v1alpha1/meshes/default?fieldManager=x", content=MESH_YAML, headers={"Content-Type": APPLY}
        )
        for namespace, expected in (("shop", role), ("kuma-system", "system")):
            answer = apply_policy(http, namespace, kind, plural, spec)
            assert answer.status_code == 201, answer.text
            assert answer.json()["metadata"]["labels"]["kuma.io/policy-role"] == expected


@pytest.mark.parametrize(
    ("kind", "plural", "spec", "message"),
    [
        (
            "MeshRetry",
            "meshretries",
            {
                "targetRef": {"kind": "Mesh"},
                "to": [
                    {"targetRef": SERVICE, "default": RETRY_DEFAULT},
                    {"targetRef": {"kind": "Mesh"}, "default": RETRY_DEFAULT},
                ],
            },
            "it's not allowed to mix producer and consumer items in the same policy",
        ),
        (
            "MeshTimeout",
            "meshtimeouts",
            {
                "targetRef": {"kind": "Mesh"},
                "to": [{"targetRef": {"kind": "Mesh"}, "default": {"idleTimeout": "1h"}}],
                "from": [{"targetRef": {"kind": "Mesh"}, "default": {"idleTimeout": "1h"}}],
            },
            "it's not allowed to mix 'to' and 'from' arrays in the same policy",
        ),
    ],
)
def test_a_policy_whose_role_cannot_be_computed_is_refused_outside_the_system_namespace(
    kind: str, plural: str, spec: dict[str, Any], message: str
) -> None:
    """ComputePolicyRole's error fails the defaulting webhook with admission.Errored(500); the API server
    relays it with the webhook's name. The same policy in the system namespace is a system policy."""
    state = KubeState(kuma_webhook=True, namespaces=("kuma-system", "shop"))
    with kube_running(state) as emulator, httpx.Client(base_url=emulator.url) as http:
        http.patch(
            "/apis/kuma.io/v1alpha1/meshes/default?fieldManager=x", content=MESH_YAML, headers={"Content-Type": APPLY}
        )
        answer = apply_policy(http, "shop", kind, plural, spec)
        assert (answer.status_code, answer.json()["message"]) == (
            500,
            f'admission webhook "mesh.defaulter.kuma-admission.kuma.io" denied the request: {message}',
        )
        assert apply_policy(http, "kuma-system", kind, plural, spec).status_code == 201


def test_a_policy_outside_the_system_namespace_cannot_target_a_gateway() -> None:
    """meshretry validator.go validateTop: a policy whose role is not `system` takes Mesh, MeshSubset,
    MeshService, MeshServiceSubset and Dataplane only; on Universal the role is the label, if one is set."""
    spec = {"targetRef": GATEWAY, "to": [{"targetRef": {"kind": "Mesh"}, "default": {"http": {"numRetries": 1}}}]}
    state = KubeState(kuma_webhook=True, namespaces=("kuma-system", "shop"))
    with kube_running(state) as emulator, httpx.Client(base_url=emulator.url) as http:
        http.patch(
            "/apis/kuma.io/v1alpha1/meshes/default?fieldManager=x", content=MESH_YAML, headers={"Content-Type": APPLY}
        )
        answer = apply_policy(http, "shop", "MeshRetry", "meshretries", spec)
        assert (answer.status_code, answer.json()["details"]["causes"]) == (
            422,
            [
                {
                    "reason": "FieldValueInvalid",
                    "message": "value 'MeshGateway' is not supported",
                    "field": "spec.targetRef.kind",
                }
            ],
        )
        assert apply_policy(http, "kuma-system", "MeshRetry", "meshretries", spec).status_code == 201
    with running(KumaState()) as kuma, httpx.Client(base_url=kuma.url) as http:
        body = {"type": "MeshRetry", "mesh": "default", "name": "r", "spec": spec}
        assert http.put("/meshes/default/meshretries/r", json=body).status_code == 201
        labelled = {**body, "labels": {"kuma.io/policy-role": "consumer"}}
        answer = http.put("/meshes/default/meshretries/r", json=labelled)
        assert (answer.status_code, answer.json()["invalid_parameters"]) == (
            400,
            [{"field": "spec.targetRef.kind", "reason": "value 'MeshGateway' is not supported"}],
        )


def test_a_strict_merge_patch_is_refused_for_the_fields_the_crd_does_not_declare() -> None:
    """fieldValidation=Strict: the patched object fails its strict decoding (the CRD's structural pruning
    records each unknown field, sorted), and the API server answers 422 with the patched object's JSON as the
    `patch` field's value (patch.go jsonPatcher.applyPatchToCurrentObject). Nothing is written."""
    with kube_running(KubeState()) as emulator, httpx.Client(base_url=emulator.url) as http:
        url = "/apis/kuma.io/v1alpha1/namespaces/kuma-system/meshretries/r"
        assert http.patch(f"{url}?fieldManager=x", content=RETRY_YAML.encode(), headers={"Content-Type": APPLY})
        before = emulator.state.get("MeshRetry", "r", "kuma-system")
        merge = {"Content-Type": "application/merge-patch+json"}
        default = {"http": {"numRetries": 4, "zzUnknown": {"a": 1}}}
        patch = {"spec": {"to": [{"targetRef": SERVICE, "default": default}]}, "status": {"x": "<1>"}}
        answer = http.patch(f"{url}?fieldValidation=Strict", json=patch, headers=merge)
        assert (answer.status_code, answer.json()["reason"]) == (422, "Invalid")
        [cause] = answer.json()["details"]["causes"]
        detail = 'strict decoding error: unknown field "spec.to[0].default.http.zzUnknown", unknown field "status"'
        assert cause["field"] == "patch" and cause["message"].endswith(f": {detail}")
        assert answer.json()["message"] == f' "" is invalid: patch: {cause["message"]}'
        quoted = cause["message"].removeprefix("Invalid value: ").removesuffix(f": {detail}")
        patched = json.loads(json.loads(quoted))
        assert patched["spec"]["to"][0]["default"] == default and patched["status"] == {"x": "<1>"}
        assert "\\u003c1\\u003e" in json.loads(quoted)  # json.Marshal escapes < and >
        assert emulator.state.get("MeshRetry", "r", "kuma-system") == before
        answer = http.patch(f"{url}?fieldValidation=Ignore", json=patch, headers=merge)
        assert answer.status_code == 200 and answer.json()["spec"]["to"][0]["default"] == {"http": {"numRetries": 4}}


def test_a_section_the_policys_go_struct_lacks_is_dropped_before_its_validator_runs(http: httpx.Client) -> None:
    """MeshRetry's and MeshHealthCheck's specs have no `from` nor `rules` (their rest.yaml, their Go
    structs): encoding/json drops them, so validator.Validate, which runs on the decoded resource
    (unmarshaller.go), never sees them: no "must not be defined"."""
    for kind, (path, spec) in (("MeshRetry", SPECS["MeshRetry"]), ("MeshHealthCheck", SPECS["MeshHealthCheck"])):
        extra = {"from": [{"targetRef": {"kind": "Mesh"}, "default": {}}], "rules": [{"default": {}}]}
        body = {"type": kind, "mesh": "m1", "name": "sections", "spec": {**spec, **extra}}
        answer = http.put(f"/meshes/m1/{path}/sections", json=body)
        assert (answer.status_code, answer.json()) == (201, {}), answer.text
        stored = http.get(f"/meshes/m1/{path}/sections").json()["spec"]
        assert "from" not in stored and "rules" not in stored


@pytest.mark.parametrize(
    ("yaml_body", "old", "new", "error"),
    [
        (
            RETRY_YAML,
            "numRetries: 3",
            "numRetries: 2.5",
            "json: cannot unmarshal number 2.5 into Go struct field HTTP.spec.to.default.http.numRetries of type "
            "uint32",
        ),
        (
            RETRY_YAML,
            "numRetries: 3",
            "numRetries: -1",
            "json: cannot unmarshal number -1 into Go struct field HTTP.spec.to.default.http.numRetries of type uint32",
        ),
        (TRACE_YAML, "overall: 80", "overall: true", "json: cannot unmarshal bool into Go value of type int32"),
        (TRACE_YAML, "overall: 80", "overall: [80]", "json: cannot unmarshal array into Go value of type int32"),
        (TRACE_YAML, "overall: 80", "overall: 50.5", "json: cannot unmarshal number 50.5 into Go value of type int32"),
    ],
)
def test_kumas_defaulting_webhook_refuses_what_its_go_types_cannot_hold(
    yaml_body: str, old: str, new: str, error: str
) -> None:
    """Past the typed conversion (a number for an integer field, anything for an untyped int-or-string),
    Kuma's defaulting webhook decodes the object into its Go type before the CRD's schema validation runs:
    encoding/json's error, 400 (defaulter.go admission.Errored(http.StatusBadRequest)), relayed by the API
    server with the webhook's name."""
    body = yaml_body.replace(old, new)
    assert body != yaml_body
    with kube_running(KubeState(kuma_webhook=True)) as emulator, httpx.Client(base_url=emulator.url) as http:
        http.patch(
            "/apis/kuma.io/v1alpha1/meshes/default?fieldManager=x", content=MESH_YAML, headers={"Content-Type": APPLY}
        )
        kind, plural, name = (
            ("MeshRetry", "meshretries", "r") if "MeshRetry" in body else ("MeshTrace", "meshtraces", "t")
        )
        url = f"/apis/kuma.io/v1alpha1/namespaces/kuma-system/{plural}/{name}?fieldManager=x"
        answer = http.patch(url, content=body.encode(), headers={"Content-Type": APPLY})
        assert (answer.status_code, answer.json()["message"]) == (
            400,
            f'admission webhook "mesh.defaulter.kuma-admission.kuma.io" denied the request: {error}',
        )
        assert emulator.state.get(kind, name, "kuma-system") is None
        assert http.patch(url, content=yaml_body.encode(), headers={"Content-Type": APPLY}).status_code == 201


def test_kumas_defaulting_webhook_reprints_only_the_duration_fields() -> None:
    """defaulter.go re-marshals the object from its Go type: a *k8s.Duration prints as Go does (`1h` ->
    `1h0m0s`); a string that only looks like a duration, such as a label value, stays as it was."""
    spec = {
        "targetRef": {"kind": "Dataplane", "labels": {"window": "1h"}},
        "rules": [{"default": {"idleTimeout": "1h"}}],
    }
    with kube_running(KubeState(kuma_webhook=True)) as emulator, httpx.Client(base_url=emulator.url) as http:
        http.patch(
            "/apis/kuma.io/v1alpha1/meshes/default?fieldManager=x", content=MESH_YAML, headers={"Content-Type": APPLY}
        )
        answer = apply_policy(http, "kuma-system", "MeshTimeout", "meshtimeouts", spec)
        assert answer.status_code == 201, answer.text
        stored = answer.json()["spec"]
        assert (stored["targetRef"]["labels"], stored["rules"][0]["default"]) == (
            {"window": "1h"},
            {"idleTimeout": "1h0m0s"},
        )


CHECK_YAML = """\
apiVersion: kuma.io/v1alpha1
kind: MeshHealthCheck
metadata: {name: h, namespace: kuma-system}
spec:
  targetRef: {kind: Mesh}
  to:
  - targetRef: {kind: MeshService, name: api}
    default:
      interval: 10s
      http:
        path: /
        requestHeadersToAdd:
          add: [{name: x-team, value: a}]
"""
ADD = "spec.to[0].default.http.requestHeadersToAdd.add"


@pytest.mark.parametrize(
    ("old", "new", "cause"),
    [
        (
            "name: x-team",
            f"name: {'x' * 257}",
            {
                "reason": "FieldValueTooLong",
                "message": "Too long: must have at most 256 bytes",
                "field": f"{ADD}[0].name",
            },
        ),
        (
            "name: x-team",
            "name: X-Team",
            {
                "reason": "FieldValueInvalid",
                "message": f'Invalid value: "X-Team": {ADD}[0].name in body should match '
                "'^[a-z0-9!#$%&'*+\\-.^_\\x60|~]+$'",
                "field": f"{ADD}[0].name",
            },
        ),
        (
            "add: [{name: x-team, value: a}]",
            "add: [" + ", ".join(f"{{name: x-{i}, value: a}}" for i in range(17)) + "]",
            {"reason": "FieldValueTooMany", "message": "Too many: 17: must have at most 16 items", "field": ADD},
        ),
        (
            ", value: a}",
            "}",
            {"reason": "FieldValueRequired", "message": "Required value", "field": f"{ADD}[0].value"},
        ),
    ],
)
def test_the_crd_schemas_constraints_are_422_causes(old: str, new: str, cause: dict[str, str]) -> None:
    """maxLength, pattern, maxItems, required of the CRD's schema, as kubeOpenAPIResultToFieldErrors reports
    them (TooLong and TooMany in apimachinery v0.31's words, the rest Invalid or Required)."""
    body = CHECK_YAML.replace(old, new)
    assert body != CHECK_YAML
    with kube_running(KubeState()) as emulator, httpx.Client(base_url=emulator.url) as http:
        url = "/apis/kuma.io/v1alpha1/namespaces/kuma-system/meshhealthchecks/h?fieldManager=x"
        answer = http.patch(url, content=body.encode(), headers={"Content-Type": APPLY})
        assert (answer.status_code, answer.json()["details"]["causes"]) == (422, [cause])
        assert http.patch(url, content=CHECK_YAML.encode(), headers={"Content-Type": APPLY}).status_code == 201
