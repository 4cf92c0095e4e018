"""Mutants of the air-gapped verifier (docs/spec.md sections 3 and 7). Defects that make the
verifier *accept more* replace it where the reference adapter builds it
(``reference_adapter:Verifier``), so the reference verifier the suites judge with stays strict."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

from pytest_kmsconform.mutation import mutant

ADAPTER_VERIFIER = "pytest_kmsconform.reference_adapter:Verifier"


@mutant(
    ADAPTER_VERIFIER,
    bug="kid as a hint: an unknown kid falls back to trying every published key of its alg",
    violates="docs/spec.md section 3 (an unknown kid is UNKNOWN_KEY); seed 000 (key-version identifier)",
    select="unpublished or unknown",
    fast=True,
)
def kid_as_hint(Verifier: Any) -> Any:
    from pytest_kmsconform.reference_impl.errors import KmsConformError, UnknownKey

    class Mutant(Verifier):  # type: ignore[misc,valid-type]
        def _verify(self, kid: str, alg: str, digest: bytes, value: bytes, at: Any) -> None:
            try:
                super()._verify(kid, alg, digest, value, at)
            except UnknownKey:
                for entry in self.keys:
                    if entry.alg == alg:
                        with contextlib.suppress(KmsConformError):
                            super()._verify(entry.kid, alg, digest, value, at)
                            return
                raise

    return Mutant


@mutant(
    ADAPTER_VERIFIER,
    bug="archive: records_sha256 is computed but never compared",
    violates="docs/spec.md section 6 (records_sha256 authenticates every byte, ts included)",
    select="ts_changed or reformatted or intact",
)
def records_sha256_unchecked(Verifier: Any) -> Any:
    class Mutant(Verifier):  # type: ignore[misc,valid-type]
        def _check_checkpoint(self, chain: Any, checkpoint: Any, count: int, head: Any, records_sha256: str) -> None:
            actual = checkpoint.records_sha256 if checkpoint is not None else records_sha256
            super()._check_checkpoint(chain, checkpoint, count, head, actual)

    return Mutant


@mutant(
    "pytest_kmsconform.reference_impl.verifier:open_lines",
    bug="archive: lines are normalised (parsed and re-canonicalized) before they are hashed",
    violates="docs/spec.md section 6 (a verifier hashes the bytes it reads: re-formatting is detected)",
    select="reformatted or intact",
)
def normalised_lines(open_lines: Any) -> Any:
    from pytest_kmsconform.reference_impl.canonical import canonicalize_payload, loads_canonical

    @contextlib.contextmanager
    def normalising(source: Any) -> Iterator[Iterator[bytes]]:
        with open_lines(source) as lines:
            yield (canonicalize_payload(loads_canonical(line)) if line.strip() else line for line in lines)

    return normalising


def _digest_tried_first(Verifier: Any, hashed_bytes: Any) -> Any:
    """A verifier that accepts a record when ``hashed_bytes(payload, line)`` hashes to its ``hash``,
    and only otherwise asks the reference (so a digest over those look-alike bytes passes)."""
    from pytest_kmsconform.reference_impl.audit.record_lines import fast_fields
    from pytest_kmsconform.reference_impl.canonical import audit_digest

    class Mutant(Verifier):  # type: ignore[misc,valid-type]
        def _check_record(self, index: int, obj: Any, results: list[Any], line: bytes) -> Any:
            fields = fast_fields(obj)
            if fields is not None:
                seq, ts, payload, prev_hash, hash_, kid, alg, value = fields
                digest = audit_digest(hashed_bytes(payload, line), prev_hash)
                if digest.hex() == hash_:
                    return (seq, prev_hash, hash_), (index, kid, alg, digest, value, ts)
            return super()._check_record(index, obj, results, line)

    return Mutant


@mutant(
    ADAPTER_VERIFIER,
    bug="digest: the payload's bytes as written in the line are hashed, not its RFC 8785 form",
    violates="seed 001 (Digest formula); docs/spec.md sections 4 and 7 (HASH_MISMATCH); RFC 8785",
    select="lookalike or intact",
)
def hashes_payload_as_written(Verifier: Any) -> Any:
    def as_written(payload: Any, line: bytes) -> bytes:
        return line[line.find(b'"payload":') + len(b'"payload":') : line.rfind(b',"prev_hash":')]

    return _digest_tried_first(Verifier, as_written)


@mutant(
    ADAPTER_VERIFIER,
    bug="digest: sorted json.dumps of the payload is tried first, RFC 8785 only when that does not match",
    violates="seed 001 (Digest formula); docs/spec.md sections 4 and 7 (HASH_MISMATCH); RFC 8785",
    select="lookalike or intact",
)
def accepts_sorted_json_dumps(Verifier: Any) -> Any:
    def dumped(payload: Any, line: bytes) -> bytes:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    return _digest_tried_first(Verifier, dumped)


@mutant(
    ADAPTER_VERIFIER,
    bug="format: hash and prev_hash are read case-insensitively (upper-case hex passes as the same digest)",
    violates="docs/spec.md section 4 (hashes are 64 lower-case hex characters) and section 7",
    select="upper or intact",
)
def ignores_hex_case(Verifier: Any) -> Any:
    class Mutant(Verifier):  # type: ignore[misc,valid-type]
        def _check_record(self, index: int, obj: Any, results: list[Any], line: bytes) -> Any:
            if isinstance(obj, dict):
                for name in ("hash", "prev_hash"):
                    if isinstance(obj.get(name), str) and obj[name] != obj[name].lower():
                        line = line.replace(obj[name].encode(), obj[name].lower().encode())
                        obj = {**obj, name: obj[name].lower()}
            return super()._check_record(index, obj, results, line)

    return Mutant


@mutant(
    ADAPTER_VERIFIER,
    bug="lifecycle: not_after is ignored (a retired key verifies forever)",
    violates="seed 000 (retire old keys after expiration); docs/spec.md section 3 rule 2",
    select="rotation",
)
def ignores_not_after(Verifier: Any) -> Any:
    from dataclasses import replace

    class Mutant(Verifier):  # type: ignore[misc,valid-type]
        def __init__(self, jwks: Any, **kwargs: Any) -> None:
            super().__init__(jwks, **kwargs)
            entries = {e.kid: replace(e, not_after=None) for e in self.keys}
            self.keys._entries = entries
            self._ed25519 = {k: (e, e.ed25519_raw) for k, e in entries.items() if e.ed25519_raw is not None}

    return Mutant


@mutant(
    ADAPTER_VERIFIER,
    bug="lifecycle: revoked_at is ignored (only the validity window is checked)",
    violates="seed 000 (Revocation); docs/spec.md section 3 rule 1",
    select="revocation",
)
def ignores_revocation(Verifier: Any) -> Any:
    from dataclasses import replace

    from pytest_kmsconform.reference_impl.keyring import KeyStatus

    class Mutant(Verifier):  # type: ignore[misc,valid-type]
        def __init__(self, jwks: Any, **kwargs: Any) -> None:
            super().__init__(jwks, **kwargs)
            entries = {e.kid: replace(e, revoked_at=None, status=KeyStatus.ACTIVE) for e in self.keys}
            self.keys._entries = entries
            self._ed25519 = {k: (e, e.ed25519_raw) for k, e in entries.items() if e.ed25519_raw is not None}

    return Mutant


@mutant(
    ADAPTER_VERIFIER,
    bug="archive: a checkpoint counting more records than present is not reported TRUNCATED",
    violates="docs/spec.md section 7 (TRUNCATED); RFC 9162 section 2.1.4",
    select="truncated or intact",
)
def truncation_unreported(Verifier: Any) -> Any:
    from dataclasses import replace

    class Mutant(Verifier):  # type: ignore[misc,valid-type]
        def _check_checkpoint(self, chain: Any, checkpoint: Any, count: int, head: Any, records_sha256: str) -> None:
            if checkpoint is not None and checkpoint.count > count:
                checkpoint = replace(checkpoint, count=count, head_hash=head, records_sha256=records_sha256)
            super()._check_checkpoint(chain, checkpoint, count, head, records_sha256)

    return Mutant


@mutant(
    "pytest_kmsconform.reference_impl.findings:ChainState._check_link",
    bug="findings: a broken link is reported at the previous record's index",
    violates="docs/spec.md section 7 (index of the first record that shows the problem)",
    select="test_audit",
)
def chain_index_off_by_one(original: Any) -> Any:
    def _check_link(self: Any, index: int, seq: int, prev_hash: Any) -> None:
        original(self, max(index - 1, 0), seq, prev_hash)

    return _check_link


@mutant(
    ADAPTER_VERIFIER,
    bug="fast path: a canonical ed25519 line whose hash matches is trusted without its signature",
    violates="seed 001 (Verification: verify signature); docs/spec.md section 7 (BAD_SIGNATURE)",
    select="bad_signature or changed_signature",
)
def fast_path_skips_signature(Verifier: Any) -> Any:
    class Mutant(Verifier):  # type: ignore[misc,valid-type]
        def _verify_fast(self, record: Any) -> bool:
            return record.kid in self._ed25519

    return Mutant


@mutant(
    ADAPTER_VERIFIER,
    bug="air gap: the verifier fetches a revocation list first (failure swallowed)",
    violates="seed 002 (Air-gap guarantee: zero KMS calls at verification time)",
    select="airgap",
)
def phones_home(Verifier: Any) -> Any:
    class Mutant(Verifier):  # type: ignore[misc,valid-type]
        def __init__(self, jwks: Any, **kwargs: Any) -> None:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", 9), timeout=0.2).close()
            super().__init__(jwks, **kwargs)

    return Mutant


@mutant(
    "pytest_kmsconform.cli.verify_archive:VerifyArchiveCommand.run",
    bug="verifier process: prints the findings but exits 0",
    violates="docs/spec.md section 7 (exit 1 on any finding); issue 7 (verifier processes)",
    select="verifier_process_offline and ed25519",
    fast=True,
)
def verifier_command_exit_zero(original: Any) -> Any:
    def run(self: Any, args: Any) -> int:
        status = original(self, args)
        return 0 if status == 1 else int(status)

    return run
