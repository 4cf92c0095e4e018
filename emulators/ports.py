"""Ports on 127.0.0.1 for the emulators: range checks and binding that fail with a typed error at
once, instead of inside a server thread (where a failed bind leaves the caller waiting forever)."""

from __future__ import annotations

import errno
import socket

HOST = "127.0.0.1"


class PortError(ValueError):
    """A port an emulator cannot listen on: out of range, or in use."""


def check_range(port: int) -> int:
    """``port`` if it is 0..65535 (0: the system picks a free one); else :class:`PortError`."""
    if not 0 <= port <= 65535:
        raise PortError(f"--port {port}: must be 0..65535 (0 picks a free one)")
    return port


def listen(port: int, backlog: int = 128) -> socket.socket:
    """A TCP socket listening on 127.0.0.1:``port``; :class:`PortError` when it cannot be had."""
    check_range(port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        what = "is in use" if exc.errno == errno.EADDRINUSE else "cannot be listened on"
        raise PortError(f"port {port} on {HOST} {what}: {exc.strerror or exc}") from None
    return sock


def check_free(port: int) -> None:
    """Raise :class:`PortError` unless ``port`` (0 always is) can be listened on right now."""
    if port != 0:
        listen(port).close()
