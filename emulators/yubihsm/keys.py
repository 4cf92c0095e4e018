"""Key material: generation (optionally seeded), import from the wire, public keys, signatures.

Pure functions over pyca/cryptography objects; the wire layouts are the device's:
RSA keys arrive as ``p || q`` (e = 65537), EC keys as the private scalar, Ed25519 as the seed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from cryptography.exceptions import UnsupportedAlgorithm as _CryptoUnsupported
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from pytest_kmsconform.reference_impl import rsa_supply

from .defs import EC_ALGORITHMS, RSA_ALGORITHMS, Algorithm, Error
from .ed25519x import ExpandedEd25519Key
from .errors import DeviceError
from .objects import PrivateKey

RandomSource = Callable[[int], bytes]
RSA_EXPONENT = 65537

CURVES: dict[Algorithm, type[ec.EllipticCurve]] = {
    Algorithm.EC_P224: ec.SECP224R1,
    Algorithm.EC_P256: ec.SECP256R1,
    Algorithm.EC_P384: ec.SECP384R1,
    Algorithm.EC_P521: ec.SECP521R1,
    Algorithm.EC_K256: ec.SECP256K1,
    Algorithm.EC_BP256: ec.BrainpoolP256R1,
    Algorithm.EC_BP384: ec.BrainpoolP384R1,
    Algorithm.EC_BP512: ec.BrainpoolP512R1,
}
# Group orders, used to turn seeded random bytes into a scalar.
ORDERS: dict[Algorithm, int] = {
    Algorithm.EC_P224: 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFF16A2E0B8F03E13DD29455C5C2A3D,
    Algorithm.EC_P256: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    Algorithm.EC_P384: int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
    ),
    Algorithm.EC_P521: int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA"
        "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
    Algorithm.EC_K256: 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    Algorithm.EC_BP256: 0xA9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7,
    Algorithm.EC_BP384: int(
        "8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B31F166E6CAC0425A7CF3AB6AF6B7FC3103B883202E9046565", 16
    ),
    Algorithm.EC_BP512: int(
        "AADD9DB8DBE9C48B3FD4E6AE33C9FC07CB308DB3B3C9D20ED6639CCA70330870553E5C414CA92619418661197FAC10471DB1D381085DDA"
        "DDB58796829CA90069",
        16,
    ),
}
HASH_BY_LENGTH: dict[int, type[hashes.HashAlgorithm]] = {
    20: hashes.SHA1,
    28: hashes.SHA224,
    32: hashes.SHA256,
    48: hashes.SHA384,
    64: hashes.SHA512,
}
MGF1_HASHES: dict[int, type[hashes.HashAlgorithm]] = {
    Algorithm.RSA_MGF1_SHA1: hashes.SHA1,
    Algorithm.RSA_MGF1_SHA256: hashes.SHA256,
    Algorithm.RSA_MGF1_SHA384: hashes.SHA384,
    Algorithm.RSA_MGF1_SHA512: hashes.SHA512,
}


PKCS1_MECHANISMS = {
    20: Algorithm.RSA_PKCS1_SHA1,
    32: Algorithm.RSA_PKCS1_SHA256,
    48: Algorithm.RSA_PKCS1_SHA384,
    64: Algorithm.RSA_PKCS1_SHA512,
}
PSS_MECHANISMS = {
    20: Algorithm.RSA_PSS_SHA1,
    32: Algorithm.RSA_PSS_SHA256,
    48: Algorithm.RSA_PSS_SHA384,
    64: Algorithm.RSA_PSS_SHA512,
}
ECDSA_MECHANISMS = {
    20: Algorithm.EC_ECDSA_SHA1,
    32: Algorithm.EC_ECDSA_SHA256,
    48: Algorithm.EC_ECDSA_SHA384,
    64: Algorithm.EC_ECDSA_SHA512,
}
OAEP_MECHANISMS = {
    20: Algorithm.RSA_OAEP_SHA1,
    32: Algorithm.RSA_OAEP_SHA256,
    48: Algorithm.RSA_OAEP_SHA384,
    64: Algorithm.RSA_OAEP_SHA512,
}


def mgf1_algorithm(value: int) -> Algorithm | None:
    return Algorithm(value) if value in MGF1_HASHES else None


def is_asymmetric(algorithm: Algorithm) -> bool:
    return algorithm in RSA_ALGORITHMS or algorithm in EC_ALGORITHMS or algorithm is Algorithm.EC_ED25519


def ec_length(algorithm: Algorithm) -> int:
    return (CURVES[algorithm]().key_size + 7) // 8


def generate(algorithm: Algorithm, random: RandomSource | None) -> PrivateKey:
    """A new key; with ``random`` (a seeded source) EC and Ed25519 keys are reproducible.

    RSA keys always come from the library's generator: pyca/cryptography offers no seeded RSA.
    """
    if algorithm in RSA_ALGORITHMS:
        return rsa_supply.take(RSA_ALGORITHMS[algorithm])
    if algorithm is Algorithm.EC_ED25519:
        if random is None:
            return ed25519.Ed25519PrivateKey.generate()
        return ed25519.Ed25519PrivateKey.from_private_bytes(random(32))
    if algorithm in EC_ALGORITHMS:
        if random is None:
            return ec.generate_private_key(CURVES[algorithm]())
        order = ORDERS[algorithm]
        scalar = int.from_bytes(random(ec_length(algorithm) + 8), "big") % (order - 1) + 1
        return ec.derive_private_key(scalar, CURVES[algorithm]())
    raise DeviceError(Error.INVALID_DATA, f"{algorithm.name} is not an asymmetric key algorithm")


def import_private(algorithm: Algorithm, data: bytes) -> PrivateKey:
    """A key from its PUT_ASYMMETRIC_KEY encoding."""
    try:
        if algorithm in RSA_ALGORITHMS:
            half = RSA_ALGORITHMS[algorithm] // 16
            if len(data) != 2 * half:
                raise DeviceError(Error.INVALID_DATA, f"{algorithm.name} needs p || q of {2 * half} bytes")
            p, q = int.from_bytes(data[:half], "big"), int.from_bytes(data[half:], "big")
            n = p * q
            if n.bit_length() != RSA_ALGORITHMS[algorithm]:
                raise DeviceError(Error.INVALID_DATA, "p * q has the wrong size")
            d = rsa.rsa_recover_private_exponent(RSA_EXPONENT, p, q)
            numbers = rsa.RSAPrivateNumbers(
                p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
                rsa.RSAPublicNumbers(RSA_EXPONENT, n),
            )  # fmt: skip
            return numbers.private_key()
        if algorithm is Algorithm.EC_ED25519:
            if len(data) != 32:
                raise DeviceError(Error.INVALID_DATA, "an Ed25519 key is a 32-byte seed")
            return ed25519.Ed25519PrivateKey.from_private_bytes(data)
        if algorithm in EC_ALGORITHMS:
            if len(data) != ec_length(algorithm):
                raise DeviceError(Error.INVALID_DATA, f"{algorithm.name} needs a {ec_length(algorithm)}-byte scalar")
            scalar = int.from_bytes(data, "big")
            if not 0 < scalar < ORDERS[algorithm]:
                raise DeviceError(Error.INVALID_DATA, "EC scalar out of range")
            return ec.derive_private_key(scalar, CURVES[algorithm]())
    except (ValueError, _CryptoUnsupported) as exc:
        raise DeviceError(Error.INVALID_DATA, f"bad {algorithm.name} key: {exc}") from None
    raise DeviceError(Error.INVALID_DATA, f"{algorithm.name} is not an asymmetric key algorithm")


def import_pkcs8(algorithm: Algorithm, data: bytes) -> PrivateKey:
    """A key from PKCS#8 DER (asymmetric unwrap); it must match ``algorithm``."""
    try:
        key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError, _CryptoUnsupported):
        raise DeviceError(Error.INVALID_DATA, "unwrapped data is not a PKCS#8 private key") from None
    matches = (
        (isinstance(key, rsa.RSAPrivateKey) and RSA_ALGORITHMS.get(algorithm) == key.key_size)
        or (isinstance(key, ed25519.Ed25519PrivateKey) and algorithm is Algorithm.EC_ED25519)
        or (
            isinstance(key, ec.EllipticCurvePrivateKey)
            and algorithm in CURVES
            and isinstance(key.curve, CURVES[algorithm])
        )
    )
    if not matches:
        raise DeviceError(Error.INVALID_DATA, f"unwrapped key is not a {algorithm.name} key")
    assert isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey)
    return key


def object_size(algorithm: Algorithm) -> int:
    """The size GET_OBJECT_INFO reports (the wrapped body length on a real device)."""
    if algorithm in RSA_ALGORITHMS:
        return RSA_ALGORITHMS[algorithm] // 16 * 7
    if algorithm is Algorithm.EC_ED25519:
        return 64
    return 3 * ec_length(algorithm)


def public_bytes(algorithm: Algorithm, key: PrivateKey) -> bytes:
    """The GET_PUBLIC_KEY body: RSA modulus, EC ``X || Y``, or the 32-byte Ed25519 key."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.public_key().public_numbers().n.to_bytes(key.key_size // 8, "big")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if isinstance(key, ExpandedEd25519Key):
        return key.public
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return point[1:]


def _hash_for(digest: bytes) -> hashes.HashAlgorithm:
    try:
        return HASH_BY_LENGTH[len(digest)]()
    except KeyError:
        raise DeviceError(Error.INVALID_DATA, f"no hash of {len(digest)} bytes") from None


def sign_pkcs1(key: PrivateKey, digest: bytes) -> bytes:
    if not isinstance(key, rsa.RSAPrivateKey) or len(digest) == 28:
        raise DeviceError(Error.INVALID_DATA, "PKCS#1 signing needs an RSA key and a SHA-1/2 digest")
    return key.sign(digest, padding.PKCS1v15(), utils.Prehashed(_hash_for(digest)))


def sign_pss(key: PrivateKey, mgf1: int, salt_length: int, digest: bytes) -> bytes:
    if not isinstance(key, rsa.RSAPrivateKey) or mgf1 not in MGF1_HASHES:
        raise DeviceError(Error.INVALID_DATA, "PSS signing needs an RSA key and an MGF1 algorithm")
    max_salt = key.key_size // 8 - len(digest) - 2
    if salt_length > max_salt:
        raise DeviceError(Error.INVALID_DATA, f"salt length {salt_length} > {max_salt}")
    pss = padding.PSS(mgf=padding.MGF1(MGF1_HASHES[mgf1]()), salt_length=salt_length)
    return key.sign(digest, pss, utils.Prehashed(_hash_for(digest)))


def sign_ecdsa(key: PrivateKey, digest: bytes) -> bytes:
    """DER ECDSA over a hash; longer hashes are cut to the order's byte length, as the device does."""
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise DeviceError(Error.INVALID_DATA, "ECDSA signing needs an EC key")
    length = (key.curve.key_size + 7) // 8
    if len(digest) > length:
        digest = digest[:length]
    if len(digest) not in HASH_BY_LENGTH:
        # Left-pad to the next hash length; an integer value is what ECDSA signs.
        target = min(n for n in HASH_BY_LENGTH if n >= len(digest)) if len(digest) <= 64 else None
        if target is None:
            raise DeviceError(Error.INVALID_DATA, f"hash of {len(digest)} bytes is too long")
        digest = digest.rjust(target, b"\x00")
    return key.sign(digest, ec.ECDSA(utils.Prehashed(_hash_for(digest))))


def sign_eddsa(key: PrivateKey, message: bytes) -> bytes:
    if not isinstance(key, ed25519.Ed25519PrivateKey | ExpandedEd25519Key):
        raise DeviceError(Error.INVALID_DATA, "EdDSA signing needs an Ed25519 key")
    return key.sign(message)


def _raw_rsa(key: PrivateKey, ciphertext: bytes) -> bytes:
    if not isinstance(key, rsa.RSAPrivateKey) or len(ciphertext) != key.key_size // 8:
        raise DeviceError(Error.INVALID_DATA, "RSA decryption needs an RSA key and a k-byte block")
    numbers = key.private_numbers()
    c = int.from_bytes(ciphertext, "big")
    if c >= numbers.public_numbers.n:
        raise DeviceError(Error.INVALID_DATA, "ciphertext is not below the modulus")
    return pow(c, numbers.d, numbers.public_numbers.n).to_bytes(len(ciphertext), "big")


def decrypt_pkcs1(key: PrivateKey, ciphertext: bytes) -> bytes:
    """RSAES-PKCS1-v1_5 with explicit padding errors (``INVALID_DATA``), as the device reports them.

    pyca/cryptography uses implicit rejection (a random plaintext instead of an error), so the
    padding is checked here on the raw RSA result.
    """
    em = _raw_rsa(key, ciphertext)
    separator = em.find(b"\x00", 2)
    if em[:2] != b"\x00\x02" or separator < 10:
        raise DeviceError(Error.INVALID_DATA, "PKCS#1 v1.5 padding error")
    return em[separator + 1 :]


def _mgf1(seed: bytes, length: int, hash_name: str) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.new(hash_name, seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


OAEP_HASH_BY_LENGTH = {20: "sha1", 32: "sha256", 48: "sha384", 64: "sha512"}
MGF1_NAMES: dict[int, str] = {
    Algorithm.RSA_MGF1_SHA1: "sha1",
    Algorithm.RSA_MGF1_SHA256: "sha256",
    Algorithm.RSA_MGF1_SHA384: "sha384",
    Algorithm.RSA_MGF1_SHA512: "sha512",
}


def decrypt_oaep(key: PrivateKey, mgf1: int, ciphertext: bytes, label_hash: bytes) -> bytes:
    """RSAES-OAEP decoding given the label's hash (which is all the device receives)."""
    if len(label_hash) not in OAEP_HASH_BY_LENGTH or mgf1 not in MGF1_NAMES:
        raise DeviceError(Error.INVALID_DATA, "unknown OAEP hash or MGF1 algorithm")
    h_len, mgf_name = len(label_hash), MGF1_NAMES[mgf1]
    em = _raw_rsa(key, ciphertext)
    if len(em) < 2 * h_len + 2:
        raise DeviceError(Error.INVALID_DATA, "key too small for this OAEP hash")
    masked_seed, masked_db = em[1 : 1 + h_len], em[1 + h_len :]
    seed = bytes(a ^ b for a, b in zip(masked_seed, _mgf1(masked_db, h_len, mgf_name), strict=True))
    db = bytes(a ^ b for a, b in zip(masked_db, _mgf1(seed, len(masked_db), mgf_name), strict=True))
    rest = db[h_len:].lstrip(b"\x00")
    if em[0] != 0 or not hmac.compare_digest(db[:h_len], label_hash) or not rest or rest[0] != 1:
        raise DeviceError(Error.INVALID_DATA, "OAEP decoding error")
    return rest[1:]
