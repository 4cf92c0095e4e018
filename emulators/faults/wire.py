"""Name a request after its backend kind and operation, and corrupt a signature in an answer.

Both are asked of each kind's :class:`~.vocabulary.FaultVocabulary` (operation names and
signature fields are documented in :mod:`.vocabularies`), the kind the proxy was told it fronts
first. A request no kind recognises belongs to that kind (the signing proxy when it was told none).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_kmsconform import kinds

from .vocabulary import FlipBit, Request, vocabularies

__all__ = ["Call", "FlipBit", "classify", "corrupt_signature"]


@dataclass(frozen=True)
class Call:
    """One request as a rule sees it."""

    kind: str | None
    operation: str


def classify(method: str, path: str, headers: Mapping[str, str], body: bytes, default_kind: str | None) -> Call:
    """Name the backend kind and operation of one HTTP request."""
    request = Request(method, path.split("?", 1)[0], {k.lower(): v for k, v in headers.items()}, body)
    known = vocabularies()
    # the kind the proxy fronts is asked first: Vault claims every /v1/ path, Cloud KMS REST too
    order = sorted(known.items(), key=lambda item: item[0] != default_kind)
    for kind, vocabulary in order:
        operation = vocabulary.recognise(request)
        if operation is not None:
            return Call(kind, operation)
    kind = default_kind if default_kind is not None else kinds.SIGNING_PROXY
    fronted = known.get(kind)
    return Call(kind, fronted.name_request(request) if fronted is not None else request.path)


def corrupt_signature(kind: str | None, status: int, body: bytes, choose: FlipBit) -> bytes | None:
    """``body`` with one bit of its signature flipped, or ``None`` when it carries no signature."""
    vocabulary = vocabularies().get(kind) if kind is not None else None
    if status != 200 or vocabulary is None or vocabulary.corrupt_signature is None:
        return None
    try:
        doc: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or not vocabulary.corrupt_signature(doc, choose):
        return None
    return json.dumps(doc).encode()
