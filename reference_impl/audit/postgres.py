"""PostgreSQL audit store: the same :class:`~.store.AuditStore` protocol as SQLite, for many writers.

``append`` is one transaction: ``SELECT ... FOR UPDATE`` on the single row of the head table (this
row lock serialises appenders across connections, threads and processes), compute the digest,
sign, insert the record, move the head, commit. Signing happens before the commit; if it raises,
the transaction is rolled back and nothing is written. ``seq`` is the primary key and
``prev_hash`` is unique, so even a writer that bypassed the head lock could not fork the chain.

A commit whose outcome is unknown (the connection died during ``COMMIT``) raises
:class:`~..errors.AuditStoreError` saying so; the caller must not assume the record is absent.
Needs psycopg 3 (extra ``postgres``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from ..clock import Clock, utc_now
from ..errors import AuditStoreError
from ..signature import Signature
from ..signer import Signer
from .chain import ChainedStore
from .records import AuditRecord
from .store import _row_to_record

PAGE = 1000
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
_SCHEMA_LOCK_KEY = 0x6B6D73636F6E66  # any constant: serialises concurrent schema creation


class PostgresAuditStore(ChainedStore):
    """The audit chain in a PostgreSQL table. Safe across threads (one connection each) and processes.

    :param dsn: a libpq connection string or URL.
    :param signer: signs each record's digest before the commit.
    :param table: table name (lower-case identifier); the head row lives in ``<table>_head``.
    :param clock: gives ``ts`` when :meth:`append` is not given one.
    :param lock_timeout: seconds an appender waits for another one's head lock.
    """

    def __init__(
        self,
        dsn: str,
        signer: Signer,
        *,
        table: str = "audit_records",
        clock: Clock = utc_now,
        lock_timeout: float = 60.0,
    ) -> None:
        if not _IDENT.match(table):
            raise AuditStoreError(f"table name {table!r} is not a plain lower-case identifier")
        self.dsn = dsn
        self.signer = signer
        self._clock = clock
        self._lock_timeout_ms = int(lock_timeout * 1000)
        self._table = sql.Identifier(table)
        self._head = sql.Identifier(f"{table}_head")
        self._local = threading.local()
        self._all: list[psycopg.Connection[tuple[Any, ...]]] = []
        self._all_lock = threading.Lock()
        self._closed = False
        self._create_schema()

    def _conn(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._closed:
            raise AuditStoreError("the audit store is closed")
        conn: psycopg.Connection[tuple[Any, ...]] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            try:
                conn = psycopg.connect(self.dsn, autocommit=False)
            except psycopg.Error as exc:
                raise AuditStoreError(f"cannot connect to PostgreSQL: {type(exc).__name__}") from None
            conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(self._lock_timeout_ms)))
            conn.commit()
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _create_schema(self) -> None:
        conn = self._conn()
        with conn.transaction():
            # CREATE TABLE IF NOT EXISTS races between processes; an advisory lock makes it safe.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (seq BIGINT PRIMARY KEY CHECK (seq >= 0), ts TEXT NOT NULL, "
                    "payload TEXT NOT NULL, prev_hash TEXT UNIQUE, hash TEXT NOT NULL UNIQUE, kid TEXT NOT NULL, "
                    "alg TEXT NOT NULL, sig BYTEA NOT NULL)"
                ).format(self._table)
            )
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (id SMALLINT PRIMARY KEY CHECK (id = 1), "
                    "seq BIGINT NOT NULL, hash TEXT)"
                ).format(self._head)
            )
            conn.execute(sql.SQL("INSERT INTO {} VALUES (1, -1, NULL) ON CONFLICT (id) DO NOTHING").format(self._head))

    def _locked_head(self, conn: psycopg.Connection[tuple[Any, ...]]) -> tuple[int, str | None]:
        row = conn.execute(sql.SQL("SELECT seq, hash FROM {} WHERE id = 1 FOR UPDATE").format(self._head)).fetchone()
        if row is None:
            raise AuditStoreError("audit head row is missing")
        return int(row[0]) + 1, row[1]

    def _insert(
        self,
        conn: psycopg.Connection[tuple[Any, ...]],
        seq: int,
        stamp: str,
        canonical: bytes,
        prev_hash: str | None,
        digest: str,
        signature: Signature,
    ) -> None:
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (seq, ts, payload, prev_hash, hash, kid, alg, sig) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
            ).format(self._table),
            (
                seq,
                stamp,
                canonical.decode("utf-8"),
                prev_hash,
                digest,
                signature.kid,
                signature.alg.value,
                signature.value,
            ),
        )
        conn.execute(sql.SQL("UPDATE {} SET seq = %s, hash = %s WHERE id = 1").format(self._head), (seq, digest))

    def _commit(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        try:
            conn.commit()
        except psycopg.OperationalError as exc:
            raise AuditStoreError(f"commit outcome unknown (connection lost): {type(exc).__name__}") from None

    def _rollback(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        if not conn.closed:
            try:
                conn.rollback()
            except psycopg.Error:
                conn.close()

    # -- writing (append and import live in ChainedStore) ----------------------------------
    @contextmanager
    def _head_locked(self, action: str) -> Iterator[tuple[psycopg.Connection[tuple[Any, ...]], int, str | None]]:
        conn = self._conn()
        try:
            seq, prev_hash = self._locked_head(conn)
            yield conn, seq, prev_hash
        except psycopg.Error as exc:
            self._rollback(conn)
            raise AuditStoreError(f"{action} failed, nothing written: {type(exc).__name__}: {exc.sqlstate}") from None
        except BaseException:
            self._rollback(conn)
            raise
        self._commit(conn)

    # -- reading ---------------------------------------------------------------------------
    def _select(self, where: sql.Composable, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        conn = self._conn()
        try:
            query = sql.SQL("SELECT seq, ts, payload, prev_hash, hash, kid, alg, sig FROM {} ").format(self._table)
            rows = conn.execute(query + where, params).fetchall()
        finally:
            conn.rollback()  # end the read transaction: no snapshot held between pages
        return rows

    def records(self, start: int = 0) -> Iterator[AuditRecord]:
        next_seq = start
        while True:
            rows = self._select(sql.SQL("WHERE seq >= %s ORDER BY seq LIMIT %s"), (next_seq, PAGE))
            for row in rows:
                yield _row_to_record(row)
            if len(rows) < PAGE:
                return
            next_seq = rows[-1][0] + 1

    def head(self) -> AuditRecord | None:
        rows = self._select(sql.SQL("ORDER BY seq DESC LIMIT 1"), ())
        return _row_to_record(rows[0]) if rows else None

    def count(self) -> int:
        conn = self._conn()
        try:
            row = conn.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(self._table)).fetchone()
        finally:
            conn.rollback()
        return int(row[0]) if row is not None else 0

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._closed = True

    def __enter__(self) -> PostgresAuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
