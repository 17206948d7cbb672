"""Hand-written Kong 3.9 schemas for the emulator: the entities and plugins the tests use, in the JSON form
`GET /schemas/<entity>` returns (`{"fields": [{"name": {...}}, ...]}`). Field names, types, defaults and
uniqueness follow Kong 3.9's entity and plugin schema modules (kong/db/schema/entities/*.lua,
kong/plugins/*/schema.lua and daos.lua); only what the tests need is here."""

from __future__ import annotations

from typing import Any

Field = dict[str, Any]


def f(name: str, type_: str, **spec: Any) -> Field:
    return {name: {"type": type_, **spec}}


def record(name: str, fields: list[Field], **spec: Any) -> Field:
    return {name: {"type": "record", "fields": fields, **spec}}


def foreign(name: str, reference: str, **spec: Any) -> Field:
    return {name: {"type": "foreign", "reference": reference, **spec}}


ID = f("id", "string", uuid=True, auto=True)
CREATED = f("created_at", "integer", timestamp=True, auto=True)
UPDATED = f("updated_at", "integer", timestamp=True, auto=True)
TAGS = f("tags", "set", elements={"type": "string"})
HTTP_PROTOCOLS = ["grpc", "grpcs", "http", "https"]

ENTITIES: dict[str, dict[str, Any]] = {
    "services": {
        "endpoint_key": "name",
        "fields": [
            ID,
            CREATED,
            UPDATED,
            f("name", "string", unique=True),
            f("retries", "integer", default=5, between=[0, 32767]),
            f(
                "protocol",
                "string",
                default="http",
                required=True,
                one_of=["grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp"],
            ),
            f("host", "string", required=True),
            f("port", "integer", default=80, required=True, between=[0, 65535]),
            f("path", "string"),
            f("connect_timeout", "integer", default=60000, between=[1, 2147483646]),
            f("write_timeout", "integer", default=60000, between=[1, 2147483646]),
            f("read_timeout", "integer", default=60000, between=[1, 2147483646]),
            TAGS,
            f("client_certificate", "foreign", reference="certificates"),
            f("tls_verify", "boolean"),
            f("tls_verify_depth", "integer", between=[0, 64]),
            f("ca_certificates", "array", elements={"type": "string", "uuid": True}),
            f("enabled", "boolean", default=True, required=True),
        ],
    },
    "routes": {
        "endpoint_key": "name",
        "fields": [
            ID,
            CREATED,
            UPDATED,
            f("name", "string", unique=True),
            f(
                "protocols",
                "set",
                default=["http", "https"],
                required=True,
                elements={
                    "type": "string",
                    "one_of": ["grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp"],
                },
            ),
            f("methods", "set", elements={"type": "string"}),
            f("hosts", "array", elements={"type": "string"}),
            f("paths", "array", elements={"type": "string"}),
            f("headers", "map", keys={"type": "string"}, values={"type": "array", "elements": {"type": "string"}}),
            f("https_redirect_status_code", "integer", default=426, required=True, one_of=[426, 301, 302, 307, 308]),
            f("regex_priority", "integer", default=0),
            f("strip_path", "boolean", default=True, required=True),
            f("path_handling", "string", default="v0", one_of=["v0", "v1"]),
            f("preserve_host", "boolean", default=False, required=True),
            f("request_buffering", "boolean", default=True, required=True),
            f("response_buffering", "boolean", default=True, required=True),
            f("snis", "set", elements={"type": "string"}),
            f("sources", "set", elements={"type": "record"}),
            f("destinations", "set", elements={"type": "record"}),
            TAGS,
            foreign("service", "services"),
        ],
    },
    "upstreams": {
        "endpoint_key": "name",
        "fields": [
            ID,
            CREATED,
            UPDATED,
            f("name", "string", required=True, unique=True),
            f(
                "algorithm",
                "string",
                default="round-robin",
                one_of=[
                    "consistent-hashing",
                    "least-connections",
                    "round-robin",
                    "latency",
                ],  # no sticky-sessions in 3.9
            ),
            f("hash_on", "string", default="none"),
            f("hash_fallback", "string", default="none"),
            f("hash_on_header", "string"),
            f("hash_fallback_header", "string"),
            f("hash_on_cookie", "string"),
            f("hash_on_cookie_path", "string", default="/"),
            f("slots", "integer", default=10000, between=[10, 65536]),
            record(
                "healthchecks",
                [
                    record(
                        "active",
                        [
                            f("type", "string", default="http"),
                            f("timeout", "number", default=1),
                            f("concurrency", "integer", default=10),
                            f("http_path", "string", default="/"),
                            record(
                                "healthy",
                                [
                                    f("interval", "number", default=0),
                                    f("http_statuses", "array", default=[200, 302], elements={"type": "integer"}),
                                    f("successes", "integer", default=0),
                                ],
                            ),
                            record(
                                "unhealthy",
                                [
                                    f("interval", "number", default=0),
                                    f(
                                        "http_statuses",
                                        "array",
                                        default=[429, 404, 500, 501, 502, 503, 504, 505],
                                        elements={"type": "integer"},
                                    ),
                                    f("tcp_failures", "integer", default=0),
                                    f("timeouts", "integer", default=0),
                                    f("http_failures", "integer", default=0),
                                ],
                            ),
                        ],
                    ),
                    record(
                        "passive",
                        [
                            f("type", "string", default="http"),
                            record(
                                "healthy",
                                [
                                    f(
                                        "http_statuses",
                                        "array",
                                        default=[*range(200, 209), 226, *range(300, 309)],
                                        elements={"type": "integer"},
                                    ),
                                    f("successes", "integer", default=0),
                                ],
                            ),
                            record(
                                "unhealthy",
                                [
                                    f("http_statuses", "array", default=[429, 500, 503], elements={"type": "integer"}),
                                    f("tcp_failures", "integer", default=0),
                                    f("timeouts", "integer", default=0),
                                    f("http_failures", "integer", default=0),
                                ],
                            ),
                        ],
                    ),
                    f("threshold", "number", default=0),
                ],
            ),
            f("host_header", "string"),
            TAGS,
            f("use_srv_name", "boolean", default=False),
        ],
    },
    "targets": {
        "endpoint_key": "target",
        "fields": [
            ID,
            CREATED,
            UPDATED,
            foreign("upstream", "upstreams", required=True, on_delete="cascade"),
            f("target", "string", required=True),
            f("weight", "integer", default=100, between=[0, 65535]),
            TAGS,
        ],
    },
    "consumers": {
        "endpoint_key": "username",
        "fields": [
            ID,
            CREATED,
            UPDATED,
            f("username", "string", unique=True),
            f("custom_id", "string", unique=True),
            TAGS,
        ],
    },
    "plugins": {
        "endpoint_key": "instance_name",
        "fields": [
            ID,
            f("name", "string", required=True),
            f("instance_name", "string", unique=True),
            CREATED,
            UPDATED,
            foreign("route", "routes", default=None, on_delete="cascade"),
            foreign("service", "services", default=None, on_delete="cascade"),
            foreign("consumer", "consumers", default=None, on_delete="cascade"),
            {"config": {"type": "record", "abstract": True}},
            f(
                "protocols",
                "set",
                default=["grpc", "grpcs", "http", "https"],
                required=True,
                elements={"type": "string"},
            ),
            f("enabled", "boolean", default=True),
            TAGS,
            f("ordering", "record", fields=[]),
        ],
    },
    "keyauth_credentials": {
        "endpoint_key": "key",
        "fields": [
            ID,
            CREATED,
            foreign("consumer", "consumers", required=True, on_delete="cascade"),
            f("key", "string", unique=True, auto=True),
            f("ttl", "integer"),
            TAGS,
        ],
    },
    "basicauth_credentials": {
        "endpoint_key": "username",
        "fields": [
            ID,
            CREATED,
            foreign("consumer", "consumers", required=True, on_delete="cascade"),
            f("username", "string", required=True, unique=True),
            f("password", "string", required=True),
            TAGS,
        ],
    },
    "jwt_secrets": {
        "endpoint_key": "key",
        "fields": [
            ID,
            CREATED,
            foreign("consumer", "consumers", required=True, on_delete="cascade"),
            f("key", "string", unique=True, auto=True),
            f("secret", "string", auto=True),
            f("rsa_public_key", "string"),
            f("algorithm", "string", default="HS256"),
            TAGS,
        ],
    },
    "oauth2_credentials": {
        "endpoint_key": "client_id",
        "fields": [
            ID,
            CREATED,
            foreign("consumer", "consumers", required=True, on_delete="cascade"),
            f("name", "string", required=True),
            f("client_id", "string", unique=True, auto=True),
            f("client_secret", "string", auto=True),
            f("hash_secret", "boolean", default=False, required=True),
            f("redirect_uris", "array", elements={"type": "string"}),
            TAGS,
        ],
    },
    "acls": {
        "fields": [
            ID,
            CREATED,
            foreign("consumer", "consumers", required=True, on_delete="cascade"),
            f("group", "string", required=True),
            TAGS,
        ],
        "unique_together": ["consumer", "group"],
    },
}

# Admin API collection -> DAO, and back.
COLLECTIONS = {
    "services": "services",
    "routes": "routes",
    "upstreams": "upstreams",
    "consumers": "consumers",
    "plugins": "plugins",
    "key-auths": "keyauth_credentials",
    "basic-auths": "basicauth_credentials",
    "jwts": "jwt_secrets",
    "oauth2": "oauth2_credentials",
    "acls": "acls",
}
CREDENTIAL_PLUGIN = {
    "keyauth_credentials": "key-auth",
    "basicauth_credentials": "basic-auth",
    "jwt_secrets": "jwt",
    "oauth2_credentials": "oauth2",
    "acls": "acl",
}


def _plugin(fields: list[Field], protocols: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "fields": [
            f("protocols", "set", default=protocols or HTTP_PROTOCOLS, required=True, elements={"type": "string"}),
            record("config", fields, required=True),
            *[{k: v} for k, v in extra.items()],
        ]
    }


AUTH_COMMON = [f("anonymous", "string"), f("run_on_preflight", "boolean", default=True, required=True)]
REDIS = record(
    "redis",
    [
        f("host", "string"),
        f("port", "integer", default=6379),
        f("username", "string"),
        f("password", "string"),
        f("database", "integer", default=0),
        f("timeout", "integer", default=2000),
        f("ssl", "boolean", default=False, required=True),
        f("ssl_verify", "boolean", default=False, required=True),
    ],
    required=True,
)

PLUGINS: dict[str, dict[str, Any]] = {
    "key-auth": _plugin(
        [
            f("key_names", "array", default=["apikey"], required=True, elements={"type": "string"}),
            f("hide_credentials", "boolean", default=False, required=True),
            f("key_in_header", "boolean", default=True, required=True),
            f("key_in_query", "boolean", default=True, required=True),
            f("key_in_body", "boolean", default=False, required=True),
            f("realm", "string"),
            *AUTH_COMMON,
        ]
    ),
    "basic-auth": _plugin(
        [
            f("hide_credentials", "boolean", default=False, required=True),
            f("realm", "string", default="service"),
            f("anonymous", "string"),
        ]
    ),
    "jwt": _plugin(
        [
            f("uri_param_names", "set", default=["jwt"], elements={"type": "string"}),
            f("cookie_names", "set", default=[], elements={"type": "string"}),
            f("key_claim_name", "string", default="iss"),
            f("secret_is_base64", "boolean", default=False, required=True),
            f("claims_to_verify", "set", elements={"type": "string", "one_of": ["exp", "nbf"]}),
            f("maximum_expiration", "number", default=0),
            f("header_names", "set", default=["authorization"], elements={"type": "string"}),
            f("realm", "string"),
            *AUTH_COMMON,
        ]
    ),
    "acl": _plugin(
        [
            f("allow", "array", elements={"type": "string"}),
            f("deny", "array", elements={"type": "string"}),
            f("hide_groups_header", "boolean", default=False, required=True),
            f("always_use_authenticated_groups", "boolean", default=False, required=True),
        ]
    ),
    "rate-limiting": _plugin(
        [
            *[f(p, "number", gt=0) for p in ("second", "minute", "hour", "day", "month", "year")],
            f(
                "limit_by",
                "string",
                default="consumer",
                required=True,
                one_of=["consumer", "credential", "ip", "service", "header", "path"],
            ),
            f("header_name", "string"),
            f("path", "string"),
            f("policy", "string", default="local", required=True, one_of=["local", "cluster", "redis"]),
            f("fault_tolerant", "boolean", default=True, required=True),
            REDIS,
            f("hide_client_headers", "boolean", default=False, required=True),
            f("error_code", "number", default=429),
            f("error_message", "string", default="API rate limit exceeded"),
            f("sync_rate", "number", default=-1),
        ]
    ),
    "cors": _plugin(
        [
            f("origins", "array", elements={"type": "string"}),
            f("headers", "array", elements={"type": "string"}),
            f("exposed_headers", "array", elements={"type": "string"}),
            f(
                "methods",
                "array",
                default=["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"],
                elements={"type": "string"},
            ),
            f("max_age", "number"),
            f("credentials", "boolean", default=False, required=True),
            f("private_network", "boolean", default=False, required=True),
            f("preflight_continue", "boolean", default=False, required=True),
        ]
    ),
    "request-termination": _plugin(
        [
            f("status_code", "integer", default=503, required=True, between=[100, 599]),
            f("message", "string"),
            f("content_type", "string"),
            f("body", "string"),
            f("trigger", "string"),
            f("echo", "boolean", default=False, required=True),
        ]
    ),
    "ip-restriction": _plugin(
        [
            f("allow", "array", elements={"type": "string"}),
            f("deny", "array", elements={"type": "string"}),
            f("status", "number"),
            f("message", "string"),
        ]
    ),
    "correlation-id": _plugin(
        [
            f("header_name", "string", default="Kong-Request-ID"),
            f("generator", "string", default="uuid#counter", required=True, one_of=["uuid", "uuid#counter", "tracker"]),
            f("echo_downstream", "boolean", default=False, required=True),
        ]
    ),
    "prometheus": _plugin(
        [
            f(k, "boolean", default=False)
            for k in (
                "per_consumer",
                "status_code_metrics",
                "ai_metrics",
                "latency_metrics",
                "bandwidth_metrics",
                "upstream_health_metrics",
            )
        ]
    ),
    "request-size-limiting": _plugin(
        [
            f("allowed_payload_size", "integer", default=128),
            f("size_unit", "string", default="megabytes", required=True, one_of=["megabytes", "kilobytes", "bytes"]),
            f("require_content_length", "boolean", default=False, required=True),
        ]
    ),
}

# typedefs.no_consumer in these plugins' schemas: Kong refuses them on a consumer ("value must be null")
for _name in ("acl", "basic-auth", "cors", "jwt", "key-auth"):
    PLUGINS[_name]["fields"].append(foreign("consumer", "consumers", eq=None))
