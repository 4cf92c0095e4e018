"""Ed25519 signing from an *expanded* key (scalar and prefix, RFC 8032 section 5.1.6), in pure Python.

A real YubiHSM exports Ed25519 keys without their seed by default; importing such a blob leaves only
the expanded key, which pyca/cryptography cannot sign with. Speed is irrelevant here (one scalar
multiplication per signature).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
_BY = 4 * pow(5, P - 2, P) % P
_BX_SQ = (_BY * _BY - 1) * pow(D * _BY * _BY + 1, P - 2, P) % P
_BX = pow(_BX_SQ, (P + 3) // 8, P)
if (_BX * _BX - _BX_SQ) % P:
    _BX = _BX * pow(2, (P - 1) // 4, P) % P
if _BX % 2:
    _BX = P - _BX
BASE = (_BX, _BY, 1, _BX * _BY % P)

Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T)


def _add(p: Point, q: Point) -> Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def _mul(scalar: int, point: Point) -> Point:
    result: Point = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _encode(point: Point) -> bytes:
    zinv = pow(point[2], P - 2, P)
    x, y = point[0] * zinv % P, point[1] * zinv % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


@dataclass(frozen=True)
class ExpandedEd25519Key:
    """An Ed25519 private key known only by its clamped scalar and nonce prefix."""

    scalar: int
    prefix: bytes
    public: bytes

    @classmethod
    def create(cls, scalar: int, prefix: bytes, public: bytes) -> ExpandedEd25519Key:
        """Raises ``ValueError`` when ``public`` is not ``scalar * B``."""
        if len(prefix) != 32 or _encode(_mul(scalar, BASE)) != public:
            raise ValueError("the expanded Ed25519 key does not match its public key")
        return cls(scalar, prefix, public)

    def sign(self, message: bytes) -> bytes:
        r = int.from_bytes(hashlib.sha512(self.prefix + message).digest(), "little") % L
        big_r = _encode(_mul(r, BASE))
        k = int.from_bytes(hashlib.sha512(big_r + self.public + message).digest(), "little") % L
        return big_r + ((r + k * self.scalar) % L).to_bytes(32, "little")

    def public_key(self) -> ed25519.Ed25519PublicKey:
        return ed25519.Ed25519PublicKey.from_public_bytes(self.public)
