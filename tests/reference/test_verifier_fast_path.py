"""The verifier's fast path judges every line exactly as the general path; workers start safely."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pytest_kmsconform.reference_impl import verifier as verifier_module
from pytest_kmsconform.reference_impl import verify_pool
from pytest_kmsconform.reference_impl.audit import record_lines
from pytest_kmsconform.reference_impl.canonical import audit_digest, canonicalize_payload
from pytest_kmsconform.reference_impl.clock import format_time
from pytest_kmsconform.reference_impl.errors import CanonicalizationError
from pytest_kmsconform.reference_impl.keyring import RingSigner
from pytest_kmsconform.reference_impl.verifier import Verifier

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
payloads = st.dictionaries(
    st.text(max_size=6),
    st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner)),
    max_size=4,
)
TS = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)  # one second after the conftest key ring's clock start
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def record_line(signer: RingSigner, payload: Any, seq: int = 0, prev_hash: str | None = None) -> bytes:
    digest = audit_digest(canonicalize_payload(payload), prev_hash).hex()
    record = {
        "hash": digest,
        "payload": payload,
        "prev_hash": prev_hash,
        "seq": seq,
        "signature": signer.sign_digest(bytes.fromhex(digest)).to_json(),
        "ts": format_time(TS),
    }
    return canonicalize_payload(record)


def both_paths(verifier: Verifier, lines: list[bytes], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    fast = verifier.check_lines(0, lines)
    with monkeypatch.context() as patch:
        patch.setattr(verifier_module, "fast_record", lambda line: None)
        general = verifier.check_lines(0, lines)
    return fast, general


def test_an_exported_line_takes_the_fast_path(signer: RingSigner) -> None:
    line = record_line(signer, {"a": 1, "s": "\u20ac\u2028", "f": 1.5, "n": [None, True]})
    fast = record_lines.fast_record(line)
    assert fast is not None and fast.seq == 0 and fast.prev_hash is None
    assert Verifier(signer.jwks()).check_lines(0, [line]) == ((0, None), (0, fast.hash), {})


@pytest.mark.parametrize(
    "edit",
    [
        lambda line: line.replace(b'"seq":0', b'"seq":1000000000000000'),  # beyond the fast path's 15 digits
        lambda line: line.replace(b'"payload":{', b'"payload": {'),  # not canonical
        lambda line: line.replace(b'"ts":"', b'"ts":"\\u0032'),  # an escape in ts
        lambda line: line[:-1] + b',"payload":{}}',  # a second payload member
        lambda line: line.replace(b'"a":1', b'"a":NaN'),
        lambda line: line.replace(b'"prev_hash":null', b'"prev_hash":"' + b"A" * 64 + b'"'),
        lambda line: line + b" ",
    ],
)
def test_edited_lines_leave_the_fast_path(signer: RingSigner, edit: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    line = edit(record_line(signer, {"a": 1}))
    assert record_lines.fast_record(line) is None
    fast, general = both_paths(Verifier(signer.jwks()), [line], monkeypatch)
    assert fast == general


@SETTINGS
@given(payload=payloads)
def test_fast_and_general_paths_agree_on_valid_lines(
    signer: RingSigner, payload: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        first = record_line(signer, payload)
    except CanonicalizationError:
        assume(False)
        return
    second = record_line(
        signer, {"next": payload}, seq=1, prev_hash=audit_digest(canonicalize_payload(payload), None).hex()
    )
    fast, general = both_paths(Verifier(signer.jwks()), [first, second], monkeypatch)
    assert fast == general == ((0, None), (1, fast[1][1]), {})  # type: ignore[index]


@SETTINGS
@given(at=st.integers(min_value=0), data=st.binary(min_size=1, max_size=3), cut=st.integers(min_value=0, max_value=3))
def test_fast_and_general_paths_agree_on_mutated_lines(
    signer: RingSigner, at: int, data: bytes, cut: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = record_line(signer, {"actor": "alice", "n": 7, "tags": ["x", 2.5]})
    at %= len(line)
    mutated = line[:at] + data + line[at + cut :]
    fast, general = both_paths(Verifier(signer.jwks()), [mutated, line], monkeypatch)
    assert fast == general


@pytest.mark.parametrize("where", ["fast", "general"])
def test_signed_bytes_that_are_not_one_payload_value_are_a_hash_mismatch(
    signer: RingSigner, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signer hashes ``{"a":1},"payload":{"actor":"mallory"}``: the parser sees the second payload,
    which is not what was signed, so the verifier must not accept the record (and a line with two
    payload members is not canonical either)."""
    smuggled = b'{"a":1},"payload":{"actor":"mallory"}'
    digest = audit_digest(smuggled, None).hex()
    signature = canonicalize_payload(signer.sign_digest(bytes.fromhex(digest)).to_json())
    forged = b'{"hash":"%s","payload":%s,"prev_hash":null,"seq":0,"signature":%s,"ts":"%s"}' % (
        digest.encode(),
        smuggled,
        signature,
        format_time(TS).encode(),
    )
    if where == "general":
        monkeypatch.setattr(verifier_module, "fast_record", lambda line: None)
    _, _, findings = Verifier(signer.jwks()).check_lines(0, [forged])
    assert set(findings) == {verifier_module.FindingCode.HASH_MISMATCH, verifier_module.FindingCode.FORMAT_ERROR}


def test_workers_from_the_fork_server_when_threads_run(
    archive: Path, signer: RingSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forking a process with threads is unsafe: then workers come from the fork server, same findings."""
    monkeypatch.setattr(verify_pool.threading, "active_count", lambda: 2)
    assert verify_pool._context().get_start_method() in {"forkserver", "spawn"}
    lines = archive.read_bytes().split(b"\n")
    lines[1 + 4] = lines[1 + 4].replace(b'"alice"', b'"mallory"')
    tampered = archive.with_name("tampered.jsonl")
    tampered.write_bytes(b"\n".join(lines))
    verifier = Verifier(signer.jwks())
    assert verifier.verify_archive(archive, workers=2) == []
    assert verifier.verify_archive(tampered, workers=2) == verifier.verify_archive(tampered)
    assert {f.code for f in verifier.verify_archive(tampered, workers=2)} >= {verifier_module.FindingCode.HASH_MISMATCH}
