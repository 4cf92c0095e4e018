"""Helpers for the reference-implementation tests: key rings on a fixed clock, stores, archives."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.audit import SqliteAuditStore, export_archive
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner

from pytest_kmsconform import PRODUCER

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_signer(clock: FakeClock) -> Callable[..., RingSigner]:
    def _make(alg: Algorithm = Algorithm.ED25519, label: str = "aureus-signer", seed: bytes = b"s") -> RingSigner:
        ring = KeyRing(LocalKeyBackend(seed=seed), alg, label, clock=clock)
        ring.rotate()
        return RingSigner(ring)

    return _make


@pytest.fixture
def signer(make_signer: Callable[..., RingSigner]) -> RingSigner:
    return make_signer()


@pytest.fixture
def store(tmp_path: Path, signer: RingSigner, clock: FakeClock) -> Iterator[SqliteAuditStore]:
    with SqliteAuditStore(tmp_path / "audit.db", signer, clock=clock) as s:
        yield s


@pytest.fixture
def archive(tmp_path: Path, store: SqliteAuditStore, signer: RingSigner, clock: FakeClock) -> Path:
    """An archive of 10 records, each one second after the previous."""
    for i in range(10):
        clock.advance()
        store.append({"type": "approval", "n": i, "actor": "alice"})
    clock.advance()
    path = tmp_path / "audit.jsonl"
    export_archive(store, path, signer, producer=PRODUCER, clock=clock)
    return path
