"""What the fault machinery must know of one backend kind: a :class:`FaultVocabulary`.

The plan, the proxy and the in-process hook are generic; each kind that the fault proxy can stand
in front of names its vocabulary in the table of kinds (:attr:`pytest_kmsconform.kinds.BackendKind.faults`):
its realistic errors, how its requests are named, where the signature sits in its answers, and
the wire names of the ``KeyBackend`` methods. :func:`vocabularies` loads them from the table.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import BackendErrorCode

from pytest_kmsconform import kinds

from .errors import FaultPlanError

FlipBit = Callable[[int], int]
"""Given a length in bits, which bit to flip (seeded)."""


@dataclass(frozen=True)
class WireError:
    """One error as a backend sends it.

    :param name: the name a plan uses (``ThrottlingException``, ``sealed``, ``SESSIONS_FULL``).
    :param code: its error class, also what an in-process :class:`BackendError` carries.
    :param status: HTTP status.
    :param content_type: response content type.
    :param body: response body.
    :param headers: further response headers (Key Vault's ``Retry-After`` on 429).
    """

    name: str
    code: BackendErrorCode
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Request:
    """One HTTP request as the proxy sees it (``path`` without its query, header names lower-cased)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


def _unrecognised(request: Request) -> str | None:
    return None


def _path(request: Request) -> str:
    return request.path


def _no_wire_name(method: str, alg: Algorithm | None, rotating: bool) -> str | None:
    return None


@dataclass(frozen=True)
class FaultVocabulary:
    """One kind's fault vocabulary.

    :param kind: the kind's name.
    :param errors: its realistic errors (a plan names them).
    :param default_for_class: the error it answers for each class when a plan names another kind's error.
    :param recognise: the operation name of a request unmistakably this kind's (by header or path
        shape), else ``None``; the proxy asks every kind, so one proxy may front any backend.
    :param name_request: the operation name of a request to a proxy known to front this kind
        that no kind recognised (default: the path).
    :param corrupt_signature: flip one bit of the signature in a decoded JSON answer, in place;
        ``True`` when it did. ``None``: signatures cannot be flipped on this kind's wire.
    :param key_backend_operation: the wire name of a ``KeyBackend`` method (``sign``, ``verify``,
        ``create_key``, ``public_key``, ``disable``) for the in-process hook, or ``None``.
    """

    kind: str
    errors: Mapping[str, WireError] = field(default_factory=dict)
    default_for_class: Mapping[BackendErrorCode, str] = field(default_factory=dict)
    recognise: Callable[[Request], str | None] = _unrecognised
    name_request: Callable[[Request], str] = _path
    corrupt_signature: Callable[[Any, FlipBit], bool] | None = None
    key_backend_operation: Callable[[str, Algorithm | None, bool], str | None] = _no_wire_name


def errors_by_name(*errors: WireError) -> dict[str, WireError]:
    return {e.name: e for e in errors}


def vocabularies() -> dict[str, FaultVocabulary]:
    """Every kind's vocabulary, by kind name, in the table's order.

    :raises FaultPlanError: a vocabulary cannot be loaded, or is not a :class:`FaultVocabulary`.
    """
    found: dict[str, FaultVocabulary] = {}
    for kind, support in kinds.with_faults():
        vocabulary = _loaded.get(support.vocabulary)
        if vocabulary is None:
            vocabulary = _load(kind.name, support.vocabulary)
            _loaded[support.vocabulary] = vocabulary
        found[kind.name] = vocabulary
    return found


_loaded: dict[kinds.Ref, FaultVocabulary] = {}


def _load(kind: str, ref: kinds.Ref) -> FaultVocabulary:
    try:
        vocabulary = kinds.resolve(ref)
    except (ImportError, kinds.KindError) as exc:
        raise FaultPlanError(f"the fault vocabulary of {kind} cannot be loaded: {exc}") from None
    if not isinstance(vocabulary, FaultVocabulary) or vocabulary.kind != kind:
        raise FaultPlanError(f"{ref} is not the FaultVocabulary of kind {kind}")
    return vocabulary


def vocabulary(kind: str) -> FaultVocabulary | None:
    return vocabularies().get(kind)


# -- helpers for vocabularies that flip base64 signatures ---------------------------------------
def flip(raw: bytes, choose: FlipBit) -> bytes:
    """``raw`` with one (seeded) bit flipped."""
    if not raw:
        return raw
    bit = choose(len(raw) * 8)
    out = bytearray(raw)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def b64_flip(text: str, choose: FlipBit, *, standard: bool = True) -> str | None:
    """Flip a bit under base64; ``standard=False`` keeps a base64url value (no padding) as it was."""
    urlsafe = not standard and ("-" in text or "_" in text or ("+" not in text and "/" not in text))
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded) if urlsafe else base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw:
        return None
    flipped = flip(raw, choose)
    if urlsafe:
        encoded = base64.urlsafe_b64encode(flipped).decode()
        return encoded if text.endswith("=") else encoded.rstrip("=")
    return base64.b64encode(flipped).decode()
