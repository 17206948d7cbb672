"""Each policy's own Go validation in Kuma 2.14 (pkg/plugins/policies/<policy>/api/v1alpha1/validator.go),
beyond the targetRef kinds kuma.py checks: value ranges, required sub-fields, durations, percentages and
mutually exclusive sections, with the field paths and messages the validators produce (pkg/core/validators).

Modelled for the fields gatewayctl renders and their close neighbours; `policy_rule_problems` returns the
violations in the validator's order after the targetRef ones (kuma.py reports those first)."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

Problems = list[tuple[str, str]]

# pkg/core/validators/messages.go
MUST_BE_DEFINED = "must be defined"
MUST_NOT_BE_EMPTY = "must not be empty"
GREATER_THAN_ZERO = "must be greater than 0"
WHEN_DEFINED_GREATER_THAN_ZERO = "must be greater than zero when defined"
WHEN_DEFINED_NON_NEGATIVE = "must not be negative when defined"
UINT_PERCENTAGE = "must be in inclusive range [0, 100]"
PERCENTAGE = "must be in inclusive range [0.0, 100.0]"
NOT_A_NUMBER = "string must be a valid number"
NEEDS_RULES_ALONE = "fields 'to' and 'from' must be empty when 'rules' is defined"
NEEDS_A_SECTION = "at least one of 'from', 'to' or 'rules' has to be defined"

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION = re.compile(rf"^(?:{_NUMBER}(?:ns|us|µs|μs|ms|s|m|h))+$")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def duration_ns(value: Any) -> int | None:
    """Go's time.ParseDuration (what a metav1.Duration decodes with); None when `value` is none."""
    if not isinstance(value, str):
        return None
    sign = -1 if value.startswith("-") else 1
    text = value[1:] if value[:1] in "+-" else value
    if text == "0":
        return 0
    if not _DURATION.match(text):
        return None
    total = sum(Decimal(n) * _UNIT_NS[u] for n, u in re.findall(rf"({_NUMBER})(ns|us|µs|μs|ms|s|m|h)", text))
    return sign * int(total)


def _decimal(value: Any) -> Decimal | None:
    """common_api.NewDecimalFromIntOrString: an int, or a string holding a decimal number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    try:
        return Decimal(str(value).strip()) if isinstance(value, str) and value.strip() else None
    except InvalidOperation:
        return None


def _items(node: Any, key: str) -> list[tuple[int, dict[str, Any]]]:
    items = node.get(key) if isinstance(node, dict) else None
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)] if isinstance(items, list) else []


def _dict(node: Any, key: str) -> dict[str, Any] | None:
    value = node.get(key) if isinstance(node, dict) else None
    return value if isinstance(value, dict) else None


def _positive_duration(path: str, value: Any) -> Problems:
    """ValidateDurationGreaterThanZeroOrNil."""
    ns = duration_ns(value)
    return [(path, WHEN_DEFINED_GREATER_THAN_ZERO)] if ns is not None and ns <= 0 else []


def _non_negative_duration(path: str, value: Any) -> Problems:
    """ValidateDurationNotNegativeOrNil."""
    ns = duration_ns(value)
    return [(path, WHEN_DEFINED_NON_NEGATIVE)] if ns is not None and ns < 0 else []


def _uint_above_zero(path: str, node: dict[str, Any], key: str) -> Problems:
    """ValidateIntegerGreaterThanZeroOrNil (a *uint32): 0 is refused."""
    return [(f"{path}.{key}", GREATER_THAN_ZERO)] if node.get(key) == 0 else []


def _int_above_zero(path: str, node: dict[str, Any], key: str) -> Problems:
    """ValidateValueGreaterThanZeroOrNil (a *int32)."""
    value = node.get(key)
    return [(f"{path}.{key}", WHEN_DEFINED_GREATER_THAN_ZERO)] if isinstance(value, int) and value <= 0 else []


def _uint_percentage(path: str, value: Any) -> Problems:
    """ValidateUInt32PercentageOrNil / ValidateIntPercentageOrNil."""
    return [(path, UINT_PERCENTAGE)] if isinstance(value, int) and not 0 <= value <= 100 else []


def _percentage(path: str, value: Any) -> Problems:
    """ValidatePercentageOrNil (an IntOrString)."""
    if value is None:
        return []
    number = _decimal(value)
    if number is None:
        return [(path, NOT_A_NUMBER)]
    return [(path, PERCENTAGE)] if not 0 <= number <= 100 else []


def _sections(spec: dict[str, Any]) -> tuple[bool, bool, bool]:
    return bool(spec.get("to")), bool(spec.get("from")), bool(spec.get("rules"))


# ---------------------------------------------------------------------- govalidator (Kuma's v0.0.0-20230301)

_UNIX_PATH = re.compile(r"^(/[^/\x00]*)+/?\Z")
_WIN_PATH = re.compile(r'^[a-zA-Z]:\\(?:[^\\/:*?"<>|\r\n]+\\)*[^\\/:*?"<>|\r\n]*\Z')
_IP6 = (
    r"(([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}"
    r"|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}"
    r"|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}"
    r"|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:)"
    r"|fe80:(:[0-9a-fA-F]{0,4}){0,4}%[0-9a-zA-Z]{1,}"
    r"|::(ffff(:0{1,4}){0,1}:){0,1}((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])"
    r"|([0-9a-fA-F]{1,4}:){1,4}:((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9]))"
)
_URL_IP = (
    r"([1-9]\d?|1\d\d|2[01]\d|22[0-3]|24\d|25[0-5])(\.(\d{1,2}|1\d\d|2[0-4]\d|25[0-5])){2}"
    r"(?:\.([0-9]\d?|1\d\d|2[0-4]\d|25[0-5]))"
)
_URL_SUBDOMAIN = r"((www\.)|([a-zA-Z0-9]+([-_\.]?[a-zA-Z0-9])*[a-zA-Z0-9]\.[a-zA-Z0-9]+))"
_U = "a-zA-Z\u00a1-\uffff0-9"
# patterns.go URL. `([U]+-?-?)*[U]+` is written `[U]+(--?[U]+)*`, the same language without the nested
# quantifiers that backtrack exponentially in Python (RE2 does not backtrack).
_URL = re.compile(
    r"^((ftp|tcp|udp|wss?|https?):\/\/)?(\S+(:\S*)?@)?(("
    + _URL_IP
    + r"|(\["
    + _IP6
    + r"\])|(([a-zA-Z0-9]([a-zA-Z0-9-_]+)?[a-zA-Z0-9]([-\.][a-zA-Z0-9]+)*)|("
    + _URL_SUBDOMAIN
    + rf"?))?([{_U}]+(--?[{_U}]+)*)(?:\.([a-zA-Z\u00a1-\uffff]{{1,}}))?))\.?(:(\d{{1,5}}))?((\/|\?|#)[^\s]*)?\Z"
)


def is_file_path(text: str) -> bool:
    """govalidator.IsFilePath."""
    if _WIN_PATH.match(text):
        return len(text[3:]) <= 32767
    return bool(_UNIX_PATH.match(text))


def is_url(text: str) -> bool:
    """govalidator.IsURL (url.Parse approximated by urlsplit and Go's port rule)."""
    if not text or len(text) >= 2083 or len(text.encode()) <= 3 or text.startswith("."):
        return False
    parsed = "http://" + text if ":" in text and "://" not in text else text
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in parsed):
        return False  # url.Parse: "invalid control character in URL"
    try:
        parts = urlsplit(parsed)
    except ValueError:
        return False
    host = parts.netloc.rpartition("@")[2]
    port = host.rpartition("]")[2].partition(":")[2] if host.startswith("[") else host.partition(":")[2]
    if port and not port.isdigit():
        return False  # url.Parse: "invalid port ... after host"
    if host.startswith("."):
        return False
    if not host and parts.path and "." not in parts.path:
        return False
    return bool(_URL.match(text))


# ---------------------------------------------------------------------- the policies


def mesh_retry(spec: dict[str, Any]) -> Problems:
    """meshretry validateTo / validateDefault (paths rooted at `default.conf`, as the validator writes them)."""
    problems: Problems = []
    for i, item in _items(spec, "to"):
        conf = _dict(item, "default") or {}
        path = f"spec.to[{i}].default.conf"
        tcp, http, grpc = _dict(conf, "tcp"), _dict(conf, "http"), _dict(conf, "grpc")
        if tcp is None and http is None and grpc is None:
            problems.append((path, "at least one of the 'tcp', 'http', 'grpc' must be specified"))
        if tcp is not None:
            if tcp.get("maxConnectAttempt") is None:
                problems.append((f"{path}.tcp", MUST_NOT_BE_EMPTY))
            elif tcp["maxConnectAttempt"] == 0:
                problems.append((f"{path}.tcp.maxConnectAttempt", GREATER_THAN_ZERO))
        if http is not None:
            problems += _retry_section(f"{path}.http", http, HTTP_RETRY_FIELDS, _http_retry_on_known)
        if grpc is not None:
            problems += _retry_section(f"{path}.grpc", grpc, GRPC_RETRY_FIELDS, lambda v: v in GRPC_RETRY_ON)
    return problems


HTTP_RETRY_FIELDS = (
    "numRetries",
    "perTryTimeout",
    "backOff",
    "retryOn",
    "retriableRequestHeaders",
    "retriableResponseHeaders",
    "rateLimitedBackOff",
    "hostSelection",
)
GRPC_RETRY_FIELDS = ("numRetries", "perTryTimeout", "backOff", "retryOn", "rateLimitedBackOff")
HTTP_RETRY_ON = {
    "5xx",
    "GatewayError",
    "Reset",
    "Retriable4xx",
    "ConnectFailure",
    "EnvoyRatelimited",
    "RefusedStream",
    "Http3PostConnectFailure",
    *(f"HttpMethod{m}" for m in ("Connect", "Delete", "Get", "Head", "Options", "Patch", "Post", "Put", "Trace")),
}
GRPC_RETRY_ON = {"Canceled", "DeadlineExceeded", "Internal", "ResourceExhausted", "Unavailable"}
# Go's net/http StatusText knows these codes (a numeric retryOn item must be one of them).
GO_STATUS_CODES = {
    *range(100, 104),
    *range(200, 209),
    226,
    *range(300, 306),
    307,
    308,
    *range(400, 419),
    *range(421, 427),
    428,
    429,
    431,
    451,
    *range(500, 509),
    510,
    511,
}


def _http_retry_on_known(value: Any) -> bool:
    if value in HTTP_RETRY_ON:
        return True
    text = str(value)
    return bool(re.fullmatch(r"[+-]?\d+", text)) and int(text) in GO_STATUS_CODES


def _retry_section(path: str, conf: dict[str, Any], fields: tuple[str, ...], known: Callable[[Any], bool]) -> Problems:
    problems: Problems = []
    if all(conf.get(f) is None for f in fields):
        problems.append((path, MUST_NOT_BE_EMPTY))
    back_off = _dict(conf, "backOff")
    if back_off is not None and back_off.get("baseInterval") is None and back_off.get("maxInterval") is None:
        problems.append((f"{path}.backOff", MUST_NOT_BE_EMPTY))
    limited = _dict(conf, "rateLimitedBackOff")
    if limited is not None:
        if limited.get("maxInterval") is not None and (duration_ns(limited["maxInterval"]) or 0) <= 0:
            problems.append((f"{path}.rateLimitedBackOff.maxInterval", "must be defined and greater than zero"))
        headers = limited.get("resetHeaders")
        if headers is None:
            problems.append((f"{path}.rateLimitedBackOff.resetHeaders", MUST_BE_DEFINED))
        for j, header in enumerate(headers if isinstance(headers, list) else []):
            if not (header or {}).get("name"):
                problems.append((f"{path}.rateLimitedBackOff.resetHeaders[{j}].name", MUST_BE_DEFINED))
    retry_on = conf.get("retryOn")
    for j, value in enumerate(retry_on if isinstance(retry_on, list) else []):
        if not known(value):
            problems.append((f"{path}.retryOn[{j}]", f"unknown item '{value}'"))
    return problems


def mesh_timeout(spec: dict[str, Any]) -> Problems:
    """meshtimeout validate: sections, then from[], to[], rules[] defaults."""
    to, frm, rules = _sections(spec)
    problems: Problems = []
    if rules and (to or frm):
        problems.append(("spec", NEEDS_RULES_ALONE))
    if not (rules or to or frm):
        problems.append(("spec", NEEDS_A_SECTION))
    for section in ("from", "to", "rules"):
        for i, item in _items(spec, section):
            problems += _timeout_default(f"spec.{section}[{i}].default", _dict(item, "default") or {})
    return problems


HTTP_TIMEOUTS = ("requestTimeout", "streamIdleTimeout", "maxStreamDuration", "maxConnectionDuration")


def _timeout_default(path: str, conf: dict[str, Any]) -> Problems:
    if all(conf.get(k) is None for k in ("connectionTimeout", "idleTimeout", "http")):
        return [(path, "at least one timeout should be configured")]
    problems = _positive_duration(f"{path}.connectionTimeout", conf.get("connectionTimeout"))
    problems += _non_negative_duration(f"{path}.idleTimeout", conf.get("idleTimeout"))
    http = _dict(conf, "http")
    if http is not None:
        if all(http.get(k) is None for k in HTTP_TIMEOUTS):
            problems.append((f"{path}.http", "at least one timeout in this section should be configured"))
        for key in (*HTTP_TIMEOUTS, "requestHeadersTimeout"):
            problems += _non_negative_duration(f"{path}.http.{key}", http.get(key))
    return problems


def mesh_circuit_breaker(spec: dict[str, Any]) -> Problems:
    """meshcircuitbreaker validate. Its validateRules roots rules[] at `from[i]`, and so does this."""
    to, frm, rules = _sections(spec)
    problems: Problems = []
    if not (rules or to or frm):
        problems.append(("spec", NEEDS_A_SECTION))
    if rules and (to or frm):
        problems.append(("spec", NEEDS_RULES_ALONE))
    for section, root in (("rules", "from"), ("from", "from"), ("to", "to")):
        for i, item in _items(spec, section):
            problems += _breaker_default(f"spec.{root}[{i}].default", _dict(item, "default") or {})
    return problems


def _breaker_default(path: str, conf: dict[str, Any]) -> Problems:
    limits, outlier = _dict(conf, "connectionLimits"), _dict(conf, "outlierDetection")
    if limits is None and outlier is None:
        return [(path, "at least one of: 'connectionLimits' or 'outlierDetection' should be configured")]
    problems: Problems = []
    for key in ("maxConnections", "maxConnectionPools", "maxPendingRequests", "maxRetries", "maxRequests"):
        problems += _uint_above_zero(f"{path}.connectionLimits", limits or {}, key)
    if outlier is None:
        return problems
    where = f"{path}.outlierDetection"
    problems += _positive_duration(f"{where}.interval", outlier.get("interval"))
    problems += _positive_duration(f"{where}.baseEjectionTime", outlier.get("baseEjectionTime"))
    problems += _uint_percentage(f"{where}.maxEjectionPercent", outlier.get("maxEjectionPercent"))
    problems += _percentage(f"{where}.healthyPanicThreshold", outlier.get("healthyPanicThreshold"))
    detectors = _dict(outlier, "detectors")
    names = ("totalFailures", "gatewayFailures", "localOriginFailures", "successRate", "failurePercentage")
    if detectors is None:
        return [*problems, (f"{where}.detectors", MUST_BE_DEFINED)]
    if all(detectors.get(n) is None for n in names):
        return [*problems, (f"{where}.detectors", "must have at least one defined: " + ", ".join(names))]
    for name in ("totalFailures", "gatewayFailures", "localOriginFailures"):
        problems += _uint_above_zero(f"{where}.detectors.{name}", _dict(detectors, name) or {}, "consecutive")
    rate = _dict(detectors, "successRate")
    if rate is not None:
        problems += _uint_above_zero(f"{where}.detectors.successRate", rate, "minimumHosts")
        problems += _uint_above_zero(f"{where}.detectors.successRate", rate, "requestVolume")
        factor = rate.get("standardDeviationFactor")
        if factor is not None:
            number = _decimal(factor)
            if number is None:
                problems.append((f"{where}.detectors.successRate.standardDeviationFactor", "invalid number"))
            elif number <= 0:
                problems.append((f"{where}.detectors.successRate.standardDeviationFactor", GREATER_THAN_ZERO))
    failures = _dict(detectors, "failurePercentage")
    if failures is not None:
        problems += _uint_above_zero(f"{where}.detectors.failurePercentage", failures, "minimumHosts")
        problems += _uint_above_zero(f"{where}.detectors.failurePercentage", failures, "requestVolume")
        problems += _uint_percentage(f"{where}.detectors.failurePercentage.threshold", failures.get("threshold"))
    return problems


def mesh_health_check(spec: dict[str, Any]) -> Problems:
    """meshhealthcheck validateTo / validateDefault."""
    problems: Problems = []
    for i, item in _items(spec, "to"):
        conf = _dict(item, "default") or {}
        path = f"spec.to[{i}].default"
        for key in ("interval", "timeout"):
            problems += _positive_duration(f"{path}.{key}", conf.get(key))
        for key in ("unhealthyThreshold", "healthyThreshold"):
            problems += _int_above_zero(path, conf, key)
        for key in ("initialJitter", "intervalJitter"):
            problems += _positive_duration(f"{path}.{key}", conf.get(key))
        problems += _uint_percentage(f"{path}.intervalJitterPercent", conf.get("intervalJitterPercent"))
        problems += _percentage(f"{path}.healthyPanicThreshold", conf.get("healthyPanicThreshold"))
        problems += _positive_duration(f"{path}.noTrafficInterval", conf.get("noTrafficInterval"))
        log_path = conf.get("eventLogPath")
        if isinstance(log_path, str) and not is_file_path(log_path):
            problems.append((f"{path}.eventLogPath", "must be a valid path when defined"))
        http = _dict(conf, "http")
        if http is not None:
            if http.get("path") == "":  # a *string: only a present, empty path is refused
                problems.append((f"{path}.http.path", MUST_BE_DEFINED))
            statuses = http.get("expectedStatuses")
            for j, status in enumerate(statuses if isinstance(statuses, list) else []):
                if isinstance(status, int) and not 100 <= status < 600:
                    problems.append((f"{path}.http.expectedStatuses[{j}]", "must be in inclusive range [100, 599]"))
        if all(conf.get(k) is None for k in ("http", "tcp", "grpc")):
            problems.append((path, "must have at least one defined: http, tcp, grpc"))
    return problems


def mesh_load_balancing_strategy(spec: dict[str, Any]) -> Problems:
    """meshloadbalancingstrategy validateConf: the load balancer's own settings and hash policies."""
    problems: Problems = []
    for i, item in _items(spec, "to"):
        conf = _dict(item, "default") or {}
        path = f"spec.to[{i}].default"
        balancer = _dict(conf, "loadBalancer")
        if balancer is not None:
            kind = balancer.get("type")
            for name, key in (("RingHash", "ringHash"), ("Maglev", "maglev")):
                if kind == name and _dict(balancer, key) is not None:
                    problems += _hash_policies(f"{path}.loadBalancer.{key}.hashPolicies", balancer[key])
            if kind == "LeastRequest":
                bias = (_dict(balancer, "leastRequest") or {}).get("activeRequestBias")
                number = _decimal(bias) if bias is not None else Decimal(0)
                where = f"{path}.loadBalancer.leastRequest.activeRequestBias"
                if number is None:
                    problems.append((where, NOT_A_NUMBER))
                elif number < 0:
                    problems.append((where, "must be greater or equal then: 0"))
        problems += _hash_policies(f"{path}.hashPolicies", conf)
    return problems


HASH_POLICY_FIELDS = {
    "Header": "header",
    "Cookie": "cookie",
    "QueryParameter": "queryParameter",
    "FilterState": "filterState",
    "Connection": "connection",
    "SourceIP": "connection",
}


def _hash_policies(path: str, node: dict[str, Any]) -> Problems:
    problems: Problems = []
    for j, policy in _items(node, "hashPolicies"):
        field = HASH_POLICY_FIELDS.get(str(policy.get("type")))
        if field and policy.get(field) is None:
            problems.append((f"{path}[{j}].{field}", MUST_BE_DEFINED))
        cookie = _dict(policy, "cookie")
        if field == "cookie" and cookie and isinstance(cookie.get("path"), str) and not cookie["path"].startswith("/"):
            problems.append((f"{path}[{j}].cookie.path", "must be an absolute path"))
    return problems


def mesh_rate_limit(spec: dict[str, Any]) -> Problems:
    """meshratelimit validate: rules alone, no rules/from when the scope takes in gateways, to[] only then."""
    to, frm, rules = _sections(spec)
    problems: Problems = [("spec", NEEDS_RULES_ALONE)] if rules and (to or frm) else []
    top = _dict(spec, "targetRef") or {"kind": "Mesh"}
    proxy_types = top.get("proxyTypes") or []
    gateways = top.get("kind") in ("MeshGateway", "MeshHTTPRoute") or (
        top.get("kind") in ("Mesh", "MeshSubset") and (not proxy_types or "Gateway" in proxy_types)
    )
    return problems + _rate_limit_sections(spec, gateways, top.get("kind"))


def _rate_limit_sections(spec: dict[str, Any], gateways: bool, top_kind: Any) -> Problems:
    """validateRules, validateFrom and validateTo (the targetRef checks of the items are kuma.py's)."""
    problems: Problems = []
    if spec.get("rules") and (gateways or top_kind == "MeshHTTPRoute"):
        problems.append(("spec.rules", "must not be defined"))
    else:
        for i, item in _items(spec, "rules"):
            problems += _rate_limit_default(f"spec.rules[{i}].default", _dict(item, "default") or {})
    if spec.get("from") and gateways:
        problems.append(
            (
                "spec.from",
                "must not be defined when the scope includes a Gateway, select only proxyType Sidecar or select "
                "only gateways and use spec.to",
            )
        )
    elif spec.get("from") and top_kind == "MeshHTTPRoute":
        problems.append(("spec.from", "must not be defined when spec.kind is MeshHTTPRoute"))
    else:
        for i, item in _items(spec, "from"):
            problems += _rate_limit_default(f"spec.from[{i}].default", _dict(item, "default") or {})
    if spec.get("to") and not gateways:
        problems.append(("spec.to", "must not be defined"))
    else:
        for i, item in _items(spec, "to"):
            problems += _rate_limit_default(f"spec.to[{i}].default", _dict(item, "default") or {})
    return problems


def _rate_limit_default(path: str, conf: dict[str, Any]) -> Problems:
    path = f"{path}.local"
    local = _dict(conf, "local")
    if local is None:
        return [(path, MUST_BE_DEFINED)]
    problems: Problems = []
    http, tcp = _dict(local, "http"), _dict(local, "tcp")
    if http is None and tcp is None:
        problems.append((path, "must have at least one defined: tcp, http"))
    if http is not None:
        if all(http.get(k) is None for k in ("disabled", "requestRate", "onRateLimit")):
            problems.append((f"{path}.http", "must have at least one defined: disabled, requestRate, onRateLimit"))
        else:
            if _dict(http, "requestRate") is not None:
                problems += _rate(f"{path}.http.requestRate", http["requestRate"])
            if _dict(http, "onRateLimit") is not None:
                problems += _uint_above_zero(f"{path}.http.onRateLimit", http["onRateLimit"], "status")
    if tcp is not None:
        if all(tcp.get(k) is None for k in ("disabled", "connectionRate")):
            problems.append((f"{path}.tcp", "must have at least one defined: disabled, connectionRate"))
        elif _dict(tcp, "connectionRate") is not None:
            problems += _rate(f"{path}.tcp.connectionRate", tcp["connectionRate"])
    return problems


def _rate(path: str, rate: dict[str, Any]) -> Problems:
    problems: Problems = []
    if not rate.get("num"):  # a uint32: absent is 0
        problems.append((f"{path}.num", "must be greater than 0"))
    if (duration_ns(rate.get("interval")) or 0) <= 50 * 10**6:  # a metav1.Duration: absent is 0
        problems.append((f"{path}.interval", "must be greater than: 50ms"))
    return problems


def mesh_trace(spec: dict[str, Any]) -> Problems:
    """meshtrace validateDefault (Zipkin and OpenTelemetry backends, tags, sampling)."""
    conf = _dict(spec, "default") or {}
    path = "spec.default"
    problems: Problems = []
    backends = conf.get("backends")
    if backends is None:
        problems.append((f"{path}.backends", MUST_BE_DEFINED))
    if isinstance(backends, list) and len(backends) > 1:
        problems.append((f"{path}.backends", "must have zero or one backend defined"))
    elif isinstance(backends, list) and len(backends) == 1 and isinstance(backends[0], dict):
        problems += _trace_backend(f"{path}.backends[0]", backends[0])
    for j, tag in _items(conf, "tags"):
        if not tag.get("name"):
            problems.append((f"{path}.tags[{j}].name", MUST_NOT_BE_EMPTY))
        if (tag.get("header") is not None) == (tag.get("literal") is not None):
            problems.append((f"{path}.tags[{j}]", "tag must have only one type defined: header, literal"))
    sampling = _dict(conf, "sampling") or {}
    for key in ("client", "random", "overall"):
        value = sampling.get(key)
        if value is None:
            continue
        number = _decimal(value)
        if number is None:
            problems.append((f"{path}.sampling.{key}", "string is not a number"))
        elif not 0 <= number <= 100:
            problems.append((f"{path}.sampling.{key}", "must be between 0 and 100"))
    return problems


def _trace_backend(path: str, backend: dict[str, Any]) -> Problems:
    if backend.get("type") == "Zipkin":
        zipkin = _dict(backend, "zipkin")
        if zipkin is None:
            return [(f"{path}.zipkin", MUST_BE_DEFINED)]
        url = zipkin.get("url") or ""
        if url == "":
            return [(f"{path}.zipkin.url", MUST_NOT_BE_EMPTY)]
        return [] if is_url(str(url)) else [(f"{path}.zipkin.url", "must be a valid url")]
    if backend.get("type") == "OpenTelemetry":
        otel = _dict(backend, "openTelemetry")
        if otel is None:
            return [(f"{path}.openTelemetry", MUST_BE_DEFINED)]
        return _otel_endpoint(f"{path}.openTelemetry", otel)
    return []  # Datadog's URL rules are not modelled


def _otel_endpoint(path: str, otel: dict[str, Any]) -> Problems:
    """validators.ValidateOtelBackendRefOrEndpoint, for an endpoint (backendRef is not modelled)."""
    endpoint, ref = otel.get("endpoint") or "", otel.get("backendRef")
    if endpoint and ref is not None:
        return [(path, "openTelemetry must have only one type defined: endpoint, backendRef")]
    if not endpoint and ref is None:
        return [(path, "openTelemetry must have exactly one defined: endpoint, backendRef")]
    if endpoint and any(c in endpoint for c in "/?#"):
        return [(f"{path}.endpoint", "must be in host:port format, not a URL")]
    return []


def mesh_metric(spec: dict[str, Any]) -> Problems:
    """meshmetric validateDefault: application and Prometheus ports (its paths say `application[i]` and
    `backend[i]` under `applications` and `backends`, as the validator writes them)."""
    conf = _dict(spec, "default") or {}
    problems: Problems = []
    for j, app in _items(conf, "applications"):
        if not _valid_port(app.get("port")):
            problems.append((f"spec.default.applications.application[{j}]", "port must be a valid (1-65535)"))
    for j, backend in _items(conf, "backends"):
        path = f"spec.default.backends.backend[{j}]"
        if backend.get("type") == "Prometheus":
            prometheus = _dict(backend, "prometheus")
            if prometheus is None:
                problems.append((f"{path}.prometheus", MUST_BE_DEFINED))
            elif not _valid_port(prometheus.get("port", 5670)):  # the schema's default
                problems.append((f"{path}.port", "port must be a valid (1-65535)"))
        elif backend.get("type") == "OpenTelemetry" and _dict(backend, "openTelemetry") is None:
            problems.append((f"{path}.openTelemetry", MUST_BE_DEFINED))
    return problems


def _valid_port(value: Any) -> bool:
    return isinstance(value, int) and 0 < value <= 65535


def mesh_access_log(spec: dict[str, Any]) -> Problems:
    """meshaccesslog validate: sections, then to[], from[], rules[] defaults and their backends."""
    to, frm, rules = _sections(spec)
    problems: Problems = []
    if rules and (to or frm):
        problems.append(("spec", NEEDS_RULES_ALONE))
    if not (rules or to or frm):
        problems.append(("spec", NEEDS_A_SECTION))
    for section in ("to", "from", "rules"):
        for i, item in _items(spec, section):
            problems += _access_log_default(f"spec.{section}[{i}].default", _dict(item, "default") or {})
    return problems


def _access_log_default(path: str, conf: dict[str, Any]) -> Problems:
    backends = conf.get("backends")
    if backends is None:
        return [(f"{path}.backends", MUST_BE_DEFINED)]
    problems: Problems = []
    for j, backend in _items(conf, "backends"):
        where = f"{path}.backends[{j}]"
        kind = backend.get("type")
        if kind == "File":
            file = _dict(backend, "file")
            if file is None:
                problems.append((f"{where}.file", MUST_BE_DEFINED))
            elif not is_file_path(str(file.get("path") or "")):
                problems.append((f"{where}.file.path", "file backend requires a valid path"))
        elif kind == "Tcp":
            tcp = _dict(backend, "tcp")
            if tcp is None:
                problems.append((f"{where}.tcp", MUST_BE_DEFINED))
            elif not is_url(str(tcp.get("address") or "")):
                problems.append((f"{where}.tcp.address", "tcp backend requires valid address"))
        elif kind == "OpenTelemetry":
            otel = _dict(backend, "openTelemetry")
            if otel is None:
                problems.append((f"{where}.openTelemetry", MUST_BE_DEFINED))
            else:
                problems += _otel_endpoint(f"{where}.openTelemetry", otel)
    return problems


def mesh_traffic_permission(spec: dict[str, Any]) -> Problems:
    """meshtrafficpermission validate: from[] or rules[], not both; each from[] default has an action."""
    _, frm, rules = _sections(spec)
    problems: Problems = []
    if frm and rules:
        problems.append(("spec", "field 'from' must be empty when 'rules' is defined"))
    if not (frm or rules):
        problems.append(("spec", "at least one of 'from' or 'rules' has to be defined"))
    for i, item in _items(spec, "rules"):
        default = _dict(item, "default") or {}
        if not any(default.get(k) for k in ("deny", "allow", "allowWithShadowDeny")):
            why = "at least one of 'allow', 'allowWithShadowDeny', 'deny' has to be defined"
            problems.append((f"spec.rules[{i}]", why))
    for i, item in _items(spec, "from"):
        if not (_dict(item, "default") or {}).get("action"):
            problems.append((f"spec.from[{i}].default.action", MUST_BE_DEFINED))
    return problems


RULES: dict[str, Callable[[dict[str, Any]], Problems]] = {
    "MeshAccessLog": mesh_access_log,
    "MeshCircuitBreaker": mesh_circuit_breaker,
    "MeshHealthCheck": mesh_health_check,
    "MeshLoadBalancingStrategy": mesh_load_balancing_strategy,
    "MeshMetric": mesh_metric,
    "MeshRateLimit": mesh_rate_limit,
    "MeshRetry": mesh_retry,
    "MeshTimeout": mesh_timeout,
    "MeshTrace": mesh_trace,
    "MeshTrafficPermission": mesh_traffic_permission,
}


def policy_rule_problems(kind: str, spec: dict[str, Any]) -> Problems:
    rules = RULES.get(kind)
    return rules(spec) if rules else []
