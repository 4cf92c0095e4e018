"""Sign and verify a 32-byte audit digest with local key objects (pyca/cryptography).

This is the one place where the contract's "what is signed" rule (``docs/spec.md``) is turned
into primitive calls; backends that sign remotely are checked against :func:`verify_digest`.

ML-DSA (FIPS 204) is *pure* ML-DSA with the context string :data:`ML_DSA_CONTEXT` (empty): the 32
digest bytes are the message ``M``, so ``M' = 0x00 || 0x00 || M`` (FIPS 204 Algorithm 2). That is
AWS KMS ``MessageType=RAW`` over the digest bytes, Cloud KMS ``PQ_SIGN_ML_DSA_*`` with ``data``, and
OpenBao Transit's ``mldsa-*`` input. The external-mu form (AWS ``EXTERNAL_MU``, Cloud KMS
``*_EXTERNAL_MU``) signs :func:`ml_dsa_mu` of the same message and gives a signature that verifies
as the pure one.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa, utils

from . import rsa_supply
from .algorithms import Algorithm
from .canonical import require_digest
from .errors import InvalidSignature, UnsupportedAlgorithm, UnsupportedReason

MlDsaPrivateKey = mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey
MlDsaPublicKey = mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey
PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | MlDsaPrivateKey
PublicKey = ed25519.Ed25519PublicKey | rsa.RSAPublicKey | ec.EllipticCurvePublicKey | MlDsaPublicKey

PSS_SALT_LENGTH = 32  # equal to the SHA-256 output, as AWS KMS and YubiHSM use
MIN_RSA_BITS = 2048
ML_DSA_CONTEXT = b""
"""The FIPS 204 context string of every contract signature: empty (what the KMSs sign with)."""
ML_DSA_MU_SIZE = 64


@dataclass(frozen=True)
class MlDsaParameterSet:
    """One ML-DSA parameter set: its pyca key classes and its sizes (FIPS 204 table 2)."""

    private_key: type[MlDsaPrivateKey]
    public_key: type[MlDsaPublicKey]
    public_key_size: int
    signature_size: int


ML_DSA_PARAMETERS: dict[Algorithm, MlDsaParameterSet] = {
    Algorithm.ML_DSA_44: MlDsaParameterSet(mldsa.MLDSA44PrivateKey, mldsa.MLDSA44PublicKey, 1312, 2420),
    Algorithm.ML_DSA_65: MlDsaParameterSet(mldsa.MLDSA65PrivateKey, mldsa.MLDSA65PublicKey, 1952, 3309),
    Algorithm.ML_DSA_87: MlDsaParameterSet(mldsa.MLDSA87PrivateKey, mldsa.MLDSA87PublicKey, 2592, 4627),
}


def ml_dsa_parameters(alg: Algorithm) -> MlDsaParameterSet:
    """The parameter set of an ML-DSA algorithm; :class:`UnsupportedAlgorithm` for any other."""
    try:
        return ML_DSA_PARAMETERS[alg]
    except KeyError:
        raise UnsupportedAlgorithm(f"{alg.value} is not ML-DSA", UnsupportedReason.KEY_TYPE_MISMATCH) from None


def ml_dsa_algorithm_of(key: PrivateKey | PublicKey) -> Algorithm | None:
    """The ML-DSA algorithm of an ML-DSA key, ``None`` for any other key."""
    for alg, params in ML_DSA_PARAMETERS.items():
        if isinstance(key, params.private_key | params.public_key):
            return alg
    return None


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)


def check_key_matches(alg: Algorithm, key: PrivateKey | PublicKey) -> None:
    """Raise :class:`UnsupportedAlgorithm` if ``key`` cannot be used with ``alg``."""
    ok = (
        (alg is Algorithm.ED25519 and isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey))
        or (
            alg in (Algorithm.RSA_SHA256, Algorithm.RSA_PSS_SHA256)
            and isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey)
            and key.key_size >= MIN_RSA_BITS
        )
        or (
            alg is Algorithm.ECDSA_P256_SHA256
            and isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey)
            and isinstance(key.curve, ec.SECP256R1)
        )
        # the parameter set is the algorithm's: an ML-DSA-44 key never passes for ml-dsa-65
        or (alg.is_ml_dsa and ml_dsa_algorithm_of(key) is alg)
    )
    if not ok:
        raise UnsupportedAlgorithm(
            f"a {type(key).__name__} cannot be used for {alg.value}", UnsupportedReason.KEY_TYPE_MISMATCH
        )


def generate_private_key(alg: Algorithm, rsa_bits: int = 2048) -> PrivateKey:
    """A fresh private key for an asymmetric algorithm."""
    if alg is Algorithm.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    if alg in (Algorithm.RSA_SHA256, Algorithm.RSA_PSS_SHA256):
        return rsa_supply.take(rsa_bits)
    if alg is Algorithm.ECDSA_P256_SHA256:
        return ec.generate_private_key(ec.SECP256R1())
    if alg.is_ml_dsa:
        return ml_dsa_parameters(alg).private_key.generate()
    raise UnsupportedAlgorithm(
        f"{alg.value} has no private key pair", UnsupportedReason.SYMMETRIC_KEY_HAS_NO_PUBLIC_PART
    )


def sign_digest(alg: Algorithm, key: PrivateKey, digest: bytes) -> bytes:
    """Sign a 32-byte digest with ``key`` under ``alg``."""
    digest = require_digest(digest)
    check_key_matches(alg, key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(digest)
    if isinstance(key, MlDsaPrivateKey):
        return key.sign(digest, ML_DSA_CONTEXT)
    prehashed = utils.Prehashed(hashes.SHA256())
    if isinstance(key, rsa.RSAPrivateKey):
        pad = _pss() if alg is Algorithm.RSA_PSS_SHA256 else padding.PKCS1v15()
        return key.sign(digest, pad, prehashed)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key.sign(digest, ec.ECDSA(prehashed))


def verify_digest(alg: Algorithm, key: PublicKey, digest: bytes, signature: bytes) -> None:
    """Verify ``signature`` over a 32-byte digest; raises :class:`InvalidSignature`."""
    digest = require_digest(digest)
    check_key_matches(alg, key)
    if isinstance(key, ed25519.Ed25519PublicKey):
        verify_ed25519(key.public_bytes_raw(), digest, signature)
        return
    if isinstance(key, MlDsaPublicKey):
        verify_ml_dsa(alg, key, digest, signature)
        return
    try:
        prehashed = utils.Prehashed(hashes.SHA256())
        if isinstance(key, rsa.RSAPublicKey):
            pad = _pss() if alg is Algorithm.RSA_PSS_SHA256 else padding.PKCS1v15()
            key.verify(signature, digest, pad, prehashed)
            return
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(signature, digest, ec.ECDSA(prehashed))
    except _CryptoInvalidSignature:
        raise InvalidSignature(f"{alg.value} signature does not verify") from None
    except ValueError as exc:  # malformed DER and the like
        raise InvalidSignature(f"{alg.value} signature is malformed: {exc}") from None


def verify_ed25519(public_raw: bytes, message: bytes, signature: bytes) -> None:
    """Ed25519 (RFC 8032) through libsodium: about 1.6x the rate of OpenSSL's verify here, as strict
    (Wycheproof). Raises :class:`InvalidSignature`."""
    if len(signature) != 64:
        raise InvalidSignature("ed25519 signature must be 64 bytes")
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_raw)
    except nacl.exceptions.CryptoError:
        raise InvalidSignature("ed25519 signature does not verify") from None


def ml_dsa_private_key_from_seed(alg: Algorithm, seed: bytes) -> MlDsaPrivateKey:
    """The ML-DSA key of a 32-byte seed (FIPS 204 ``ML-DSA.KeyGen_internal(xi)``; the seed form of
    RFC 9964's ``priv`` and of PKCS#8)."""
    if len(seed) != 32:
        raise ValueError(f"an ML-DSA seed is 32 bytes, got {len(seed)}")
    return ml_dsa_parameters(alg).private_key.from_seed_bytes(seed)


def verify_ml_dsa(
    alg: Algorithm, key: PublicKey, message: bytes, signature: bytes, context: bytes = ML_DSA_CONTEXT
) -> None:
    """Pure ML-DSA verification (FIPS 204 Algorithm 3) of a message of any length under ``alg``'s
    parameter set; the contract always passes the 32 digest bytes and the empty context.
    Raises :class:`InvalidSignature` (also for a context over 255 bytes) and
    :class:`UnsupportedAlgorithm` for a key of another parameter set."""
    check_key_matches(alg, key)
    assert isinstance(key, MlDsaPublicKey)
    if len(signature) != ml_dsa_parameters(alg).signature_size:
        raise InvalidSignature(f"{alg.value} signature must be {ml_dsa_parameters(alg).signature_size} bytes")
    try:
        key.verify(signature, message, context)
    except _CryptoInvalidSignature:
        raise InvalidSignature(f"{alg.value} signature does not verify") from None
    except ValueError as exc:  # context longer than 255 bytes
        raise InvalidSignature(f"{alg.value} signature cannot verify: {exc}") from None


def ml_dsa_mu(key: PublicKey, message: bytes, context: bytes = ML_DSA_CONTEXT) -> bytes:
    """``mu = SHAKE256(SHAKE256(pk, 64) || 0x00 || len(ctx) || ctx || M, 64)`` (FIPS 204 Algorithm 7,
    line 6), the 64 bytes AWS KMS ``MessageType=EXTERNAL_MU`` and Cloud KMS ``digest.external_mu``
    take. Signing it gives a signature that verifies as pure ML-DSA over ``message``."""
    if not isinstance(key, MlDsaPublicKey):
        raise UnsupportedAlgorithm(f"a {type(key).__name__} has no ML-DSA mu", UnsupportedReason.KEY_TYPE_MISMATCH)
    hasher = mldsa.MLDSAMuHasher(key, context)
    hasher.update(message)
    return hasher.finalize()


def hmac_digest(secret: bytes, digest: bytes) -> bytes:
    """HMAC-SHA256 of the 32 digest bytes."""
    return hmac.new(secret, require_digest(digest), hashlib.sha256).digest()


def verify_mac(secret: bytes, message: bytes, tag: bytes) -> None:
    """The one HMAC-SHA256 check: constant time, a full 32-byte tag; raises :class:`InvalidSignature`."""
    if not hmac.compare_digest(hmac.new(secret, message, hashlib.sha256).digest(), tag):
        raise InvalidSignature("hmac-sha256 tag does not verify")


def verify_hmac(secret: bytes, digest: bytes, tag: bytes) -> None:
    """:func:`verify_mac` of a 32-byte audit digest (anything else raises :class:`InvalidDigest`)."""
    verify_mac(secret, require_digest(digest), tag)
