"""Vault / OpenBao: ``{"errors": ["..."]}`` with 500, 503 (sealed) or 429 (rate limit quota);
operations are ``transit/<verb>`` for a transit path whatever the mount is called, else the first
two path segments after ``/v1/``; signatures are ``data.signature`` / ``data.hmac`` (``vault:vN:`` + base64)."""

from __future__ import annotations

import json
import re
from typing import Any

from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import BackendErrorCode as T

from pytest_kmsconform import kinds

from ..vocabulary import FaultVocabulary, FlipBit, Request, WireError, b64_flip, errors_by_name

TRANSIT_VERBS = frozenset(
    {"sign", "verify", "hmac", "keys", "rotate", "export", "encrypt", "decrypt", "rewrap", "datakey", "random", "hash"}
)
_VAULT_SIG = re.compile(r"^(vault:v\d+:)(.+)$")


def _vault(name: str, code: T, status: int, message: str) -> WireError:
    return WireError(name, code, status, "application/json", json.dumps({"errors": [message]}).encode())


def _recognise(request: Request) -> str | None:
    if not request.path.startswith("/v1/"):
        return None
    parts = [p for p in request.path[4:].split("/") if p]
    if len(parts) >= 2 and parts[1] in TRANSIT_VERBS and parts[0] not in ("sys", "auth"):
        return f"transit/{parts[1]}"
    return "/".join(parts[:2])


def _vault_flip(text: str, choose: FlipBit) -> str | None:
    m = _VAULT_SIG.match(text)
    if m is None:
        return None
    flipped = b64_flip(m.group(2), choose)
    return None if flipped is None else m.group(1) + flipped


def _corrupt(doc: Any, choose: FlipBit) -> bool:
    data = doc.get("data")
    if isinstance(data, dict):
        for name in ("signature", "hmac"):
            if isinstance(data.get(name), str) and (new := _vault_flip(data[name], choose)) is not None:
                data[name] = new
                return True
    return False


def _operation(method: str, alg: Algorithm | None, rotating: bool) -> str | None:
    hmac = alg is Algorithm.HMAC_SHA256
    return {
        "sign": "transit/hmac" if hmac else "transit/sign",
        "verify": "transit/verify",
        "create_key": "transit/rotate" if rotating else "transit/keys",
        "public_key": "transit/keys",
        "disable": "transit/keys",
    }.get(method)


VOCABULARY = FaultVocabulary(
    kind=kinds.VAULT,
    errors=errors_by_name(
        _vault("500", T.INTERNAL, 500, "1 error occurred:\n\t* internal error\n\n"),
        _vault("sealed", T.UNAVAILABLE, 503, "Vault is sealed"),
        _vault("503", T.UNAVAILABLE, 503, "Vault is sealed"),
        _vault("429", T.THROTTLED, 429, "request path: rate limit quota exceeded"),
        _vault("timeout", T.TIMEOUT, 504, "context deadline exceeded"),
        _vault("403", T.ACCESS_DENIED, 403, "1 error occurred:\n\t* permission denied\n\n"),
    ),
    default_for_class={
        T.THROTTLED: "429",
        T.INTERNAL: "500",
        T.UNAVAILABLE: "sealed",
        T.TIMEOUT: "timeout",
        T.ACCESS_DENIED: "403",
    },
    recognise=_recognise,
    corrupt_signature=_corrupt,
    key_backend_operation=_operation,
)
