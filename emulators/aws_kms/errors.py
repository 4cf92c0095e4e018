"""Typed KMS errors the fidelity layer raises, one class per AWS error code.

They are moto ``JsonRESTError`` subclasses so the same object is serialised identically by the
in-process stub and the HTTP server (HTTP 400), and botocore turns them into ``ClientError`` with
``Error.Code`` equal to the AWS code. The body is ``{"__type": code, "message": text}``, and just
``{"__type": code}`` when the text is empty: AWS sends no message member for
``KMSInvalidSignatureException``, ``InvalidCiphertextException`` and the like, and botocore would
otherwise surface a ``message: ""`` member a real client never sees.
"""

from __future__ import annotations

import json

from moto.core.exceptions import JsonRESTError


class KmsError(JsonRESTError):
    """Base class: ``error_code`` is the AWS error code (the ``__type`` on the wire)."""

    code = 400
    error_code = "KMSInternalException"

    def __init__(self, message: str = "") -> None:
        super().__init__(self.error_code, message)
        if not message:
            self.description = json.dumps({"__type": self.error_code})


class ValidationException(KmsError):
    error_code = "ValidationException"


class NotFoundException(KmsError):
    error_code = "NotFoundException"


class AlreadyExistsException(KmsError):
    error_code = "AlreadyExistsException"


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


class IncorrectKeyException(KmsError):
    error_code = "IncorrectKeyException"


class UnsupportedOperationException(KmsError):
    error_code = "UnsupportedOperationException"


class InvalidCiphertextException(KmsError):
    error_code = "InvalidCiphertextException"


class InvalidImportTokenException(KmsError):
    error_code = "InvalidImportTokenException"


class ExpiredImportTokenException(KmsError):
    error_code = "ExpiredImportTokenException"


class IncorrectKeyMaterialException(KmsError):
    error_code = "IncorrectKeyMaterialException"


class InvalidGrantIdException(KmsError):
    error_code = "InvalidGrantIdException"


class InvalidGrantTokenException(KmsError):
    error_code = "InvalidGrantTokenException"


class InvalidArnException(KmsError):
    error_code = "InvalidArnException"


class InvalidMarkerException(KmsError):
    error_code = "InvalidMarkerException"


class NotAuthorizedException(KmsError):
    error_code = "NotAuthorizedException"


class TagException(KmsError):
    error_code = "TagException"


class LimitExceededException(KmsError):
    error_code = "LimitExceededException"


class MalformedPolicyDocumentException(KmsError):
    error_code = "MalformedPolicyDocumentException"


class AccessDeniedException(KmsError):
    """An identity policy does not allow the action on the key (IAM layer, :mod:`.iam`)."""

    error_code = "AccessDeniedException"


class UnrecognizedClientException(KmsError):
    error_code = "UnrecognizedClientException"


class ExpiredTokenException(KmsError):
    error_code = "ExpiredTokenException"


class InvalidSignatureException(KmsError):
    """The request's SigV4 signature (not a KMS signature: that is ``KMSInvalidSignatureException``)."""

    error_code = "InvalidSignatureException"


class DryRunOperationException(KmsError):
    error_code = "DryRunOperationException"

    def __init__(self) -> None:
        super().__init__("The request would have succeeded, but the DryRun option is set.")


class SerializationException(KmsError):
    """A body that is not the JSON object the protocol requires (AWS: ``SerializationException``)."""

    error_code = "SerializationException"


class EmulatorGap(KmsError):
    """A real KMS feature this emulator does not model (never a silent approximation)."""

    code = 501
    error_code = "KmsConformEmulatorGap"
