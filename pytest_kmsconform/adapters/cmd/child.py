"""The child process and its JSON-lines channel: one request in flight per nesting level, every
message validated, a timeout on every wait, and a dead child reported instead of waited for.

Requests may nest: while the child handles a request it may send a ``host.sign`` callback, and the
host's answer to it may itself need a request to the same child (a host signer wrapping one of the
child's own signers). The lock is re-entrant for that; the child must answer the inner request
before the outer one, which any child that awaits the callback does.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from pytest_kmsconform import protocol

from .errors import ProtocolViolation, error_from_answer

MAX_LINE = 16 * 1024 * 1024
STDERR_TAIL = 4000
CallbackHandler = Callable[[dict[str, Any]], dict[str, Any]]


class ChildProcess:
    """A running implementation process.

    :param argv: the command line.
    :param timeout_s: longest wait for any one answer (callbacks the host serves do not count).
    :param callback: serves the child's ``host.sign`` callbacks; returns the reply body.
    :param cwd: working directory (default: the current one).
    :param env: the child's environment (default: this process's).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float,
        callback: CallbackHandler,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.timeout_s = timeout_s
        self._callback = callback
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=200)
        self._dead: str | None = None
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=dict(env) if env is not None else None,
            )
        except OSError as exc:
            raise ProtocolViolation(f"cannot start {self.argv[0]!r}: {exc}") from None
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True).start()

    # -- reader threads ----------------------------------------------------------------------------
    def _read_stdout(self, stream: IO[bytes]) -> None:
        try:
            while True:
                line = stream.readline(MAX_LINE + 1)
                if not line:
                    break
                self._lines.put(line)
        except (OSError, ValueError):
            pass
        self._lines.put(None)

    def _read_stderr(self, stream: IO[bytes]) -> None:
        try:
            for line in stream:
                self._stderr.append(line.decode("utf-8", "replace").rstrip("\n"))
        except (OSError, ValueError):
            pass

    def stderr_tail(self) -> str:
        text = "\n".join(self._stderr)
        return text[-STDERR_TAIL:]

    # -- failure -----------------------------------------------------------------------------------
    def _fail(self, message: str) -> ProtocolViolation:
        """Stop the child and remember why: every later request raises the same violation."""
        self._kill()
        time.sleep(0.05)  # let the stderr reader take the last lines
        tail = self.stderr_tail()
        self._dead = message + (f"\n--- child stderr (tail) ---\n{tail}" if tail else "")
        return ProtocolViolation(self._dead)

    def _kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    # -- messages ----------------------------------------------------------------------------------
    def _send(self, message: Mapping[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise self._fail(f"cannot write to the child ({exc}); exit status {self.proc.poll()}") from None

    def _receive(self, op: str, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        try:
            line = self._lines.get(timeout=max(remaining, 0.0))
        except queue.Empty:
            raise self._fail(f"{op}: no answer within {self.timeout_s:g} s") from None
        if line is None:
            try:
                status = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                status = None
            raise self._fail(f"{op}: the child closed its stdout (exit status {status}) before answering")
        if len(line) > MAX_LINE:
            raise self._fail(f"{op}: answer line longer than {MAX_LINE} bytes")
        try:
            message = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: deep nesting (fuzzing)
            raise self._fail(f"{op}: answer is not a JSON line: {line[:200]!r}") from None
        if not isinstance(message, dict):
            raise self._fail(f"{op}: answer is not a JSON object: {line[:200]!r}")
        return message

    def request(self, op: str, **params: Any) -> dict[str, Any]:
        """Send one request and return the ``ok: true`` answer's members; an ``ok: false`` answer
        raises its typed error, anything malformed :class:`ProtocolViolation`."""
        with self._lock:
            if self._dead is not None:
                raise ProtocolViolation(f"{op}: the child is no longer usable: {self._dead}")
            request_id = next(self._ids)
            message = {"id": request_id, "op": op, **params}
            protocol.validate_request(message)  # our own bug if this fails: let it raise as is
            self._send(message)
            deadline = time.monotonic() + self.timeout_s
            while True:
                answer = self._receive(op, deadline)
                if "cb" in answer:
                    self._serve_callback(op, answer)
                    deadline = time.monotonic() + self.timeout_s
                    continue
                if answer.get("id") != request_id:
                    raise self._fail(f"{op}: answer carries id {answer.get('id')!r}, expected {request_id}")
                try:
                    protocol.validate_response(op, answer)
                except protocol.MessageInvalid as exc:
                    raise self._fail(str(exc)) from None
                if answer["ok"] is False:
                    raise error_from_answer(op, answer["error"])
                return {k: v for k, v in answer.items() if k not in ("id", "ok")}

    def _serve_callback(self, op: str, message: dict[str, Any]) -> None:
        try:
            protocol.validate_callback(message)
        except protocol.MessageInvalid as exc:
            raise self._fail(f"during {op}: {exc}") from None
        reply = {"cb": message["cb"], **self._callback(message)}
        protocol.validate_callback_reply(str(message["op"]), reply)
        self._send(reply)

    def close(self, grace_s: float = 5.0) -> None:
        """Ask the child to shut down, then make sure it is gone."""
        if self._dead is None and self.proc.poll() is None:
            try:
                saved, self.timeout_s = self.timeout_s, min(self.timeout_s, grace_s)
                self.request("shutdown")
                self.timeout_s = saved
                self.proc.wait(timeout=grace_s)
            except (ProtocolViolation, subprocess.TimeoutExpired):
                pass
        self._kill()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment (the child may need PATH, HOME, ...) plus ``extra``."""
    env = dict(os.environ)
    env.update(extra or {})
    return env
