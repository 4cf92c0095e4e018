"""Public keys as JWK (RFC 7517, RFC 7518 section 6, RFC 8037) and back, plus PEM/DER helpers."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from .errors import KeyFormatError
from .primitives import PrivateKey, PublicKey
from .signature import b64url_decode, b64url_encode


def _int_to_b64(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(size, "big"))


def _b64_member(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise KeyFormatError(f"JWK member {what!r} must be a base64url string")
    try:
        return b64url_decode(text)
    except ValueError as exc:
        raise KeyFormatError(f"JWK member {what!r}: {exc}") from None


def _b64_to_int(text: Any, what: str) -> int:
    return int.from_bytes(_b64_member(text, what), "big")


def public_key_to_jwk(key: PublicKey) -> dict[str, str]:
    """The key-material members of a public JWK (``kty`` and its parameters)."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"kty": "RSA", "n": _int_to_b64(numbers.n), "e": _int_to_b64(numbers.e)}
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        point = key.public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": _int_to_b64(point.x, 32), "y": _int_to_b64(point.y, 32)}
    raise KeyFormatError(f"cannot express {type(key).__name__} as a JWK")


def jwk_to_public_key(jwk: dict[str, Any]) -> PublicKey:
    """Parse the key-material members of a public JWK; private members are refused."""
    if not isinstance(jwk, dict):
        raise KeyFormatError("a JWK must be a JSON object")
    if "d" in jwk or "p" in jwk or "k" in jwk:
        raise KeyFormatError("JWK carries private or symmetric key material; a key set must not")
    kty = jwk.get("kty")
    try:
        if kty == "OKP":
            if jwk.get("crv") != "Ed25519":
                raise KeyFormatError(f"unsupported OKP curve {jwk.get('crv')!r}")
            raw = _b64_member(jwk.get("x"), "x")
            if len(raw) != 32:
                raise KeyFormatError("Ed25519 JWK 'x' must be 32 bytes")
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        if kty == "RSA":
            return rsa.RSAPublicNumbers(_b64_to_int(jwk.get("e"), "e"), _b64_to_int(jwk.get("n"), "n")).public_key()
        if kty == "EC":
            if jwk.get("crv") != "P-256":
                raise KeyFormatError(f"unsupported EC curve {jwk.get('crv')!r}")
            x, y = _b64_to_int(jwk.get("x"), "x"), _b64_to_int(jwk.get("y"), "y")
            return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError as exc:
        raise KeyFormatError(f"invalid {kty} JWK: {exc}") from None
    raise KeyFormatError(f"unsupported JWK kty {kty!r}")


def public_key_from_der_or_pem(data: bytes) -> PublicKey:
    """Load an SPKI public key from DER or PEM (what KMS GetPublicKey, Vault and files give)."""
    try:
        key = (
            serialization.load_pem_public_key(data)
            if data.lstrip().startswith(b"-----")
            else serialization.load_der_public_key(data)
        )
    except ValueError as exc:
        raise KeyFormatError(f"not an SPKI public key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PublicKey | rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise KeyFormatError(f"unsupported public key type {type(key).__name__}")
    return key


def private_key_from_pem_or_der(data: bytes, password: bytes | None = None) -> PrivateKey:
    """Load a PKCS#8 (or traditional) private key from PEM or DER."""
    try:
        key = (
            serialization.load_pem_private_key(data, password=password)
            if data.lstrip().startswith(b"-----")
            else serialization.load_der_private_key(data, password=password)
        )
    except (ValueError, TypeError) as exc:
        raise KeyFormatError(f"not a private key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyFormatError(f"unsupported private key type {type(key).__name__}")
    return key


def public_key_pem(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
