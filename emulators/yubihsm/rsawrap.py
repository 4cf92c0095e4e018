"""Asymmetric (RSA) wrap, firmware 2.4.0: an ephemeral AES key under RSA-OAEP, the data under AES-KWP.

Blob = ``RSA-OAEP(wrap public key, ephemeral AES key) || AES-KWP(ephemeral key, data)`` (RFC 8017,
RFC 5649). The client sends the *hash* of the OAEP label, not the label; pyca/cryptography needs
the label itself, so only the empty label (the library's default) is accepted here.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .defs import AES_ALGORITHMS, Algorithm, Error
from .errors import DeviceError

OAEP_HASHES: dict[int, type[hashes.HashAlgorithm]] = {
    Algorithm.RSA_OAEP_SHA1: hashes.SHA1,
    Algorithm.RSA_OAEP_SHA256: hashes.SHA256,
    Algorithm.RSA_OAEP_SHA384: hashes.SHA384,
    Algorithm.RSA_OAEP_SHA512: hashes.SHA512,
}
MGF1_HASHES: dict[int, type[hashes.HashAlgorithm]] = {
    Algorithm.RSA_MGF1_SHA1: hashes.SHA1,
    Algorithm.RSA_MGF1_SHA256: hashes.SHA256,
    Algorithm.RSA_MGF1_SHA384: hashes.SHA384,
    Algorithm.RSA_MGF1_SHA512: hashes.SHA512,
}


def oaep(oaep_hash: int, mgf1: int, label_hash: bytes) -> padding.OAEP:
    """The OAEP padding for the wire parameters; only the empty label is supported."""
    try:
        hash_type, mgf_type = OAEP_HASHES[oaep_hash], MGF1_HASHES[mgf1]
    except KeyError:
        raise DeviceError(Error.INVALID_DATA, "unknown OAEP or MGF1 algorithm") from None
    empty = hashes.Hash(hash_type())
    if label_hash != empty.finalize():
        raise DeviceError(Error.INVALID_DATA, "the simulator supports only the empty OAEP label")
    return padding.OAEP(mgf=padding.MGF1(mgf_type()), algorithm=hash_type(), label=None)


def label_hash_length(oaep_hash: int) -> int:
    try:
        return OAEP_HASHES[oaep_hash]().digest_size
    except KeyError:
        raise DeviceError(Error.INVALID_DATA, "unknown OAEP algorithm") from None


def wrap(public: rsa.RSAPublicKey, pad: padding.OAEP, aes_algorithm: int, ephemeral: bytes, data: bytes) -> bytes:
    if AES_ALGORITHMS.get(Algorithm(aes_algorithm)) != len(ephemeral):
        raise DeviceError(Error.INVALID_DATA, "the ephemeral key algorithm must be AES128/192/256")
    return public.encrypt(ephemeral, pad) + keywrap.aes_key_wrap_with_padding(ephemeral, data)


def unwrap(private: rsa.RSAPrivateKey, pad: padding.OAEP, blob: bytes) -> bytes:
    k = private.key_size // 8
    if len(blob) <= k:
        raise DeviceError(Error.INVALID_DATA, "wrapped blob too short")
    try:
        ephemeral = private.decrypt(blob[:k], pad)
        return keywrap.aes_key_unwrap_with_padding(ephemeral, blob[k:])
    except (ValueError, keywrap.InvalidUnwrap):
        raise DeviceError(Error.INVALID_DATA, "wrapped blob does not decrypt under this wrap key") from None


def public_from_modulus(modulus: bytes) -> rsa.RSAPublicKey:
    return rsa.RSAPublicNumbers(65537, int.from_bytes(modulus, "big")).public_key()


def pkcs8(key: object) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise DeviceError(Error.INVALID_DATA, "a key imported without its seed has no PKCS#8 form")
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
