"""The public key of a JWT credential (`consumers[].credentials.jwt[].rsa_public_key`), checked before Kong
sees it.

Kong parses the key when it is written (kong/plugins/jwt/daos.lua: `openssl.pkey.new`, refusing it with
"invalid key"), so a key it cannot read stops an apply half-way (DB mode) or fails the whole `/config`
(DB-less). OpenSSL's PEM reader takes only a `-----BEGIN PUBLIC KEY-----` block (X.509
SubjectPublicKeyInfo) for a public key, with its armour lines on lines of their own: the PKCS#1
`BEGIN RSA PUBLIC KEY` form, a certificate, or a key flattened onto one line (an environment variable whose
newlines were lost) are refused, and are what people paste most often. Kong would also take a private
key, which must never be handed to a gateway, and a key of the wrong type for the algorithm, which then
fails every token: both are refused here too.

Only the DER structure is read (no cryptography library): enough to tell a broken copy from a good key.
"""

from __future__ import annotations

import base64
import binascii
import re

_BLOCK = re.compile(r"^-----BEGIN ([^\n-]+)-----[ \t\r]*\n(.*?)^-----END \1-----[ \t\r]*$", re.MULTILINE | re.DOTALL)
_BEGIN_LINE = re.compile(r"^-----BEGIN ([^\n-]+)-----[ \t\r]*$", re.MULTILINE)
_BEGIN_ANYWHERE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
_PRIVATE = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY")

# Object identifiers (dotted) of the key types and curves each JWT algorithm can verify with.
RSA = "1.2.840.113549.1.1.1"
RSA_PSS = "1.2.840.113549.1.1.10"
EC = "1.2.840.10045.2.1"
ED25519 = "1.3.101.112"
ED448 = "1.3.101.113"
CURVES = {"1.2.840.10045.3.1.7": "P-256", "1.3.132.0.34": "P-384", "1.3.132.0.35": "P-521"}
# (p, b) of y^2 = x^3 - 3x + b over GF(p) (SEC 2, 2.4.2 and 2.5.1): OpenSSL refuses a point off its curve.
_CURVE_EQUATIONS = {
    "P-256": (
        2**256 - 2**224 + 2**192 + 2**96 - 1,
        0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    ),
    "P-384": (
        2**384 - 2**128 - 2**96 + 2**32 - 1,
        0xB3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF,
    ),
}
_KEY_NAMES = {
    RSA: "an RSA key",
    RSA_PSS: "an RSA-PSS key",
    EC: "an EC key",
    ED25519: "an Ed25519 key",
    ED448: "an Ed448 key",
}


def _wanted(algorithm: str) -> tuple[tuple[str, ...], str | None, str]:
    """(key types, EC curve, how to name them) that `algorithm` verifies with."""
    if algorithm.startswith("RS"):
        return (RSA,), None, "an RSA key"
    if algorithm.startswith("PS"):
        return (RSA, RSA_PSS), None, "an RSA key"
    if algorithm == "ES256":
        return (EC,), "P-256", "an EC key on curve P-256"
    if algorithm == "ES384":
        return (EC,), "P-384", "an EC key on curve P-384"
    return (ED25519, ED448), None, "an Ed25519 or Ed448 key"


def public_key_problem(text: str, algorithm: str) -> str | None:
    """Why `text` is not a PEM public key Kong can read and verify `algorithm` tokens with, or None. The
    reason never quotes the key's body."""
    blocks: dict[str, str] = {}
    for block in _BLOCK.finditer(text):
        blocks.setdefault(block.group(1), block.group(2))  # OpenSSL reads the first block of a kind
    if "PUBLIC KEY" not in blocks or any(name in blocks for name in _PRIVATE):
        # a private key next to the public one would be stored with it: Kong keeps the whole text
        return _no_public_key_block(text, blocks)
    try:
        der = base64.b64decode("".join(blocks["PUBLIC KEY"].split()), validate=True)
    except (binascii.Error, ValueError):
        return "the body of its PUBLIC KEY block is not valid base64 (is a line missing or cut short?)"
    try:
        key_type, curve, key = _subject_public_key_info(der)
    except _Malformed as exc:
        return f"its PUBLIC KEY block is not a readable public key ({exc}; is a line missing or cut short?)"
    types, wanted_curve, wanted_name = _wanted(algorithm)
    found = _KEY_NAMES.get(key_type, f"a key of type {key_type}")
    if key_type not in types:
        return f"{algorithm} verifies with {wanted_name}, but this is {found}"
    if key_type == EC:
        if curve is None or curve != wanted_curve:
            return f"{algorithm} verifies with {wanted_name}, but this key is on {curve or 'an unnamed curve'}"
        if not _on_curve(key, *_CURVE_EQUATIONS[curve]):
            return f"its point is not on curve {curve} (is a character wrong, or a line missing?)"
    elif key_type in (ED25519, ED448) and len(key) != (size := 32 if key_type == ED25519 else 57):
        return f"it is {found}, {size} bytes long, but holds {len(key)} (is a character missing?)"
    elif key_type in (RSA, RSA_PSS):
        try:
            _rsa_public_key(key)
        except _Malformed as exc:
            return f"its RSA key is not readable ({exc}; is a line missing or cut short?)"
    return None


def _no_public_key_block(text: str, blocks: dict[str, str]) -> str:
    private = next((name for name in _PRIVATE if name in blocks), None)
    if private:
        return (
            f"this is a private key (BEGIN {private}): Kong needs only the public key, and a private key must"
            " never leave its owner (`openssl pkey -in KEY -pubout` prints the public key)"
        )
    if "RSA PUBLIC KEY" in blocks:
        return (
            "Kong reads only the BEGIN PUBLIC KEY form, not PKCS#1's BEGIN RSA PUBLIC KEY"
            " (`openssl rsa -RSAPublicKey_in -in KEY -pubout` converts it)"
        )
    if "CERTIFICATE" in blocks:
        return "this is a certificate: Kong needs the public key in it (`openssl x509 -in CERT -pubkey -noout`)"
    if blocks:
        return f"Kong needs a BEGIN PUBLIC KEY block, but this holds only {', '.join(f'BEGIN {b}' for b in blocks)}"
    begin = _BEGIN_LINE.search(text)
    if begin:
        name = begin.group(1)
        return f"its -----BEGIN {name}----- line has no -----END {name}----- line after it (is the end cut off?)"
    armour = _BEGIN_ANYWHERE.search(text)
    if armour:
        return (
            f"its -----BEGIN {armour.group(1)}----- and -----END----- lines must each be a line of their own,"
            " at the start of the line (were the newlines lost, or written as \\n in a single-quoted string?)"
        )
    return "not a PEM public key (Kong needs the text from -----BEGIN PUBLIC KEY----- to -----END PUBLIC KEY-----)"


class _Malformed(ValueError):
    pass


def _element(der: bytes, at: int, tag: int | None) -> tuple[bytes, int]:
    """The content of the DER element at `at` (of type `tag`, unless None), and where the next one starts."""
    if at >= len(der) or (tag is not None and der[at] != tag):
        raise _Malformed("unexpected structure")
    if at + 1 >= len(der):
        raise _Malformed("it ends early")
    first = der[at + 1]
    start = at + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or start + count > len(der):
            raise _Malformed("a length is malformed")
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    end = start + length
    if end > len(der):
        raise _Malformed("it ends early")
    return der[start:end], end


def _exactly(content: bytes, end: int) -> None:
    """A DER structure's elements fill it exactly (OpenSSL refuses anything left over)."""
    if end != len(content):
        raise _Malformed("unexpected bytes in its structure")


def _oid(content: bytes) -> str:
    if not content:
        raise _Malformed("an empty object identifier")
    parts = [content[0] // 40, content[0] % 40] if content[0] < 80 else [2, content[0] - 80]
    value = 0
    for byte in content[1:]:
        value = value << 7 | byte & 0x7F
        if not byte & 0x80:
            parts.append(value)
            value = 0
    if content[-1] & 0x80:
        raise _Malformed("an object identifier is cut short")
    return ".".join(map(str, parts))


def _subject_public_key_info(der: bytes) -> tuple[str, str | None, bytes]:
    """(key type, curve for EC keys, the key's bytes) of a DER SubjectPublicKeyInfo (RFC 5280 4.1)."""
    info, _ = _element(der, 0, 0x30)
    algorithm, at = _element(info, 0, 0x30)
    oid, after_oid = _element(algorithm, 0, 0x06)
    key_type = _oid(oid)
    curve = None
    if after_oid < len(algorithm):  # the parameters: a curve's name for EC, NULL for RSA, none for Ed*
        parameters, after_oid = _element(algorithm, after_oid, 0x06 if key_type == EC else None)
        if key_type == EC:
            curve = CURVES.get(_oid(parameters), _oid(parameters))
    _exactly(algorithm, after_oid)
    bits, end = _element(info, at, 0x03)
    _exactly(info, end)
    if not bits or bits[0] > 7:
        raise _Malformed("its key bits are malformed")
    key = bytearray(bits[1:])
    if key:  # the unused bits of the last byte are zeroed, as OpenSSL's c2i_ASN1_BIT_STRING does
        key[-1] &= 0xFF << bits[0] & 0xFF
    return key_type, curve, bytes(key)


def _on_curve(point: bytes, p: int, b: int) -> bool:
    """Whether an SEC 1 encoded point (2.3.3: 04 x y, or 02/03 x) lies on y^2 = x^3 - 3x + b mod p."""
    size = (p.bit_length() + 7) // 8
    x = int.from_bytes(point[1 : 1 + size], "big")
    right = (pow(x, 3, p) - 3 * x + b) % p
    if len(point) == 1 + 2 * size and point[0] == 4:
        y = int.from_bytes(point[1 + size :], "big")
        return x < p and y < p and (y * y - right) % p == 0
    if len(point) == 1 + size and point[0] in (2, 3):
        # p = 3 mod 4 for both curves: a square root, when there is one, is right^((p+1)/4)
        root = pow(right, (p + 1) // 4, p)
        return x < p and root * root % p == right
    return False


def _rsa_public_key(der: bytes) -> None:
    """RSAPublicKey (RFC 8017 A.1.1): a modulus and a public exponent (their values are OpenSSL's business
    at signature time; it reads a negative one)."""
    key, _ = _element(der, 0, 0x30)  # bytes after it are ignored, as OpenSSL does
    modulus, at = _element(key, 0, 0x02)
    exponent, end = _element(key, at, 0x02)
    _exactly(key, end)
    if not modulus or not exponent:
        raise _Malformed("its modulus or exponent is empty")
