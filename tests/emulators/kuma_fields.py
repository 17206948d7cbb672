"""The fields of the Go structs Kuma 2.14 decodes the policies gatewayctl owns, and the Mesh, into: what a PUT
keeps. A policy body goes through kube-openapi's schema validator (which does not refuse properties it does not
know: the schemas have no `additionalProperties: false`), then through encoding/json into the policy's Go struct
(kumahq/kuma v2.14.3 pkg/core/resources/model/rest/unmarshaller.go `Unmarshal`; v1alpha1/resource.go has no
UnmarshalJSON of its own and no type under pkg/plugins/policies or api/common has one), which drops a field
it has no member for at every depth, silently: no error, no warning. The Mesh goes through jsonpb with
AllowUnknownFields (pkg/util/proto/proto.go FromJSON, from unversioned/resource.go UnmarshalJSON), which does
the same; a google.protobuf.Struct (`conf`) keeps whatever it holds.

POLICY_OBJECTS lists, for each object of a policy's spec (its path, `""` being the spec itself, `[]` an
array's items), the names of its properties, as pkg/plugins/policies/<policy>/api/v1alpha1/rest.yaml declares
them (generated there from the Go structs' json tags; the CRDs in k8s/crd/ declare the same, so a Kubernetes
API server prunes, or with server-side apply refuses, exactly these). An object not listed (a map of strings
such as targetRef.labels, MeshAccessLog's free-form openTelemetry.body) keeps every key.
"""

from __future__ import annotations

from typing import Any

Objects = dict[str, tuple[str, ...]]

# api/common/v1alpha1/targetref.go TargetRef
TARGET_REF = ("kind", "labels", "mesh", "name", "namespace", "proxyTypes", "sectionName", "tags")


def _conf(prefix: str, conf: Objects) -> Objects:
    """The objects of a to[]/from[]/rules[] item's `default` (one Conf struct for all three sections)."""
    return {prefix + path: names for path, names in conf.items()}


_TIMEOUT_CONF: Objects = {
    "": ("connectionTimeout", "http", "idleTimeout"),
    ".http": (
        "maxConnectionDuration",
        "maxStreamDuration",
        "requestHeadersTimeout",
        "requestTimeout",
        "streamIdleTimeout",
    ),
}
_CIRCUITBREAKER_CONF: Objects = {
    "": ("connectionLimits", "outlierDetection"),
    ".connectionLimits": ("maxConnectionPools", "maxConnections", "maxPendingRequests", "maxRequests", "maxRetries"),
    ".outlierDetection": (
        "baseEjectionTime",
        "detectors",
        "disabled",
        "healthyPanicThreshold",
        "interval",
        "maxEjectionPercent",
        "splitExternalAndLocalErrors",
    ),
    ".outlierDetection.detectors": (
        "failurePercentage",
        "gatewayFailures",
        "localOriginFailures",
        "successRate",
        "totalFailures",
    ),
    ".outlierDetection.detectors.failurePercentage": ("minimumHosts", "requestVolume", "threshold"),
    ".outlierDetection.detectors.gatewayFailures": ("consecutive",),
    ".outlierDetection.detectors.localOriginFailures": ("consecutive",),
    ".outlierDetection.detectors.successRate": ("minimumHosts", "requestVolume", "standardDeviationFactor"),
    ".outlierDetection.detectors.totalFailures": ("consecutive",),
}
_RATELIMIT_CONF: Objects = {
    "": ("local",),
    ".local": ("http", "tcp"),
    ".local.http": ("disabled", "onRateLimit", "requestRate"),
    ".local.http.onRateLimit": ("headers", "status"),
    ".local.http.onRateLimit.headers": ("add", "set"),
    ".local.http.onRateLimit.headers.add[]": ("name", "value"),
    ".local.http.onRateLimit.headers.set[]": ("name", "value"),
    ".local.http.requestRate": ("interval", "num"),
    ".local.tcp": ("connectionRate", "disabled"),
    ".local.tcp.connectionRate": ("interval", "num"),
}
_ACCESSLOG_CONF: Objects = {
    "": ("backends",),
    ".backends[]": ("file", "openTelemetry", "tcp", "type"),
    ".backends[].file": ("format", "path"),
    ".backends[].file.format": ("json", "omitEmptyValues", "plain", "type"),
    ".backends[].file.format.json[]": ("key", "value"),
    ".backends[].openTelemetry": ("attributes", "backendRef", "body", "endpoint"),
    ".backends[].openTelemetry.attributes[]": ("key", "value"),
    ".backends[].openTelemetry.backendRef": ("kind", "labels"),
    ".backends[].tcp": ("address", "format"),
    ".backends[].tcp.format": ("json", "omitEmptyValues", "plain", "type"),
    ".backends[].tcp.format.json[]": ("key", "value"),
}
POLICY_OBJECTS: dict[str, Objects] = {
    "MeshTrafficPermission": {
        "": ("from", "rules", "targetRef"),
        "from[]": ("default", "targetRef"),
        "from[].default": ("action",),
        "from[].targetRef": TARGET_REF,
        "rules[]": ("default",),
        "rules[].default": ("allow", "allowWithShadowDeny", "deny"),
        "rules[].default.allowWithShadowDeny[]": ("sni", "spiffeID"),
        "rules[].default.allowWithShadowDeny[].sni": ("type", "value"),
        "rules[].default.allowWithShadowDeny[].spiffeID": ("type", "value"),
        "rules[].default.allow[]": ("sni", "spiffeID"),
        "rules[].default.allow[].sni": ("type", "value"),
        "rules[].default.allow[].spiffeID": ("type", "value"),
        "rules[].default.deny[]": ("sni", "spiffeID"),
        "rules[].default.deny[].sni": ("type", "value"),
        "rules[].default.deny[].spiffeID": ("type", "value"),
        "targetRef": TARGET_REF,
    },
    "MeshRetry": {
        "": ("targetRef", "to"),
        "targetRef": TARGET_REF,
        "to[]": ("default", "targetRef"),
        "to[].default": ("grpc", "http", "tcp"),
        "to[].default.grpc": ("backOff", "numRetries", "perTryTimeout", "rateLimitedBackOff", "retryOn"),
        "to[].default.grpc.backOff": ("baseInterval", "maxInterval"),
        "to[].default.grpc.rateLimitedBackOff": ("maxInterval", "resetHeaders"),
        "to[].default.grpc.rateLimitedBackOff.resetHeaders[]": ("format", "name"),
        "to[].default.http": (
            "backOff",
            "hostSelection",
            "hostSelectionMaxAttempts",
            "numRetries",
            "perTryTimeout",
            "rateLimitedBackOff",
            "retriableRequestHeaders",
            "retriableResponseHeaders",
            "retryOn",
        ),
        "to[].default.http.backOff": ("baseInterval", "maxInterval"),
        "to[].default.http.hostSelection[]": ("predicate", "tags", "updateFrequency"),
        "to[].default.http.rateLimitedBackOff": ("maxInterval", "resetHeaders"),
        "to[].default.http.rateLimitedBackOff.resetHeaders[]": ("format", "name"),
        "to[].default.http.retriableRequestHeaders[]": ("name", "type", "value"),
        "to[].default.http.retriableResponseHeaders[]": ("name", "type", "value"),
        "to[].default.tcp": ("maxConnectAttempt",),
        "to[].targetRef": TARGET_REF,
    },
    "MeshTimeout": {
        "": ("from", "rules", "targetRef", "to"),
        "from[]": ("default", "targetRef"),
        "from[].targetRef": TARGET_REF,
        "rules[]": ("default", "matches"),
        "rules[].matches[]": ("sni", "spiffeID"),
        "rules[].matches[].sni": ("type", "value"),
        "rules[].matches[].spiffeID": ("type", "value"),
        "targetRef": TARGET_REF,
        "to[]": ("default", "targetRef"),
        "to[].targetRef": TARGET_REF,
        **_conf("to[].default", _TIMEOUT_CONF),
        **_conf("from[].default", _TIMEOUT_CONF),
        **_conf("rules[].default", _TIMEOUT_CONF),
    },
    "MeshCircuitBreaker": {
        "": ("from", "rules", "targetRef", "to"),
        "from[]": ("default", "targetRef"),
        "from[].targetRef": TARGET_REF,
        "rules[]": ("default",),
        "targetRef": TARGET_REF,
        "to[]": ("default", "targetRef"),
        "to[].targetRef": TARGET_REF,
        **_conf("to[].default", _CIRCUITBREAKER_CONF),
        **_conf("from[].default", _CIRCUITBREAKER_CONF),
        **_conf("rules[].default", _CIRCUITBREAKER_CONF),
    },
    "MeshHealthCheck": {
        "": ("targetRef", "to"),
        "targetRef": TARGET_REF,
        "to[]": ("default", "targetRef"),
        "to[].default": (
            "alwaysLogHealthCheckFailures",
            "eventLogPath",
            "failTrafficOnPanic",
            "grpc",
            "healthyPanicThreshold",
            "healthyThreshold",
            "http",
            "initialJitter",
            "interval",
            "intervalJitter",
            "intervalJitterPercent",
            "noTrafficInterval",
            "reuseConnection",
            "tcp",
            "timeout",
            "unhealthyThreshold",
        ),
        "to[].default.grpc": ("authority", "disabled", "serviceName"),
        "to[].default.http": ("disabled", "expectedStatuses", "path", "requestHeadersToAdd"),
        "to[].default.http.requestHeadersToAdd": ("add", "set"),
        "to[].default.http.requestHeadersToAdd.add[]": ("name", "value"),
        "to[].default.http.requestHeadersToAdd.set[]": ("name", "value"),
        "to[].default.tcp": ("disabled", "receive", "send"),
        "to[].targetRef": TARGET_REF,
    },
    "MeshLoadBalancingStrategy": {
        "": ("targetRef", "to"),
        "targetRef": TARGET_REF,
        "to[]": ("default", "targetRef"),
        "to[].default": ("hashPolicies", "loadBalancer", "localityAwareness"),
        "to[].default.hashPolicies[]": (
            "connection",
            "cookie",
            "filterState",
            "header",
            "queryParameter",
            "terminal",
            "type",
        ),
        "to[].default.hashPolicies[].connection": ("sourceIP",),
        "to[].default.hashPolicies[].cookie": ("name", "path", "ttl"),
        "to[].default.hashPolicies[].filterState": ("key",),
        "to[].default.hashPolicies[].header": ("name",),
        "to[].default.hashPolicies[].queryParameter": ("name",),
        "to[].default.loadBalancer": ("leastRequest", "maglev", "random", "ringHash", "roundRobin", "type"),
        "to[].default.loadBalancer.leastRequest": ("activeRequestBias", "choiceCount"),
        "to[].default.loadBalancer.random": (),  # an empty struct: every key is unknown
        "to[].default.loadBalancer.roundRobin": (),
        "to[].default.loadBalancer.maglev": ("hashPolicies", "tableSize"),
        "to[].default.loadBalancer.maglev.hashPolicies[]": (
            "connection",
            "cookie",
            "filterState",
            "header",
            "queryParameter",
            "terminal",
            "type",
        ),
        "to[].default.loadBalancer.maglev.hashPolicies[].connection": ("sourceIP",),
        "to[].default.loadBalancer.maglev.hashPolicies[].cookie": ("name", "path", "ttl"),
        "to[].default.loadBalancer.maglev.hashPolicies[].filterState": ("key",),
        "to[].default.loadBalancer.maglev.hashPolicies[].header": ("name",),
        "to[].default.loadBalancer.maglev.hashPolicies[].queryParameter": ("name",),
        "to[].default.loadBalancer.ringHash": ("hashFunction", "hashPolicies", "maxRingSize", "minRingSize"),
        "to[].default.loadBalancer.ringHash.hashPolicies[]": (
            "connection",
            "cookie",
            "filterState",
            "header",
            "queryParameter",
            "terminal",
            "type",
        ),
        "to[].default.loadBalancer.ringHash.hashPolicies[].connection": ("sourceIP",),
        "to[].default.loadBalancer.ringHash.hashPolicies[].cookie": ("name", "path", "ttl"),
        "to[].default.loadBalancer.ringHash.hashPolicies[].filterState": ("key",),
        "to[].default.loadBalancer.ringHash.hashPolicies[].header": ("name",),
        "to[].default.loadBalancer.ringHash.hashPolicies[].queryParameter": ("name",),
        "to[].default.localityAwareness": ("crossZone", "disabled", "localZone"),
        "to[].default.localityAwareness.crossZone": ("failover", "failoverThreshold"),
        "to[].default.localityAwareness.crossZone.failoverThreshold": ("percentage",),
        "to[].default.localityAwareness.crossZone.failover[]": ("from", "to"),
        "to[].default.localityAwareness.crossZone.failover[].from": ("zones",),
        "to[].default.localityAwareness.crossZone.failover[].to": ("type", "zones"),
        "to[].default.localityAwareness.localZone": ("affinityTags",),
        "to[].default.localityAwareness.localZone.affinityTags[]": ("key", "weight"),
        "to[].targetRef": TARGET_REF,
    },
    "MeshRateLimit": {
        "": ("from", "rules", "targetRef", "to"),
        "from[]": ("default", "targetRef"),
        "from[].targetRef": TARGET_REF,
        "rules[]": ("default", "matches"),
        "rules[].matches[]": ("sni", "spiffeID"),
        "rules[].matches[].sni": ("type", "value"),
        "rules[].matches[].spiffeID": ("type", "value"),
        "targetRef": TARGET_REF,
        "to[]": ("default", "targetRef"),
        "to[].targetRef": TARGET_REF,
        **_conf("to[].default", _RATELIMIT_CONF),
        **_conf("from[].default", _RATELIMIT_CONF),
        **_conf("rules[].default", _RATELIMIT_CONF),
    },
    "MeshTrace": {
        "": ("default", "targetRef"),
        "default": ("backends", "sampling", "tags"),
        "default.backends[]": ("datadog", "openTelemetry", "type", "zipkin"),
        "default.backends[].datadog": ("splitService", "url"),
        "default.backends[].openTelemetry": ("backendRef", "endpoint"),
        "default.backends[].openTelemetry.backendRef": ("kind", "labels"),
        "default.backends[].zipkin": ("apiVersion", "sharedSpanContext", "traceId128bit", "url"),
        "default.sampling": ("client", "overall", "random"),
        "default.tags[]": ("header", "literal", "name"),
        "default.tags[].header": ("default", "name"),
        "targetRef": TARGET_REF,
    },
    "MeshMetric": {
        "": ("default", "targetRef"),
        "default": ("applications", "backends", "sidecar"),
        "default.applications[]": ("address", "name", "path", "port"),
        "default.backends[]": ("openTelemetry", "prometheus", "type"),
        "default.backends[].openTelemetry": ("backendRef", "endpoint", "refreshInterval"),
        "default.backends[].openTelemetry.backendRef": ("kind", "labels"),
        "default.backends[].prometheus": ("clientId", "path", "port", "tls"),
        "default.backends[].prometheus.tls": ("mode",),
        "default.sidecar": ("includeUnused", "profiles"),
        "default.sidecar.profiles": ("appendProfiles", "exclude", "include"),
        "default.sidecar.profiles.appendProfiles[]": ("name",),
        "default.sidecar.profiles.exclude[]": ("match", "type"),
        "default.sidecar.profiles.include[]": ("match", "type"),
        "targetRef": TARGET_REF,
    },
    "MeshAccessLog": {
        "": ("from", "rules", "targetRef", "to"),
        "from[]": ("default", "targetRef"),
        "from[].targetRef": TARGET_REF,
        "rules[]": ("default", "matches"),
        "rules[].matches[]": ("sni", "spiffeID"),
        "rules[].matches[].sni": ("type", "value"),
        "rules[].matches[].spiffeID": ("type", "value"),
        "targetRef": TARGET_REF,
        "to[]": ("default", "targetRef"),
        "to[].targetRef": TARGET_REF,
        **_conf("to[].default", _ACCESSLOG_CONF),
        **_conf("from[].default", _ACCESSLOG_CONF),
        **_conf("rules[].default", _ACCESSLOG_CONF),
    },
}

# api/mesh/v1alpha1/mesh.proto (Mesh, CertificateAuthorityBackend, Networking, Tracing, Logging, Routing) and
# metrics.proto (Metrics, MetricsBackend): the messages' JSON names, paths from the Mesh's top level. `conf`
# (google.protobuf.Struct) is kept as it is; the tags of DataplaneProxyConstraints.Rules are a map.
MESH_OBJECTS: Objects = {
    "": (
        "constraints",
        "logging",
        "meshServices",
        "metrics",
        "mtls",
        "networking",
        "routing",
        "skipCreatingInitialPolicies",
        "tracing",
    ),
    "mtls": ("backends", "enabledBackend", "skipValidation"),
    "mtls.backends[]": ("conf", "dpCert", "mode", "name", "rootChain", "type"),
    "mtls.backends[].dpCert": ("requestTimeout", "rotation"),
    "mtls.backends[].dpCert.rotation": ("expiration",),
    "mtls.backends[].rootChain": ("requestTimeout",),
    "tracing": ("backends", "defaultBackend"),
    "tracing.backends[]": ("conf", "name", "sampling", "type"),
    "logging": ("backends", "defaultBackend"),
    "logging.backends[]": ("conf", "format", "name", "type"),
    "metrics": ("backends", "enabledBackend"),
    "metrics.backends[]": ("conf", "name", "type"),
    "networking": ("outbound",),
    "networking.outbound": ("passthrough",),
    "routing": ("defaultForbidMeshExternalServiceAccess", "localityAwareLoadBalancing", "zoneEgress"),
    "constraints": ("dataplaneProxy",),
    "constraints.dataplaneProxy": ("requirements", "restrictions"),
    "constraints.dataplaneProxy.requirements[]": ("tags",),
    "constraints.dataplaneProxy.restrictions[]": ("tags",),
    "meshServices": ("mode",),
}

# The `x-kubernetes-int-or-string` fields (*intstr.IntOrString in Go; `anyOf: [{type: integer}, {type: string}]`
# in rest.yaml)
INT_OR_STRING: dict[str, tuple[str, ...]] = {
    "MeshCircuitBreaker": (
        "from[].default.outlierDetection.detectors.successRate.standardDeviationFactor",
        "from[].default.outlierDetection.healthyPanicThreshold",
        "rules[].default.outlierDetection.detectors.successRate.standardDeviationFactor",
        "rules[].default.outlierDetection.healthyPanicThreshold",
        "to[].default.outlierDetection.detectors.successRate.standardDeviationFactor",
        "to[].default.outlierDetection.healthyPanicThreshold",
    ),
    "MeshHealthCheck": ("to[].default.healthyPanicThreshold",),
    "MeshLoadBalancingStrategy": (
        "to[].default.loadBalancer.leastRequest.activeRequestBias",
        "to[].default.localityAwareness.crossZone.failoverThreshold.percentage",
    ),
    "MeshTrace": ("default.sampling.client", "default.sampling.overall", "default.sampling.random"),
}


# The value type of every other field of each policy's spec, from the same rest.yaml: `string`, `boolean`,
# `int32`/`int64` (`type: integer` with that format), `map` (an object of strings), `object` (an empty
# struct), `strings`/`int32s` (an array of them), `intstr` (x-kubernetes-int-or-string), `json`
# (x-kubernetes-preserve-unknown-fields: any value). Durations are strings here; kuma_schema.FIELD_TYPES
# knows which strings Go parses as durations.
Leaves = dict[str, str]


def _target_ref(base: str) -> Leaves:
    """The fields of a TargetRef at `base` (api/common/v1alpha1/targetref.go)."""
    types = ("string", "map", "string", "string", "string", "strings", "string", "map")
    return {f"{base}.{name}": code for name, code in zip(TARGET_REF, types, strict=True)}


def _leaves(prefix: str, leaves: Leaves) -> Leaves:
    return {prefix + path: code for path, code in leaves.items()}


_TIMEOUT_SCALARS: Leaves = {
    "connectionTimeout": "string",
    "http.maxConnectionDuration": "string",
    "http.maxStreamDuration": "string",
    "http.requestHeadersTimeout": "string",
    "http.requestTimeout": "string",
    "http.streamIdleTimeout": "string",
    "idleTimeout": "string",
}
_CIRCUITBREAKER_SCALARS: Leaves = {
    "connectionLimits.maxConnectionPools": "int32",
    "connectionLimits.maxConnections": "int32",
    "connectionLimits.maxPendingRequests": "int32",
    "connectionLimits.maxRequests": "int32",
    "connectionLimits.maxRetries": "int32",
    "outlierDetection.baseEjectionTime": "string",
    "outlierDetection.detectors.failurePercentage.minimumHosts": "int32",
    "outlierDetection.detectors.failurePercentage.requestVolume": "int32",
    "outlierDetection.detectors.failurePercentage.threshold": "int32",
    "outlierDetection.detectors.gatewayFailures.consecutive": "int32",
    "outlierDetection.detectors.localOriginFailures.consecutive": "int32",
    "outlierDetection.detectors.successRate.minimumHosts": "int32",
    "outlierDetection.detectors.successRate.requestVolume": "int32",
    "outlierDetection.detectors.successRate.standardDeviationFactor": "intstr",
    "outlierDetection.detectors.totalFailures.consecutive": "int32",
    "outlierDetection.disabled": "boolean",
    "outlierDetection.healthyPanicThreshold": "intstr",
    "outlierDetection.interval": "string",
    "outlierDetection.maxEjectionPercent": "int32",
    "outlierDetection.splitExternalAndLocalErrors": "boolean",
}
_RATELIMIT_SCALARS: Leaves = {
    "local.http.disabled": "boolean",
    "local.http.onRateLimit.headers.add[].name": "string",
    "local.http.onRateLimit.headers.add[].value": "string",
    "local.http.onRateLimit.headers.set[].name": "string",
    "local.http.onRateLimit.headers.set[].value": "string",
    "local.http.onRateLimit.status": "int32",
    "local.http.requestRate.interval": "string",
    "local.http.requestRate.num": "int32",
    "local.tcp.connectionRate.interval": "string",
    "local.tcp.connectionRate.num": "int32",
    "local.tcp.disabled": "boolean",
}
_ACCESSLOG_SCALARS: Leaves = {
    "backends[].file.format.json[].key": "string",
    "backends[].file.format.json[].value": "string",
    "backends[].file.format.omitEmptyValues": "boolean",
    "backends[].file.format.plain": "string",
    "backends[].file.format.type": "string",
    "backends[].file.path": "string",
    "backends[].openTelemetry.attributes[].key": "string",
    "backends[].openTelemetry.attributes[].value": "string",
    "backends[].openTelemetry.backendRef.kind": "string",
    "backends[].openTelemetry.backendRef.labels": "map",
    "backends[].openTelemetry.body": "json",
    "backends[].openTelemetry.endpoint": "string",
    "backends[].tcp.address": "string",
    "backends[].tcp.format.json[].key": "string",
    "backends[].tcp.format.json[].value": "string",
    "backends[].tcp.format.omitEmptyValues": "boolean",
    "backends[].tcp.format.plain": "string",
    "backends[].tcp.format.type": "string",
    "backends[].type": "string",
}
SCALARS: dict[str, Leaves] = {
    "MeshTrafficPermission": {
        **_target_ref("from[].targetRef"),
        **_target_ref("targetRef"),
        "from[].default.action": "string",
        "rules[].default.allowWithShadowDeny[].sni.type": "string",
        "rules[].default.allowWithShadowDeny[].sni.value": "string",
        "rules[].default.allowWithShadowDeny[].spiffeID.type": "string",
        "rules[].default.allowWithShadowDeny[].spiffeID.value": "string",
        "rules[].default.allow[].sni.type": "string",
        "rules[].default.allow[].sni.value": "string",
        "rules[].default.allow[].spiffeID.type": "string",
        "rules[].default.allow[].spiffeID.value": "string",
        "rules[].default.deny[].sni.type": "string",
        "rules[].default.deny[].sni.value": "string",
        "rules[].default.deny[].spiffeID.type": "string",
        "rules[].default.deny[].spiffeID.value": "string",
    },
    "MeshRetry": {
        **_target_ref("targetRef"),
        **_target_ref("to[].targetRef"),
        "to[].default.grpc.backOff.baseInterval": "string",
        "to[].default.grpc.backOff.maxInterval": "string",
        "to[].default.grpc.numRetries": "int32",
        "to[].default.grpc.perTryTimeout": "string",
        "to[].default.grpc.rateLimitedBackOff.maxInterval": "string",
        "to[].default.grpc.rateLimitedBackOff.resetHeaders[].format": "string",
        "to[].default.grpc.rateLimitedBackOff.resetHeaders[].name": "string",
        "to[].default.grpc.retryOn": "strings",
        "to[].default.http.backOff.baseInterval": "string",
        "to[].default.http.backOff.maxInterval": "string",
        "to[].default.http.hostSelectionMaxAttempts": "int64",
        "to[].default.http.hostSelection[].predicate": "string",
        "to[].default.http.hostSelection[].tags": "map",
        "to[].default.http.hostSelection[].updateFrequency": "int32",
        "to[].default.http.numRetries": "int32",
        "to[].default.http.perTryTimeout": "string",
        "to[].default.http.rateLimitedBackOff.maxInterval": "string",
        "to[].default.http.rateLimitedBackOff.resetHeaders[].format": "string",
        "to[].default.http.rateLimitedBackOff.resetHeaders[].name": "string",
        "to[].default.http.retriableRequestHeaders[].name": "string",
        "to[].default.http.retriableRequestHeaders[].type": "string",
        "to[].default.http.retriableRequestHeaders[].value": "string",
        "to[].default.http.retriableResponseHeaders[].name": "string",
        "to[].default.http.retriableResponseHeaders[].type": "string",
        "to[].default.http.retriableResponseHeaders[].value": "string",
        "to[].default.http.retryOn": "strings",
        "to[].default.tcp.maxConnectAttempt": "int32",
    },
    "MeshTimeout": {
        **_target_ref("from[].targetRef"),
        **_target_ref("targetRef"),
        **_target_ref("to[].targetRef"),
        "rules[].matches[].sni.type": "string",
        "rules[].matches[].sni.value": "string",
        "rules[].matches[].spiffeID.type": "string",
        "rules[].matches[].spiffeID.value": "string",
        **_leaves("to[].default.", _TIMEOUT_SCALARS),
        **_leaves("from[].default.", _TIMEOUT_SCALARS),
        **_leaves("rules[].default.", _TIMEOUT_SCALARS),
    },
    "MeshCircuitBreaker": {
        **_target_ref("from[].targetRef"),
        **_target_ref("targetRef"),
        **_target_ref("to[].targetRef"),
        **_leaves("to[].default.", _CIRCUITBREAKER_SCALARS),
        **_leaves("from[].default.", _CIRCUITBREAKER_SCALARS),
        **_leaves("rules[].default.", _CIRCUITBREAKER_SCALARS),
    },
    "MeshHealthCheck": {
        **_target_ref("targetRef"),
        **_target_ref("to[].targetRef"),
        "to[].default.alwaysLogHealthCheckFailures": "boolean",
        "to[].default.eventLogPath": "string",
        "to[].default.failTrafficOnPanic": "boolean",
        "to[].default.grpc.authority": "string",
        "to[].default.grpc.disabled": "boolean",
        "to[].default.grpc.serviceName": "string",
        "to[].default.healthyPanicThreshold": "intstr",
        "to[].default.healthyThreshold": "int32",
        "to[].default.http.disabled": "boolean",
        "to[].default.http.expectedStatuses": "int32s",
        "to[].default.http.path": "string",
        "to[].default.http.requestHeadersToAdd.add[].name": "string",
        "to[].default.http.requestHeadersToAdd.add[].value": "string",
        "to[].default.http.requestHeadersToAdd.set[].name": "string",
        "to[].default.http.requestHeadersToAdd.set[].value": "string",
        "to[].default.initialJitter": "string",
        "to[].default.interval": "string",
        "to[].default.intervalJitter": "string",
        "to[].default.intervalJitterPercent": "int32",
        "to[].default.noTrafficInterval": "string",
        "to[].default.reuseConnection": "boolean",
        "to[].default.tcp.disabled": "boolean",
        "to[].default.tcp.receive": "strings",
        "to[].default.tcp.send": "string",
        "to[].default.timeout": "string",
        "to[].default.unhealthyThreshold": "int32",
    },
    "MeshLoadBalancingStrategy": {
        **_target_ref("targetRef"),
        **_target_ref("to[].targetRef"),
        "to[].default.hashPolicies[].connection.sourceIP": "boolean",
        "to[].default.hashPolicies[].cookie.name": "string",
        "to[].default.hashPolicies[].cookie.path": "string",
        "to[].default.hashPolicies[].cookie.ttl": "string",
        "to[].default.hashPolicies[].filterState.key": "string",
        "to[].default.hashPolicies[].header.name": "string",
        "to[].default.hashPolicies[].queryParameter.name": "string",
        "to[].default.hashPolicies[].terminal": "boolean",
        "to[].default.hashPolicies[].type": "string",
        "to[].default.loadBalancer.leastRequest.activeRequestBias": "intstr",
        "to[].default.loadBalancer.leastRequest.choiceCount": "int32",
        "to[].default.loadBalancer.maglev.hashPolicies[].connection.sourceIP": "boolean",
        "to[].default.loadBalancer.maglev.hashPolicies[].cookie.name": "string",
        "to[].default.loadBalancer.maglev.hashPolicies[].cookie.path": "string",
        "to[].default.loadBalancer.maglev.hashPolicies[].cookie.ttl": "string",
        "to[].default.loadBalancer.maglev.hashPolicies[].filterState.key": "string",
        "to[].default.loadBalancer.maglev.hashPolicies[].header.name": "string",
        "to[].default.loadBalancer.maglev.hashPolicies[].queryParameter.name": "string",
        "to[].default.loadBalancer.maglev.hashPolicies[].terminal": "boolean",
        "to[].default.loadBalancer.maglev.hashPolicies[].type": "string",
        "to[].default.loadBalancer.maglev.tableSize": "int32",
        "to[].default.loadBalancer.random": "object",
        "to[].default.loadBalancer.ringHash.hashFunction": "string",
        "to[].default.loadBalancer.ringHash.hashPolicies[].connection.sourceIP": "boolean",
        "to[].default.loadBalancer.ringHash.hashPolicies[].cookie.name": "string",
        "to[].default.loadBalancer.ringHash.hashPolicies[].cookie.path": "string",
        "to[].default.loadBalancer.ringHash.hashPolicies[].cookie.ttl": "string",
        "to[].default.loadBalancer.ringHash.hashPolicies[].filterState.key": "string",
        "to[].default.loadBalancer.ringHash.hashPolicies[].header.name": "string",
        "to[].default.loadBalancer.ringHash.hashPolicies[].queryParameter.name": "string",
        "to[].default.loadBalancer.ringHash.hashPolicies[].terminal": "boolean",
        "to[].default.loadBalancer.ringHash.hashPolicies[].type": "string",
        "to[].default.loadBalancer.ringHash.maxRingSize": "int32",
        "to[].default.loadBalancer.ringHash.minRingSize": "int32",
        "to[].default.loadBalancer.roundRobin": "object",
        "to[].default.loadBalancer.type": "string",
        "to[].default.localityAwareness.crossZone.failoverThreshold.percentage": "intstr",
        "to[].default.localityAwareness.crossZone.failover[].from.zones": "strings",
        "to[].default.localityAwareness.crossZone.failover[].to.type": "string",
        "to[].default.localityAwareness.crossZone.failover[].to.zones": "strings",
        "to[].default.localityAwareness.disabled": "boolean",
        "to[].default.localityAwareness.localZone.affinityTags[].key": "string",
        "to[].default.localityAwareness.localZone.affinityTags[].weight": "int32",
    },
    "MeshRateLimit": {
        **_target_ref("from[].targetRef"),
        **_target_ref("targetRef"),
        **_target_ref("to[].targetRef"),
        "rules[].matches[].sni.type": "string",
        "rules[].matches[].sni.value": "string",
        "rules[].matches[].spiffeID.type": "string",
        "rules[].matches[].spiffeID.value": "string",
        **_leaves("to[].default.", _RATELIMIT_SCALARS),
        **_leaves("from[].default.", _RATELIMIT_SCALARS),
        **_leaves("rules[].default.", _RATELIMIT_SCALARS),
    },
    "MeshTrace": {
        **_target_ref("targetRef"),
        "default.backends[].datadog.splitService": "boolean",
        "default.backends[].datadog.url": "string",
        "default.backends[].openTelemetry.backendRef.kind": "string",
        "default.backends[].openTelemetry.backendRef.labels": "map",
        "default.backends[].openTelemetry.endpoint": "string",
        "default.backends[].type": "string",
        "default.backends[].zipkin.apiVersion": "string",
        "default.backends[].zipkin.sharedSpanContext": "boolean",
        "default.backends[].zipkin.traceId128bit": "boolean",
        "default.backends[].zipkin.url": "string",
        "default.sampling.client": "intstr",
        "default.sampling.overall": "intstr",
        "default.sampling.random": "intstr",
        "default.tags[].header.default": "string",
        "default.tags[].header.name": "string",
        "default.tags[].literal": "string",
        "default.tags[].name": "string",
    },
    "MeshMetric": {
        **_target_ref("targetRef"),
        "default.applications[].address": "string",
        "default.applications[].name": "string",
        "default.applications[].path": "string",
        "default.applications[].port": "int32",
        "default.backends[].openTelemetry.backendRef.kind": "string",
        "default.backends[].openTelemetry.backendRef.labels": "map",
        "default.backends[].openTelemetry.endpoint": "string",
        "default.backends[].openTelemetry.refreshInterval": "string",
        "default.backends[].prometheus.clientId": "string",
        "default.backends[].prometheus.path": "string",
        "default.backends[].prometheus.port": "int32",
        "default.backends[].prometheus.tls.mode": "string",
        "default.backends[].type": "string",
        "default.sidecar.includeUnused": "boolean",
        "default.sidecar.profiles.appendProfiles[].name": "string",
        "default.sidecar.profiles.exclude[].match": "string",
        "default.sidecar.profiles.exclude[].type": "string",
        "default.sidecar.profiles.include[].match": "string",
        "default.sidecar.profiles.include[].type": "string",
    },
    "MeshAccessLog": {
        **_target_ref("from[].targetRef"),
        **_target_ref("targetRef"),
        **_target_ref("to[].targetRef"),
        "rules[].matches[].sni.type": "string",
        "rules[].matches[].sni.value": "string",
        "rules[].matches[].spiffeID.type": "string",
        "rules[].matches[].spiffeID.value": "string",
        **_leaves("to[].default.", _ACCESSLOG_SCALARS),
        **_leaves("from[].default.", _ACCESSLOG_SCALARS),
        **_leaves("rules[].default.", _ACCESSLOG_SCALARS),
    },
}


# The `enum`s of each policy's rest.yaml (kubebuilder Enum markers on the Go types), for the value at each
# path (a path ending in `[]`: each item of an array). kube-openapi refuses any other value, null included,
# with `in body should be one of [<values>]`.
TARGET_REF_KINDS = (
    "Mesh",
    "MeshSubset",
    "MeshGateway",
    "MeshService",
    "MeshExternalService",
    "MeshMultiZoneService",
    "MeshServiceSubset",
    "MeshHTTPRoute",
    "Dataplane",
)


def _target_ref_enums(base: str) -> dict[str, tuple[str, ...]]:
    """A TargetRef's kind and proxyTypes (api/common/v1alpha1/targetref.go)."""
    return {f"{base}.kind": TARGET_REF_KINDS, f"{base}.proxyTypes[]": ("Sidecar", "Gateway")}


ENUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "MeshTrafficPermission": {
        **_target_ref_enums("from[].targetRef"),
        **_target_ref_enums("targetRef"),
        "from[].default.action": ("Allow", "Deny", "AllowWithShadowDeny"),
        "rules[].default.allowWithShadowDeny[].sni.type": ("Exact",),
        "rules[].default.allowWithShadowDeny[].spiffeID.type": ("Exact", "Prefix"),
        "rules[].default.allow[].sni.type": ("Exact",),
        "rules[].default.allow[].spiffeID.type": ("Exact", "Prefix"),
        "rules[].default.deny[].sni.type": ("Exact",),
        "rules[].default.deny[].spiffeID.type": ("Exact", "Prefix"),
    },
    "MeshRetry": {
        **_target_ref_enums("targetRef"),
        **_target_ref_enums("to[].targetRef"),
        "to[].default.grpc.rateLimitedBackOff.resetHeaders[].format": ("Seconds", "UnixTimestamp"),
        "to[].default.grpc.retryOn[]": ("Canceled", "DeadlineExceeded", "Internal", "ResourceExhausted", "Unavailable"),
        "to[].default.http.hostSelection[].predicate": (
            "OmitPreviousHosts",
            "OmitHostsWithTags",
            "OmitPreviousPriorities",
        ),
        "to[].default.http.rateLimitedBackOff.resetHeaders[].format": ("Seconds", "UnixTimestamp"),
        "to[].default.http.retriableRequestHeaders[].type": (
            "Exact",
            "Present",
            "RegularExpression",
            "Absent",
            "Prefix",
        ),
        "to[].default.http.retriableResponseHeaders[].type": (
            "Exact",
            "Present",
            "RegularExpression",
            "Absent",
            "Prefix",
        ),
    },
    "MeshTimeout": {
        **_target_ref_enums("from[].targetRef"),
        **_target_ref_enums("targetRef"),
        **_target_ref_enums("to[].targetRef"),
        "rules[].matches[].sni.type": ("Exact",),
        "rules[].matches[].spiffeID.type": ("Exact", "Prefix"),
    },
    "MeshCircuitBreaker": {
        **_target_ref_enums("from[].targetRef"),
        **_target_ref_enums("targetRef"),
        **_target_ref_enums("to[].targetRef"),
    },
    "MeshHealthCheck": {
        **_target_ref_enums("targetRef"),
        **_target_ref_enums("to[].targetRef"),
    },
    "MeshLoadBalancingStrategy": {
        **_target_ref_enums("targetRef"),
        **_target_ref_enums("to[].targetRef"),
        "to[].default.hashPolicies[].type": (
            "Header",
            "Cookie",
            "Connection",
            "SourceIP",
            "QueryParameter",
            "FilterState",
        ),
        "to[].default.loadBalancer.maglev.hashPolicies[].type": (
            "Header",
            "Cookie",
            "Connection",
            "SourceIP",
            "QueryParameter",
            "FilterState",
        ),
        "to[].default.loadBalancer.ringHash.hashFunction": ("XXHash", "MurmurHash2"),
        "to[].default.loadBalancer.ringHash.hashPolicies[].type": (
            "Header",
            "Cookie",
            "Connection",
            "SourceIP",
            "QueryParameter",
            "FilterState",
        ),
        "to[].default.loadBalancer.type": ("RoundRobin", "LeastRequest", "RingHash", "Random", "Maglev"),
        "to[].default.localityAwareness.crossZone.failover[].to.type": ("None", "Only", "Any", "AnyExcept"),
    },
    "MeshRateLimit": {
        **_target_ref_enums("from[].targetRef"),
        **_target_ref_enums("targetRef"),
        **_target_ref_enums("to[].targetRef"),
        "rules[].matches[].sni.type": ("Exact",),
        "rules[].matches[].spiffeID.type": ("Exact", "Prefix"),
    },
    "MeshTrace": {
        **_target_ref_enums("targetRef"),
        "default.backends[].openTelemetry.backendRef.kind": ("MeshOpenTelemetryBackend",),
        "default.backends[].type": ("Zipkin", "Datadog", "OpenTelemetry"),
        "default.backends[].zipkin.apiVersion": ("httpJson", "httpProto"),
    },
    "MeshMetric": {
        **_target_ref_enums("targetRef"),
        "default.backends[].openTelemetry.backendRef.kind": ("MeshOpenTelemetryBackend",),
        "default.backends[].prometheus.tls.mode": ("Disabled", "ProvidedTLS", "ActiveMTLSBackend"),
        "default.backends[].type": ("Prometheus", "OpenTelemetry"),
        "default.sidecar.profiles.appendProfiles[].name": ("All", "Basic", "None"),
        "default.sidecar.profiles.exclude[].type": ("Prefix", "Regex", "Exact", "Contains"),
        "default.sidecar.profiles.include[].type": ("Prefix", "Regex", "Exact", "Contains"),
    },
    "MeshAccessLog": {
        **_target_ref_enums("from[].targetRef"),
        **_target_ref_enums("targetRef"),
        **_target_ref_enums("to[].targetRef"),
        "from[].default.backends[].file.format.type": ("Plain", "Json"),
        "from[].default.backends[].openTelemetry.backendRef.kind": ("MeshOpenTelemetryBackend",),
        "from[].default.backends[].tcp.format.type": ("Plain", "Json"),
        "from[].default.backends[].type": ("Tcp", "File", "OpenTelemetry"),
        "rules[].default.backends[].file.format.type": ("Plain", "Json"),
        "rules[].default.backends[].openTelemetry.backendRef.kind": ("MeshOpenTelemetryBackend",),
        "rules[].default.backends[].tcp.format.type": ("Plain", "Json"),
        "rules[].default.backends[].type": ("Tcp", "File", "OpenTelemetry"),
        "rules[].matches[].sni.type": ("Exact",),
        "rules[].matches[].spiffeID.type": ("Exact", "Prefix"),
        "to[].default.backends[].file.format.type": ("Plain", "Json"),
        "to[].default.backends[].openTelemetry.backendRef.kind": ("MeshOpenTelemetryBackend",),
        "to[].default.backends[].tcp.format.type": ("Plain", "Json"),
        "to[].default.backends[].type": ("Tcp", "File", "OpenTelemetry"),
    },
}


def known_fields(objects: Objects, value: Any, path: str = "") -> Any:
    """`value` with what the Go struct (or proto message) has no member for left out, at every depth, and
    the nulls the schema let through (only an untyped field takes one: an int-or-string) too: a null decodes
    to a nil pointer, which an `omitempty` field leaves out when it is read back."""
    if isinstance(value, list):
        return [known_fields(objects, item, path + "[]") for item in value]
    if not isinstance(value, dict) or path not in objects:
        return value
    names = objects[path]
    return {
        key: known_fields(objects, item, f"{path}.{key}" if path else key)
        for key, item in value.items()
        if key in names and item is not None
    }


def unknown_fields(objects: Objects, value: Any, path: str = "", shown: str = "") -> list[str]:
    """The paths (`.to[0].default.foo`, from `shown`) of the fields `known_fields` leaves out, in the body's order."""
    if isinstance(value, list):
        found: list[str] = []
        for i, item in enumerate(value):
            found += unknown_fields(objects, item, path + "[]", f"{shown}[{i}]")
        return found
    if not isinstance(value, dict) or path not in objects:
        return []
    found = []
    for key, item in value.items():
        if key not in objects[path]:
            found.append(f"{shown}.{key}")
        else:
            found += unknown_fields(objects, item, f"{path}.{key}" if path else key, f"{shown}.{key}")
    return found
