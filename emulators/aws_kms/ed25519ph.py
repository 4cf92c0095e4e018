"""Ed25519ph (RFC 8032 section 5.1, phflag = 1, empty context) over a given SHA-512 digest.

pyca/cryptography only offers pure Ed25519, and libsodium's ph API hashes the message itself, so
KMS's ``ED25519_PH_SHA_512`` (``MessageType=DIGEST``: the caller hands over ``PH(M) = SHA-512(M)``)
needs this small, slow, non-constant-time reference code. It is an emulator: no real secrets.
The pure mode (``dom=b""``) is kept so tests can cross-check the arithmetic against pyca.
"""

from __future__ import annotations

import hashlib

_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
DOM2_PH = b"SigEd25519 no Ed25519 collisions" + bytes([1, 0])  # dom2(phflag=1, context="")

_Point = tuple[int, int, int, int]


def _add(p: _Point, q: _Point) -> _Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f, g * h, f * g, e * h)


def _mul(s: int, p: _Point) -> _Point:
    q: _Point = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _equal(p: _Point, q: _Point) -> bool:
    return (p[0] * q[2] - q[0] * p[2]) % _P == 0 and (p[1] * q[2] - q[1] * p[2]) % _P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
assert _GX is not None
_G: _Point = (_GX, _GY, 1, _GX * _GY % _P)


def _compress(p: _Point) -> bytes:
    zinv = pow(p[2], _P - 2, _P)
    x, y = p[0] * zinv % _P, p[1] * zinv % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decompress(data: bytes) -> _Point | None:
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


def _h(data: bytes) -> int:
    return int.from_bytes(hashlib.sha512(data).digest(), "little") % _Q


def _expand(seed: bytes) -> tuple[int, bytes]:
    digest = hashlib.sha512(seed).digest()
    a = int.from_bytes(digest[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, digest[32:]


def public_key(seed: bytes) -> bytes:
    """The 32-byte public key of a 32-byte private seed."""
    return _compress(_mul(_expand(seed)[0], _G))


def sign(seed: bytes, message: bytes, dom: bytes = DOM2_PH) -> bytes:
    """Sign ``message`` (for Ed25519ph: the 64-byte SHA-512 prehash) with a 32-byte seed."""
    if len(seed) != 32:
        raise ValueError("Ed25519 private seed must be 32 bytes")
    a, prefix = _expand(seed)
    pub = _compress(_mul(a, _G))
    r = _h(dom + prefix + message)
    big_r = _compress(_mul(r, _G))
    s = (r + _h(dom + big_r + pub + message) * a) % _Q
    return big_r + s.to_bytes(32, "little")


def verify(pub: bytes, message: bytes, signature: bytes, dom: bytes = DOM2_PH) -> bool:
    """True when ``signature`` is valid for ``message`` (the prehash, for Ed25519ph) under ``pub``."""
    if len(pub) != 32 or len(signature) != 64:
        return False
    point_a = _decompress(pub)
    point_r = _decompress(signature[:32])
    if point_a is None or point_r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _Q:
        return False
    h = _h(dom + signature[:32] + pub + message)
    return _equal(_mul(s, _G), _add(point_r, _mul(h, point_a)))
