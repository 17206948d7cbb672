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


def known_fields(objects: Objects, value: Any, path: str = "") -> Any:
    """`value` with what the Go struct (or proto message) has no member for left out, at every depth."""
    if isinstance(value, list):
        return [known_fields(objects, item, path + "[]") for item in value]
    if not isinstance(value, dict) or path not in objects:
        return value
    names = objects[path]
    return {
        key: known_fields(objects, item, f"{path}.{key}" if path else key)
        for key, item in value.items()
        if key in names
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
