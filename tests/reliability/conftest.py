"""Helpers for the reliability tests: a scripted loopback upstream for the fault proxy."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

SIGNATURE = bytes(range(64))


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.path, self.headers.get("X-Amz-Target"), body))
        if self.headers.get("X-Amz-Target"):
            doc: dict[str, Any] = {"KeyId": "k", "Signature": base64.b64encode(SIGNATURE).decode()}
        elif self.path.startswith("/v1/"):
            doc = {"data": {"signature": "vault:v1:" + base64.b64encode(SIGNATURE).decode()}}
        else:
            doc = {
                "kid": "k-v1",
                "alg": "ed25519",
                "signature": base64.urlsafe_b64encode(SIGNATURE).decode().rstrip("="),
            }
        out = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_PUT = do_POST

    def do_GET(self) -> None:
        self.server.seen.append((self.path, None, b""))
        out = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture
def upstream() -> Iterator[Any]:
    """A loopback HTTP server answering KMS-, Vault- and proxy-shaped signatures; ``.seen`` logs requests."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long-running load test (full sizes via KMSCONFORM_LOAD_FULL=1)")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A real PostgreSQL server (initdb + pg_ctl on a free 127.0.0.1 port), session-scoped.

    Skips with the reason when the server binaries are not installed (.ci/install-postgres.sh).
    """
    pytest.importorskip("psycopg", reason="psycopg 3 is not installed (extra 'postgres')")
    from pytest_kmsconform.emulators import postgres

    reason = postgres.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with postgres.temporary_postgres() as server:
        yield server


@pytest.fixture
def pg_dsn(postgres_server: Any) -> Iterator[str]:
    """A fresh, empty database on the session server; its DSN."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield postgres_server.dsn.replace("dbname=postgres", f"dbname={name}")
    with psycopg.connect(postgres_server.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


from pytest_kmsconform.emulators.faults.fixtures import (  # noqa: E402  (fixtures re-exported for the tests here)
    fault_proxy_factory,
    faulted_backend_fixture,
)

__all__ = ["fault_proxy_factory"]


@pytest.fixture
def upstream_handle(upstream: Any) -> Any:
    """The scripted upstream as a ``signing-proxy`` backend handle."""
    from pytest_kmsconform.backend_api import BackendHandle

    return BackendHandle(
        name="scripted", kind="signing-proxy", env={"SIGNING_PROXY_URL": upstream.url}, version="test", url=upstream.url
    )


throttled_upstream = faulted_backend_fixture(
    "upstream_handle", {"seed": 1, "rules": [{"operation": "/sign/hash", "fault": "error", "error": "429"}]}
)
