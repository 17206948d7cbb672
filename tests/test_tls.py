"""TLS for real: the Kong emulator behind a certificate from a throw-away CA (made with the openssl command),
reached with --ca-cert, refused without it, reached with --insecure, and, when the server asks for a client
certificate, reached only with --client-cert/--client-key (Kong's admin_listen `ssl` behind an mTLS proxy)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from emulators.harness import CATALOG
from emulators.kong import KongEmulator, KongState, start

from gatewayctl.cli import main

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _signed(name: str, subject: str, extensions: str, folder: Path) -> tuple[Path, Path]:
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", subject, cwd=folder)  # fmt: skip
    (folder / f"{name}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext", cwd=folder)  # fmt: skip
    return folder / f"{name}.pem", folder / f"{name}.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=gatewayctl test CA", cwd=folder)  # fmt: skip
    server = _signed("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n", folder)
    client = _signed("client", "/CN=ci-runner", "extendedKeyUsage=clientAuth\n", folder)
    return Pki(folder / "ca.pem", *server, *client)


def _server_context(pki: Pki, client_certificates: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if client_certificates:
        context.load_verify_locations(pki.ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _serving(pki: Pki, client_certificates: bool) -> Iterator[KongEmulator]:
    emulator = start(KongState(), tls=_server_context(pki, client_certificates))
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def https_kong(pki: Pki) -> Iterator[KongEmulator]:
    yield from _serving(pki, client_certificates=False)


@pytest.fixture
def mtls_kong(pki: Pki) -> Iterator[KongEmulator]:
    yield from _serving(pki, client_certificates=True)


def _diff(catalog: Path, url: str, *flags: str) -> int:
    return main(["diff", str(catalog), "--kong-admin-url", url, *flags])


@pytest.fixture
def catalog(workdir: Path) -> Path:
    path = workdir / "catalog.yaml"
    path.write_text(CATALOG)
    return path


def test_a_private_ca_is_trusted_only_when_given(
    https_kong: KongEmulator, pki: Pki, catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert https_kong.url.startswith("https://127.0.0.1:")
    assert _diff(catalog, https_kong.url) == 3
    err = capsys.readouterr().err
    assert "certificate verify failed" in err and "--ca-cert" in err and "Traceback" not in err, err
    assert _diff(catalog, https_kong.url, "--ca-cert", str(pki.ca)) == 0
    assert "kong: +" in capsys.readouterr().out  # the plan was read over TLS
    assert _diff(catalog, https_kong.url, "--insecure") == 0


def test_a_client_certificate_is_sent_when_the_server_asks(
    mtls_kong: KongEmulator, pki: Pki, catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _diff(catalog, mtls_kong.url, "--ca-cert", str(pki.ca)) == 3  # no client certificate: refused
    assert "Traceback" not in capsys.readouterr().err
    mine = ["--client-cert", str(pki.client_cert), "--client-key", str(pki.client_key)]
    assert _diff(catalog, mtls_kong.url, "--ca-cert", str(pki.ca), *mine) == 0
    assert "kong: +" in capsys.readouterr().out
    assert mtls_kong.state.requests, "the emulator answered the plan's reads"


def test_a_ca_cert_that_is_a_folder_says_so(catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--ca-cert /etc/ssl/certs` (a folder of CAs, as curl's --capath takes) is exit 1 saying it is a folder,
    not "no such file" of a path that exists."""
    assert _diff(catalog, "https://kong.invalid:8444", "--ca-cert", str(catalog.parent)) == 1
    err = capsys.readouterr().err
    assert f"--ca-cert {catalog.parent}: is a folder: name the PEM file in it" in err, err
    assert _diff(catalog, "https://kong.invalid:8444", "--ca-cert", str(catalog.parent / "none.pem")) == 1
    assert "none.pem: no such file" in capsys.readouterr().err


def test_a_kubernetes_api_server_whose_certificate_is_not_trusted_is_refused_at_once(
    pki: Pki, shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed certificate check is final and says what to do, as for Kong's and Kuma's APIs: it was the
    client's two-line "SSLError" text, with no word of where the cluster's CA goes (--ca-cert is not it)."""
    from emulators import kubernetes as kube
    from emulators import server

    state = kube.KubeState()
    tls = _server_context(pki, client_certificates=False)
    emulator = kube.KubeEmulator(state, *server.serve(kube.Handler, state, 0, "kube", server.TrackingServer, tls))
    try:
        kubeconfig = emulator.kubeconfig(shop.parent / "kubeconfig")  # no certificate-authority for the cluster
        argv = ["diff", str(shop), "--only", "kuma", "--kuma-platform", "kubernetes", "--kubeconfig", str(kubeconfig)]
        assert main(argv) == 3
        err = capsys.readouterr().err
        assert "GET /version" in err and "tries" not in err and "Traceback" not in err, err
        assert "certificate verify failed" in err and "certificate-authority" in err, err
        assert len(err.strip().splitlines()) == 1, err
    finally:
        emulator.stop()
