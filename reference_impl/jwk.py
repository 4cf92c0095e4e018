"""Public keys as JWK (RFC 7517, RFC 7518 section 6, RFC 8037, RFC 9964) and back, plus PEM/DER helpers.

ML-DSA keys are RFC 9964 "AKP" (Algorithm Key Pair) members: ``{"kty": "AKP", "pub": <base64url of
the raw FIPS 204 public key>}``. An AKP key's parameter set is named by the member's ``alg`` (RFC 9964
makes ``alg`` required for AKP); in a kmsconform key set ``alg`` is the contract name
(``ml-dsa-65``), whose JOSE name is :attr:`~.algorithms.Algorithm.jose_alg` (``ML-DSA-65``), see
``docs/spec.md``. The private members ``priv`` (the seed) and ``seed`` are refused.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from .algorithms import Algorithm
from .errors import KeyFormatError
from .primitives import ML_DSA_PARAMETERS, MlDsaPrivateKey, MlDsaPublicKey, PrivateKey, PublicKey
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


PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv", "seed")
"""JWK members that carry private or symmetric key material (RFC 7518 section 6, RFC 9964)."""
_ML_DSA_BY_NAME = {alg.value: alg for alg in ML_DSA_PARAMETERS}


def public_key_to_jwk(key: PublicKey) -> dict[str, str]:
    """The key-material members of a public JWK (``kty`` and its parameters; for AKP the caller
    adds ``alg``, which names the parameter set)."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"kty": "RSA", "n": _int_to_b64(numbers.n), "e": _int_to_b64(numbers.e)}
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        point = key.public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": _int_to_b64(point.x, 32), "y": _int_to_b64(point.y, 32)}
    if isinstance(key, MlDsaPublicKey):
        return {"kty": "AKP", "pub": b64url_encode(key.public_bytes_raw())}
    raise KeyFormatError(f"cannot express {type(key).__name__} as a JWK")


def jwk_to_public_key(jwk: dict[str, Any]) -> PublicKey:
    """Parse the key-material members of a public JWK; private members are refused."""
    if not isinstance(jwk, dict):
        raise KeyFormatError("a JWK must be a JSON object")
    if any(name in jwk for name in PRIVATE_MEMBERS):
        raise KeyFormatError("JWK carries private or symmetric key material; a key set must not")
    kty = jwk.get("kty")
    try:
        if kty == "AKP":
            return _akp_public_key(jwk)
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


def _akp_public_key(jwk: dict[str, Any]) -> MlDsaPublicKey:
    """An RFC 9964 AKP member: ``alg`` names the parameter set, ``pub`` is the raw public key of
    exactly that set's size (a key of another set under this ``alg`` is refused, never guessed)."""
    alg = _ML_DSA_BY_NAME.get(str(jwk.get("alg")))
    if alg is None:
        known = ", ".join(_ML_DSA_BY_NAME)
        raise KeyFormatError(f"AKP JWK alg {jwk.get('alg')!r} is not an ML-DSA algorithm ({known})")
    params = ML_DSA_PARAMETERS[alg]
    raw = _b64_member(jwk.get("pub"), "pub")
    if len(raw) != params.public_key_size:
        raise KeyFormatError(f"{alg.value} JWK 'pub' must be {params.public_key_size} bytes, got {len(raw)}")
    return params.public_key.from_public_bytes(raw)


def ml_dsa_public_key_from_raw(alg: Algorithm, raw: bytes) -> MlDsaPublicKey:
    """The ML-DSA public key of its FIPS 204 encoding (Vault's and Cloud KMS ``NIST_PQC`` form)."""
    params = ML_DSA_PARAMETERS.get(alg)
    if params is None:
        raise KeyFormatError(f"{alg.value} is not ML-DSA")
    if len(raw) != params.public_key_size:
        raise KeyFormatError(f"an {alg.value} public key is {params.public_key_size} bytes, got {len(raw)}")
    return params.public_key.from_public_bytes(raw)


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
    if not isinstance(key, ed25519.Ed25519PublicKey | rsa.RSAPublicKey | ec.EllipticCurvePublicKey | MlDsaPublicKey):
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
    if not isinstance(
        key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | MlDsaPrivateKey
    ):
        raise KeyFormatError(f"unsupported private key type {type(key).__name__}")
    return key


def public_key_pem(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
