"""Signing proxy (seed 001's API): ``{"error": {"code": "SIGNER_UNAVAILABLE", "message": "...",
"backend_code": ...}}`` (the reference proxy's shape) with 500/502/503/504 or 429; operations are
the path (``/sign/hash``, ``/sign/canonical``, ``/verify``, ``/keys``, ``/health``); the signature
is ``signature`` (base64url or base64, or an object with ``sig``)."""

from __future__ import annotations

import json
from typing import Any

from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import BackendErrorCode as T

from pytest_kmsconform import kinds

from ..vocabulary import FaultVocabulary, FlipBit, WireError, b64_flip, errors_by_name


def _proxy(name: str, code: T, status: int, wire_code: str, message: str) -> WireError:
    error: dict[str, str] = {"code": wire_code, "message": message}
    if wire_code == "SIGNER_UNAVAILABLE":
        error["backend_code"] = code.value
    return WireError(name, code, status, "application/json", json.dumps({"error": error}).encode())


def _corrupt(doc: Any, choose: FlipBit) -> bool:
    sig = doc.get("signature")
    if isinstance(sig, str) and (new := b64_flip(sig, choose, standard=False)) is not None:
        doc["signature"] = new
        return True
    if (
        isinstance(sig, dict)
        and isinstance(sig.get("sig"), str)
        and (new := b64_flip(sig["sig"], choose, standard=False))
    ):
        sig["sig"] = new
        return True
    return False


def _operation(method: str, alg: Algorithm | None, rotating: bool) -> str | None:
    return {"sign": "/sign/hash", "verify": "/verify", "public_key": "/keys"}.get(method)


VOCABULARY = FaultVocabulary(
    kind=kinds.SIGNING_PROXY,
    errors=errors_by_name(
        _proxy("500", T.INTERNAL, 500, "INTERNAL", "internal error"),
        _proxy("502", T.UNAVAILABLE, 502, "BAD_GATEWAY", "bad gateway: signing backend unreachable"),
        _proxy("503", T.UNAVAILABLE, 503, "SIGNER_UNAVAILABLE", "signing backend unavailable"),
        _proxy("504", T.TIMEOUT, 504, "SIGNER_UNAVAILABLE", "signing backend timed out"),
        _proxy("429", T.THROTTLED, 429, "THROTTLED", "too many requests"),
    ),
    default_for_class={
        T.THROTTLED: "429",
        T.INTERNAL: "500",
        T.UNAVAILABLE: "503",
        T.TIMEOUT: "504",
    },
    corrupt_signature=_corrupt,
    key_backend_operation=_operation,
)
