"""Which Kong plugins exist where. Source: kong/constants.lua of Kong OSS 3.9.3 (the bundled set)
and the Kong Gateway 3.9 plugin hub (enterprise-only plugins)."""

from __future__ import annotations

OSS_PLUGINS = frozenset(
    {
        "jwt", "acme", "correlation-id", "cors", "oauth2", "tcp-log", "udp-log", "file-log", "http-log",
        "key-auth", "hmac-auth", "basic-auth", "ip-restriction", "request-transformer",
        "response-transformer", "request-size-limiting", "rate-limiting", "response-ratelimiting",
        "syslog", "loggly", "datadog", "ldap-auth", "statsd", "bot-detection", "aws-lambda",
        "request-termination", "prometheus", "proxy-cache", "session", "acl", "azure-functions",
        "zipkin", "pre-function", "post-function", "grpc-gateway", "grpc-web", "opentelemetry",
        "ai-proxy", "ai-prompt-decorator", "ai-prompt-template", "ai-prompt-guard",
        "ai-request-transformer", "ai-response-transformer", "standard-webhooks", "redirect",
    }
)  # fmt: skip

ENTERPRISE_PLUGINS = frozenset(
    {
        "rate-limiting-advanced", "proxy-cache-advanced", "opa", "openid-connect", "oauth2-introspection",
        "jwt-signer", "mtls-auth", "key-auth-enc", "ldap-auth-advanced", "vault-auth", "saml",
        "header-cert-auth", "upstream-oauth", "request-validator", "oas-validation",
        "json-threat-protection", "xml-threat-protection", "injection-protection",
        "request-transformer-advanced", "response-transformer-advanced", "route-transformer-advanced",
        "route-by-header", "exit-transformer", "canary", "forward-proxy", "degraphql",
        "graphql-rate-limiting-advanced", "graphql-proxy-cache-advanced", "kafka-log", "kafka-upstream",
        "confluent", "websocket-size-limit", "websocket-validator", "statsd-advanced", "datadog-tracing",
        "app-dynamics", "mocking", "jq", "jwe-decrypt", "tls-handshake-modifier", "tls-metadata-headers",
        "service-protection", "upstream-timeout", "application-registration", "konnect-application-auth",
        "ai-proxy-advanced", "ai-rate-limiting-advanced", "ai-semantic-cache", "ai-semantic-prompt-guard",
        "ai-azure-content-safety",
    }
)  # fmt: skip

KNOWN_PLUGINS = OSS_PLUGINS | ENTERPRISE_PLUGINS
