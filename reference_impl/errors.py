"""Typed errors of the reference implementation.

Every error derives from :class:`KmsConformError`. Verification raises (never returns ``False``),
and backend failures are translated once, at the backend boundary, into :class:`BackendError`.
"""

from __future__ import annotations

import enum


class KmsConformError(Exception):
    """Base class of every error raised by the reference implementation."""


class CanonicalizationError(KmsConformError, ValueError):
    """The payload cannot be canonicalized under RFC 8785 (NaN, infinity, lone surrogate, ...)."""


class UnsupportedReason(enum.Enum):
    UNKNOWN_ALGORITHM = "unknown_algorithm"
    BACKEND_CANNOT_DO_ALGORITHM = "backend_cannot_do_algorithm"
    SYMMETRIC_KEY_HAS_NO_PUBLIC_PART = "symmetric_key_has_no_public_part"
    KEY_TYPE_MISMATCH = "key_type_mismatch"


class UnsupportedAlgorithm(KmsConformError, ValueError):
    """An algorithm name or key type that this component does not support."""

    def __init__(self, message: str, reason: UnsupportedReason) -> None:
        super().__init__(message)
        self.reason = reason


class InvalidDigest(KmsConformError, ValueError):
    """A digest that is not exactly 32 bytes (64 hex characters)."""


class InvalidSignature(KmsConformError):
    """A signature that does not verify under the named key."""


class UnknownKey(KmsConformError, LookupError):
    """A key id that the key set or key ring does not hold."""


class KeyRevoked(KmsConformError):
    """The key was revoked; it may not sign, and signatures made after revocation are rejected."""

    def __init__(self, message: str, kid: str) -> None:
        super().__init__(message)
        self.kid = kid


class KeyNotValidAtTime(KmsConformError):
    """The signature is dated outside the key's validity window (before ``not_before``, after ``not_after``)."""

    def __init__(self, message: str, kid: str) -> None:
        super().__init__(message)
        self.kid = kid


class KeyStateError(KmsConformError):
    """An illegal key lifecycle transition (for example activating a revoked key)."""


class KeyFormatError(KmsConformError, ValueError):
    """Key material, a JWK or a JWKS that cannot be parsed."""


class SigningFailed(KmsConformError):
    """The backend did not produce a valid signature; nothing was committed."""


class BackendErrorCode(enum.Enum):
    """Backend failures, named after the backend's own error where there is one."""

    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    DISABLED = "disabled"
    INVALID_STATE = "invalid_state"
    NOT_FOUND = "not_found"
    ACCESS_DENIED = "access_denied"
    INVALID_REQUEST = "invalid_request"
    INTERNAL = "internal"
    CORRUPT_RESPONSE = "corrupt_response"


RETRYABLE_CODES = frozenset(
    {BackendErrorCode.THROTTLED, BackendErrorCode.UNAVAILABLE, BackendErrorCode.TIMEOUT, BackendErrorCode.INTERNAL}
)


class BackendError(KmsConformError):
    """A failure reported by (or on the way to) a signing backend.

    :param code: the normalised failure class.
    :param backend: backend name (``aws-kms``, ``vault``, ...).
    :param detail: the backend's own error code or status, for humans (never key material).
    """

    def __init__(self, message: str, *, code: BackendErrorCode, backend: str, detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.backend = backend
        self.detail = detail

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE_CODES


class ConfigurationError(KmsConformError):
    """The environment names a signer that cannot be built (bad value, missing companion variable)."""


class GuardError(ConfigurationError):
    """The production guard refused to start: its message begins ``Audit signing is required``."""


class ArchiveFormatError(KmsConformError, ValueError):
    """An audit archive or record that is not valid ``kmsconform-audit-archive/1``."""


class AuditStoreError(KmsConformError):
    """The audit store could not append; the store is unchanged."""


class MultisigError(KmsConformError, ValueError):
    """A multisig manifest that is not valid ``kmsconform-multisig/1``."""


class ThresholdNotMet(KmsConformError):
    """Fewer distinct allowed signers than the threshold signed the manifest.

    :param valid: the kids whose signatures counted.
    :param threshold: how many were needed.
    """

    def __init__(self, message: str, *, valid: tuple[str, ...], threshold: int) -> None:
        super().__init__(message)
        self.valid = valid
        self.threshold = threshold
