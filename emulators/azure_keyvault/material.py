"""Key material of the Key Vault model: key types, curves, signature algorithms, generation
(random, seeded, or taken from a pool of pre-made RSA keys), sign/verify over a digest, and the
JWK members the service returns. No state, no wire.

Tables are the service's (REST API 7.x / 2025-07-01, vault flavour, not Managed HSM): EC keys on
P-256, P-384, P-521 and P-256K (secp256k1); RSA keys of 2048, 3072 and 4096 bits; ES* signatures
are raw ``r || s`` (not DER); PS* use a salt as long as the digest; every algorithm signs a digest
the caller computed, whose length must match the algorithm's hash.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import math
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from pytest_kmsconform.reference_impl import rsa_supply

from .errors import BadParameter


class KeyType(enum.StrEnum):
    EC = "EC"
    EC_HSM = "EC-HSM"
    RSA = "RSA"
    RSA_HSM = "RSA-HSM"

    @property
    def is_rsa(self) -> bool:
        return self in (KeyType.RSA, KeyType.RSA_HSM)


class Curve(enum.StrEnum):
    P256 = "P-256"
    P384 = "P-384"
    P521 = "P-521"
    P256K = "P-256K"


class SignatureAlgorithm(enum.StrEnum):
    PS256 = "PS256"
    PS384 = "PS384"
    PS512 = "PS512"
    RS256 = "RS256"
    RS384 = "RS384"
    RS512 = "RS512"
    ES256 = "ES256"
    ES256K = "ES256K"
    ES384 = "ES384"
    ES512 = "ES512"


class KeyOperation(enum.StrEnum):
    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"
    SIGN = "sign"
    VERIFY = "verify"
    WRAP_KEY = "wrapKey"
    UNWRAP_KEY = "unwrapKey"
    IMPORT = "import"
    EXPORT = "export"


CURVES: dict[Curve, type[ec.EllipticCurve]] = {
    Curve.P256: ec.SECP256R1,
    Curve.P384: ec.SECP384R1,
    Curve.P521: ec.SECP521R1,
    Curve.P256K: ec.SECP256K1,
}
CURVE_BYTES = {Curve.P256: 32, Curve.P384: 48, Curve.P521: 66, Curve.P256K: 32}
CURVE_ALGORITHM = {
    Curve.P256: SignatureAlgorithm.ES256,
    Curve.P384: SignatureAlgorithm.ES384,
    Curve.P521: SignatureAlgorithm.ES512,
    Curve.P256K: SignatureAlgorithm.ES256K,
}
RSA_SIZES = (2048, 3072, 4096)
DEFAULT_RSA_SIZE = 2048
DEFAULT_CURVE = Curve.P256
RSA_EXPONENT = 65537
DEFAULT_OPS: dict[bool, tuple[KeyOperation, ...]] = {
    True: (  # RSA
        KeyOperation.ENCRYPT,
        KeyOperation.DECRYPT,
        KeyOperation.SIGN,
        KeyOperation.VERIFY,
        KeyOperation.WRAP_KEY,
        KeyOperation.UNWRAP_KEY,
    ),
    False: (KeyOperation.SIGN, KeyOperation.VERIFY),  # EC
}

_HASH: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def hash_of(alg: SignatureAlgorithm) -> hashes.HashAlgorithm:
    """The hash whose output the algorithm signs (ES256K: SHA-256)."""
    return _HASH[alg.value[2:5]]()


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


# -- seeded derivation (reproducible runs) ---------------------------------------------------------
class Stream:
    """HMAC-SHA256 in counter mode: an endless byte stream from a seed and a label."""

    def __init__(self, seed: bytes, label: str) -> None:
        self._key = hmac.new(seed, label.encode(), hashlib.sha256).digest()
        self._counter = 0

    def read(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            self._counter += 1
            out += hmac.new(self._key, self._counter.to_bytes(8, "big"), hashlib.sha256).digest()
        return bytes(out[:n])

    def bits(self, n: int) -> int:
        return int.from_bytes(self.read((n + 7) // 8), "big") >> (-n % 8)


_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, math.isqrt(p) + 1))]


def _probable_prime(n: int, stream: Stream, rounds: int = 24) -> bool:
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


def _prime(bits: int, stream: Stream) -> int:
    while True:
        candidate = stream.bits(bits) | (3 << (bits - 2)) | 1  # top two bits: p*q has 2*bits bits
        if math.gcd(candidate - 1, RSA_EXPONENT) == 1 and _probable_prime(candidate, stream):
            return candidate


def seeded_rsa(bits: int, stream: Stream) -> rsa.RSAPrivateKey:
    """An RSA key whose primes come from ``stream`` (pyca has no seeded RSA generation)."""
    p = _prime(bits // 2, stream)
    q = _prime(bits // 2, stream)
    while q == p:
        q = _prime(bits // 2, stream)
    d = pow(RSA_EXPONENT, -1, math.lcm(p - 1, q - 1))
    public = rsa.RSAPublicNumbers(RSA_EXPONENT, p * q)
    return rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
    ).private_key()


def seeded_ec(curve: Curve, stream: Stream) -> ec.EllipticCurvePrivateKey:
    impl = CURVES[curve]()
    while True:  # scalars outside 1..n-1 are refused by pyca: draw again
        try:
            return ec.derive_private_key(stream.bits(impl.key_size), impl)
        except ValueError:
            continue


@dataclass(frozen=True)
class MaterialSource:
    """Where new private keys come from: a seed (reproducible), or fresh (RSA from the process's
    :mod:`~pytest_kmsconform.reference_impl.rsa_supply`, whose spares every emulator shares)."""

    seed: bytes | None = None

    def rsa(self, bits: int, label: str) -> rsa.RSAPrivateKey:
        if self.seed is not None:
            return seeded_rsa(bits, Stream(self.seed, f"kmsconform-azure-keyvault/RSA-{bits}/{label}"))
        return rsa_supply.take(bits)

    def ec(self, curve: Curve, label: str) -> ec.EllipticCurvePrivateKey:
        if self.seed is not None:
            return seeded_ec(curve, Stream(self.seed, f"kmsconform-azure-keyvault/{curve.value}/{label}"))
        return ec.generate_private_key(CURVES[curve]())

    def version_id(self, label: str) -> str:
        """A 32-hex key version id (derived from the seed when seeded)."""
        if self.seed is not None:
            return Stream(self.seed, f"kmsconform-azure-keyvault/version/{label}").read(16).hex()
        import secrets

        return secrets.token_hex(16)


# -- one key's material ---------------------------------------------------------------------------
def curve_of(key: ec.EllipticCurvePrivateKey) -> Curve:
    for curve, impl in CURVES.items():
        if isinstance(key.curve, impl):
            return curve
    raise BadParameter(f"The curve {key.curve.name} is not supported.")


def algorithms_for(key: PrivateKey) -> frozenset[SignatureAlgorithm]:
    if isinstance(key, rsa.RSAPrivateKey):
        return frozenset(a for a in SignatureAlgorithm if a.value[0] in "PR")
    return frozenset({CURVE_ALGORITHM[curve_of(key)]})


def _check(key: PrivateKey, alg: SignatureAlgorithm, digest: bytes) -> hashes.HashAlgorithm:
    if alg not in algorithms_for(key):
        kind = "RSA" if isinstance(key, rsa.RSAPrivateKey) else f"EC {curve_of(key).value}"
        raise BadParameter(f"Algorithm {alg.value} is not supported for a {kind} key.")
    algorithm = hash_of(alg)
    if len(digest) != algorithm.digest_size:
        raise BadParameter(
            f"Invalid length of the digest: {len(digest)} bytes; "
            f"{alg.value} signs a {algorithm.digest_size}-byte digest."
        )
    return algorithm


def _rsa_padding(alg: SignatureAlgorithm, algorithm: hashes.HashAlgorithm) -> padding.AsymmetricPadding:
    if alg.value.startswith("PS"):
        return padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
    return padding.PKCS1v15()


def sign_digest(key: PrivateKey, alg: SignatureAlgorithm, digest: bytes) -> bytes:
    """The service's signature of a digest: RSA as usual, ECDSA as raw ``r || s``."""
    algorithm = _check(key, alg, digest)
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, _rsa_padding(alg, algorithm), utils.Prehashed(algorithm))
    r, s = utils.decode_dss_signature(key.sign(digest, ec.ECDSA(utils.Prehashed(algorithm))))
    size = CURVE_BYTES[curve_of(key)]
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def verify_digest(key: PrivateKey, alg: SignatureAlgorithm, digest: bytes, signature: bytes) -> bool:
    algorithm = _check(key, alg, digest)
    public = key.public_key()
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, digest, _rsa_padding(alg, algorithm), utils.Prehashed(algorithm))
            return True
        assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(public, ec.EllipticCurvePublicKey)
        size = CURVE_BYTES[curve_of(key)]
        if len(signature) != 2 * size:
            return False
        der = utils.encode_dss_signature(
            int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        )
        public.verify(der, digest, ec.ECDSA(utils.Prehashed(algorithm)))
        return True
    except (InvalidSignature, ValueError):
        return False


def public_members(key: PrivateKey) -> dict[str, bytes | str]:
    """The JWK members of the public half: ``n``/``e`` or ``crv``/``x``/``y`` (bytes, not yet base64url)."""
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        return {"n": numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"), "e": _int_bytes(numbers.e)}
    curve = curve_of(key)
    point = key.public_key().public_numbers()
    size = CURVE_BYTES[curve]
    return {"crv": curve.value, "x": point.x.to_bytes(size, "big"), "y": point.y.to_bytes(size, "big")}


def _int_bytes(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def private_key_from_members(kty: KeyType, members: dict[str, bytes | str]) -> PrivateKey:
    """A private key from JWK members (import): RSA ``n e d p q dp dq qi``, EC ``crv x y d``."""

    def number(name: str) -> int:
        value = members.get(name)
        if not isinstance(value, bytes) or not value:
            raise BadParameter(f"The JSON web key is missing its '{name}' member.")
        return int.from_bytes(value, "big")

    try:
        if kty.is_rsa:
            public = rsa.RSAPublicNumbers(number("e"), number("n"))
            numbers = rsa.RSAPrivateNumbers(
                number("p"), number("q"), number("d"), number("dp"), number("dq"), number("qi"), public
            )
            key: PrivateKey = numbers.private_key()
            if key.key_size not in RSA_SIZES:
                raise BadParameter(f"RSA key size {key.key_size} is not supported.")
            return key
        crv = members.get("crv")
        if not isinstance(crv, str) or crv not in {c.value for c in Curve}:
            raise BadParameter(f"The curve {crv!r} is not supported.")
        curve = Curve(crv)
        ec_key = ec.derive_private_key(number("d"), CURVES[curve]())
        point = ec_key.public_key().public_numbers()
        if (point.x, point.y) != (number("x"), number("y")):
            raise BadParameter("The JSON web key's public point does not match its private scalar.")
        return ec_key
    except ValueError as exc:
        raise BadParameter(f"The JSON web key is invalid: {exc}") from None
