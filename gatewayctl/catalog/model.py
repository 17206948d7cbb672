"""The catalog, format 1, as typed data. Unknown keys are rejected everywhere (`extra="forbid"`),
types are strict (a quoted "5" is not the number 5), and every value type explains itself.

Field docstrings become the JSON Schema's descriptions, which editors show on hover.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from gatewayctl.catalog import units
from gatewayctl.catalog.types import (
    CacheTtl,
    Cidr,
    Duration,
    DurationRange,
    HeaderName,
    Host,
    HostPort,
    HttpUrl,
    JwtMaximumExpiration,
    KongHealthSeconds,
    KongHost,
    KongHostPort,
    KongRegexPriority,
    KongServiceTimeout,
    KongTimeout,
    KongTtl,
    LabelKey,
    LabelValue,
    Method,
    Name,
    RoutePath,
    Seconds,
    Secret,
    Size,
    Tag,
    Url,
    target_from_text,
)

AuthMethod = Literal["jwt", "key-auth", "basic-auth", "oauth2"]
ServiceProtocol = Literal["http", "https", "grpc", "grpcs", "tcp", "tls"]
RouteProtocol = Literal["http", "https", "grpc", "grpcs", "tcp", "tls", "udp", "tls_passthrough", "ws", "wss"]
NonEmpty = Annotated[str, Field(min_length=1)]  # Kong refuses "" in a string field (its default len_min 1)
PluginConfig = dict[str, Any] | None
Plugins = dict[str, PluginConfig]
Labels = dict[LabelKey, LabelValue]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)


# --------------------------------------------------------------------------- shared shapes


class Timeouts(Model):
    connect: KongServiceTimeout | None = None
    """Time to open a connection to the upstream (Kong default 60s)."""
    read: KongServiceTimeout | None = None
    """Time between two successive reads from the upstream (Kong default 60s)."""
    write: KongServiceTimeout | None = None
    """Time between two successive writes to the upstream (Kong default 60s)."""


class Redis(Model):
    host: KongHost
    port: int = Field(6379, ge=1, le=65535)
    username: str | None = None
    password: Secret | None = None
    database: int = Field(0, ge=0)
    ssl: bool = False
    ssl_verify: bool = False
    timeout: KongTimeout | None = None


class RateLimit(Model):
    """Kong rate-limiting: at least one of second/minute/hour/day/month/year."""

    second: int | None = Field(None, gt=0)
    minute: int | None = Field(None, gt=0)
    hour: int | None = Field(None, gt=0)
    day: int | None = Field(None, gt=0)
    month: int | None = Field(None, gt=0)
    year: int | None = Field(None, gt=0)
    by: str = "consumer"
    """What a limit counts: consumer | credential | ip | service | header:NAME | path:/p."""
    policy: Literal["local", "cluster", "redis"] = "local"
    redis: Redis | None = None
    fault_tolerant: bool = True
    """Keep proxying when the counter store is down."""
    hide_client_headers: bool = False


CorsMethod = Literal["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"]


class Cors(Model):
    origins: list[NonEmpty] = Field(min_length=1)
    """Allowed origins: exact values, '*' or PCRE regexes."""
    methods: list[CorsMethod] | None = None
    """The methods Kong's cors plugin can allow (its schema accepts these nine)."""
    headers: list[HeaderName] | None = None
    exposed_headers: list[HeaderName] | None = None
    credentials: bool = False
    max_age: Seconds | None = None
    preflight_continue: bool = False
    private_network: bool = False


class Cache(Model):
    ttl: CacheTtl = units.Duration(300_000, "5m")
    content_types: list[NonEmpty] = ["text/plain", "application/json"]
    methods: list[Literal["GET", "HEAD", "POST", "PATCH", "PUT"]] = ["GET", "HEAD"]
    # proxy-cache's response_code: at least one, each between 100 and 900 (Kong 3.9's schema.lua).
    response_codes: list[Annotated[int, Field(ge=100, le=900)]] = Field([200, 301, 404], min_length=1)
    vary_headers: list[HeaderName] | None = None
    vary_query_params: list[NonEmpty] | None = None


# --------------------------------------------------------------------------- gateway


class RequestId(Model):
    header: HeaderName = "X-Request-ID"
    generator: Literal["uuid", "uuid#counter", "tracker"] = "uuid#counter"
    echo_downstream: bool = True


class Metrics(Model):
    status_codes: bool = False
    latency: bool = False
    bandwidth: bool = False
    upstream_health: bool = False
    per_consumer: bool = False


class ZipkinTracing(Model):
    endpoint: HttpUrl
    """Zipkin's span collector, e.g. http://zipkin.observability.svc:9411/api/v2/spans."""
    sample_ratio: float = Field(0.001, ge=0, le=1)
    """Share of requests traced, 0 to 1 (Kong's default is 0.001)."""


class GatewayTracing(Model):
    zipkin: ZipkinTracing | None = None


class SecurityHeaders(Model):
    hsts_max_age: Seconds = units.Duration(31_536_000_000, "365d")
    frame_options: Literal["DENY", "SAMEORIGIN"] = "DENY"
    content_security_policy: str = "default-src 'self'; frame-ancestors 'none'"
    referrer_policy: str = "no-referrer"


def _security_headers(value: Any) -> Any:
    if value is True:
        return {}
    if value is False:
        return None
    return value


# `true` stands for the default headers; the JSON Schema offers both spellings to editors.
SecurityHeadersSetting = Annotated[SecurityHeaders | bool | None, BeforeValidator(_security_headers)]


class Gateway(Model):
    edition: Literal["oss", "enterprise"] = "oss"
    """Kong edition; enterprise-only features are errors on oss."""
    mode: Literal["db", "dbless"] = "db"
    """db: entity-by-entity sync over the Admin API; dbless: one POST /config."""
    request_id: RequestId | None = None
    metrics: Metrics | None = None
    tracing: GatewayTracing | None = None
    security_headers: SecurityHeadersSetting = None
    """true, or a mapping overriding the header values (response-transformer, global)."""
    cors: Cors | None = None
    rate_limit: RateLimit | None = None
    plugins: Plugins = Field(default_factory=dict)


# --------------------------------------------------------------------------- mesh


class MeshMtls(Model):
    mode: Literal["strict", "permissive"] = "strict"
    rotation: Duration | None = None
    """How long data plane certificates live before they are rotated (Kuma default 24h)."""


class MeshZipkin(Model):
    endpoint: HttpUrl
    sampling: float = Field(100, ge=0, le=100)
    """Percent of requests traced (0-100)."""


class MeshTracing(Model):
    zipkin: MeshZipkin | None = None


class MeshPrometheus(Model):
    port: int = Field(5670, ge=1, le=65535)
    path: str = "/metrics"


class MeshMetrics(Model):
    prometheus: MeshPrometheus | None = None


class MeshAccessLog(Model):
    file: str | None = None
    tcp: HostPort | None = None


class Mesh(Model):
    enabled: bool = True
    name: Name = "default"
    mtls: MeshMtls | None = None
    default_action: Literal["deny", "allow"] = "deny"
    gateway_selector: Labels = Field(default_factory=lambda: {"app": "kong"})
    """Labels of Kong's data planes (Kong runs as a delegated gateway)."""
    tracing: MeshTracing | None = None
    metrics: MeshMetrics | None = None
    access_log: MeshAccessLog | None = None


# --------------------------------------------------------------------------- consumers


class KeyAuthCredential(Model):
    key: Secret
    ttl: KongTtl | None = None


class JwtCredential(Model):
    key: NonEmpty
    """The value of the token's key claim (iss by default) that selects this credential."""
    secret: Secret | None = None
    algorithm: Literal[
        "HS256",
        "HS384",
        "HS512",
        "RS256",
        "RS384",
        "RS512",
        "ES256",
        "ES384",
        "PS256",
        "PS384",
        "PS512",
        "EdDSA",
    ] = "HS256"
    rsa_public_key: NonEmpty | None = None
    """The PEM public key (-----BEGIN PUBLIC KEY-----) verifying RS*, PS*, ES*, EdDSA tokens; often ${file:...}."""


class BasicAuthCredential(Model):
    username: str = Field(min_length=1)
    password: Secret


class OAuth2Credential(Model):
    name: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret: Secret
    redirect_uris: list[Url] = Field(default_factory=list)
    hash_secret: bool = False


class Credentials(Model):
    key_auth: list[KeyAuthCredential] = Field(default_factory=list)
    jwt: list[JwtCredential] = Field(default_factory=list)
    basic_auth: list[BasicAuthCredential] = Field(default_factory=list)
    oauth2: list[OAuth2Credential] = Field(default_factory=list)


class Consumer(Model):
    name: Name
    custom_id: str | None = None
    tags: list[Tag] = Field(default_factory=list)
    groups: list[Name] = Field(default_factory=list)
    """ACL groups this consumer belongs to."""
    credentials: Credentials = Field(default_factory=Credentials)
    rate_limit: RateLimit | None = None
    plugins: Plugins = Field(default_factory=dict)


# --------------------------------------------------------------------------- services


class Target(Model):
    target: HostPort
    weight: int = Field(100, ge=0, le=65535)


class ActiveHealthCheck(Model):
    path: str = "/"
    interval: KongHealthSeconds = units.Duration(5000, "5s")
    timeout: KongHealthSeconds = units.Duration(1000, "1s")
    healthy_after: int = Field(2, ge=1, le=255)
    unhealthy_after: int = Field(3, ge=1, le=255)
    type: Literal["http", "https", "tcp"] = "http"
    healthy_statuses: list[Annotated[int, Field(ge=200, le=999)]] | None = None
    unhealthy_statuses: list[Annotated[int, Field(ge=200, le=999)]] | None = None


class CircuitBreaker(Model):
    http_failures: int = Field(0, ge=0, le=255)
    timeouts: int = Field(0, ge=0, le=255)
    tcp_failures: int = Field(0, ge=0, le=255)
    statuses: list[Annotated[int, Field(ge=100, le=999)]] | None = None
    """Statuses counted as failures (Kong default 429, 500, 503)."""


class Upstream(Model):
    algorithm: Literal["round-robin", "least-connections", "consistent-hashing", "latency"] = "round-robin"
    hash_on: str | None = None
    """With consistent-hashing: consumer | ip | header:NAME | cookie:NAME | path."""
    hash_fallback: str | None = None
    # The schema offers both spellings to editors; validation turns the short one into a Target.
    targets: list[Annotated[Target, BeforeValidator(target_from_text, json_schema_input_type=HostPort | Target)]] = (
        Field(min_length=1)
    )
    health_check: ActiveHealthCheck | None = None
    circuit_breaker: CircuitBreaker | None = None
    host_header: KongHostPort | None = None
    slots: int = Field(10000, ge=10, le=65536)


class StreamEndpoint(Model):
    """A TCP/TLS route's client (sources) or listener (destinations) address: an IP or network, a port, or both."""

    ip: Cidr | None = None
    port: int | None = Field(None, ge=1, le=65535)


class Route(Model):
    name: Name
    paths: list[RoutePath] = Field(default_factory=list)
    hosts: list[Host] = Field(default_factory=list)
    methods: list[Method] = Field(default_factory=list)
    headers: dict[HeaderName, list[str]] = Field(default_factory=dict)
    protocols: list[RouteProtocol] | None = None
    """Default: http+https; grpc+grpcs on gRPC services; tcp+tls on tcp/tls services."""
    strip_path: bool | None = None
    """Remove the matched path prefix before proxying (Kong default true; false on gRPC)."""
    preserve_host: bool = False
    regex_priority: KongRegexPriority = 0
    """Orders regex routes that match the same request: 0 to 1023, higher first."""
    https_redirect_status_code: Literal[426, 301, 302, 307, 308] = 426
    snis: list[Host] = Field(default_factory=list)
    """TLS server names to match (tcp/tls services; also https routes)."""
    sources: list[StreamEndpoint] = Field(default_factory=list)
    """Client addresses to match (tcp/tls services only)."""
    destinations: list[StreamEndpoint] = Field(default_factory=list)
    """Listener addresses to match (tcp/tls services only)."""
    websocket: bool = False
    """A WebSocket upgrade route (http/https on Kong OSS, ws/wss on Enterprise)."""
    streaming: bool = False
    """SSE / chunked transfer: request and response buffering off."""
    tags: list[Tag] = Field(default_factory=list)
    plugins: Plugins = Field(default_factory=dict)


class JwtOptions(Model):
    claims_to_verify: list[Literal["exp", "nbf"]] = ["exp"]
    maximum_expiration: JwtMaximumExpiration | None = None
    """Longest token lifetime accepted (needs exp in claims_to_verify)."""
    key_claim_name: NonEmpty = "iss"
    header_names: list[NonEmpty] = ["authorization"]
    uri_param_names: list[NonEmpty] = ["jwt"]
    cookie_names: list[NonEmpty] = Field(default_factory=list)
    secret_is_base64: bool = False
    run_on_preflight: bool = True


class KeyAuthOptions(Model):
    key_names: list[HeaderName] = ["apikey"]
    key_in_header: bool = True
    key_in_query: bool = True
    key_in_body: bool = False
    hide_credentials: bool = False
    run_on_preflight: bool = True


class OAuth2Options(Model):
    provision_key: Secret | None = None
    """The key your authorization web app sends to Kong's /oauth2/authorize (required with oauth2)."""
    scopes: list[NonEmpty] | None = None
    mandatory_scope: bool = False
    token_expiration: Seconds = units.Duration(7_200_000, "2h")
    enable_authorization_code: bool = False
    enable_client_credentials: bool = True
    enable_implicit_grant: bool = False
    enable_password_grant: bool = False
    pkce: Literal["none", "lax", "strict"] = "lax"


class Opa(Model):
    url: HttpUrl
    policy: str
    """The decision path, e.g. /v1/data/gateway/allow."""


class Authz(Model):
    opa: Opa | None = None


class Slo(Model):
    availability: float | None = Field(None, gt=0, lt=100)
    """Percent of requests that must not fail with a 5xx, e.g. 99.9."""
    latency_p99: Duration | None = None


class MeshRetries(Model):
    attempts: int = Field(3, ge=1, le=100)
    on: list[
        Literal[
            "5xx",
            "gateway-error",
            "reset",
            "connect-failure",
            "retriable-4xx",
            "refused-stream",
            "retriable-status-codes",
            "retriable-headers",
            "http3-post-connect-failure",
        ]
    ] = ["5xx", "connect-failure"]
    backoff: DurationRange | None = None


class MeshTimeouts(Model):
    connect: Duration | None = None
    request: Duration | None = None
    idle: Duration | None = None


# Kuma's policies hold these counts as Go uint32/int32 (MeshCircuitBreaker consecutive, MeshRateLimit num,
# MeshHealthCheck thresholds), and their schemas type every one `format: int32`: Kuma 2.14.3's kube-openapi
# (aa012df, numberValidator) refuses a number beyond the int32 range even where Go would hold a uint32.
INT32_MAX = 2**31 - 1


class MeshCircuitBreaker(Model):
    consecutive_5xx: int = Field(5, ge=1, le=INT32_MAX)
    interval: Duration = units.Duration(10_000, "10s")
    base_ejection: Duration = units.Duration(30_000, "30s")
    max_ejection_percent: int = Field(20, ge=0, le=100)


class MeshRateLimit(Model):
    requests: int = Field(gt=0, le=INT32_MAX)
    interval: Duration


class MeshHealthCheck(Model):
    path: str = "/"
    interval: Duration = units.Duration(10_000, "10s")
    timeout: Duration = units.Duration(2_000, "2s")
    healthy_after: int = Field(1, ge=1, le=INT32_MAX)
    unhealthy_after: int = Field(3, ge=1, le=INT32_MAX)


class ServiceMesh(Model):
    port: int | None = Field(None, ge=1, le=65535)
    """The workload's port (default: the port of the service's url)."""
    namespace: Name | None = None
    """Kubernetes namespace of the workload (default: the part after the service name in its url)."""
    selector: Labels | None = None
    """Data plane labels; default {app: <name>}."""
    allow_from: list[Name] = Field(default_factory=list)
    """Catalog services allowed to call this one; Kong is implied for services with routes."""
    retries: MeshRetries | None = None
    timeouts: MeshTimeouts | None = None
    circuit_breaker: MeshCircuitBreaker | None = None
    rate_limit: MeshRateLimit | None = None
    health_check: MeshHealthCheck | None = None
    load_balancer: Literal["round-robin", "least-request", "ring-hash", "random", "maglev"] | None = None


class ServiceSettings(Model):
    """Keys a service may take from `defaults`."""

    tags: list[Tag] = Field(default_factory=list)
    protocol: ServiceProtocol | None = None
    timeouts: Timeouts | None = None
    retries: int | None = Field(None, ge=0, le=32767)
    auth: list[AuthMethod] = Field(default_factory=list)
    """Several methods: a client may use any one of them."""
    jwt: JwtOptions | None = None
    key_auth: KeyAuthOptions | None = None
    oauth2: OAuth2Options | None = None
    allow_groups: list[Name] | None = None
    deny_groups: list[Name] | None = None
    rate_limit: RateLimit | None = None
    cors: Cors | None = None
    ip_allow: list[Cidr] | None = None
    ip_deny: list[Cidr] | None = None
    max_body: Size | None = None
    cache: Cache | None = None
    grpc_web: bool = False
    authz: Authz | None = None
    plugins: Plugins = Field(default_factory=dict)
    slo: Slo | None = None
    mesh: ServiceMesh | None = None


class Defaults(ServiceSettings):
    pass


class Service(ServiceSettings):
    name: Name
    description: str | None = None
    url: Url | None = None
    upstream: Upstream | None = None
    routes: list[Route] = Field(default_factory=list)

    @property
    def effective_protocol(self) -> str:
        if self.protocol:
            return self.protocol
        if self.url and "://" in self.url:
            return self.url.split("://", 1)[0]
        return "http"


# --------------------------------------------------------------------------- deployment


class Namespaces(Model):
    kong: Name = "kong"
    kuma: Name = "kuma-system"
    observability: Name = "observability"


def _off_is_a_string(value: Any) -> Any:
    # YAML 1.1 reads a bare `off` as false; the contract's value is the string "off".
    return "off" if value is False else value


class KongDeployment(Model):
    version: str = "3.9"
    replicas: int = Field(2, ge=1)
    database: Annotated[Literal["off", "postgres"], BeforeValidator(_off_is_a_string)] = "postgres"
    """Default: postgres with gateway.mode db, "off" with dbless (set by Catalog)."""
    proxy_port: int = Field(8000, ge=1, le=65535)
    admin_port: int = Field(8001, ge=1, le=65535)
    status_port: int = Field(8100, ge=1, le=65535)
    image: str | None = None
    postgres_password: Secret | None = None


class KumaDeployment(Model):
    version: str = "2.14.3"
    mode: Literal["zone", "global"] = "zone"
    zone: Name | None = None
    """This zone's name when the mesh spans several zones."""


class PrometheusDeployment(Model):
    retention: Duration = units.Duration(15 * 86_400_000, "15d")


class GrafanaDeployment(Model):
    admin_password: Secret | None = None


class ZipkinDeployment(Model):
    storage: Literal["mem"] = "mem"


class ObservabilityDeployment(Model):
    prometheus: PrometheusDeployment = Field(default_factory=PrometheusDeployment)
    grafana: GrafanaDeployment = Field(default_factory=GrafanaDeployment)
    zipkin: ZipkinDeployment = Field(default_factory=ZipkinDeployment)


class VmDeployment(Model):
    kong_hosts: list[str] = Field(min_length=1)
    kuma_cp: str | None = None
    """The Kuma control plane's host: needed only with a mesh (checked in checks.deployment)."""
    observability_host: str


class Deployment(Model):
    platform: Literal["kubernetes", "vm"] = "kubernetes"
    namespaces: Namespaces = Field(default_factory=Namespaces)
    kong: KongDeployment = Field(default_factory=KongDeployment)
    kuma: KumaDeployment = Field(default_factory=KumaDeployment)
    observability: ObservabilityDeployment = Field(default_factory=ObservabilityDeployment)
    vm: VmDeployment | None = None


# --------------------------------------------------------------------------- the catalog


def _format_number(value: Any) -> Any:
    # Literal[1] alone takes `true` and `1.0` (both equal 1 in Python) and calls a quoted "1" a near miss of 1.
    if isinstance(value, bool | float | str):
        shown = str(value).lower() if isinstance(value, bool) else repr(value)
        raise ValueError(f"must be the number 1 (got {shown})")
    return value


class Catalog(Model):
    format: Annotated[Literal[1], BeforeValidator(_format_number)]
    """The catalog format version; this is format 1."""
    name: Name
    """The catalog's identity: ownership tags and labels carry it."""
    description: str | None = None
    tags: list[Tag] = Field(default_factory=list)
    """Added to every Kong entity."""
    defaults: Defaults = Field(default_factory=Defaults)
    gateway: Gateway = Field(default_factory=Gateway)
    mesh: Mesh | None = None
    consumers: list[Consumer] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    deployment: Deployment = Field(default_factory=Deployment)
    environments: dict[Name, dict[str, Any] | None] = Field(default_factory=dict)
    """Named overlays merged onto the catalog with --env NAME."""

    @model_validator(mode="before")
    @classmethod
    def _database_follows_gateway_mode(cls, data: Any) -> Any:
        """deployment.kong.database defaults to what gateway.mode needs: postgres for db, "off" for dbless."""
        if not isinstance(data, dict):
            return data
        gateway, deployment = data.get("gateway"), data.get("deployment", {})
        mode = gateway.get("mode", "db") if isinstance(gateway, dict) else "db"
        if not isinstance(deployment, dict):
            return data
        kong = deployment.get("kong", {})
        if not isinstance(kong, dict) or "database" in kong or mode not in ("db", "dbless"):
            return data
        kong = {**kong, "database": "postgres" if mode == "db" else "off"}
        return {**data, "deployment": {**deployment, "kong": kong}}  # copies: the caller's data stays as written

    @property
    def mesh_enabled(self) -> bool:
        return self.mesh is not None and self.mesh.enabled
