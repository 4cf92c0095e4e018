"""Errors of the report and certificate layer; one base class, as in every package here."""

from __future__ import annotations

import enum


class ReportError(Exception):
    """Base class of every error raised by :mod:`pytest_kmsconform.report`."""


class UnknownFormat(ReportError, ValueError):
    """``write_reports`` was asked for a format it does not write."""


class ReportFormatError(ReportError, ValueError):
    """A report file is not valid JSON or does not follow ``docs/report-schema.json``."""


class CertificateError(ReportError):
    """Base class of certificate errors."""


class NotCertifiable(CertificateError):
    """The run does not qualify for a certificate; ``reasons`` lists every reason."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("no certificate issued: " + "; ".join(reasons))
        self.reasons = reasons


class VerifyFailure(enum.Enum):
    """Why a certificate did not verify; each maps to one ``verify-cert`` exit code."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad-signature"
    REPORT_MISMATCH = "report-mismatch"


class CertificateInvalid(CertificateError):
    """The certificate failed verification; ``failure`` says how."""

    def __init__(self, message: str, failure: VerifyFailure) -> None:
        super().__init__(message)
        self.failure = failure


class KeyFileError(CertificateError, ValueError):
    """A signing or verification key file cannot be used (wrong type, not PEM, unreadable)."""
