"""Key specs, algorithms and key material of the fidelity layer (no moto, no wire).

The tables are AWS KMS's (API reference, 2025-11 and later, with ``ECC_NIST_EDWARDS25519`` and the
ML-DSA key specs of 2025-06).
Material is random, or derived from a seed and the key id when the emulator is seeded, so a
seeded run reproduces the same public keys and (for Ed25519, RSA PKCS#1 v1.5 and HMAC) the
same signatures.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa, utils
from pytest_kmsconform.reference_impl import rsa_supply

from . import ed25519ph

RSA_SPECS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
EC_SPECS: dict[str, Callable[[], ec.EllipticCurve]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
ED25519_SPEC = "ECC_NIST_EDWARDS25519"
MlDsaPrivateKey = mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey
ML_DSA_SPECS: dict[str, type[MlDsaPrivateKey]] = {
    "ML_DSA_44": mldsa.MLDSA44PrivateKey,
    "ML_DSA_65": mldsa.MLDSA65PrivateKey,
    "ML_DSA_87": mldsa.MLDSA87PrivateKey,
}
ML_DSA_SIGNING = ["ML_DSA_SHAKE_256"]
ML_DSA_MU_BYTES = 64  # EXTERNAL_MU: "the length of the Message value must be 64 bytes"
HMAC_SPECS = {
    "HMAC_224": "HMAC_SHA_224",
    "HMAC_256": "HMAC_SHA_256",
    "HMAC_384": "HMAC_SHA_384",
    "HMAC_512": "HMAC_SHA_512",
}
HMAC_KEY_BYTES = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}
SYMMETRIC_SPEC = "SYMMETRIC_DEFAULT"
# KEY_AGREEMENT (ECDH) key specs (SM2 is a gap); ECC_SECG_P256K1 is signing only.
KEY_AGREEMENT_SPECS = frozenset({"ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"})
RSA_ENCRYPTION = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
DATA_KEY_PAIR_SPECS = frozenset([*RSA_SPECS, *EC_SPECS, "ECC_NIST_EDWARDS25519"])
EMULATED_SPECS = frozenset([*RSA_SPECS, *EC_SPECS, ED25519_SPEC, *ML_DSA_SPECS, *HMAC_SPECS, SYMMETRIC_SPEC])
# Real KMS key specs this emulator does not model; CreateKey raises EmulatorGap for them.
GAP_SPECS = frozenset({"SM2", "ECC_NIST_EDWARDS448"})

RSA_SIGNING = [  # AWS's order
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
]
EC_SIGNING = {
    "ECC_NIST_P256": ["ECDSA_SHA_256"],
    "ECC_NIST_P384": ["ECDSA_SHA_384"],
    "ECC_NIST_P521": ["ECDSA_SHA_512"],
    "ECC_SECG_P256K1": ["ECDSA_SHA_256"],
}
ED25519_SIGNING = ["ED25519_SHA_512", "ED25519_PH_SHA_512"]
ALL_SIGNING = frozenset(
    [*RSA_SIGNING, "ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512", *ED25519_SIGNING, *ML_DSA_SIGNING, "SM2DSA"]
)
ALL_MAC = frozenset(HMAC_SPECS.values())
MESSAGE_TYPES = frozenset({"RAW", "DIGEST", "EXTERNAL_MU"})
RAW_MESSAGE_MAX = 4096

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


def hash_for(signing_algorithm: str) -> hashes.HashAlgorithm:
    """The hash a signing algorithm uses (its DIGEST length is this hash's size)."""
    return _HASHES[signing_algorithm.rsplit("_", 1)[1]]()


def signing_algorithms(key_spec: str) -> list[str]:
    if key_spec in RSA_SPECS:
        return list(RSA_SIGNING)
    if key_spec in EC_SPECS:
        return list(EC_SIGNING[key_spec])
    if key_spec == ED25519_SPEC:
        return list(ED25519_SIGNING)
    if key_spec in ML_DSA_SPECS:
        return list(ML_DSA_SIGNING)
    return []


def is_asymmetric(key_spec: str) -> bool:
    return key_spec in RSA_SPECS or key_spec in EC_SPECS or key_spec == ED25519_SPEC or key_spec in ML_DSA_SPECS


def message_type_error(key_spec: str, signing_algorithm: str, message_type: str, message: bytes) -> str | None:
    """The ``ValidationException`` message AWS gives for a message type this key cannot take, or ``None``.

    ML-DSA (AWS KMS developer guide, "ML-DSA keys in AWS KMS"): ``RAW`` (pure ML-DSA, empty
    context, 1..4096 bytes) or ``EXTERNAL_MU`` (the 64-byte FIPS 204 mu); ``DIGEST`` is refused
    ("Message type DIGEST is incompatible with key spec ML_DSA_44.", recorded from real AWS in
    floci #3025). ``EXTERNAL_MU`` on any other key spec is handled by the caller (InvalidKeyUsage).
    Ed25519: ``ED25519_SHA_512`` takes RAW only, ``ED25519_PH_SHA_512`` DIGEST only.
    """
    if key_spec in ML_DSA_SPECS:
        if message_type == "DIGEST":
            return f"Message type DIGEST is incompatible with key spec {key_spec}."
        if message_type == "EXTERNAL_MU" and len(message) != ML_DSA_MU_BYTES:
            return f"Message of type EXTERNAL_MU must be {ML_DSA_MU_BYTES} bytes long."
        return None
    if (signing_algorithm == "ED25519_SHA_512" and message_type != "RAW") or (
        signing_algorithm == "ED25519_PH_SHA_512" and message_type != "DIGEST"
    ):
        return f"Message type {message_type} is incompatible with signing algorithm {signing_algorithm}."
    return None


# -- deterministic derivation -------------------------------------------------------------------
class Stream:
    """HMAC-SHA256 in counter mode: an endless deterministic byte stream from a seed and a label."""

    def __init__(self, seed: bytes, label: str) -> None:
        self._key = hmac.new(seed, label.encode(), hashlib.sha256).digest()
        self._counter = 0

    def read(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            self._counter += 1
            out += hmac.new(self._key, self._counter.to_bytes(8, "big"), hashlib.sha256).digest()
        return bytes(out[:n])

    def randint_bits(self, bits: int) -> int:
        return int.from_bytes(self.read((bits + 7) // 8), "big") >> (-bits % 8)


_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, math.isqrt(p) + 1))]


def _probable_prime(n: int, stream: Stream, rounds: int = 24) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(rounds):
        a = 2 + stream.randint_bits(n.bit_length()) % (n - 3)
        x = pow(a, d, n)
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
        # top two bits set so p*q has exactly 2*bits bits
        candidate = stream.randint_bits(bits) | (3 << (bits - 2)) | 1
        if math.gcd(candidate - 1, e) == 1 and _probable_prime(candidate, stream):
            return candidate


def deterministic_rsa(bits: int, stream: Stream, e: int = 65537) -> rsa.RSAPrivateKey:
    """An RSA key whose primes come from ``stream`` (pyca has no seeded RSA generation)."""
    p = _prime(bits // 2, stream, e)
    q = _prime(bits // 2, stream, e)
    while q == p:
        q = _prime(bits // 2, stream, e)
    d = pow(e, -1, math.lcm(p - 1, q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e, p * q),
    )
    return numbers.private_key()


def _derive_ec(curve: ec.EllipticCurve, stream: Stream) -> ec.EllipticCurvePrivateKey:
    """Rejection sampling: scalars outside 1..n-1 are refused by pyca, so draw again."""
    while True:
        try:
            return ec.derive_private_key(stream.randint_bits(curve.key_size), curve)
        except ValueError:
            continue


# -- key material ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class AsymmetricMaterial:
    """The private half of an asymmetric KMS key. ``sign``/``verify`` take an already checked message."""

    key_spec: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | MlDsaPrivateKey

    def public_key_der(self) -> bytes:
        """DER SubjectPublicKeyInfo, as GetPublicKey returns it (44 bytes for Ed25519)."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def private_pkcs8(self) -> bytes:
        """DER PKCS#8, as GenerateDataKeyPair returns the private key."""
        return self.private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def encrypt(self, plaintext: bytes, encryption_algorithm: str) -> bytes:
        public = self.private.public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        return public.encrypt(plaintext, oaep(encryption_algorithm))

    def decrypt(self, ciphertext: bytes, encryption_algorithm: str) -> bytes:
        """Raises ``ValueError`` when the ciphertext does not decrypt under this key and algorithm."""
        assert isinstance(self.private, rsa.RSAPrivateKey)
        return self.private.decrypt(ciphertext, oaep(encryption_algorithm))

    def exchange(self, peer: ec.EllipticCurvePublicKey) -> bytes:
        """ECDH shared secret (the x coordinate, as OpenSSL and KMS give it)."""
        assert isinstance(self.private, ec.EllipticCurvePrivateKey)
        return self.private.exchange(ec.ECDH(), peer)

    def _ed_seed(self) -> bytes:
        assert isinstance(self.private, ed25519.Ed25519PrivateKey)
        return self.private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def sign(self, message: bytes, signing_algorithm: str, message_type: str) -> bytes:
        key = self.private
        if isinstance(key, MlDsaPrivateKey):
            # RAW: pure ML-DSA over the message with an empty context; EXTERNAL_MU: the message is mu
            return key.sign_mu(message) if message_type == "EXTERNAL_MU" else key.sign(message, b"")
        if isinstance(key, ed25519.Ed25519PrivateKey):
            if signing_algorithm == "ED25519_PH_SHA_512":
                return ed25519ph.sign(self._ed_seed(), message)
            return key.sign(message)
        algorithm = hash_for(signing_algorithm)
        chosen: hashes.HashAlgorithm | utils.Prehashed = (
            utils.Prehashed(algorithm) if message_type == "DIGEST" else algorithm
        )
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(message, _rsa_padding(signing_algorithm), chosen)
        return key.sign(message, ec.ECDSA(chosen))

    def verify(self, message: bytes, signature: bytes, signing_algorithm: str, message_type: str) -> bool:
        public = self.private.public_key()
        try:
            if isinstance(self.private, MlDsaPrivateKey):
                ml_public = self.private.public_key()
                if message_type == "EXTERNAL_MU":
                    ml_public.verify_mu(signature, message)
                else:
                    ml_public.verify(signature, message, b"")
                return True
            if isinstance(public, ed25519.Ed25519PublicKey):
                if signing_algorithm == "ED25519_PH_SHA_512":
                    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                    return ed25519ph.verify(raw, message, signature)
                public.verify(signature, message)
                return True
            algorithm = hash_for(signing_algorithm)
            chosen: hashes.HashAlgorithm | utils.Prehashed = (
                utils.Prehashed(algorithm) if message_type == "DIGEST" else algorithm
            )
            if isinstance(public, rsa.RSAPublicKey):
                public.verify(signature, message, _rsa_padding(signing_algorithm), chosen)
            else:
                assert isinstance(public, ec.EllipticCurvePublicKey)
                public.verify(signature, message, ec.ECDSA(chosen))
            return True
        except (InvalidSignature, ValueError):
            return False


def oaep(encryption_algorithm: str) -> padding.OAEP:
    algorithm: hashes.HashAlgorithm = hashes.SHA1() if encryption_algorithm.endswith("SHA_1") else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(algorithm), algorithm=algorithm, label=None)


def rsa_plaintext_limit(key_spec: str, encryption_algorithm: str) -> int:
    """The largest plaintext RSAES-OAEP takes: k - 2*hLen - 2 bytes (RFC 8017, 7.1.1)."""
    digest = 20 if encryption_algorithm.endswith("SHA_1") else 32
    return RSA_SPECS[key_spec] // 8 - 2 * digest - 2


def _rsa_padding(signing_algorithm: str) -> padding.AsymmetricPadding:
    if signing_algorithm.startswith("RSASSA_PSS_"):
        algorithm = hash_for(signing_algorithm)
        # KMS: salt length equals the hash length (moto uses the maximum)
        return padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
    return padding.PKCS1v15()


def new_asymmetric(key_spec: str, seed: bytes | None, key_id: str) -> AsymmetricMaterial:
    """Fresh material for an asymmetric spec; derived from ``seed`` and ``key_id`` when seeded."""
    stream = Stream(seed, f"kmsconform-aws-kms/{key_spec}/{key_id}") if seed is not None else None
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | MlDsaPrivateKey
    if key_spec in RSA_SPECS:
        bits = RSA_SPECS[key_spec]
        private = deterministic_rsa(bits, stream) if stream else rsa_supply.take(bits)
    elif key_spec in EC_SPECS:
        curve = EC_SPECS[key_spec]()
        private = _derive_ec(curve, stream) if stream else ec.generate_private_key(curve)
    elif key_spec == ED25519_SPEC:
        private = (
            ed25519.Ed25519PrivateKey.from_private_bytes(stream.read(32))
            if stream
            else ed25519.Ed25519PrivateKey.generate()
        )
    elif key_spec in ML_DSA_SPECS:
        kind = ML_DSA_SPECS[key_spec]
        # seeded: the FIPS 204 32-byte seed from the stream; signatures stay hedged (randomized), as AWS's
        private = kind.from_seed_bytes(stream.read(32)) if stream else kind.generate()
    else:
        raise ValueError(f"{key_spec} is not an asymmetric key spec")
    return AsymmetricMaterial(key_spec, private)


def new_secret(key_spec: str, seed: bytes | None, key_id: str) -> bytes:
    """Symmetric material (AES-256 for SYMMETRIC_DEFAULT, the HMAC key for HMAC_*)."""
    size = HMAC_KEY_BYTES.get(key_spec, 32)
    if seed is None:
        return os.urandom(size)
    return Stream(seed, f"kmsconform-aws-kms/{key_spec}/{key_id}").read(size)


def new_material_id(seed: bytes | None, label: str) -> str:
    """A 64-hex key material id (AWS's ``KeyMaterialId`` format)."""
    return (os.urandom(32) if seed is None else Stream(seed, f"kmsconform-aws-kms/material/{label}").read(32)).hex()


def public_matches_spec(key_spec: str, private: object) -> bool:
    """Whether a private key (e.g. imported PKCS#8) is of ``key_spec``."""
    if key_spec in RSA_SPECS:
        return isinstance(private, rsa.RSAPrivateKey) and private.key_size == RSA_SPECS[key_spec]
    if key_spec in EC_SPECS:
        return isinstance(private, ec.EllipticCurvePrivateKey) and private.curve.name == EC_SPECS[key_spec]().name
    if key_spec == ED25519_SPEC:
        return isinstance(private, ed25519.Ed25519PrivateKey)
    return False


def mac(key_spec: str, secret: bytes, message: bytes) -> bytes:
    return hmac.new(secret, message, getattr(hashlib, "sha" + HMAC_SPECS[key_spec].rsplit("_", 1)[1])).digest()
