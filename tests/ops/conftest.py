"""Fixtures for the operator's tools: a service key, audit stores (SQLite, and PostgreSQL when the
server binaries are installed), and moto's S3 on loopback (the aws-kms emulator's server)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pytest_kmsconform.reference_impl.audit import SqliteAuditStore
from pytest_kmsconform.reference_impl.config import local_signer_from_env
from pytest_kmsconform.reference_impl.keyring import RingSigner


@dataclass
class ServiceKey:
    """The service's signing key as the environment gives it (seed 001), and its JWKS file."""

    env: dict[str, str]
    signer: RingSigner
    jwks: Path


@pytest.fixture(scope="session")
def service_key(tmp_path_factory: pytest.TempPathFactory) -> ServiceKey:
    pem = (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    env = {"AUDIT_SIGNING_PRIVATE_KEY": pem}
    signer = local_signer_from_env(env)
    jwks = tmp_path_factory.mktemp("keys") / "jwks.json"
    jwks.write_text(json.dumps(signer.jwks()))
    return ServiceKey(env, signer, jwks)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A throw-away PostgreSQL server for the session; skips with the reason when it cannot start."""
    pytest.importorskip("psycopg", reason="psycopg 3 is not installed (extra 'postgres')")
    from pytest_kmsconform.emulators import postgres

    reason = postgres.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with postgres.temporary_postgres(max_connections=32) as server:
        yield server


@dataclass
class Database:
    """An audit store's URL and a way to open the store itself (to append to it)."""

    url: str
    kind: str
    open_store: Callable[[Any], Any]
    execute: Callable[[str], None]


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty audit database, SQLite or PostgreSQL (the project's own schema)."""
    if request.param == "sqlite":
        path = tmp_path / "audit.db"

        def sql(statement: str) -> None:
            import sqlite3

            with sqlite3.connect(path) as conn:
                conn.execute(statement)

        yield Database(str(path), "sqlite", lambda signer: SqliteAuditStore(path, signer), sql)
        return
    server = request.getfixturevalue("postgres_server")
    import psycopg
    from pytest_kmsconform.reference_impl.audit.postgres import PostgresAuditStore

    name = f"ops_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    dsn = server.dsn.replace("dbname=postgres", f"dbname={name}")

    def pg_sql(statement: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    yield Database(dsn, "postgres", lambda signer: PostgresAuditStore(dsn, signer), pg_sql)
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[Any]:
    """moto's S3 behind the aws-kms emulator's server on 127.0.0.1 (module-scoped)."""
    pytest.importorskip("boto3", reason="boto3 is not installed (extra 'aws')")
    from pytest_kmsconform.emulators.aws_kms.server import KmsEmulator

    with KmsEmulator() as emulator:
        yield emulator


@pytest.fixture
def s3_env(moto_s3: Any, service_key: ServiceKey, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment the archiver runs in: moto's endpoint and the service's key."""
    env = {**moto_s3.env(), **service_key.env}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("AUDIT_SIGNING_KMS_KEY_ID", "SIGNING_PROXY_URL", "VAULT_ADDR", "NODE_ENV", "REQUIRE_KMS"):
        monkeypatch.delenv(name, raising=False)
    return env


@pytest.fixture
def make_bucket(moto_s3: Any) -> Callable[..., str]:
    """``make_bucket(lock_days=1)``: a fresh bucket, with Object Lock (compliance, default
    retention ``lock_days``) unless ``lock_days`` is ``None``."""
    import boto3

    client = boto3.client("s3", endpoint_url=moto_s3.url, region_name="us-east-1", **_creds(moto_s3))

    def make(lock_days: int | None = 1, *, lock_without_default: bool = False) -> str:
        name = f"archive-{uuid.uuid4().hex[:10]}"
        locked = lock_days is not None or lock_without_default
        client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=locked)
        if lock_days is not None:
            client.put_object_lock_configuration(
                Bucket=name,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": lock_days}},
                },
            )
        return name

    return make


def _creds(emulator: Any) -> dict[str, str]:
    env = emulator.env()
    return {"aws_access_key_id": env["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"]}


@pytest.fixture
def s3_client(moto_s3: Any) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=moto_s3.url, region_name="us-east-1", **_creds(moto_s3))
