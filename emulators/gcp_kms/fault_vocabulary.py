"""Google Cloud KMS's fault vocabulary: its realistic errors, how its REST calls are named, where the
signature sits in its answers (the table of kinds names it; light imports only, no grpc).

* errors: ``{"error": {"code": <http>, "message", "status"}}`` with the canonical HTTP status;
  the emulator raises the same errors over gRPC (:mod:`.faults`);
* operations: the RPC name of the ``/v1/...`` route (``AsymmetricSign``, ``MacSign``,
  ``GetPublicKey``, ``CreateCryptoKey``, ...), recognised when the path is a Cloud KMS route;
* signatures: ``signature`` / ``mac`` (base64), flipped with ``signatureCrc32c`` / ``macCrc32c``
  left as they were (what a client's integrity check must catch).
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from pytest_kmsconform.emulators.faults.vocabulary import (
    FaultVocabulary,
    FlipBit,
    Request,
    WireError,
    b64_flip,
    errors_by_name,
)
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import BackendErrorCode as T

from pytest_kmsconform import kinds

from .errors import HTTP_STATUS, Code
from .rest_routes import match


@dataclass(frozen=True)
class GcpError:
    """One realistic Cloud KMS error: its name in plans, status code, error class and message."""

    name: str
    code: Code
    error_class: T
    message: str

    def wire(self) -> WireError:
        status = HTTP_STATUS[self.code]
        body = json.dumps({"error": {"code": status, "message": self.message, "status": self.name}}).encode()
        return WireError(self.name, self.error_class, status, "application/json; charset=UTF-8", body)


ERRORS: dict[str, GcpError] = {
    e.name: e
    for e in (
        GcpError(
            "RESOURCE_EXHAUSTED",
            Code.RESOURCE_EXHAUSTED,
            T.THROTTLED,
            "Quota exceeded for quota metric 'Cryptographic requests' and limit 'Cryptographic requests per "
            "minute' of service 'cloudkms.googleapis.com'.",
        ),
        GcpError("INTERNAL", Code.INTERNAL, T.INTERNAL, "Internal error encountered."),
        GcpError("UNAVAILABLE", Code.UNAVAILABLE, T.UNAVAILABLE, "The service is currently unavailable."),
        GcpError(
            "DEADLINE_EXCEEDED", Code.DEADLINE_EXCEEDED, T.TIMEOUT, "Deadline expired before operation could complete."
        ),
        GcpError(
            "PERMISSION_DENIED",
            Code.PERMISSION_DENIED,
            T.ACCESS_DENIED,
            "Permission 'cloudkms.cryptoKeyVersions.useToSign' denied on resource (or it may not exist).",
        ),
        GcpError(
            "FAILED_PRECONDITION",
            Code.FAILED_PRECONDITION,
            T.DISABLED,
            "The key version is not enabled, current state is: DISABLED.",
        ),
    )
}
DEFAULT_FOR_CLASS: dict[T, str] = {e.error_class: e.name for e in ERRORS.values()}


def _recognise(request: Request) -> str | None:
    found = match(request.method, urllib.parse.unquote(request.path))
    return found[0].rpc if found is not None else None


def _corrupt(doc: Any, choose: FlipBit) -> bool:
    for name in ("signature", "mac"):
        if isinstance(doc.get(name), str) and (new := b64_flip(doc[name], choose)) is not None:
            doc[name] = new
            return True
    return False


def _operation(method: str, alg: Algorithm | None, rotating: bool) -> str | None:
    hmac = alg is Algorithm.HMAC_SHA256
    return {
        "sign": "MacSign" if hmac else "AsymmetricSign",
        "verify": "MacVerify" if hmac else None,
        "create_key": "CreateCryptoKeyVersion" if rotating else "CreateCryptoKey",
        "public_key": "GetPublicKey",
        "disable": "UpdateCryptoKeyVersion",
    }.get(method)


VOCABULARY = FaultVocabulary(
    kind=kinds.GCP_KMS,
    errors=errors_by_name(*(e.wire() for e in ERRORS.values())),
    default_for_class=DEFAULT_FOR_CLASS,
    recognise=_recognise,
    corrupt_signature=_corrupt,
    key_backend_operation=_operation,
)
