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
