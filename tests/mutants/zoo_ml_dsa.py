"""Mutants of ML-DSA (FIPS 204, RFC 9964): what is signed, how the key is published, and a verifier
that does not bind the parameter set to ``alg``. Signer-side mutants change the local key backend
or the key set where the reference adapter builds its signers; verifier mutants replace the
adapter's verifier, so the suites' own reference keys and verifier stay correct."""

from __future__ import annotations

import base64
from typing import Any

from pytest_kmsconform.mutation import mutant

KEY_BACKEND = "pytest_kmsconform.reference_adapter:key_backend_for"
ADAPTER_JWKS = "pytest_kmsconform.reference_adapter:RingAdapterSigner.jwks"
ADAPTER_VERIFIER = "pytest_kmsconform.reference_adapter:Verifier"
ML_DSA = "ml-dsa"
CONTEXT = b"kmsconform-audit"


def _local_backend_mutant(defective: Any) -> Any:
    def make(original: Any) -> Any:
        def key_backend_for(handle: Any) -> Any:
            backend = original(handle)
            if handle.kind == "local":
                backend.__class__ = defective(type(backend))
            return backend

        return key_backend_for

    return make


def _jwks_mutant(change: Any) -> Any:
    def make(original: Any) -> Any:
        def jwks(self: Any) -> Any:
            result = original(self)
            for member in result["keys"]:
                if member.get("kty") == "AKP":
                    change(self, member)
            return result

        return jwks

    return make


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@mutant(
    KEY_BACKEND,
    bug="ML-DSA with an application context string (signs and verifies with ctx = b'kmsconform-audit')",
    violates="docs/spec.md section 1 (pure ML-DSA, empty context, as the KMSs sign); FIPS 204 section 5.2",
    select=ML_DSA,
)
def ml_dsa_nonempty_context(original: Any) -> Any:
    return _local_backend_mutant(_with_context)(original)


def _with_context(LocalKeyBackend: Any) -> Any:
    from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
    from pytest_kmsconform.reference_impl.errors import InvalidSignature

    class Mutant(LocalKeyBackend):  # type: ignore[misc,valid-type]
        def sign(self, key: Any, digest: bytes) -> bytes:
            if not key.alg.is_ml_dsa:
                return bytes(super().sign(key, digest))
            return bytes(self._material(key).sign(digest, CONTEXT))

        def verify(self, key: Any, digest: bytes, signature: bytes) -> None:
            if not key.alg.is_ml_dsa:
                super().verify(key, digest, signature)
                return
            try:
                self._material(key).public_key().verify(signature, digest, CONTEXT)
            except CryptoInvalidSignature:
                raise InvalidSignature("ml-dsa signature does not verify") from None

    return Mutant


@mutant(
    ADAPTER_JWKS,
    bug="key set: an ML-DSA key's pub is its SubjectPublicKeyInfo DER, not the raw FIPS 204 key",
    violates="RFC 9964 (AKP pub is the public key as FIPS 204 encodes it); docs/spec.md section 3",
    select=ML_DSA,
)
def akp_pub_is_spki(original: Any) -> Any:
    from cryptography.hazmat.primitives import serialization

    def change(self: Any, member: dict[str, Any]) -> None:
        public = self.ring.get(member["kid"]).public_key
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        member["pub"] = _b64url(der)

    return _jwks_mutant(change)(original)


@mutant(
    ADAPTER_JWKS,
    bug="key set: an ML-DSA key published as an OKP member (crv = the JOSE name, x = the key), as for Ed25519",
    violates="RFC 9964 (ML-DSA keys are kty AKP); RFC 8037 (OKP is for curves)",
    select=ML_DSA,
)
def ml_dsa_as_okp(original: Any) -> Any:
    def change(self: Any, member: dict[str, Any]) -> None:
        member["kty"] = "OKP"
        member["crv"] = member["alg"].upper()
        member["x"] = member.pop("pub")

    return _jwks_mutant(change)(original)


@mutant(
    ADAPTER_JWKS,
    bug="secret leak: the ML-DSA seed is published as the AKP member priv",
    violates="RFC 9964 (priv is the private key: never in a public key set); docs/spec.md section 3",
    select=ML_DSA,
)
def akp_publishes_priv(original: Any) -> Any:
    def change(self: Any, member: dict[str, Any]) -> None:
        material = self.ring.backend.inner._material(self.ring.get(member["kid"]).key)
        member["priv"] = _b64url(material.private_bytes_raw())

    return _jwks_mutant(change)(original)


@mutant(
    ADAPTER_VERIFIER,
    bug="verifier: any ML-DSA alg is accepted for an ML-DSA key (the family is compared, not the parameter set)",
    violates="docs/spec.md section 3 (wrong alg for the key: BAD_SIGNATURE); RFC 8725 section 3.1",
    select=ML_DSA,
    fast=True,
)
def ml_dsa_family_only(Verifier: Any) -> Any:
    from pytest_kmsconform.reference_impl.algorithms import Algorithm

    class Mutant(Verifier):  # type: ignore[misc,valid-type]
        def _verify(self, kid: str, alg: str, digest: bytes, value: bytes, at: Any) -> None:
            entry = self.keys._entries.get(kid)
            if entry is not None and entry.alg.is_ml_dsa and str(alg).startswith("ml-dsa-"):
                alg = Algorithm(entry.alg)
            super()._verify(kid, alg, digest, value, at)

    return Mutant


@mutant(
    ADAPTER_VERIFIER,
    bug="verifier: the parameter set of an AKP key is taken from the length of pub, not from alg",
    violates="RFC 9964 (alg is required for AKP and names the parameter set); FIPS 204 table 1 (a downgrade)",
    select=ML_DSA,
)
def parameter_set_from_key_length(Verifier: Any) -> Any:
    import copy

    from pytest_kmsconform.reference_impl.primitives import ML_DSA_PARAMETERS
    from pytest_kmsconform.reference_impl.signature import b64url_decode

    by_size = {params.public_key_size: alg for alg, params in ML_DSA_PARAMETERS.items()}

    class Mutant(Verifier):  # type: ignore[misc,valid-type]
        def __init__(self, jwks: Any, **kwargs: Any) -> None:
            jwks = copy.deepcopy(jwks)
            self._claimed: dict[str, str] = {}
            for member in jwks.get("keys", []):
                if member.get("kty") == "AKP" and isinstance(member.get("pub"), str):
                    actual = by_size.get(len(b64url_decode(member["pub"])))
                    if actual is not None and actual.value != member.get("alg"):
                        self._claimed[member["kid"]] = member["alg"]
                        member["alg"] = actual.value
            super().__init__(jwks, **kwargs)

        def _verify(self, kid: str, alg: str, digest: bytes, value: bytes, at: Any) -> None:
            if self._claimed.get(kid) == alg:
                alg = self.keys._entries[kid].alg  # the key's own set, whatever the set claimed
            super()._verify(kid, alg, digest, value, at)

    return Mutant
