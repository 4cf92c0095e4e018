"""Signing audit events (seed 000: "signing operations logged with correlation IDs and request
metadata", "export signing audit events to SIEM"): one JSON line per signing operation on the
logger ``kmsconform.signing``.

Each event (``docs/operations.md`` lists the members)::

    {"alg": "ed25519", "backend": "aws-kms", "correlation_id": "6f1c...", "digest": "<hex>",
     "event": "audit.sign", "kid": "aureus-signer-v2", "latency_ms": 3.1, "outcome": "ok",
     "ts": "2026-12-04T16:35:00.000000Z"}

``outcome`` is ``ok`` or ``error`` (then ``error`` names the exception type, never its text: a
backend message may quote a request). An event never holds key material nor the digest's
preimage (the canonical payload): only the digest, which every audit record publishes as its
``hash``. The correlation id is the caller's (:func:`correlation`: the signing proxy takes its
``X-Request-Id``), or a fresh UUID per operation. Route the logger to a SIEM with any handler;
the message is the JSON line.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from .clock import format_time, utc_now

LOGGER = "kmsconform.signing"
EVENT = "audit.sign"
MEMBERS = frozenset({"alg", "backend", "correlation_id", "digest", "event", "kid", "latency_ms", "outcome", "ts"})
"""Members of every event; an ``error`` event also has ``error``."""

log = logging.getLogger(LOGGER)
_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar("kmsconform_correlation_id", default=None)


@contextlib.contextmanager
def correlation(correlation_id: str | None) -> Iterator[str]:
    """Signing events inside the block carry ``correlation_id`` (a fresh UUID when ``None``)."""
    value = correlation_id or str(uuid.uuid4())
    token = _correlation.set(value)
    try:
        yield value
    finally:
        _correlation.reset(token)


def current_correlation() -> str | None:
    """The correlation id of the enclosing :func:`correlation` block, if any."""
    return _correlation.get()


class SigningTimer:
    """Times one signing operation and emits its event: ``with SigningTimer(backend, alg) as t: ...``;
    set ``t.kid`` once known. An exception leaving the block is logged as ``outcome: error``."""

    def __init__(self, backend: str, alg: str, kid: str, digest: bytes) -> None:
        self.backend, self.alg, self.kid, self.digest = backend, alg, kid, digest
        self._start = 0.0

    def __enter__(self) -> SigningTimer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is not None and not issubclass(exc_type, Exception):
            return  # KeyboardInterrupt and the like: no operation outcome to report
        event: dict[str, Any] = {
            "event": EVENT,
            "ts": format_time(utc_now()),
            "correlation_id": _correlation.get() or str(uuid.uuid4()),
            "kid": self.kid,
            "alg": self.alg,
            "backend": self.backend,
            "digest": self.digest.hex(),
            "outcome": "ok" if exc_type is None else "error",
            "latency_ms": round((time.perf_counter() - self._start) * 1000, 3),
        }
        if exc_type is not None:
            event["error"] = exc_type.__name__
        log.info(json.dumps(event, sort_keys=True))


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.events.append(json.loads(record.getMessage()))
        except ValueError:
            self.events.append({"unparsable": record.getMessage()})


@contextlib.contextmanager
def capture() -> Iterator[list[dict[str, Any]]]:
    """Collect the events emitted in this process while the block runs (tests, conformance checks)."""
    handler = _Collector()
    previous = log.level
    log.addHandler(handler)
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    try:
        yield handler.events
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)
