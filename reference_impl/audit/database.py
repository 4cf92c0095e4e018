"""An audit database opened by URL, without a signer: what the operator's tools read and record.

``kmsconform verify-db`` and ``kmsconform archive`` (seed 001's ``verifyTool`` and ``archiver``)
work on the stores' own schema (:mod:`.store`, :mod:`.postgres`): the ``audit_records`` table and,
next to it, the archive index ``audit_archives`` (``<table>_archives`` in PostgreSQL) that the
archiver writes: one row per archive object, holding its signed checkpoint (``docs/spec.md`` §6a).

URLs: ``sqlite:///audit.db`` (relative) or ``sqlite:////abs/audit.db`` as SQLAlchemy spells them, or a
plain file path, and ``postgresql://...`` (or a libpq
``key=value`` string; needs psycopg, extra ``postgres``). Rows are raw tuples: the verifier parses
them, so a damaged row becomes a finding rather than an exception.
"""

from __future__ import annotations

import os
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..algorithms import Algorithm
from ..errors import AuditStoreError, KmsConformError
from ..signature import Signature
from .archive import ChainStart, Checkpoint

PAGE = 1000
RECORD_COLUMNS = "seq, ts, payload, prev_hash, hash, kid, alg, sig"
ARCHIVE_COLUMNS = (
    "first_seq, count, prev_hash, head_hash, records_sha256, created_at, kid, alg, sig, uri, object_sha256, version_id"
)
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")

RawRow = tuple[Any, ...]
"""``(seq, ts, payload, prev_hash, hash, kid, alg, sig)`` as stored."""


@dataclass(frozen=True)
class ArchiveEntry:
    """One archive object as the archive index records it: where it is and its signed checkpoint."""

    checkpoint: Checkpoint
    uri: str
    object_sha256: str
    version_id: str | None = None

    @property
    def first_seq(self) -> int:
        return self.checkpoint.start.seq

    @property
    def last_seq(self) -> int:
        """The seq of its last record (``first_seq - 1`` for an empty archive)."""
        return self.checkpoint.start.seq + self.checkpoint.count - 1

    def to_row(self) -> tuple[Any, ...]:
        c = self.checkpoint
        return (
            c.start.seq,
            c.count,
            c.start.prev_hash,
            c.head_hash,
            c.records_sha256,
            c.created_at,
            c.signature.kid,
            c.signature.alg.value,
            c.signature.value,
            self.uri,
            self.object_sha256,
            self.version_id,
        )

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> ArchiveEntry:
        """Parse an index row; a damaged one raises :class:`AuditStoreError`."""
        first, count, prev, head, records_sha256, created, kid, alg, sig, uri, object_sha256, version = row
        try:
            signature = Signature(kid=kid, alg=Algorithm(alg), value=bytes(sig))
            checkpoint = Checkpoint(int(count), head, records_sha256, created, signature, ChainStart(int(first), prev))
        except (ValueError, TypeError, KmsConformError) as exc:
            raise AuditStoreError(f"archive index row for {uri!r} is damaged: {exc}") from None
        return cls(checkpoint, uri, object_sha256, version)


class AuditDatabase(ABC):
    """Rows of an audit table and its archive index. Close it (or use ``with``)."""

    @abstractmethod
    def head_seq(self) -> int | None:
        """The highest ``seq`` stored, ``None`` when the table is empty or missing."""

    @abstractmethod
    def _page(self, start: int, stop: int | None, limit: int) -> list[RawRow]: ...

    @abstractmethod
    def archives(self) -> list[ArchiveEntry]:
        """The archive index, by ``first_seq`` (empty when the archiver never ran)."""

    @abstractmethod
    def add_archive(self, entry: ArchiveEntry) -> None:
        """Record an archive object (creates the index table on first use)."""

    @abstractmethod
    def close(self) -> None: ...

    def rows(self, start: int = 0, stop: int | None = None) -> Iterator[RawRow]:
        """Raw rows with ``start <= seq < stop`` in order, paged: memory stays flat."""
        next_seq = start
        while True:
            page = self._page(next_seq, stop, PAGE)
            yield from page
            if len(page) < PAGE:
                return
            next_seq = int(page[-1][0]) + 1

    def __enter__(self) -> AuditDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SqliteAuditDatabase(AuditDatabase):
    def __init__(self, path: str, *, readonly: bool) -> None:
        if not os.path.isfile(path):
            raise AuditStoreError(f"no SQLite database at {path}")
        uri = f"file:{quote(os.path.abspath(path))}" + ("?mode=ro" if readonly else "")
        try:
            self._conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=60.0)
            self._conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            raise AuditStoreError(f"{path} is not a SQLite database: {exc}") from None

    def _has(self, table: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()
        return row is not None

    def head_seq(self) -> int | None:
        if not self._has("audit_records"):
            return None
        row = self._conn.execute("SELECT MAX(seq) FROM audit_records").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _page(self, start: int, stop: int | None, limit: int) -> list[RawRow]:
        if not self._has("audit_records"):
            return []
        bound = stop if stop is not None else 2**63 - 1
        return self._conn.execute(
            f"SELECT {RECORD_COLUMNS} FROM audit_records WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?",
            (start, bound, limit),
        ).fetchall()

    def archives(self) -> list[ArchiveEntry]:
        if not self._has("audit_archives"):
            return []
        rows = self._conn.execute(f"SELECT {ARCHIVE_COLUMNS} FROM audit_archives ORDER BY first_seq").fetchall()
        return [ArchiveEntry.from_row(r) for r in rows]

    def add_archive(self, entry: ArchiveEntry) -> None:
        self._conn.execute(_ARCHIVES_SCHEMA.format(table="audit_archives", blob="BLOB"))
        self._conn.execute(
            f"INSERT INTO audit_archives ({ARCHIVE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            entry.to_row(),
        )

    def close(self) -> None:
        self._conn.close()


_ARCHIVES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {table} (first_seq BIGINT PRIMARY KEY CHECK (first_seq >= 0), "
    "count BIGINT NOT NULL CHECK (count >= 0), prev_hash TEXT, head_hash TEXT, records_sha256 TEXT NOT NULL, "
    "created_at TEXT NOT NULL, kid TEXT NOT NULL, alg TEXT NOT NULL, sig {blob} NOT NULL, uri TEXT NOT NULL UNIQUE, "
    "object_sha256 TEXT NOT NULL, version_id TEXT)"
)


class PostgresAuditDatabase(AuditDatabase):
    def __init__(self, dsn: str, *, table: str, readonly: bool) -> None:
        import psycopg

        if not _IDENT.match(table):
            raise AuditStoreError(f"table name {table!r} is not a plain lower-case identifier")
        self._table, self._archives_table = table, f"{table}_archives"
        try:
            self._conn = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as exc:
            raise AuditStoreError(f"cannot connect to PostgreSQL: {type(exc).__name__}: {exc}") from None
        if readonly:
            self._conn.execute("SET default_transaction_read_only = on")

    def _has(self, table: str) -> bool:
        row = self._conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        return row is not None and row[0] is not None

    def head_seq(self) -> int | None:
        if not self._has(self._table):
            return None
        row = self._conn.execute(f"SELECT MAX(seq) FROM {self._table}").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _page(self, start: int, stop: int | None, limit: int) -> list[RawRow]:
        if not self._has(self._table):
            return []
        bound = stop if stop is not None else 2**63 - 1
        cur = self._conn.execute(
            f"SELECT {RECORD_COLUMNS} FROM {self._table} WHERE seq >= %s AND seq < %s ORDER BY seq LIMIT %s",
            (start, bound, limit),
        )
        return cur.fetchall()

    def archives(self) -> list[ArchiveEntry]:
        if not self._has(self._archives_table):
            return []
        rows = self._conn.execute(f"SELECT {ARCHIVE_COLUMNS} FROM {self._archives_table} ORDER BY first_seq")
        return [ArchiveEntry.from_row(r) for r in rows.fetchall()]

    def add_archive(self, entry: ArchiveEntry) -> None:
        self._conn.execute(_ARCHIVES_SCHEMA.format(table=self._archives_table, blob="BYTEA"))
        self._conn.execute(
            f"INSERT INTO {self._archives_table} ({ARCHIVE_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            entry.to_row(),
        )

    def close(self) -> None:
        self._conn.close()


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://")) or ("=" in url and "dbname" in url)


def open_database(url: str, *, table: str = "audit_records", readonly: bool = True) -> AuditDatabase:
    """Open the audit database at ``url`` (see the module docstring).

    :param table: the PostgreSQL table (:class:`~.postgres.PostgresAuditStore`'s ``table``); SQLite
        stores always use ``audit_records``.
    :param readonly: refuse writes (``verify-db``); the archiver opens it writable for its index.
    :raises AuditStoreError: the database cannot be opened.
    """
    if is_postgres_url(url):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise AuditStoreError("PostgreSQL URLs need psycopg: pip install 'pytest-kmsconform[postgres]'") from None
        return PostgresAuditDatabase(url, table=table, readonly=readonly)
    if url.startswith("sqlite:///"):  # SQLAlchemy's spelling: sqlite:///relative.db, sqlite:////abs/path.db
        path = url[len("sqlite:///") :]
    elif "://" in url:
        raise AuditStoreError(f"unsupported database URL {url!r}: use sqlite:///PATH, a path, or postgresql://...")
    else:
        path = url
    if table != "audit_records":
        raise AuditStoreError("SQLite audit stores always use the table audit_records")
    return SqliteAuditDatabase(path, readonly=readonly)
