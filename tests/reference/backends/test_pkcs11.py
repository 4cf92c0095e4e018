"""The PKCS#11 backend and signer on a real SoftHSM2 token (skipped with the reason without SoftHSM2)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pkcs11", reason="python-pkcs11 is not installed (the 'pkcs11' extra)")

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from pytest_kmsconform.emulators.pkcs11 import softhsm
from pytest_kmsconform.emulators.pkcs11.provider import PROVIDER
from pytest_kmsconform.reference_impl.algorithms import CLASSIC, Algorithm
from pytest_kmsconform.reference_impl.backends.pkcs11 import Pkcs11Backend, _raw_point, backend_from_env
from pytest_kmsconform.reference_impl.backends.pkcs11_signer import signer_from_env
from pytest_kmsconform.reference_impl.backends.pkcs11_token import SPARE_LABEL
from pytest_kmsconform.reference_impl.errors import (
    BackendError,
    BackendErrorCode,
    ConfigurationError,
    InvalidSignature,
)
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.primitives import verify_digest

from pytest_kmsconform.backend_api import BackendHandle

pytestmark = pytest.mark.skipif(softhsm.unavailable_reason() is not None, reason=str(softhsm.unavailable_reason()))

MESSAGE = b'{"event":"login","user":"alice"}'
DIGEST = hashlib.sha256(MESSAGE).digest()


@pytest.fixture(scope="module")
def handle() -> Iterator[BackendHandle]:
    """The process's SoftHSM2 token as a ``pkcs11`` backend handle (module scope)."""
    with PROVIDER.start(namespace="ref-pkcs11") as started:
        yield started


@pytest.fixture
def backend(handle: BackendHandle) -> Iterator[Pkcs11Backend]:
    made = backend_from_env(handle.env)
    yield made
    made.close()


def test_signatures_are_the_standard_ones_over_the_message(backend: Pkcs11Backend) -> None:
    assert backend.algorithms() == CLASSIC  # no ML-DSA mechanism on SoftHSM2 2.6
    for alg in Algorithm:
        if alg not in CLASSIC:
            continue
        key = backend.create_key(alg, "std", None)
        assert key.kid == f"std-{key.ref}" and len(bytes.fromhex(key.ref)) == 8
        signature = backend.sign(key, DIGEST)
        public = backend.public_key(key)
        if alg is Algorithm.ED25519:
            assert isinstance(public, ed25519.Ed25519PublicKey)
            public.verify(signature, DIGEST)  # PureEdDSA over the 32 digest bytes
        elif alg is Algorithm.ECDSA_P256_SHA256:
            assert isinstance(public, ec.EllipticCurvePublicKey) and signature[0] == 0x30  # DER, not r || s
            public.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))
        elif alg is Algorithm.RSA_SHA256:
            assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
            public.verify(signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
        elif alg is Algorithm.RSA_PSS_SHA256:
            assert isinstance(public, rsa.RSAPublicKey)
            pss = padding.PSS(padding.MGF1(hashes.SHA256()), 32)
            public.verify(signature, MESSAGE, pss, hashes.SHA256())
        else:
            assert public is None and len(signature) == 32
        backend.verify(key, DIGEST, signature)
        with pytest.raises(InvalidSignature):
            backend.verify(key, hashlib.sha256(b"other").digest(), signature)


def test_private_keys_are_sensitive_token_objects(backend: Pkcs11Backend, handle: BackendHandle) -> None:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    key = backend.create_key(Algorithm.ECDSA_P256_SHA256, "attrs", None)
    token = pkcs11.lib(handle.env["PKCS11_MODULE"]).get_token(token_label=handle.env["PKCS11_TOKEN_LABEL"])
    with token.open(rw=True) as session:  # the process is logged in (the backend's session)
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=bytes.fromhex(key.ref))
        assert private[Attribute.TOKEN] and private[Attribute.SENSITIVE] and not private[Attribute.EXTRACTABLE]
        assert private[Attribute.LABEL] == "attrs"


def test_revocation_destroys_the_signing_object_and_keeps_the_public_key(backend: Pkcs11Backend) -> None:
    for alg in (Algorithm.ED25519, Algorithm.HMAC_SHA256):
        key = backend.create_key(alg, "revoked", None)
        backend.sign(key, DIGEST)
        backend.disable(key)
        with pytest.raises(BackendError) as caught:
            backend.sign(key, DIGEST)
        assert caught.value.code is BackendErrorCode.NOT_FOUND and not caught.value.retryable
        fresh = backend_from_env_like(backend)
        try:
            with pytest.raises(BackendError):  # not only this backend's cache: the token refuses
                fresh.sign(key, DIGEST)
        finally:
            fresh.close()
        if alg is Algorithm.ED25519:
            assert backend.public_key(key) is not None


def backend_from_env_like(backend: Pkcs11Backend) -> Pkcs11Backend:
    token = softhsm.process_token()
    return Pkcs11Backend(str(token.module), backend.token_label, token.pin, softhsm_conf=str(token.conf))


def test_rotation_makes_a_new_object_and_the_old_one_still_verifies(backend: Pkcs11Backend) -> None:
    ring = KeyRing(backend, Algorithm.ED25519, "rotating")
    first = ring.rotate()
    signer = RingSigner(ring)
    old = signer.sign_digest(DIGEST)
    second = ring.rotate(activate=True)
    assert second.kid != first.kid and second.kid.startswith("rotating-")
    signer.verify_signature(DIGEST, old)
    assert signer.sign_digest(DIGEST).kid == second.kid


def test_rsa_spares_are_relabelled_and_never_left_behind(handle: BackendHandle) -> None:
    import pkcs11
    from pkcs11 import Attribute

    made = backend_from_env({**handle.env, "KMSCONFORM_PKCS11_RSA_SPARE": "1"})
    keys = [made.create_key(Algorithm.RSA_SHA256, f"spare-{i}", None) for i in range(2)]
    for key in keys:
        public = made.public_key(key)
        assert public is not None
        verify_digest(Algorithm.RSA_SHA256, public, DIGEST, made.sign(key, DIGEST))
    assert keys[0].ref != keys[1].ref
    made.close()
    token = pkcs11.lib(handle.env["PKCS11_MODULE"]).get_token(token_label=handle.env["PKCS11_TOKEN_LABEL"])
    with token.open(user_pin=handle.env["PKCS11_PIN"]) as session:
        assert list(session.get_objects({Attribute.LABEL: SPARE_LABEL})) == []


def test_the_spare_is_made_under_the_session_lock(handle: BackendHandle) -> None:
    """python-pkcs11 calls C_Initialize(NULL) ("no concurrent calls"), so SoftHSM2 runs without its own
    mutexes: the background generation must wait while another call holds the session lock."""
    import threading

    made = backend_from_env({**handle.env, "KMSCONFORM_PKCS11_RSA_SPARE": "1"})
    shared = made._shared
    assert shared is not None
    started = threading.Event()

    def generate(session: object, pair_id: bytes) -> None:
        started.set()

    try:
        with shared.lock:  # as a sign in another thread would
            shared.refill_spare("probe", generate)
            assert not started.wait(0.3), "the spare generation ran while another call held the session lock"
        assert shared.take_spare("probe") is not None
        assert started.is_set()
    finally:
        made.close()


def test_ec_point_encodings() -> None:
    point = bytes(range(65))
    assert _raw_point(point, 65) == point
    assert _raw_point(b"\x04\x41" + point, 65) == point
    with pytest.raises(BackendError):
        _raw_point(b"\x04\x40" + point[:64], 65)


def test_signer_from_env_over_an_existing_key(handle: BackendHandle, backend: Pkcs11Backend) -> None:
    key = backend.create_key(Algorithm.ECDSA_P256_SHA256, "operator-key", None)
    env = {**handle.env, "AUDIT_SIGNING_PKCS11_KEY_LABEL": "operator-key"}
    signer = signer_from_env(env)
    try:
        assert signer.kid == key.kid and signer.alg is Algorithm.ECDSA_P256_SHA256
        signature = signer.sign_digest(DIGEST)
        signer.verify_signature(DIGEST, signature)
        (jwk,) = signer.jwks()["keys"]
        assert jwk["kid"] == key.kid and jwk["kty"] == "EC"
    finally:
        signer.close()
    with pytest.raises(ConfigurationError, match="signs ecdsa-p256-sha256, not ed25519"):
        signer_from_env({**env, "AUDIT_SIGNING_ALG": "ed25519"})
    backend.create_key(Algorithm.ECDSA_P256_SHA256, "operator-key", None)
    with pytest.raises(ConfigurationError, match="2 signing keys"):
        signer_from_env(env)
    signer_from_env({**env, "AUDIT_SIGNING_PKCS11_KEY_ID": key.ref}).close()
    with pytest.raises(ConfigurationError, match="PKCS11_PIN is not set"):
        signer_from_env({k: v for k, v in env.items() if k != "PKCS11_PIN"})


def test_another_pin_in_the_same_process_is_refused_without_showing_it(handle: BackendHandle) -> None:
    held = backend_from_env(handle.env)
    try:
        with pytest.raises(ConfigurationError) as caught:
            backend_from_env({**handle.env, "PKCS11_PIN": "wrong-pin-4711"})
        assert "wrong-pin-4711" not in str(caught.value) and handle.env["PKCS11_PIN"] not in str(caught.value)
        assert handle.env["PKCS11_PIN"] not in repr(held)
    finally:
        held.close()


def test_a_wrong_pin_is_access_denied_and_never_printed(tmp_path: Path) -> None:
    # a fresh process: login state is per process, and this one is logged in to its own token
    token = softhsm.create_token(tmp_path, label="pin-test")
    code = (
        "import sys\n"
        "from pytest_kmsconform.reference_impl.backends.pkcs11 import backend_from_env\n"
        "from pytest_kmsconform.reference_impl.errors import BackendError\n"
        "env = {'PKCS11_MODULE': sys.argv[1], 'PKCS11_TOKEN_LABEL': 'pin-test', 'PKCS11_PIN': 'wrong-pin-4711',"
        " 'SOFTHSM2_CONF': sys.argv[2]}\n"
        "try:\n    backend_from_env(env)\nexcept BackendError as exc:\n    print(exc.code.value, exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(token.module), str(token.conf)],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"},
        check=False,
    )
    assert done.stdout.startswith("access_denied"), done.stdout + done.stderr
    assert "wrong-pin-4711" not in done.stdout + done.stderr and token.pin not in done.stdout + done.stderr
