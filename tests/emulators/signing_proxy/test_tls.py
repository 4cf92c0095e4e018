"""Mutual TLS with certificates made at test time: a client certificate from the configured CA is
required; no certificate, or one from another CA, gets no answer."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_kmsconform.emulators.signing_proxy.credentials import AuthPolicy
from pytest_kmsconform.emulators.signing_proxy.devcerts import DevCerts, make_dev_certs
from pytest_kmsconform.emulators.signing_proxy.provider import RunningProxy, run_proxy
from pytest_kmsconform.emulators.signing_proxy.server import TlsConfig
from pytest_kmsconform.reference_impl.backends.signing_proxy import SigningProxySigner, signer_from_env
from pytest_kmsconform.reference_impl.errors import BackendError, BackendErrorCode

DIGEST = bytes(range(32))


@pytest.fixture
def certs(tmp_path: Path) -> DevCerts:
    (tmp_path / "good").mkdir()
    return make_dev_certs(tmp_path / "good")


@pytest.fixture
def other_certs(tmp_path: Path) -> DevCerts:
    (tmp_path / "other").mkdir()
    return make_dev_certs(tmp_path / "other", client_name="intruder")


@pytest.fixture
def mtls_proxy(certs: DevCerts) -> Iterator[RunningProxy]:
    tls = TlsConfig(certs.server_cert, certs.server_key, certs.ca_cert)
    # mTLS alone secures it here: no API key.
    with run_proxy({}, tls=tls, auth=AuthPolicy(api_key=None, admin_key=None)) as running:
        yield running


def context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None and key is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def test_client_with_certificate_signs(mtls_proxy: RunningProxy, certs: DevCerts) -> None:
    assert mtls_proxy.server.url.startswith("https://127.0.0.1:")
    signer = SigningProxySigner(
        mtls_proxy.server.url,
        keys_pin=mtls_proxy.service.keys_pin,
        ssl_context=context(certs.ca_cert, certs.client_cert, certs.client_key),
    )
    signature = signer.sign_digest(DIGEST)
    signer.verify_signature(DIGEST, signature)


def test_env_configures_mtls(mtls_proxy: RunningProxy, certs: DevCerts) -> None:
    signer = signer_from_env(
        {
            "SIGNING_PROXY_URL": mtls_proxy.server.url,
            "SIGNING_PROXY_CA_FILE": str(certs.ca_cert),
            "SIGNING_PROXY_CLIENT_CERT": str(certs.client_cert),
            "SIGNING_PROXY_CLIENT_KEY": str(certs.client_key),
        }
    )
    assert signer.sign_digest(DIGEST).alg.value == "ed25519"


@pytest.mark.parametrize("which", ["no-certificate", "certificate-from-another-ca"])
def test_client_without_a_trusted_certificate_is_refused(
    mtls_proxy: RunningProxy, certs: DevCerts, other_certs: DevCerts, which: str
) -> None:
    if which == "no-certificate":
        ctx = context(certs.ca_cert)
    else:
        ctx = context(certs.ca_cert, other_certs.client_cert, other_certs.client_key)
    signer = SigningProxySigner(mtls_proxy.server.url, ssl_context=ctx, timeout=5)
    with pytest.raises(BackendError) as info:
        signer.sign_digest(DIGEST)
    assert info.value.code is BackendErrorCode.ACCESS_DENIED


def test_client_refuses_a_server_from_an_untrusted_ca(
    mtls_proxy: RunningProxy, certs: DevCerts, other_certs: DevCerts
) -> None:
    ctx = context(other_certs.ca_cert, certs.client_cert, certs.client_key)
    signer = SigningProxySigner(mtls_proxy.server.url, ssl_context=ctx, timeout=5)
    with pytest.raises(BackendError) as info:
        signer.sign_digest(DIGEST)
    assert (info.value.code, info.value.detail) == (BackendErrorCode.ACCESS_DENIED, "tls")


def test_plain_http_to_a_tls_port_gets_no_answer(mtls_proxy: RunningProxy) -> None:
    signer = SigningProxySigner(mtls_proxy.server.url.replace("https://", "http://"), timeout=5)
    with pytest.raises(BackendError) as info:
        signer.sign_digest(DIGEST)
    assert info.value.code is BackendErrorCode.UNAVAILABLE


def test_provider_tls_option_makes_working_certificates() -> None:
    with run_proxy({"tls": "mtls"}) as running:
        env = dict(running.env)
        assert {"SIGNING_PROXY_CA_FILE", "SIGNING_PROXY_CLIENT_CERT", "SIGNING_PROXY_CLIENT_KEY"} <= set(env)
        signer = signer_from_env(env)
        signer.verify_signature(DIGEST, signer.sign_digest(DIGEST))
        ca_file = Path(env["SIGNING_PROXY_CA_FILE"])
        assert ca_file.exists()
    assert not ca_file.exists()  # throw-away certificates are removed on stop


def test_bad_tls_files_are_config_errors(tmp_path: Path) -> None:
    from pytest_kmsconform.emulators.signing_proxy.errors import ProxyConfigError

    missing = tmp_path / "missing.pem"
    with pytest.raises(ProxyConfigError), run_proxy({}, tls=TlsConfig(missing, missing)):
        pass
