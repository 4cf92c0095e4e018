"""Sign and verify a 32-byte audit digest with local key objects (pyca/cryptography).

This is the one place where the contract's "what is signed" rule (``docs/spec.md``) is turned
into primitive calls; backends that sign remotely are checked against :func:`verify_digest`.
"""

from __future__ import annotations

import hashlib
import hmac

import nacl.bindings
import nacl.exceptions
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from .algorithms import Algorithm
from .canonical import require_digest
from .errors import InvalidSignature, UnsupportedAlgorithm, UnsupportedReason

PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | rsa.RSAPublicKey | ec.EllipticCurvePublicKey

PSS_SALT_LENGTH = 32  # equal to the SHA-256 output, as AWS KMS and YubiHSM use
MIN_RSA_BITS = 2048


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
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if alg is Algorithm.ECDSA_P256_SHA256:
        return ec.generate_private_key(ec.SECP256R1())
    raise UnsupportedAlgorithm(
        f"{alg.value} has no private key pair", UnsupportedReason.SYMMETRIC_KEY_HAS_NO_PUBLIC_PART
    )


def sign_digest(alg: Algorithm, key: PrivateKey, digest: bytes) -> bytes:
    """Sign a 32-byte digest with ``key`` under ``alg``."""
    digest = require_digest(digest)
    check_key_matches(alg, key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(digest)
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
