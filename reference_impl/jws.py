"""Compact JWS (RFC 7515) with EdDSA (RFC 8037) and JWK thumbprints (RFC 7638).

Used to sign a published key set so that verifiers can pin the signing key: the signing proxy
serves its JWKS inside a JWS made with a separate metadata key, and clients check it against the
pinned thumbprint of that key. Only Ed25519 is offered; anything else in a header is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from .algorithms import ML_DSA
from .errors import InvalidSignature, KeyFormatError
from .jwk import jwk_to_public_key, public_key_to_jwk
from .signature import b64url_decode, b64url_encode

_JOSE_ML_DSA = {alg.value: alg.jose_alg for alg in ML_DSA}
_THUMBPRINT_MEMBERS = {
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "AKP": ("alg", "kty", "pub"),  # RFC 9964: alg names the parameter set, so it is required
}


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url without padding.

    For an RFC 9964 AKP member the required ``alg`` is the JOSE name (``ML-DSA-65``); a contract
    name (``ml-dsa-65``, what kmsconform key sets carry) is hashed as its JOSE name, so the
    thumbprint is the one any RFC 9964 implementation computes for the same key.
    """
    if not isinstance(jwk, dict):
        raise KeyFormatError("a JWK must be a JSON object")
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise KeyFormatError(f"no thumbprint for JWK kty {jwk.get('kty')!r}")
    required: dict[str, Any] = {}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise KeyFormatError(f"JWK member {name!r} must be a string")
        required[name] = value
    if required.get("kty") == "AKP":
        required["alg"] = _JOSE_ML_DSA.get(required["alg"], required["alg"])
    text = json.dumps(required, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url_encode(hashlib.sha256(text.encode("utf-8")).digest())


def ed25519_thumbprint(key: ed25519.Ed25519PublicKey) -> str:
    return jwk_thumbprint(public_key_to_jwk(key))


def sign_compact(payload: bytes, key: ed25519.Ed25519PrivateKey, header: dict[str, Any] | None = None) -> str:
    """``b64url(header).b64url(payload).b64url(sig)``; ``alg`` is EdDSA, ``kid`` the key's thumbprint."""
    protected: dict[str, Any] = dict(header or {})
    protected["alg"] = "EdDSA"
    protected.setdefault("kid", ed25519_thumbprint(key.public_key()))
    signing_input = (
        b64url_encode(json.dumps(protected, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        + "."
        + b64url_encode(payload)
    )
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode("ascii")))


def parse_compact(token: str) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """Split a compact JWS into (header, payload, signing input, signature) without verifying."""
    if not isinstance(token, str):
        raise InvalidSignature("a compact JWS must be a string")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidSignature("a compact JWS has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = b64url_decode(parts[1])
        signature = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidSignature(f"malformed compact JWS: {exc}") from None
    if not isinstance(header, dict):
        raise InvalidSignature("JWS protected header must be a JSON object")
    return header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def verify_compact(token: str, key: ed25519.Ed25519PublicKey) -> tuple[dict[str, Any], bytes]:
    """Verify an EdDSA compact JWS under ``key``; returns (header, payload) or raises InvalidSignature."""
    header, payload, signing_input, signature = parse_compact(token)
    if header.get("alg") != "EdDSA":
        raise InvalidSignature(f"JWS alg must be EdDSA, got {header.get('alg')!r}")
    if "crit" in header:
        raise InvalidSignature("JWS carries critical header parameters this verifier does not understand")
    try:
        key.verify(signature, signing_input)
    except _CryptoInvalidSignature:
        raise InvalidSignature("JWS signature does not verify under the given key") from None
    return header, payload


def verify_pinned(token: str, jwk: dict[str, Any], pin: str) -> tuple[dict[str, Any], bytes]:
    """Verify a JWS under the JWK whose RFC 7638 thumbprint equals ``pin`` (compared in constant time)."""
    if not hmac.compare_digest(jwk_thumbprint(jwk).encode("ascii"), pin.encode("utf-8")):
        raise InvalidSignature("the metadata key does not match the pinned thumbprint")
    key = jwk_to_public_key(jwk)
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise InvalidSignature("the metadata key must be an Ed25519 key")
    return verify_compact(token, key)
