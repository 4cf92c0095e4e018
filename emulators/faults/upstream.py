"""Kept-alive connections from the fault proxy to its backend.

A new upstream connection per forwarded request cost a TCP connect, a server thread on the
emulator's side and, in front of an HTTPS backend, a full TLS handshake; the reliability suite
forwards thousands of requests. Idle connections are reused the way urllib3 reuses them: one whose
socket is readable while idle has been closed by the backend (or sent something unasked) and is
dropped, never reused.
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading

MAX_IDLE = 8
"""Idle connections kept per proxy (a rig's signer uses one or two at a time)."""


class UpstreamPool:
    """Idle HTTP/1.1 connections to one ``host:port`` (TLS when ``tls`` is given)."""

    def __init__(self, host: str, port: int, *, tls: ssl.SSLContext | None, timeout: float) -> None:
        self.host, self.port, self.tls, self.timeout = host, port, tls, timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def new(self) -> http.client.HTTPConnection:
        if self.tls is not None:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.tls)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def take(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection that still looks open (``True``: reused), else a new one (``False``)."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self.new(), False
            if _still_open(conn):
                return conn, True
            conn.close()

    def give_back(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        """Keep ``conn`` for the next request unless the answer ends the connection."""
        with self._lock:
            keep = not self._closed and not response.will_close and len(self._idle) < MAX_IDLE
            if keep:
                self._idle.append(conn)
        if not keep:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _still_open(conn: http.client.HTTPConnection) -> bool:
    sock = conn.sock
    if sock is None:
        return False
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return False  # unread bytes while idle: the connection is out of step
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable
