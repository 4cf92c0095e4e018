"""Mutants of signing and key publication. Targets are the names the reference adapter builds its
signers from (``reference_adapter:RingSigner``, ``:LocalKeyBackend``, ...), so the reference keys the
suites sign their own material with stay correct."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from pytest_kmsconform.mutation import mutant

SIGNING = "signing"
KEY_BACKEND = "pytest_kmsconform.reference_adapter:key_backend_for"
"""Where the reference adapter gets each kind's key backend: a mutant swaps in a defective subclass."""


def _key_backend_mutant(kind: str, defective: Any) -> Any:
    """``key_backend_for`` whose ``kind`` backends are of ``defective(their class)``."""

    def make(original: Any) -> Any:
        def key_backend_for(handle: Any) -> Any:
            backend = original(handle)
            if handle.kind == kind:
                backend.__class__ = defective(type(backend))
            return backend

        return key_backend_for

    return make


@mutant(
    "pytest_kmsconform.reference_adapter:RingSigner",
    bug="digest length: a digest that is not 32 bytes is hashed to 32 instead of refused",
    violates="seed 001 (Digest formula: SHA256); docs/spec.md section 1 (always a 32-byte digest)",
    select="refuses_wrong_digest_length",
)
def hashes_odd_digests(RingSigner: Any) -> Any:
    class Mutant(RingSigner):  # type: ignore[misc,valid-type]
        def sign_digest(self, digest: bytes) -> Any:
            if len(digest) != 32:
                digest = hashlib.sha256(digest).digest()
            return super().sign_digest(digest)

    return Mutant


@mutant(
    "pytest_kmsconform.reference_adapter:RingSigner",
    bug="what is signed: SHA256(digest) (the digest treated as the message), self-consistent",
    violates="docs/spec.md section 1 (MessageType=DIGEST: the 32 digest bytes are the pre-hashed value)",
    select=SIGNING,
)
def signs_hash_of_digest(RingSigner: Any) -> Any:
    class Mutant(RingSigner):  # type: ignore[misc,valid-type]
        def sign_digest(self, digest: bytes) -> Any:
            return super().sign_digest(hashlib.sha256(digest).digest())

        def verify_signature(self, digest: bytes, signature: Any) -> None:
            super().verify_signature(hashlib.sha256(digest).digest(), signature)

    return Mutant


@mutant(
    KEY_BACKEND,
    bug="truncated MAC: the tag is compared with the same-length prefix of the expected tag",
    violates="docs/spec.md section 1 (full 32-byte tag, truncated tags never accepted); RFC 2104 section 5",
    select="verify_rejects_truncated",
)
def hmac_prefix_compare(original: Any) -> Any:
    return _key_backend_mutant("local", _hmac_prefix_compare)(original)


def _hmac_prefix_compare(LocalKeyBackend: Any) -> Any:
    class Mutant(LocalKeyBackend):  # type: ignore[misc,valid-type]
        def verify(self, key: Any, digest: bytes, signature: bytes) -> None:
            material = self._material(key)
            if isinstance(material, bytes):
                from pytest_kmsconform.reference_impl.errors import InvalidSignature

                expected = hmac.new(material, digest, hashlib.sha256).digest()
                if not hmac.compare_digest(expected[: len(signature)], signature):
                    raise InvalidSignature("hmac-sha256 tag does not verify")
                return
            super().verify(key, digest, signature)

    return Mutant


@mutant(
    KEY_BACKEND,
    bug="empty MAC: an empty tag is taken for 'nothing to check' and accepted",
    violates="docs/spec.md section 1 (full 32-byte tag); RFC 4231 section 4.6",
    backends=("mock",),
    select="verify_rejects_truncated",
)
def mock_accepts_empty_tag(original: Any) -> Any:
    return _key_backend_mutant("mock", _accepts_empty_tag)(original)


def _accepts_empty_tag(MockBackend: Any) -> Any:
    class Mutant(MockBackend):  # type: ignore[misc,valid-type]
        def verify(self, key: Any, digest: bytes, signature: bytes) -> None:
            if not signature:
                return
            super().verify(key, digest, signature)

    return Mutant


@mutant(
    KEY_BACKEND,
    bug="RSA-PSS with the maximum salt length instead of 32 bytes",
    violates="docs/spec.md section 1 (rsa-pss-sha256: salt length 32); RFC 8017 section 9.1",
    select=SIGNING,
)
def pss_max_salt(original: Any) -> Any:
    return _key_backend_mutant("local", _pss_max_salt)(original)


def _pss_max_salt(LocalKeyBackend: Any) -> Any:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
    from pytest_kmsconform.reference_impl.algorithms import Algorithm

    class Mutant(LocalKeyBackend):  # type: ignore[misc,valid-type]
        def sign(self, key: Any, digest: bytes) -> bytes:
            material = self._material(key)
            if key.alg is Algorithm.RSA_PSS_SHA256 and isinstance(material, rsa.RSAPrivateKey):
                pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
                return material.sign(digest, pss, utils.Prehashed(hashes.SHA256()))
            return bytes(super().sign(key, digest))

    return Mutant


@mutant(
    KEY_BACKEND,
    bug="ECDSA signature as raw r||s (JOSE/P1363) instead of DER",
    violates="docs/spec.md section 2 (sig: DER Ecdsa-Sig-Value for ECDSA); RFC 3279 section 2.2.3",
    select=SIGNING,
)
def ecdsa_raw_signature(original: Any) -> Any:
    return _key_backend_mutant("local", _ecdsa_raw_signature)(original)


def _ecdsa_raw_signature(LocalKeyBackend: Any) -> Any:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    from pytest_kmsconform.reference_impl.algorithms import Algorithm

    class Mutant(LocalKeyBackend):  # type: ignore[misc,valid-type]
        def sign(self, key: Any, digest: bytes) -> bytes:
            value = bytes(super().sign(key, digest))
            if key.alg is Algorithm.ECDSA_P256_SHA256:
                r, s = decode_dss_signature(value)
                return r.to_bytes(32, "big") + s.to_bytes(32, "big")
            return value

    return Mutant


def _jwks_mutant(change: Any) -> Any:
    def make(original: Any) -> Any:
        def jwks(self: Any) -> Any:
            return change(self, original(self))

        return jwks

    return make


def _with_private(self: Any, jwks: dict[str, Any]) -> dict[str, Any]:
    for member in jwks["keys"]:
        material = self.ring.backend.inner._material(self.ring.get(member["kid"]).key)
        if hasattr(material, "private_numbers"):
            numbers = material.private_numbers()
            member["d"] = str(getattr(numbers, "private_value", getattr(numbers, "d", "")))
        else:
            member["d"] = material.private_bytes_raw().hex()
    return jwks


@mutant(
    "pytest_kmsconform.reference_adapter:RingAdapterSigner.jwks",
    bug="secret leak: the key set serializes the private JWK (member d)",
    violates="RFC 7517 section 4 / RFC 7518 section 6.2.2 (d is private); docs/spec.md section 3",
    select="jwks_publishes_active_key",
)
def jwks_with_private_member(original: Any) -> Any:
    return _jwks_mutant(_with_private)(original)


@mutant(
    "pytest_kmsconform.reference_adapter:RingAdapterSigner.jwks",
    bug="secret leak: the HMAC key is published as a kty=oct member",
    violates="seed 001 (HMAC uses GenerateMac); docs/spec.md section 3 (HMAC keys never appear)",
    select="hmac_never_in_jwks",
    backends=("local", "mock"),
)
def hmac_secret_published(original: Any) -> Any:
    import base64

    def change(self: Any, jwks: dict[str, Any]) -> dict[str, Any]:
        for version in self.ring.versions():
            if version.public_key is None:
                secret = self.ring.backend.inner.hmac_secret(version.key)
                k = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
                jwks["keys"].append({"kty": "oct", "kid": version.kid, "alg": "hmac-sha256", "k": k})
        return jwks

    return _jwks_mutant(change)(original)


@mutant(
    "pytest_kmsconform.reference_adapter:RingAdapterSigner.jwks",
    bug="key set: alg written as the JOSE name (EdDSA, RS256, ...) instead of the contract's name",
    violates="docs/spec.md section 3 (alg: our algorithm name, not the JOSE name)",
    select="signing",
)
def jwks_jose_alg_names(original: Any) -> Any:
    jose = {"ed25519": "EdDSA", "rsa-sha256": "RS256", "rsa-pss-sha256": "PS256", "ecdsa-p256-sha256": "ES256"}

    def change(self: Any, jwks: dict[str, Any]) -> dict[str, Any]:
        for member in jwks["keys"]:
            member["alg"] = jose.get(member["alg"], member["alg"])
        return jwks

    return _jwks_mutant(change)(original)


@mutant(
    "pytest_kmsconform.reference_impl.signing_events:SigningTimer.__exit__",
    bug="signing audit events: logged on success only (a refused or failed signature leaves no trace)",
    violates="seed 000 (Audit & Monitoring: signing operations logged with correlation IDs; alert on abnormal rates)",
    select="signing_events",
)
def events_on_success_only(original: Any) -> Any:
    def __exit__(self: Any, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            original(self, exc_type, exc, tb)

    return __exit__
