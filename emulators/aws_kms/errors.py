"""Typed KMS errors the fidelity layer raises, one class per AWS error code.

They are moto ``JsonRESTError`` subclasses so the same object is serialised identically by the
in-process stub and the HTTP server (``{"__type": code, "message": ...}``, HTTP 400), and
botocore turns them into ``ClientError`` with ``Error.Code`` equal to the AWS code.
"""

from __future__ import annotations

from moto.core.exceptions import JsonRESTError


class KmsError(JsonRESTError):
    """Base class: ``error_code`` is the AWS error code (the ``__type`` on the wire)."""

    code = 400
    error_code = "KMSInternalException"

    def __init__(self, message: str = "") -> None:
        super().__init__(self.error_code, message)


class ValidationException(KmsError):
    error_code = "ValidationException"


class NotFoundException(KmsError):
    error_code = "NotFoundException"


class DisabledException(KmsError):
    error_code = "DisabledException"


class KMSInvalidStateException(KmsError):
    error_code = "KMSInvalidStateException"


class KMSInvalidSignatureException(KmsError):
    error_code = "KMSInvalidSignatureException"


class KMSInvalidMacException(KmsError):
    error_code = "KMSInvalidMacException"


class InvalidKeyUsageException(KmsError):
    error_code = "InvalidKeyUsageException"


class UnsupportedOperationException(KmsError):
    error_code = "UnsupportedOperationException"


class InvalidCiphertextException(KmsError):
    error_code = "InvalidCiphertextException"


class EmulatorGap(KmsError):
    """A real KMS feature this emulator does not model (never a silent approximation)."""

    code = 501
    error_code = "KmsConformEmulatorGap"
