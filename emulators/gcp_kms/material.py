"""Key material: generated at random, or derived from a seed and the version name (reproducible).

pyca/cryptography has no seeded RSA generation, so a seeded RSA key's primes come from an
HMAC-SHA256 counter-mode stream with Miller-Rabin tests; EC scalars, Ed25519 and ML-DSA seeds and
symmetric keys are read from the same stream. The operations take already validated inputs (the
model checks sizes, states and checksums).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pytest_kmsconform.reference_impl import rsa_supply

from .algorithms import AlgorithmSpec, Family, Scheme

MlDsaKey = mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | MlDsaKey
_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp256k1": ec.SECP256K1,
}
_ML_DSA: dict[int, Any] = {44: mldsa.MLDSA44PrivateKey, 65: mldsa.MLDSA65PrivateKey, 87: mldsa.MLDSA87PrivateKey}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class Stream:
    """HMAC-SHA256 in counter mode: a deterministic byte stream from a seed and a label."""

    def __init__(self, seed: bytes, label: str) -> None:
        self._key = hmac.new(seed, label.encode(), hashlib.sha256).digest()
        self._counter = 0

    def read(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            self._counter += 1
            out += hmac.new(self._key, self._counter.to_bytes(8, "big"), hashlib.sha256).digest()
        return bytes(out[:n])

    def bits(self, count: int) -> int:
        return int.from_bytes(self.read((count + 7) // 8), "big") >> (-count % 8)


_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, math.isqrt(p) + 1))]


def _probable_prime(n: int, stream: Stream, rounds: int = 20) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(rounds):
        x = pow(2 + stream.bits(n.bit_length()) % (n - 3), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, stream: Stream, e: int) -> int:
    while True:
        candidate = stream.bits(bits) | (3 << (bits - 2)) | 1  # top two bits: p*q has 2*bits bits
        if math.gcd(candidate - 1, e) == 1 and _probable_prime(candidate, stream):
            return candidate


def seeded_rsa(bits: int, stream: Stream, e: int = 65537) -> rsa.RSAPrivateKey:
    p = _prime(bits // 2, stream, e)
    q = _prime(bits // 2, stream, e)
    while q == p:
        q = _prime(bits // 2, stream, e)
    d = pow(e, -1, math.lcm(p - 1, q - 1))
    public = rsa.RSAPublicNumbers(e, p * q)
    return rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
    ).private_key()


def _ec(curve: ec.EllipticCurve, stream: Stream | None) -> ec.EllipticCurvePrivateKey:
    if stream is None:
        return ec.generate_private_key(curve)
    while True:  # rejection sampling: scalars outside 1..n-1 are refused
        try:
            return ec.derive_private_key(stream.bits(curve.key_size), curve)
        except ValueError:
            continue


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    return _HASHES[name]()


@dataclass(frozen=True)
class Material:
    """The secret half of one key version (an asymmetric private key or symmetric bytes)."""

    spec: AlgorithmSpec
    private: PrivateKey | None = None
    secret: bytes = b""

    @classmethod
    def generate(cls, spec: AlgorithmSpec, seed: bytes | None, label: str) -> Material:
        """Fresh material for ``spec``; derived from ``seed`` and ``label`` (the version name) when seeded."""
        stream = Stream(seed, f"kmsconform-gcp-kms/{spec.name}/{label}") if seed is not None else None
        family = spec.family
        if family in (Family.HMAC, Family.AES):
            assert isinstance(spec.size, int)
            return cls(spec, secret=stream.read(spec.size) if stream else os.urandom(spec.size))
        private: PrivateKey
        if family is Family.RSA:
            assert isinstance(spec.size, int)
            private = seeded_rsa(spec.size, stream) if stream else rsa_supply.take(spec.size)
        elif family is Family.EC:
            private = _ec(_CURVES[str(spec.size)](), stream)
        elif family is Family.ED25519:
            private = (
                ed25519.Ed25519PrivateKey.from_private_bytes(stream.read(32))
                if stream
                else ed25519.Ed25519PrivateKey.generate()
            )
        else:
            kind = _ML_DSA[int(spec.size)]
            private = kind.from_seed_bytes(stream.read(32)) if stream else kind.generate()
        return cls(spec, private=private)

    # -- public key --------------------------------------------------------------------------
    def public_der(self) -> bytes:
        assert self.private is not None
        return self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_pem(self) -> str:
        assert self.private is not None
        return (
            self.private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

    def public_raw(self) -> bytes:
        """The FIPS 204 encoding of an ML-DSA public key (``NIST_PQC``)."""
        key = self.private
        assert isinstance(key, MlDsaKey)
        return key.public_key().public_bytes_raw()

    # -- operations --------------------------------------------------------------------------
    def sign(self, message: bytes, *, prehashed: bool) -> bytes:
        """Sign ``message``: a digest of the spec's hash when ``prehashed``, else the data itself."""
        spec, key = self.spec, self.private
        if spec.scheme is Scheme.EDDSA:
            assert isinstance(key, ed25519.Ed25519PrivateKey)
            return key.sign(message)
        if spec.scheme is Scheme.ML_DSA:
            assert isinstance(key, MlDsaKey)
            return key.sign(message)
        if spec.scheme is Scheme.ML_DSA_MU:
            assert isinstance(key, MlDsaKey)
            return key.sign_mu(message)
        if spec.scheme is Scheme.RAW_PKCS1:
            assert isinstance(key, rsa.RSAPrivateKey)
            return _raw_pkcs1_sign(key, message)
        assert spec.hash is not None
        algorithm = hash_algorithm(spec.hash)
        chosen: hashes.HashAlgorithm | utils.Prehashed = utils.Prehashed(algorithm) if prehashed else algorithm
        if spec.scheme is Scheme.ECDSA:
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            return key.sign(message, ec.ECDSA(chosen))
        assert isinstance(key, rsa.RSAPrivateKey)
        if spec.scheme is Scheme.PSS:
            return key.sign(message, padding.PSS(padding.MGF1(algorithm), algorithm.digest_size), chosen)
        return key.sign(message, padding.PKCS1v15(), chosen)

    def mac(self, data: bytes) -> bytes:
        assert self.spec.hash is not None
        return hmac.new(self.secret, data, self.spec.hash).digest()

    def oaep_decrypt(self, ciphertext: bytes) -> bytes:
        """:raises ValueError: the ciphertext does not decrypt."""
        key = self.private
        assert isinstance(key, rsa.RSAPrivateKey) and self.spec.hash is not None
        algorithm = hash_algorithm(self.spec.hash)
        return key.decrypt(ciphertext, padding.OAEP(padding.MGF1(algorithm), algorithm, None))

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self.secret).encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        """:raises cryptography.exceptions.InvalidTag: tampered or foreign ciphertext."""
        return AESGCM(self.secret).decrypt(sealed[:12], sealed[12:], aad)


def _raw_pkcs1_sign(key: rsa.RSAPrivateKey, encoded: bytes) -> bytes:
    """PKCS#1 v1.5 type-1 padding over caller-encoded bytes (no DigestInfo added), then RSASP1."""
    k = (key.key_size + 7) // 8
    if len(encoded) > k - 11:
        raise ValueError(f"data is {len(encoded)} bytes; at most {k - 11} fit a {key.key_size}-bit key")
    block = b"\x00\x01" + b"\xff" * (k - 3 - len(encoded)) + b"\x00" + encoded
    numbers = key.private_numbers()
    return pow(int.from_bytes(block, "big"), numbers.d, numbers.public_numbers.n).to_bytes(k, "big")
