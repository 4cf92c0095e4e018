"""The proxy over the other registered backends (``--backend NAME``): sign, rotate, revoke through HTTP."""

from __future__ import annotations

import pytest
from pytest_kmsconform.emulators.signing_proxy.provider import run_proxy
from pytest_kmsconform.reference_impl.backends.signing_proxy import SigningProxyAdmin, signer_from_env
from pytest_kmsconform.reference_impl.errors import KeyRevoked

from pytest_kmsconform import backend_registry

DIGEST = bytes(range(32))


@pytest.mark.parametrize("backend", ["aws-kms", "vault", "yubihsm"])
def test_proxy_over_a_registered_backend(backend: str) -> None:
    reason = backend_registry.get(backend).unavailable_reason()
    if reason is not None:
        pytest.skip(f"backend {backend} cannot start here: {reason}")
    with run_proxy({"backend": backend, "alg": "ecdsa-p256-sha256"}) as proxy:
        assert proxy.description.startswith(backend)
        signer = signer_from_env(proxy.env)
        admin = SigningProxyAdmin(signer, proxy.env["SIGNING_PROXY_ADMIN_KEY"])
        first = signer.sign_digest(DIGEST)
        assert first.alg.value == "ecdsa-p256-sha256"
        rotated = admin.rotate()
        second = signer.sign_digest(DIGEST)
        assert (rotated["previous_kid"], rotated["kid"]) == (first.kid, second.kid) and first.kid != second.kid
        signer.verify_signature(DIGEST, first)
        signer.verify_signature(DIGEST, second)
        admin.revoke(first.kid)
        with pytest.raises(KeyRevoked):
            signer.verify_signature(DIGEST, first)
        assert {k["kid"]: k["status"] for k in signer.jwks()["keys"]} == {first.kid: "revoked", second.kid: "active"}


def test_env_signer_has_no_admin() -> None:
    with run_proxy({}) as inner, run_proxy({"backend": "env:signing_proxy"}, env=inner.env) as outer:
        signer = signer_from_env(outer.env)
        signature = signer.sign_digest(DIGEST)
        assert signature.kid == "signing-proxy-v1"  # signed by the inner proxy, through the outer one
        signer.verify_signature(DIGEST, signature)
        health = signer.health()
        assert (health["backend"], health["admin"]) == ("signing-proxy", False)
