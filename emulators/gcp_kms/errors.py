"""Typed errors of the Cloud KMS emulator: one canonical status code each, as the service answers.

The model raises :class:`KmsApiError`; the gRPC front sends it as a gRPC status (with a
``google.rpc.Status`` in ``grpc-status-details-bin`` when it carries details), the REST front as
``{"error": {"code": <http>, "message", "status", "details"}}`` with the HTTP status of
:data:`HTTP_STATUS` (the canonical mapping of ``google/rpc/code.proto``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeVar

E = TypeVar("E", bound=enum.Enum)


class Code(enum.IntEnum):
    """``google.rpc.Code``."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


HTTP_STATUS: dict[Code, int] = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


@dataclass(frozen=True)
class Violation:
    """One ``google.rpc.PreconditionFailure.Violation`` (``KEY_PENDING_GENERATION``, ...)."""

    type: str
    subject: str
    description: str


class KmsApiError(Exception):
    """An error answer of the service.

    :param code: the canonical status code.
    :param message: the human message (the service's wording where it is known).
    :param violations: precondition details, sent as ``google.rpc.PreconditionFailure``.
    """

    def __init__(self, code: Code, message: str, *, violations: tuple[Violation, ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.violations = violations

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]


class EmulatorGap(KmsApiError):
    """A real Cloud KMS feature this emulator does not model (never a silent approximation)."""

    def __init__(self, what: str) -> None:
        super().__init__(Code.UNIMPLEMENTED, f"kmsconform gcp-kms emulator: {what} is not emulated")


def enum_value(message: object, field: str, enum_type: type[E]) -> E:
    """An enum field of a request, read without proto-plus's warning; unknown numbers are INVALID_ARGUMENT."""
    raw = int(getattr(type(message).pb(message), field))  # type: ignore[attr-defined]
    try:
        return enum_type(raw)
    except ValueError:
        raise invalid(f"Invalid value at '{field}' ({enum_type.__name__}), {raw}") from None


def invalid(message: str) -> KmsApiError:
    return KmsApiError(Code.INVALID_ARGUMENT, message)


def precondition(message: str, *violations: Violation) -> KmsApiError:
    return KmsApiError(Code.FAILED_PRECONDITION, message, violations=violations)


def not_found(kind: str, name: str) -> KmsApiError:
    return KmsApiError(Code.NOT_FOUND, f"{kind} {name} not found.")


def already_exists(kind: str, name: str) -> KmsApiError:
    return KmsApiError(Code.ALREADY_EXISTS, f"{kind} {name} already exists.")
