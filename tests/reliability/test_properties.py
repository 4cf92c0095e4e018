"""Property tests (hypothesis) over every input surface: only typed errors, never a crash or a hang;
the proxy never answers 5xx; the YubiHSM device always answers a well-formed frame.

CI runs ``KMSCONFORM_PROPERTY_EXAMPLES`` examples per property (default 150); the long runs are
``fuzz/run_long.py`` and ``fuzz/fuzz_target.py`` (figures in ``docs/reliability.md``).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_kmsconform import fuzzing

EXAMPLES = int(os.environ.get("KMSCONFORM_PROPERTY_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)


@SETTINGS
@given(json_values)
def test_canonicalization_is_idempotent_or_typed(value: Any) -> None:
    fuzzing.check_canonical_value(value)


def test_integral_float_beyond_2_53_survives_store_and_verify(tmp_path: Any) -> None:
    from pytest_kmsconform.reference_impl.algorithms import Algorithm
    from pytest_kmsconform.reference_impl.audit.store import SqliteAuditStore
    from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
    from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
    from pytest_kmsconform.reference_impl.verifier import Verifier

    ring = KeyRing(LocalKeyBackend(seed=b"f"), Algorithm.ED25519, "f")
    ring.rotate()
    with SqliteAuditStore(tmp_path / "a.db", RingSigner(ring)) as store:
        store.append({"amount": 2.0**53})
        assert Verifier(ring.jwks()).verify_records(store.records()) == []


@SETTINGS
@given(st.binary(max_size=2048))
def test_random_bytes_as_an_archive(data: bytes) -> None:
    fuzzing.check_archive_bytes(data)


@SETTINGS
@given(st.binary(min_size=1, max_size=64))
def test_mutated_archives(data: bytes) -> None:
    fuzzing.archive_mutation_target(data)


def test_the_unmutated_archive_verifies_clean() -> None:
    """The mutation target's seed is a valid archive: its findings list is empty (the harness works)."""
    import io

    from pytest_kmsconform.reference_impl.verifier import Verifier

    seed, jwks = fuzzing._archive_seed()
    assert Verifier(jwks).verify_archive(io.BytesIO(seed)) == []
    assert Verifier(jwks).verify_archive(io.BytesIO(seed[:-40])) != []


jwk_members = st.fixed_dictionaries(
    {},
    optional={
        "kty": st.sampled_from(["OKP", "EC", "RSA", "oct", "x"]) | st.text(max_size=4),
        "crv": st.sampled_from(["Ed25519", "P-256", "P-384", "X25519"]) | st.text(max_size=4),
        "x": st.text(max_size=60),
        "y": st.text(max_size=60),
        "n": st.text(max_size=60),
        "e": st.sampled_from(["AQAB", "Aw", "", "AA"]),
        "d": st.text(max_size=10),
        "k": st.text(max_size=10),
        "kid": st.text(max_size=10),
        "alg": st.sampled_from(["ed25519", "rsa-sha256", "ecdsa-p256-sha256", "hmac-sha256", "none"]),
        "status": st.sampled_from(["pending", "active", "retired", "revoked", "weird"]),
        "not_before": st.sampled_from(["2024-01-01T00:00:00Z", "yesterday", "2024-01-01T00:00:00"]),
        "revoked_at": st.sampled_from(["2024-01-01T00:00:00Z", "x"]),
        "use": st.sampled_from(["sig", "enc"]),
    },
)


@SETTINGS
@given(st.one_of(json_values, st.fixed_dictionaries({"keys": st.lists(jwk_members | json_values, max_size=3)})))
def test_jwks_parsing_and_verification_are_typed(value: Any) -> None:
    kid = "x"
    if isinstance(value, dict) and isinstance(value.get("keys"), list) and value["keys"]:
        first = value["keys"][0]
        if isinstance(first, dict) and isinstance(first.get("kid"), str):
            kid = first["kid"]
    fuzzing.check_jwks_value(value, kid)


@SETTINGS
@given(st.binary(min_size=1, max_size=64))
def test_mutated_jwks(data: bytes) -> None:
    fuzzing.jwks_mutation_target(data)


@SETTINGS
@given(
    method=st.sampled_from(fuzzing.PROXY_METHODS),
    path=st.sampled_from(fuzzing.PROXY_PATHS) | st.text(max_size=20).map(lambda t: "/" + t),
    ctype=st.sampled_from(fuzzing.PROXY_TYPES),
    credential=st.sampled_from(["k", "a", "", "x"]),
    body=st.binary(max_size=300)
    | st.dictionaries(
        st.sampled_from(["digest_hex", "signature", "canonical", "prev_hash", "kid", "reason"]),
        json_values,
        max_size=3,
    ).map(lambda d: json.dumps(d).encode()),
)
def test_proxy_request_handling_never_5xx(method: str, path: str, ctype: str, credential: str, body: bytes) -> None:
    headers = {"content-type": ctype, "content-length": str(len(body)), "x-api-key": credential}
    fuzzing.check_proxy_request(method, path, headers, body)


@SETTINGS
@given(st.binary(max_size=300))
def test_proxy_fuzz_target(data: bytes) -> None:
    fuzzing.proxy_target(data)


@SETTINGS
@given(
    st.binary(max_size=600)
    | st.tuples(st.integers(0, 255), st.binary(max_size=200)).map(
        lambda t: bytes([t[0]]) + len(t[1]).to_bytes(2, "big") + t[1]
    )
)
def test_yubihsm_device_answers_every_frame(frame: bytes) -> None:
    fuzzing.yubihsm_frame_target(frame)


@SETTINGS
@given(st.binary(min_size=1, max_size=200))
def test_yubihsm_scp03_session_layer(data: bytes) -> None:
    pytest.importorskip("yubihsm")
    fuzzing.yubihsm_session_target(data)


def test_yubihsm_junk_gets_an_error_frame() -> None:
    answer = fuzzing._device().handle(b"\x99\x00\x00")
    assert answer[0] == 0x7F and answer[1:3] == b"\x00\x01"


@SETTINGS
@given(st.binary(max_size=300))
def test_subprocess_protocol_answers(data: bytes) -> None:
    fuzzing.protocol_target(data)


@pytest.mark.parametrize(
    "garbage",
    [b"not json", b"[" * 200_000, b'{"id": 99, "ok": true}', b"\xff\xfe", b'{"id": 1, "ok": "yes"}', b"[]"],
    ids=["text", "deep-nesting", "wrong-id", "not-utf8", "bad-schema", "not-object"],
)
def test_a_child_printing_garbage_is_a_protocol_violation(garbage: bytes, tmp_path: Any) -> None:
    """A real child process answering junk: the host raises ProtocolViolation promptly, never hangs."""
    import sys
    import time

    from pytest_kmsconform.adapters.cmd.child import ChildProcess
    from pytest_kmsconform.adapters.cmd.errors import ProtocolViolation

    script = tmp_path / "child.py"
    script.write_text(
        "import sys\n"
        "sys.stdin.readline()\n"
        f"sys.stdout.buffer.write({garbage!r} + b'\\n')\n"
        "sys.stdout.flush()\n"
        "sys.stdin.readline()\n"
    )
    child = ChildProcess([sys.executable, str(script)], timeout_s=10, callback=lambda message: {})
    start = time.monotonic()
    try:
        with pytest.raises(ProtocolViolation):
            child.request("hello", protocol=1)
    finally:
        child.close(grace_s=1)
    assert time.monotonic() - start < 10
