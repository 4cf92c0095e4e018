"""Signing audit events (seed 000): one JSON line per signing operation on ``kmsconform.signing``,
with a correlation id that crosses from a service to its signing proxy."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import pytest
from pytest_kmsconform.reference_impl import signing_events
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.errors import InvalidDigest
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner


def ring_signer() -> RingSigner:
    ring = KeyRing(LocalKeyBackend(seed=b"events"), Algorithm.ED25519, "events")
    ring.rotate()
    return RingSigner(ring)


def test_one_json_line_per_operation(caplog: pytest.LogCaptureFixture) -> None:
    signer = ring_signer()
    digest = hashlib.sha256(b"payload").digest()
    with caplog.at_level(logging.INFO, logger=signing_events.LOGGER):
        with signing_events.correlation("req-42"):
            signature = signer.sign_digest(digest)
        with pytest.raises(InvalidDigest):
            signer.sign_digest(b"short")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == signing_events.LOGGER]
    assert len(lines) == 2
    ok, refused = lines
    assert set(ok) == signing_events.MEMBERS
    assert ok["correlation_id"] == "req-42" and ok["outcome"] == "ok" and ok["event"] == "audit.sign"
    assert (ok["kid"], ok["alg"], ok["backend"], ok["digest"]) == (signature.kid, "ed25519", "local", digest.hex())
    assert refused["outcome"] == "error" and refused["error"] == "InvalidDigest"
    assert refused["correlation_id"] and refused["correlation_id"] != "req-42"  # a fresh one per operation


def test_the_proxy_and_its_client_share_the_correlation_id() -> None:
    from pytest_kmsconform.reference_impl.backends.signing_proxy import signer_from_env

    from pytest_kmsconform import backend_registry

    with backend_registry.get("signing-proxy").start(namespace="ev", port=0, options={}) as handle:
        client = signer_from_env(handle.env)
        with signing_events.capture() as events, signing_events.correlation("svc-7"):
            client.sign_digest(hashlib.sha256(b"x").digest())
        client.close()
    assert [(e["backend"], e["correlation_id"], e["outcome"]) for e in events] == [
        ("local", "svc-7", "ok"),  # the proxy's own key ring, inside the request
        ("signing-proxy", "svc-7", "ok"),  # the service's side
    ]


def test_capture_sees_events_even_when_the_logger_is_quiet() -> None:
    logging.getLogger(signing_events.LOGGER).setLevel(logging.WARNING)
    try:
        with signing_events.capture() as events:
            ring_signer().sign_digest(bytes(32))
        assert len(events) == 1
    finally:
        logging.getLogger(signing_events.LOGGER).setLevel(logging.NOTSET)


def test_no_key_material_in_an_event() -> None:
    secret = "s3cr3t-hmac-key-material-0123456789"
    ring = KeyRing(LocalKeyBackend(seed=secret.encode()), Algorithm.HMAC_SHA256, "mac")
    ring.rotate()
    with signing_events.capture() as events:
        RingSigner(ring).sign_digest(bytes(32))
    text: Any = json.dumps(events)
    assert secret not in text and "d" not in events[0]
