"""AWS KMS: AWS JSON 1.1 errors (``{"__type": "ThrottlingException", "message": "..."}``) with the
HTTP status real KMS uses (400 throttling, 500 internal, 503 dependency timeout); operations are
the ``X-Amz-Target`` action; signatures are ``Signature`` / ``Mac`` (base64)."""

from __future__ import annotations

import json
from typing import Any

from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import BackendErrorCode as T

from pytest_kmsconform import kinds

from ..vocabulary import FaultVocabulary, FlipBit, Request, WireError, b64_flip, errors_by_name


def _kms(name: str, code: T, status: int, message: str) -> WireError:
    body = json.dumps({"__type": name, "message": message}).encode()
    return WireError(name, code, status, "application/x-amz-json-1.1", body)


def _recognise(request: Request) -> str | None:
    target = request.headers.get("x-amz-target")
    return None if target is None else target.rpartition(".")[2]


def _name_request(request: Request) -> str:
    return "unknown" if request.method == "POST" else request.path


def _corrupt(doc: Any, choose: FlipBit) -> bool:
    for name in ("Signature", "Mac"):
        if isinstance(doc.get(name), str) and (new := b64_flip(doc[name], choose)) is not None:
            doc[name] = new
            return True
    return False


def _operation(method: str, alg: Algorithm | None, rotating: bool) -> str | None:
    hmac = alg is Algorithm.HMAC_SHA256
    return {
        "sign": "GenerateMac" if hmac else "Sign",
        "verify": "VerifyMac" if hmac else "Verify",
        "create_key": "CreateKey",
        "public_key": "GetPublicKey",
        "disable": "DisableKey",
    }.get(method)


VOCABULARY = FaultVocabulary(
    kind=kinds.AWS_KMS,
    errors=errors_by_name(
        _kms("ThrottlingException", T.THROTTLED, 400, "Rate exceeded"),
        _kms("KMSInternalException", T.INTERNAL, 500, "An internal error occurred."),
        _kms(
            "DependencyTimeoutException",
            T.TIMEOUT,
            503,
            "The system timed out while trying to fulfill the request. You can retry the request.",
        ),
        _kms("DisabledException", T.DISABLED, 400, "The request was rejected because the key is disabled."),
        _kms("AccessDeniedException", T.ACCESS_DENIED, 400, "User is not authorized to perform this operation."),
    ),
    default_for_class={
        T.THROTTLED: "ThrottlingException",
        T.INTERNAL: "KMSInternalException",
        T.UNAVAILABLE: "DependencyTimeoutException",
        T.TIMEOUT: "DependencyTimeoutException",
        T.DISABLED: "DisabledException",
        T.ACCESS_DENIED: "AccessDeniedException",
    },
    recognise=_recognise,
    name_request=_name_request,
    corrupt_signature=_corrupt,
    key_backend_operation=_operation,
)
