"""Which Kong plugins exist where. Source: kong/constants.lua of Kong OSS 3.9.3 (the bundled set)
and the Kong Gateway 3.9 plugin hub (enterprise-only plugins)."""

from __future__ import annotations

from typing import Any

OSS_PLUGINS = frozenset(
    {
        "jwt",
        "acme",
        "correlation-id",
        "cors",
        "oauth2",
        "tcp-log",
        "udp-log",
        "file-log",
        "http-log",
        "key-auth",
        "hmac-auth",
        "basic-auth",
        "ip-restriction",
        "request-transformer",
        "response-transformer",
        "request-size-limiting",
        "rate-limiting",
        "response-ratelimiting",
        "syslog",
        "loggly",
        "datadog",
        "ldap-auth",
        "statsd",
        "bot-detection",
        "aws-lambda",
        "request-termination",
        "prometheus",
        "proxy-cache",
        "session",
        "acl",
        "azure-functions",
        "zipkin",
        "pre-function",
        "post-function",
        "grpc-gateway",
        "grpc-web",
        "opentelemetry",
        "ai-proxy",
        "ai-prompt-decorator",
        "ai-prompt-template",
        "ai-prompt-guard",
        "ai-request-transformer",
        "ai-response-transformer",
        "standard-webhooks",
        "redirect",
    }
)

ENTERPRISE_PLUGINS = frozenset(
    {
        "rate-limiting-advanced",
        "proxy-cache-advanced",
        "opa",
        "openid-connect",
        "oauth2-introspection",
        "jwt-signer",
        "mtls-auth",
        "key-auth-enc",
        "ldap-auth-advanced",
        "vault-auth",
        "saml",
        "header-cert-auth",
        "upstream-oauth",
        "request-validator",
        "oas-validation",
        "json-threat-protection",
        "xml-threat-protection",
        "injection-protection",
        "request-transformer-advanced",
        "response-transformer-advanced",
        "route-transformer-advanced",
        "route-by-header",
        "exit-transformer",
        "canary",
        "forward-proxy",
        "degraphql",
        "graphql-rate-limiting-advanced",
        "graphql-proxy-cache-advanced",
        "kafka-log",
        "kafka-upstream",
        "confluent",
        "websocket-size-limit",
        "websocket-validator",
        "statsd-advanced",
        "datadog-tracing",
        "app-dynamics",
        "mocking",
        "jq",
        "jwe-decrypt",
        "tls-handshake-modifier",
        "tls-metadata-headers",
        "service-protection",
        "upstream-timeout",
        "application-registration",
        "konnect-application-auth",
        "ai-proxy-advanced",
        "ai-rate-limiting-advanced",
        "ai-semantic-cache",
        "ai-semantic-prompt-guard",
        "ai-azure-content-safety",
    }
)

KNOWN_PLUGINS = OSS_PLUGINS | ENTERPRISE_PLUGINS

# Bundled plugins whose Kong 3.9 schema refuses a consumer (`consumer = typedefs.no_consumer`): Kong answers
# 400 "consumer: value must be null" to one in consumers[].plugins.
NO_CONSUMER_PLUGINS = frozenset(
    {
        "acl",
        "acme",
        "ai-request-transformer",
        "basic-auth",
        "bot-detection",
        "cors",
        "hmac-auth",
        "jwt",
        "key-auth",
        "ldap-auth",
        "oauth2",
        "post-function",
        "pre-function",
        "session",
        "standard-webhooks",
    }
)

# Bundled plugins whose schema refuses a service and a route too (`typedefs.no_service`, `typedefs.no_route`):
# global only.
GLOBAL_ONLY_PLUGINS = frozenset({"acme"})

# Shorthand config fields whose Kong 3.9 schema names no replacement Kong's `/schemas` could tell (their Lua
# `func` sets another field): Kong stores the value under that field and never shows the shorthand again, so a
# catalog naming one would differ from Kong on every plan. Each is rendered as the field Kong stores, with the
# value Kong stores: (that field, None for one Kong ignores; whether the field wins when both are given, as it
# does over a deprecated shorthand; values the func changes). kong/plugins/session/schema.lua (the options of
# lua-resty-session 3), kong/plugins/opentelemetry/schema.lua.
SHORTHAND_FIELDS: dict[str, dict[str, tuple[str | None, bool, dict[str, str]]]] = {
    "session": {
        "cookie_lifetime": ("rolling_timeout", False, {}),
        "cookie_idletime": ("idling_timeout", False, {}),
        "cookie_renew": (None, False, {}),
        "cookie_discard": ("stale_ttl", False, {}),
        "cookie_samesite": ("cookie_same_site", False, {"off": "Lax"}),
        "cookie_httponly": ("cookie_http_only", False, {}),
        "cookie_persistent": ("remember", False, {}),
    },
    "opentelemetry": {"endpoint": ("traces_endpoint", True, {})},
}


def without_shorthands(plugin: str, config: dict[str, Any]) -> dict[str, Any]:
    """A raw plugin config with the SHORTHAND_FIELDS of its plugin written as the fields Kong stores."""
    shorthands = SHORTHAND_FIELDS.get(plugin)
    if not shorthands or not shorthands.keys() & config.keys():
        return config
    out = {k: v for k, v in config.items() if k not in shorthands}
    for name, (field, field_wins, values) in shorthands.items():
        value = config.get(name)
        if value is None or field is None or (field_wins and out.get(field) is not None):
            continue
        out[field] = values.get(value, value) if isinstance(value, str) else value
    return out
