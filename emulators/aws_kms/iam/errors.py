"""Typed errors of the IAM layer, one per AWS error code, free of any wire format.

The KMS wire layer turns them into ``{"__type": ...}`` JSON (:mod:`..errors`), the STS layer into
``<ErrorResponse>`` XML (:mod:`.sts_wire`); each keeps AWS's code and message.
"""

from __future__ import annotations


class IamError(Exception):
    """Base class: ``code`` is the AWS error code, ``status`` its HTTP status on STS's query wire."""

    code = "InternalFailure"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AccessDenied(IamError):
    """An identity or trust policy does not allow the action (KMS: ``AccessDeniedException``)."""

    code = "AccessDenied"
    status = 403


class UnrecognizedClient(IamError):
    """An access key (or session token) the account does not know."""

    code = "UnrecognizedClientException"
    status = 403


class ExpiredToken(IamError):
    """Temporary credentials, or a web identity token, past their expiry on the model's clock."""

    code = "ExpiredTokenException"
    status = 400


class SignatureMismatch(IamError):
    """A SigV4 signature that the access key's secret does not reproduce."""

    code = "InvalidSignatureException"
    status = 403


class InvalidIdentityToken(IamError):
    """A web identity token that is malformed, unsigned by the issuer's keys, or for another audience."""

    code = "InvalidIdentityToken"
    status = 400


class ValidationError(IamError):
    code = "ValidationError"
    status = 400


class MalformedPolicyDocument(IamError):
    code = "MalformedPolicyDocument"
    status = 400


class NoSuchEntity(IamError):
    code = "NoSuchEntity"
    status = 404


class PolicyNotModelled(IamError):
    """A policy element this model does not evaluate (refused when attached, never approximated)."""

    code = "KmsConformEmulatorGap"
    status = 501
