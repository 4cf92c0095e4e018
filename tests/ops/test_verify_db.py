"""``kmsconform verify-db``: the chain verified from SQLite and PostgreSQL, windows anchored to signed
checkpoints, and every tamper of the rows reported with the seq that shows it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.audit.archiver import archive_next
from pytest_kmsconform.reference_impl.audit.database import open_database
from pytest_kmsconform.reference_impl.audit.dbverify import verify_database
from pytest_kmsconform.reference_impl.verifier import Verifier

from pytest_kmsconform.cli import main

from .conftest import Database, ServiceKey
from .sinks import DirectorySink


def fill(database: Database, key: ServiceKey, n: int) -> None:
    with database.open_store(key.signer) as store:
        for i in range(n):
            store.append({"type": "approval", "n": i})


def archive(database: Database, key: ServiceKey, sink: DirectorySink, limit: int) -> None:
    with open_database(database.url, readonly=False) as db:
        archive_next(db, sink, key.signer, limit=limit, producer="test")


def verify_db(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["verify-db", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def codes(doc: dict[str, Any]) -> list[tuple[str, int | None]]:
    return [(f["code"], f["index"]) for f in doc["findings"]]


@pytest.fixture
def filled(database: Database, service_key: ServiceKey) -> Database:
    fill(database, service_key, 25)
    return database


def test_intact_store_from_genesis(filled: Database, service_key: ServiceKey, capsys: Any) -> None:
    code, doc = verify_db(capsys, filled.url, "--keys", str(service_key.jwks))
    assert code == 0 and doc["ok"] and (doc["first_seq"], doc["last_seq"], doc["rows"]) == (0, 24, 25)
    assert doc["anchor"] is None and doc["head_seq"] == 24


def test_text_output_and_database_url_from_env(
    filled: Database, service_key: ServiceKey, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", filled.url)
    assert main(["verify-db", "--keys", str(service_key.jwks)]) == 0
    assert "verified rows 0..24 (25), from genesis; 0 archive checkpoint(s): OK, no findings" in capsys.readouterr().out


def test_limit_without_checkpoint_extends_to_genesis(filled: Database, service_key: ServiceKey, capsys: Any) -> None:
    assert main(["verify-db", filled.url, "--keys", str(service_key.jwks), "--limit", "5"]) == 0
    assert "extended below seq 20 to reach genesis" in capsys.readouterr().out


def test_limit_is_anchored_to_the_newest_checkpoint(
    filled: Database, service_key: ServiceKey, tmp_path: Path, capsys: Any
) -> None:
    sink = DirectorySink(tmp_path / "bucket")
    archive(filled, service_key, sink, 10)
    archive(filled, service_key, sink, 10)  # seq 10..19
    code, doc = verify_db(capsys, filled.url, "--keys", str(service_key.jwks), "--limit", "5")
    assert code == 0 and (doc["first_seq"], doc["rows"]) == (20, 5)  # anchored by the checkpoint of 10..19
    assert doc["anchor"].endswith("00000000000000000010-00000000000000000019.jsonl")
    code, doc = verify_db(capsys, filled.url, "--keys", str(service_key.jwks), "--limit", "8")
    assert code == 0 and doc["first_seq"] == 17  # the checkpoint's head (seq 19) lies inside the window
    code, doc = verify_db(capsys, filled.url, "--keys", str(service_key.jwks), "--from", "3", "--limit", "4")
    assert code == 0 and (doc["first_seq"], doc["last_seq"]) == (0, 6)  # no checkpoint ends in 2..6: genesis


def test_tampered_rows_are_reported_by_seq(filled: Database, service_key: ServiceKey, capsys: Any) -> None:
    filled.execute('UPDATE audit_records SET payload = \'{"n":99,"type":"approval"}\' WHERE seq = 4')
    filled.execute("DELETE FROM audit_records WHERE seq = 9")
    code, doc = verify_db(capsys, filled.url, "--keys", str(service_key.jwks))
    assert code == 1
    assert codes(doc) == [("HASH_MISMATCH", 4), ("CHAIN_BROKEN", 10)]


def test_bad_signature_damaged_row_and_unknown_key(filled: Database, service_key: ServiceKey, capsys: Any) -> None:
    blob = "X'" + "00" * 64 + "'" if filled.kind == "sqlite" else "'\\x" + "00" * 64 + "'::bytea"
    filled.execute(f"UPDATE audit_records SET sig = {blob} WHERE seq = 2")
    filled.execute("UPDATE audit_records SET payload = 'not json' WHERE seq = 5")
    filled.execute("UPDATE audit_records SET kid = 'intruder-v1' WHERE seq = 12")
    code, doc = verify_db(capsys, filled.url, "--keys", str(service_key.jwks))
    assert code == 1
    assert codes(doc) == [("BAD_SIGNATURE", 2), ("FORMAT_ERROR", 5), ("UNKNOWN_KEY", 12)]


def test_archived_then_deleted_range_is_detected(
    filled: Database, service_key: ServiceKey, tmp_path: Path, capsys: Any
) -> None:
    sink = DirectorySink(tmp_path / "bucket")
    archive(filled, service_key, sink, 10)
    archive(filled, service_key, sink, 10)
    filled.execute("DELETE FROM audit_records WHERE seq >= 10 AND seq < 15")
    code, doc = verify_db(capsys, filled.url, "--keys", str(service_key.jwks))
    assert code == 1 and codes(doc) == [("TRUNCATED", 10), ("CHAIN_BROKEN", 15)]
    filled.execute("DELETE FROM audit_records WHERE seq < 10")  # the oldest archived range, pruned
    code, doc = verify_db(capsys, filled.url, "--keys", str(service_key.jwks))
    assert ("TRUNCATED", 0) in codes(doc) and ("CHAIN_BROKEN", 15) in codes(doc)


def test_changed_ts_of_an_archived_row(filled: Database, service_key: ServiceKey, tmp_path: Path, capsys: Any) -> None:
    archive(filled, service_key, DirectorySink(tmp_path / "bucket"), 10)
    filled.execute("UPDATE audit_records SET ts = replace(ts, 'Z', '+00:00') WHERE seq = 3")
    code, doc = verify_db(capsys, filled.url, "--keys", str(service_key.jwks))
    assert code == 1 and codes(doc) == [("ARCHIVE_DIGEST_MISMATCH", 0)]  # ts is not in the row digest


def test_truncated_tail_behind_a_checkpoint(
    filled: Database, service_key: ServiceKey, tmp_path: Path, capsys: Any
) -> None:
    archive(filled, service_key, DirectorySink(tmp_path / "bucket"), 25)
    filled.execute("DELETE FROM audit_records WHERE seq >= 20")
    code, doc = verify_db(capsys, filled.url, "--keys", str(service_key.jwks), "--limit", "3")
    assert code == 1 and ("TRUNCATED", 20) in codes(doc)


def test_forged_checkpoint_is_not_an_anchor(
    filled: Database, service_key: ServiceKey, tmp_path: Path, capsys: Any
) -> None:
    archive(filled, service_key, DirectorySink(tmp_path / "bucket"), 20)
    table = "audit_records_archives" if filled.kind == "postgres" else "audit_archives"
    filled.execute(f"UPDATE {table} SET head_hash = '{'ab' * 32}'")
    code, doc = verify_db(capsys, filled.url, "--keys", str(service_key.jwks), "--limit", "3")
    assert code == 1 and codes(doc) == [("BAD_SIGNATURE", None)]
    assert doc["first_seq"] == 0  # not anchored by a checkpoint that does not verify: from genesis


def test_usage_errors_exit_2(filled: Database, service_key: ServiceKey, tmp_path: Path, capsys: Any) -> None:
    keys = str(service_key.jwks)
    assert main(["verify-db", str(tmp_path / "missing.db"), "--keys", keys]) == 2
    assert main(["verify-db", "mysql://x", "--keys", keys]) == 2
    assert main(["verify-db", filled.url, "--keys", str(tmp_path / "none.json")]) == 2
    assert main(["verify-db", filled.url, "--keys", keys, "--from", "99"]) == 2
    assert main(["verify-db", filled.url, "--keys", keys, "--limit", "0"]) == 2
    err = capsys.readouterr().err
    assert "no SQLite database" in err and "past the newest row" in err and "--limit must be >= 1" in err


def test_empty_store(database: Database, service_key: ServiceKey, capsys: Any) -> None:
    with database.open_store(service_key.signer):
        pass
    code, doc = verify_db(capsys, database.url, "--keys", str(service_key.jwks))
    assert code == 0 and doc["rows"] == 0


def test_streams_in_pages(filled: Database, service_key: ServiceKey, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_kmsconform.reference_impl.audit import database as database_module

    monkeypatch.setattr(database_module, "PAGE", 4)
    with open_database(filled.url) as db:
        pages: list[int] = []
        real: Callable[..., Any] = db._page

        def counting(start: int, stop: int | None, limit: int) -> Any:
            rows = real(start, stop, limit)
            pages.append(len(rows))
            return rows

        db._page = counting  # type: ignore[method-assign]
        result = verify_database(db, Verifier(json.loads(service_key.jwks.read_text())))
    assert result.findings == [] and result.rows == 25 and max(pages) == 4
