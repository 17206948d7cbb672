"""What Kuma 2.14's policy validators accept for the free-form strings gatewayctl writes into policies. They
use govalidator (github.com/asaskevich/govalidator, the version Kuma pins: v0.0.0-20230301143203-a9d515a09cc2):
MeshAccessLog's file path must pass IsFilePath and its TCP address IsURL, MeshTrace's Zipkin URL IsURL.
The regular expressions are govalidator's (patterns.go), so `validate` refuses exactly what Kuma would."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_UNIX_PATH = re.compile(r"^(/[^/\x00]*)+/?\Z")
_WIN_PATH = re.compile(r'^[a-zA-Z]:\\(?:[^\\/:*?"<>|\r\n]+\\)*[^\\/:*?"<>|\r\n]*\Z')
_IP6 = (
    r"(([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}"
    r"|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}"
    r"|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}"
    r"|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:)"
    r"|fe80:(:[0-9a-fA-F]{0,4}){0,4}%[0-9a-zA-Z]{1,}"
    r"|::(ffff(:0{1,4}){0,1}:){0,1}((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}"
    r"(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])"
    r"|([0-9a-fA-F]{1,4}:){1,4}:((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}"
    r"(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9]))"
)
_URL_IP = (
    r"([1-9]\d?|1\d\d|2[01]\d|22[0-3]|24\d|25[0-5])(\.(\d{1,2}|1\d\d|2[0-4]\d|25[0-5])){2}"
    r"(?:\.([0-9]\d?|1\d\d|2[0-4]\d|25[0-5]))"
)
_URL_SUBDOMAIN = r"((www\.)|([a-zA-Z0-9]+([-_\.]?[a-zA-Z0-9])*[a-zA-Z0-9]\.[a-zA-Z0-9]+))"
_U = "a-zA-Z\u00a1-\uffff0-9"
# govalidator's `([U]+-?-?)*[U]+` is written `[U]+(--?[U]+)*`: the same strings, without the nested
# quantifiers that make Python's backtracking engine exponential on a long non-matching host (Go's RE2 is not).
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
    """govalidator.IsFilePath: an absolute Unix path, or a Windows one (C:\\...)."""
    if _WIN_PATH.match(text):
        return len(text[3:]) <= 32767
    return bool(_UNIX_PATH.match(text))


def is_url(text: str) -> bool:
    """govalidator.IsURL. Its url.Parse step refuses control characters and a non-numeric port."""
    if not text or len(text) >= 2083 or len(text.encode()) <= 3 or text.startswith("."):
        return False
    parsed = "http://" + text if ":" in text and "://" not in text else text
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in parsed):
        return False
    try:
        parts = urlsplit(parsed)
    except ValueError:
        return False
    host = parts.netloc.rpartition("@")[2]
    port = host.rpartition("]")[2].partition(":")[2] if host.startswith("[") else host.partition(":")[2]
    if (port and not port.isdigit()) or host.startswith("."):
        return False
    if not host and parts.path and "." not in parts.path:
        return False
    return bool(_URL.match(text))
