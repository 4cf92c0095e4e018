"""Audit stores: append-only, hash-chained, signed before commit (seed 001's audit flow).

:class:`SqliteAuditStore` is the embedded default. ``append`` runs in one ``BEGIN IMMEDIATE``
transaction: read the head, compute the digest, sign, insert, commit. ``BEGIN IMMEDIATE`` takes
SQLite's write lock before the head is read, so appenders in other threads or processes wait and
then link onto the new head (appenders of one process queue on a lock per file first: SQLite's busy
handler polls in sleeps of up to 100 ms, a lock hands over at once): the chain never forks (``seq``
is the primary key and ``prev_hash`` is unique as a second guard). If signing raises, the
transaction is rolled back and the error re-raised: nothing is written.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ..algorithms import Algorithm
from ..canonical import loads_canonical
from ..clock import Clock, utc_now
from ..errors import AuditStoreError
from ..signature import Signature
from ..signer import Signer
from .chain import ChainedStore
from .records import AuditRecord

PAGE = 1000

_writer_locks: dict[str, threading.Lock] = {}
_writer_locks_guard = threading.Lock()


def _writer_lock(path: str) -> threading.Lock:
    """The lock the appenders of this process take before SQLite's, one per database file."""
    key = os.path.realpath(path)
    with _writer_locks_guard:
        return _writer_locks.setdefault(key, threading.Lock())


@runtime_checkable
class AuditStore(Protocol):
    """What the audit chain, the archive tools and the conformance suites need from a store."""

    def append(self, payload: Any, *, ts: str | datetime | None = None) -> AuditRecord:
        """Canonicalize, chain, sign, then commit ``payload``; nothing is written if signing fails."""
        ...

    def append_record(self, record: AuditRecord) -> None:
        """Append an already signed record (archive import); it must link onto the head."""
        ...

    def records(self, start: int = 0) -> Iterator[AuditRecord]:
        """Records with ``seq >= start`` in order, streamed."""
        ...

    def head(self) -> AuditRecord | None: ...

    def count(self) -> int: ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_records (
    seq INTEGER PRIMARY KEY CHECK (seq >= 0),
    ts TEXT NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT UNIQUE,
    hash TEXT NOT NULL UNIQUE,
    kid TEXT NOT NULL,
    alg TEXT NOT NULL,
    sig BLOB NOT NULL
)
"""

_COLUMNS = "seq, ts, payload, prev_hash, hash, kid, alg, sig"


def _row_to_record(row: tuple[Any, ...]) -> AuditRecord:
    seq, ts, payload, prev_hash, hash_, kid, alg, sig = row
    return AuditRecord(
        seq=seq,
        ts=ts,
        payload=loads_canonical(payload),
        prev_hash=prev_hash,
        hash=hash_,
        signature=Signature(kid=kid, alg=Algorithm(alg), value=bytes(sig)),
    )


class SqliteAuditStore(ChainedStore):
    """The audit chain in one SQLite file (WAL mode). Safe across threads and processes.

    :param path: the database file (created if missing).
    :param signer: signs each record's digest before the commit.
    :param clock: gives ``ts`` when :meth:`append` is not given one.
    :param busy_timeout: seconds an appender waits for another one's write lock.
    """

    def __init__(
        self, path: str | os.PathLike[str], signer: Signer, *, clock: Clock = utc_now, busy_timeout: float = 60.0
    ) -> None:
        self.path = os.fspath(path)
        self.signer = signer
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        self._writer = _writer_lock(self.path)
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise AuditStoreError("the audit store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # One connection per thread; isolation_level=None: we issue BEGIN/COMMIT ourselves.
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    # -- writing (append and import live in ChainedStore) ----------------------------------
    @contextmanager
    def _head_locked(self, action: str) -> Iterator[tuple[sqlite3.Connection, int, str | None]]:
        conn = self._conn()
        if not self._writer.acquire(timeout=self._busy_timeout):
            raise AuditStoreError(f"{action}: another appender held {self.path} for over {self._busy_timeout:g}s")
        try:
            conn.execute("BEGIN IMMEDIATE")  # SQLite's write lock before the head is read: no fork
            try:
                row = conn.execute("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
                yield (conn, 0, None) if row is None else (conn, row[0] + 1, row[1])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            self._writer.release()

    def _insert(
        self,
        conn: sqlite3.Connection,
        seq: int,
        ts: str,
        canonical: bytes,
        prev_hash: str | None,
        digest: str,
        signature: Signature,
    ) -> None:
        conn.execute(
            f"INSERT INTO audit_records ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                seq,
                ts,
                canonical.decode("utf-8"),
                prev_hash,
                digest,
                signature.kid,
                signature.alg.value,
                signature.value,
            ),
        )

    # -- reading ---------------------------------------------------------------------------
    def records(self, start: int = 0) -> Iterator[AuditRecord]:
        # Pages by seq: no read transaction stays open between pages, memory stays flat.
        conn = self._conn()
        next_seq = start
        while True:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM audit_records WHERE seq >= ? ORDER BY seq LIMIT ?", (next_seq, PAGE)
            ).fetchall()
            for row in rows:
                yield _row_to_record(row)
            if len(rows) < PAGE:
                return
            next_seq = rows[-1][0] + 1

    def head(self) -> AuditRecord | None:
        row = self._conn().execute(f"SELECT {_COLUMNS} FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else _row_to_record(row)

    def count(self) -> int:
        row = self._conn().execute("SELECT COUNT(*) FROM audit_records").fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._closed = True

    def __enter__(self) -> SqliteAuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
