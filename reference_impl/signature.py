"""The signature object: ``kid``, ``alg`` and the signature bytes (base64url in JSON)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .algorithms import Algorithm
from .errors import ArchiveFormatError

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url decode; padding optional, any other character rejected."""
    if not isinstance(text, str):
        raise ArchiveFormatError(f"expected a base64url string, got {type(text).__name__}")
    stripped = text.rstrip("=")
    if not _B64URL.fullmatch(stripped) or len(stripped) % 4 == 1:
        raise ArchiveFormatError("not valid base64url")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ArchiveFormatError(f"not valid base64url: {exc}") from None


@dataclass(frozen=True)
class Signature:
    """A signature over a 32-byte audit digest.

    ``kid`` names the key version that made it, ``alg`` the algorithm, ``value`` the raw
    signature bytes (DER for ECDSA, as AWS KMS, Vault and YubiHSM return it).
    """

    kid: str
    alg: Algorithm
    value: bytes

    def to_json(self) -> dict[str, str]:
        return {"kid": self.kid, "alg": self.alg.value, "sig": b64url_encode(self.value)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Signature:
        """Parse ``{"kid", "alg", "sig"}``; raises :class:`ArchiveFormatError` on any defect."""
        if not isinstance(obj, Mapping):
            raise ArchiveFormatError("signature must be a JSON object")
        kid, alg, sig = obj.get("kid"), obj.get("alg"), obj.get("sig")
        if not isinstance(kid, str) or not kid:
            raise ArchiveFormatError("signature.kid must be a non-empty string")
        if not isinstance(alg, str):
            raise ArchiveFormatError("signature.alg must be a string")
        try:
            algorithm = Algorithm(alg)
        except ValueError:
            raise ArchiveFormatError(f"signature.alg {alg!r} is not a known algorithm") from None
        if not isinstance(sig, str):
            raise ArchiveFormatError("signature.sig must be a base64url string")
        return cls(kid=kid, alg=algorithm, value=b64url_decode(sig))
