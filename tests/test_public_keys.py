"""JWT credentials' public keys are judged before Kong sees them: Kong parses them at the write
(jwt/daos.lua: `openssl.pkey.new`, "invalid key"), so one it cannot read would stop an apply half-way.

The keys in tests/keys/ were made with the openssl command (3.0): `genpkey` for RSA 2048, RSA-PSS, EC
P-256 and P-384, Ed25519; `pkey -pubout` for the public keys, `rsa -RSAPublicKey_out` for the PKCS#1
form, `ec -conv_form compressed` for the compressed point, `req -x509` for the certificate."""

from __future__ import annotations

import random
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from gatewayctl.catalog.load import load_catalog
from gatewayctl.catalog.public_keys import public_key_problem
from gatewayctl.diagnostics import CatalogInvalid

KEYS = Path(__file__).parent / "keys"


def key(name: str) -> str:
    return (KEYS / name).read_text()


GOOD = [
    ("rsa.pub.pem", "RS256"),
    ("rsa.pub.pem", "RS512"),
    ("rsa.pub.pem", "PS384"),
    ("rsa-pss.pub.pem", "PS256"),
    ("ec-p256.pub.pem", "ES256"),
    ("ec-p256-compressed.pub.pem", "ES256"),
    ("ec-p384.pub.pem", "ES384"),
    ("ed25519.pub.pem", "EdDSA"),
]


@pytest.mark.parametrize(("name", "algorithm"), GOOD)
def test_a_good_key_for_its_algorithm_passes(name: str, algorithm: str) -> None:
    assert public_key_problem(key(name), algorithm) is None


def test_what_openssl_reads_around_the_block_passes() -> None:
    # Text before and after the block, CRLF line ends and another block first: OpenSSL's PEM reader skips
    # to the PUBLIC KEY block, and so do we.
    text = "issuer key, rotated 2026-11\n" + key("issuer.cert.pem") + key("rsa.pub.pem") + "\n# end\n"
    assert public_key_problem(text, "RS256") is None
    assert public_key_problem(key("rsa.pub.pem").replace("\n", "\r\n"), "RS256") is None


@pytest.mark.parametrize(
    ("name", "algorithm", "message"),
    [
        ("ec-p256.pub.pem", "RS256", "RS256 verifies with an RSA key, but this is an EC key"),
        ("rsa-pss.pub.pem", "RS256", "RS256 verifies with an RSA key, but this is an RSA-PSS key"),
        ("rsa.pub.pem", "ES256", "ES256 verifies with an EC key on curve P-256, but this is an RSA key"),
        ("ec-p384.pub.pem", "ES256", "ES256 verifies with an EC key on curve P-256, but this key is on P-384"),
        ("ec-p256.pub.pem", "ES384", "ES384 verifies with an EC key on curve P-384, but this key is on P-256"),
        ("rsa.pub.pem", "EdDSA", "EdDSA verifies with an Ed25519 or Ed448 key, but this is an RSA key"),
    ],
)
def test_a_key_of_another_type_than_the_algorithm_is_refused(name: str, algorithm: str, message: str) -> None:
    # Kong stores it, then refuses every token: found here instead.
    assert public_key_problem(key(name), algorithm) == message


def test_the_forms_people_paste_instead_are_named_with_the_command_that_converts_them() -> None:
    pkcs1 = public_key_problem(key("rsa.pkcs1.pem"), "RS256")
    assert pkcs1 is not None and "not PKCS#1's BEGIN RSA PUBLIC KEY" in pkcs1 and "-RSAPublicKey_in" in pkcs1
    cert = public_key_problem(key("issuer.cert.pem"), "EdDSA")
    assert cert is not None and cert.startswith("this is a certificate") and "x509" in cert
    private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
    message = public_key_problem(private, "EdDSA")
    assert message is not None and message.startswith("this is a private key (BEGIN PRIVATE KEY)")
    assert "MC4CAQAw" not in message  # the key's body is never quoted
    # a whole key pair pasted: OpenSSL would read the public half, and Kong store the private one with it
    assert public_key_problem(key("rsa.pub.pem") + private, "RS256") == message.replace("EdDSA", "RS256")
    other = "-----BEGIN DH PARAMETERS-----\nMAA=\n-----END DH PARAMETERS-----\n"
    assert public_key_problem(other, "RS256") == (
        "Kong needs a BEGIN PUBLIC KEY block, but this holds only BEGIN DH PARAMETERS"
    )


@pytest.mark.parametrize(
    "mangle",
    [
        lambda pem: pem.replace("\n", " "),  # flattened into one line
        lambda pem: pem.replace("\n", "\\n"),  # newlines written as \n in a single-quoted YAML string
        lambda pem: textwrap.indent(pem, "  "),  # armour not at the start of its line
    ],
)
def test_armour_lines_must_be_lines_of_their_own(mangle: object) -> None:
    assert callable(mangle)
    message = public_key_problem(mangle(key("rsa.pub.pem")), "RS256")
    assert message is not None and "must each be a line of their own" in message


def test_a_block_without_its_end_line() -> None:
    cut = key("rsa.pub.pem").rsplit("-----END", 1)[0]
    expected = "its -----BEGIN PUBLIC KEY----- line has no -----END PUBLIC KEY----- line after it (is the end cut off?)"
    assert public_key_problem(cut, "RS256") == expected
    mismatched = key("rsa.pub.pem").replace("END PUBLIC KEY", "END RSA PUBLIC KEY")
    assert public_key_problem(mismatched, "RS256") == expected


def test_text_that_is_no_pem_at_all() -> None:
    assert public_key_problem("ssh-rsa AAAAB3NzaC1yc2E alice@laptop", "RS256") == (
        "not a PEM public key (Kong needs the text from -----BEGIN PUBLIC KEY----- to -----END PUBLIC KEY-----)"
    )


def test_a_key_cut_short_or_miscopied_is_refused() -> None:
    lines = key("rsa.pub.pem").splitlines()
    missing_line = "\n".join(lines[:3] + lines[4:]) + "\n"
    assert "not a readable public key" in (public_key_problem(missing_line, "RS256") or "")
    bad_base64 = "\n".join([*lines[:2], lines[2][:10] + "!" + lines[2][11:], *lines[3:]]) + "\n"
    assert "not valid base64" in (public_key_problem(bad_base64, "RS256") or "")
    # One character changed in an EC key's coordinates moves the point off the curve: OpenSSL refuses it.
    ec = key("ec-p256.pub.pem").splitlines()
    flipped = "\n".join([ec[0], ec[1][:40] + ("A" if ec[1][40] != "A" else "B") + ec[1][41:], *ec[2:]]) + "\n"
    assert public_key_problem(flipped, "ES256") == (
        "its point is not on curve P-256 (is a character wrong, or a line missing?)"
    )


def _corruptions(text: str, rng: random.Random, count: int) -> list[str]:
    lines = text.splitlines()
    variants = []
    for trial in range(count):
        body = list(lines)
        i = rng.randrange(1, len(body) - 1)
        if trial % 3 == 0 and len(body) > 3:
            del body[i]
        elif trial % 3 == 1:
            body[i] = body[i][: rng.randrange(len(body[i]))]
        else:
            j = rng.randrange(len(body[i]))
            body[i] = body[i][:j] + rng.choice("ABCxyz019+/") + body[i][j + 1 :]
        variants.append("\n".join(body) + "\n")
    return variants


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to compare with")
def test_the_verdict_is_openssls_on_damaged_keys() -> None:
    """The check and OpenSSL (what Kong parses keys with) take and refuse the same damaged keys."""
    rng = random.Random(20261201)
    disagreements = []
    accepted = refused = 0
    for name, algorithm in GOOD:
        for text in _corruptions(key(name), rng, 25):
            ours = public_key_problem(text, algorithm) is None
            theirs = subprocess.run(["openssl", "pkey", "-pubin", "-noout"], input=text.encode(), capture_output=True)
            if ours != (theirs.returncode == 0):
                disagreements.append((name, text))
            accepted += ours
            refused += not ours
    assert disagreements == []
    assert accepted > 10 and refused > 50  # both verdicts were exercised


# ------------------------------------------------------------------ in the catalog


def catalog(tmp_path: Path, rsa_public_key: str, algorithm: str = "RS256") -> Path:
    path = tmp_path / "catalog.yaml"
    secret = '\n                      secret: "${env:JWT_SECRET}"' if algorithm.startswith("HS") else ""
    path.write_text(
        textwrap.dedent(
            f"""\
            format: 1
            name: demo
            consumers:
              - name: web
                credentials:
                  jwt:
                    - key: https://id.example.com/
                      algorithm: {algorithm}
                      rsa_public_key: {rsa_public_key}{secret}
            """
        )
    )
    return path


def errors(path: Path) -> list[str]:
    with pytest.raises(CatalogInvalid) as exc:
        load_catalog(path, all_environments=True)
    return [str(d).replace(str(path), "catalog.yaml") for d in exc.value.diagnostics]


def test_validate_places_a_written_out_key_it_refuses(tmp_path: Path) -> None:
    pkcs1 = key("rsa.pkcs1.pem").replace("\n", "\\n")
    assert errors(catalog(tmp_path, f'"{pkcs1}"')) == [
        "catalog.yaml:9:27: consumers[0].credentials.jwt[0].rsa_public_key: Kong reads only the BEGIN PUBLIC KEY"
        " form, not PKCS#1's BEGIN RSA PUBLIC KEY (`openssl rsa -RSAPublicKey_in -in KEY -pubout` converts it)"
    ]
    good = key("rsa.pub.pem").replace("\n", "\\n")
    load_catalog(catalog(tmp_path, f'"{good}"'), all_environments=True)


def test_validate_reads_a_key_file_that_is_there(tmp_path: Path) -> None:
    (tmp_path / "issuer.pem").write_text(key("ec-p256.pub.pem"))
    path = catalog(tmp_path, "${file:issuer.pem}")
    assert errors(path) == [
        "catalog.yaml:9:27: consumers[0].credentials.jwt[0].rsa_public_key: ${file:issuer.pem}: RS256 verifies"
        " with an RSA key, but this is an EC key"
    ]
    (tmp_path / "issuer.pem").write_text(key("rsa.pub.pem"))
    load_catalog(path, all_environments=True)


def test_validate_leaves_a_missing_file_and_the_environment_to_render_and_apply(tmp_path: Path) -> None:
    # validate runs without the secrets: a file not there yet, or a variable, is judged when resolved.
    loaded = load_catalog(catalog(tmp_path, "${file:issuer.pem}"), all_environments=True)
    assert not loaded.warnings
    loaded = load_catalog(catalog(tmp_path, "${env:ISSUER_KEY}"), all_environments=True)
    with pytest.raises(CatalogInvalid) as exc:
        loaded.check_secrets(["kong"], loaded.secrets({"ISSUER_KEY": key("issuer.cert.pem")}))
    [message] = [str(d).replace(str(tmp_path / "catalog.yaml"), "catalog.yaml") for d in exc.value.diagnostics]
    assert message.startswith(
        "catalog.yaml:9:27: consumers[0].credentials.jwt[0].rsa_public_key: ${env:ISSUER_KEY}: this is a certificate"
    )
    assert "MII" not in message
    loaded.check_secrets(["kong"], loaded.secrets({"ISSUER_KEY": key("rsa.pub.pem")}))


def test_an_hs_credential_ignores_the_key_as_kong_does(tmp_path: Path) -> None:
    load_catalog(catalog(tmp_path, "not-a-key", "HS256"), all_environments=True)
