"""The fault proxy keeps its upstream connections alive, and never reuses one the backend closed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pytest_kmsconform.emulators.faults import FaultProxy, plan_from_dict
from pytest_kmsconform.emulators.faults.upstream import UpstreamPool

from .test_fault_proxy import KMS_SIGN, post


class _Counting(BaseHTTPRequestHandler):
    """Answers 200; records the client port of each request; ``server.hang_up`` closes after answering
    without saying so (no ``Connection: close``), as a backend with a short idle timeout does."""

    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.ports.append(self.client_address[1])
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
        self.wfile.flush()
        if self.server.hang_up:
            self.close_connection = True


@pytest.fixture
def counting() -> Iterator[Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    server.daemon_threads = True
    server.ports = []  # type: ignore[attr-defined]
    server.hang_up = False  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_sequential_requests_share_one_upstream_connection(counting: Any) -> None:
    with FaultProxy(counting.url, plan_from_dict({"rules": []})) as proxy:
        answers = [post(proxy.url, "/", b"{}", KMS_SIGN)[0] for _ in range(5)]
    assert answers == [200] * 5
    assert len(counting.ports) == 5 and len(set(counting.ports)) == 1, counting.ports


def test_a_connection_the_backend_closed_is_not_reused(counting: Any) -> None:
    counting.hang_up = True
    with FaultProxy(counting.url, plan_from_dict({"rules": []})) as proxy:
        answers = [post(proxy.url, "/", b"{}", KMS_SIGN)[0] for _ in range(3)]
    assert answers == [200] * 3
    assert len(set(counting.ports)) == 3


def test_pool_drops_an_idle_connection_closed_by_the_peer(counting: Any) -> None:
    counting.hang_up = True
    host, port = counting.server_address[:2]
    pool = UpstreamPool(host, port, tls=None, timeout=5.0)
    conn, reused = pool.take()
    assert not reused
    conn.request("POST", "/", body=b"{}", headers={"Content-Length": "2"})
    resp = conn.getresponse()
    resp.read()
    pool.give_back(conn, resp)  # kept: the answer did not say the connection ends
    deadline = threading.Event()
    for _ in range(100):  # the server closes right after answering; wait until the FIN arrives
        if conn.sock is None or _readable(conn):
            break
        deadline.wait(0.01)
    again, reused = pool.take()
    assert not reused and again is not conn
    pool.close()


def _readable(conn: Any) -> bool:
    import select

    return bool(select.select([conn.sock], [], [], 0)[0])
