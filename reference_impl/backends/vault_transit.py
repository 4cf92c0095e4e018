"""Pure helpers for the Vault Transit backend: names, key references, ``vault:v<N>:`` values,
per-algorithm request parameters and the translation of ``hvac`` errors (no I/O here).

How our algorithms map onto Transit (what is signed is always the 32-byte audit digest):

=================== ============ ===================================================================
algorithm           key type     request parameters
=================== ============ ===================================================================
ed25519             ed25519      none: the digest is the message (pure Ed25519; ``prehashed`` is
                                 never sent, Vault CE >= 1.19 rejects it for Ed25519)
ecdsa-p256-sha256   ecdsa-p256   ``prehashed=true``, ``hash_algorithm=sha2-256``,
                                 ``marshaling_algorithm=asn1`` (DER)
rsa-sha256          rsa-2048     ``prehashed=true``, ``hash_algorithm=sha2-256``,
                                 ``signature_algorithm=pkcs1v15``
rsa-pss-sha256      rsa-2048     as rsa-sha256 with ``signature_algorithm=pss``, ``salt_length=hash``
                                 (32 bytes; Transit's default ``auto`` signs with the *maximum* salt,
                                 222 bytes for RSA-2048, which our contract does not accept)
hmac-sha256         hmac (32 B)  ``/hmac/<name>/sha2-256`` and ``/verify`` with ``hmac``
ml-dsa-44/65/87     mldsa-44/65/ none: the digest is the message of pure ML-DSA, empty context
                    87           (OpenBao >= 2.7; public keys are raw base64 like Ed25519's)
=================== ============ ===================================================================

ML-DSA, as observed on OpenBao 2.7.2 (``tests/emulators/vault/test_openbao_ml_dsa.py``; shared notes
``vault.md`` and ``wave2-anchors.md`` section 6.1): ``prehashed``, ``hash_algorithm``, ``context``,
``signature_algorithm`` and ``salt_length`` are accepted *silently and ignored* (the signature is
always pure ML-DSA over the input with an empty context), so none of them is ever sent: a request
that names a context Vault does not apply would be a lie in the audit trail. HashiCorp Vault has
ML-DSA Transit keys in Enterprise only.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from pytest_kmsconform import kinds

from ..algorithms import Algorithm
from ..clock import parse_time
from ..errors import BackendError, BackendErrorCode, InvalidSignature, KeyFormatError
from ..jwk import ml_dsa_public_key_from_raw, public_key_from_der_or_pem
from ..primitives import PublicKey

BACKEND_NAME = kinds.VAULT
KEY_TYPES: dict[Algorithm, str] = {
    Algorithm.ED25519: "ed25519",
    Algorithm.ECDSA_P256_SHA256: "ecdsa-p256",
    Algorithm.RSA_SHA256: "rsa-2048",
    Algorithm.RSA_PSS_SHA256: "rsa-2048",
    Algorithm.HMAC_SHA256: "hmac",
    Algorithm.ML_DSA_44: "mldsa-44",
    Algorithm.ML_DSA_65: "mldsa-65",
    Algorithm.ML_DSA_87: "mldsa-87",
}
HMAC_KEY_SIZE = 32
_RSA_TYPES = ("rsa-2048", "rsa-3072", "rsa-4096")
# Vault's framework.GenericNameRegex (Go \w is ASCII).
_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")
_VALUE = re.compile(r"vault:v([1-9][0-9]*):([A-Za-z0-9+/]*={0,2})")


def check_key_name(name: str) -> str:
    """Return ``name`` if Vault accepts it as a Transit key name; raise ``ValueError`` otherwise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid Transit key name (letters, digits, _, - and . inside)")
    return name


def key_name_for(prefix: str, label: str) -> str:
    """A valid Transit key name for a ring label: other characters become ``_`` (so do a leading or
    trailing ``-``/``.``); an existing key is never adopted, so a collision is an error, not a merge."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{prefix}{label}")
    if not name:
        raise ValueError("a Transit key name cannot be empty")
    if name[0] in ".-":
        name = "_" + name[1:]
    if name[-1] in ".-":
        name = name[:-1] + "_"
    return check_key_name(name)


def algorithm_fits_key_type(alg: Algorithm, key_type: str) -> bool:
    """True when a Transit key of ``key_type`` can sign ``alg`` (any RSA size for the RSA algorithms)."""
    if alg in (Algorithm.RSA_SHA256, Algorithm.RSA_PSS_SHA256):
        return key_type in _RSA_TYPES
    return KEY_TYPES[alg] == key_type


def default_algorithm(key_type: str) -> Algorithm:
    """The algorithm an existing key signs with when ``AUDIT_SIGNING_ALG`` is not given."""
    for alg in (
        Algorithm.ED25519,
        Algorithm.ECDSA_P256_SHA256,
        Algorithm.RSA_SHA256,
        Algorithm.HMAC_SHA256,
        Algorithm.ML_DSA_44,
        Algorithm.ML_DSA_65,
        Algorithm.ML_DSA_87,
    ):
        if algorithm_fits_key_type(alg, key_type):
            return alg
    raise ValueError(f"Transit key type {key_type!r} cannot sign audit digests")


@dataclass(frozen=True)
class KeyRef:
    """A Transit key version: ``<name>:v<N>`` is both our kid and the backend reference."""

    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name}:v{self.version}"

    @classmethod
    def parse(cls, text: str) -> KeyRef:
        name, sep, version = text.rpartition(":v")
        if not sep or not version.isdigit() or version.startswith("0"):
            raise ValueError(f"{text!r} is not a Transit key reference '<name>:v<N>'")
        return cls(check_key_name(name), int(version))


def format_value(version: int, raw: bytes) -> str:
    """``vault:v<N>:<standard base64>``, the form Transit returns and verifies."""
    return f"vault:v{version}:{base64.b64encode(raw).decode('ascii')}"


def parse_value(text: Any, expected_version: int) -> bytes:
    """The raw bytes of a ``vault:v<N>:`` signature or HMAC made with ``expected_version``.

    A missing prefix, another version or bad base64 is a corrupt response (the backend answered
    something we did not ask for).
    """
    match = _VALUE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise corrupt(f"expected 'vault:v{expected_version}:<base64>', got {str(text)[:40]!r}")
    if int(match.group(1)) != expected_version:
        raise corrupt(f"asked for key version {expected_version}, Vault used version {match.group(1)}")
    try:
        return base64.b64decode(match.group(2), validate=True)
    except binascii.Error as exc:
        raise corrupt(f"signature is not base64: {exc}") from None


def corrupt(message: str) -> BackendError:
    return BackendError(message, code=BackendErrorCode.CORRUPT_RESPONSE, backend=BACKEND_NAME)


def sign_parameters(alg: Algorithm) -> dict[str, Any]:
    """``sign``/``verify`` body parameters for ``alg`` (see the module table); empty for Ed25519,
    ML-DSA and HMAC."""
    if alg is Algorithm.ECDSA_P256_SHA256:
        return {"hash_algorithm": "sha2-256", "prehashed": True, "marshaling_algorithm": "asn1"}
    if alg is Algorithm.RSA_SHA256:
        return {"hash_algorithm": "sha2-256", "prehashed": True, "signature_algorithm": "pkcs1v15"}
    if alg is Algorithm.RSA_PSS_SHA256:
        return {"hash_algorithm": "sha2-256", "prehashed": True, "signature_algorithm": "pss", "salt_length": "hash"}
    return {}


def b64(data: bytes) -> str:
    """Standard base64 with padding: the only input encoding Transit accepts."""
    return base64.b64encode(data).decode("ascii")


class VersionRetired(InvalidSignature):
    """Vault refuses to verify a version below ``min_decryption_version`` (HTTP 400, "too old")."""

    def __init__(self, message: str, kid: str) -> None:
        super().__init__(message)
        self.kid = kid


# Transit answers some permanent refusals with 400/500 and a message; these decide the code.
_MESSAGE_CODES: tuple[tuple[str, BackendErrorCode], ...] = (
    ("not found", BackendErrorCode.NOT_FOUND),
    ("no existing key named", BackendErrorCode.NOT_FOUND),
    ("higher than the latest key version", BackendErrorCode.NOT_FOUND),
    ("key version does not exist", BackendErrorCode.NOT_FOUND),
    ("less than the minimum encryption key version", BackendErrorCode.DISABLED),
    ("no such key version", BackendErrorCode.DISABLED),
    ("disallowed by policy", BackendErrorCode.DISABLED),
)
_STATUS_CODES: dict[int, BackendErrorCode] = {
    400: BackendErrorCode.INVALID_REQUEST,
    401: BackendErrorCode.ACCESS_DENIED,
    403: BackendErrorCode.ACCESS_DENIED,
    404: BackendErrorCode.NOT_FOUND,
    405: BackendErrorCode.INVALID_REQUEST,
    429: BackendErrorCode.THROTTLED,
    500: BackendErrorCode.UNAVAILABLE,
    501: BackendErrorCode.UNAVAILABLE,
    502: BackendErrorCode.UNAVAILABLE,
    503: BackendErrorCode.UNAVAILABLE,
}


_MULTIERROR_HEAD = re.compile(r"^\s*\d+ errors? occurred:")
_MULTIERROR_ITEM = re.compile(r"\s*\n\s*\*\s+")


def error_messages(exc: BaseException) -> str:
    """Vault's ``errors`` list as one line, without Go's multierror wrapping ("1 error occurred: * ...")."""
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and errors:
        text = "; ".join(str(e) for e in errors)
    else:
        text = str(exc.args[0]) if exc.args else type(exc).__name__
    text = _MULTIERROR_ITEM.sub("; ", _MULTIERROR_HEAD.sub("", text))
    return " ".join(text.split()).strip("; ")


def translate(exc: BaseException, status: int | None, operation: str) -> BackendError:
    """One :class:`BackendError` for an hvac/requests failure of ``operation``.

    403 and 401 are ``ACCESS_DENIED``, 429 ``THROTTLED``, 500/501/502/503 (sealed, down)
    ``UNAVAILABLE``, 404 ``NOT_FOUND``, 400 ``INVALID_REQUEST``, except Transit's permanent refusals
    named in their message (unknown key or version: ``NOT_FOUND``; version below the minimum:
    ``DISABLED``). ``status`` is ``None`` when no response arrived (``UNAVAILABLE``/``TIMEOUT``), 0 when
    hvac did not say (``INTERNAL``).
    """
    text = error_messages(exc)
    if status is None:
        code = BackendErrorCode.TIMEOUT if "timeout" in type(exc).__name__.lower() else BackendErrorCode.UNAVAILABLE
    else:
        code = _STATUS_CODES.get(status, BackendErrorCode.INTERNAL)
        if status in (400, 500):
            lowered = text.lower()
            code = next((c for needle, c in _MESSAGE_CODES if needle in lowered), code)
    detail = f"HTTP {status}" if status else type(exc).__name__
    return BackendError(f"vault {operation} failed: {text}", code=code, backend=BACKEND_NAME, detail=detail)


# -- parsing Transit answers -------------------------------------------------------------------
@dataclass(frozen=True)
class KeyInfo:
    """What read-key says about a Transit key (only the fields the backend uses)."""

    name: str
    type: str
    latest_version: int
    min_decryption_version: int
    min_encryption_version: int
    versions: Mapping[int, Mapping[str, Any]]
    """Loaded versions (``>= min_decryption_version``) with ``public_key``/``creation_time``; empty for HMAC."""

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> KeyInfo:
        try:
            keys = data.get("keys") or {}
            return cls(
                name=str(data["name"]),
                type=str(data["type"]),
                latest_version=int(data["latest_version"]),
                min_decryption_version=int(data["min_decryption_version"]),
                min_encryption_version=int(data["min_encryption_version"]),
                versions={int(v): k for v, k in keys.items() if isinstance(k, Mapping)},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise corrupt(f"unexpected read-key response: {exc!r}") from None


@dataclass(frozen=True)
class Revocation:
    """How a revocation was carried out in Vault (kept for the audit trail and for tests)."""

    kid: str
    min_encryption_version: int
    rotated_to: int | None
    """The version created only so the minimum could pass the revoked latest one (never used by the ring)."""


def response_data(response: Any, operation: str) -> Mapping[str, Any]:
    if not isinstance(response, Mapping) or not isinstance(response.get("data"), Mapping):
        raise corrupt(f"vault {operation}: response has no 'data' object")
    data: Mapping[str, Any] = response["data"]
    return data


def status_of(exc: BaseException) -> int | None:
    import hvac.exceptions

    table: tuple[tuple[type[BaseException], int], ...] = (
        (hvac.exceptions.InvalidRequest, 400),
        (hvac.exceptions.Unauthorized, 401),
        (hvac.exceptions.Forbidden, 403),
        (hvac.exceptions.InvalidPath, 404),
        (hvac.exceptions.UnsupportedOperation, 405),
        (hvac.exceptions.RateLimitExceeded, 429),
        (hvac.exceptions.InternalServerError, 500),
        (hvac.exceptions.VaultNotInitialized, 501),
        (hvac.exceptions.BadGateway, 502),
        (hvac.exceptions.VaultDown, 503),
    )
    return next((status for cls, status in table if isinstance(exc, cls)), 0)


def load_public_key(key_type: str, text: str) -> PublicKey:
    """Ed25519 and ML-DSA public keys come as raw base64 (OpenBao 2.7.2, observed), the others as PEM SPKI."""
    try:
        if key_type == "ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
        ml_dsa = next((alg for alg, name in KEY_TYPES.items() if alg.is_ml_dsa and name == key_type), None)
        if ml_dsa is not None:
            return ml_dsa_public_key_from_raw(ml_dsa, base64.b64decode(text, validate=True))
        return public_key_from_der_or_pem(text.encode())
    except (ValueError, KeyFormatError, binascii.Error) as exc:
        raise corrupt(f"unreadable {key_type} public key from Vault: {exc}") from None


def spki_der(key: PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def parse_go_time(text: str) -> datetime:
    """Go's RFC 3339 with nanoseconds, cut to microseconds for Python."""
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        return parse_time(text)
    except ValueError:
        return datetime.now(UTC)
