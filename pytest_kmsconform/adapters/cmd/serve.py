"""The child side of the protocol: serve any Python implementation (the adapter protocol of
``docs/adapter.md``) over JSON lines on stdin/stdout, so it can be certified through ``cmd:`` exactly
as a child in another language is.

Each request is handled in a thread of its own, as the protocol asks: while one request waits for a
``host.sign`` answer, the host may send another (a host signer wrapping one of this child's own
signers) and it is answered first. The protocol owns file descriptor 1: anything else that writes
to stdout (a library, a subprocess inheriting it) goes to stderr instead.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import IO, Any

from pytest_kmsconform import protocol
from pytest_kmsconform.reference_impl.delegation import DelegationError
from pytest_kmsconform.reference_impl.errors import (
    BackendError,
    CanonicalizationError,
    GuardError,
    InvalidSignature,
    KeyNotValidAtTime,
    KeyRevoked,
    KeyStateError,
    KmsConformError,
    MultisigError,
    SigningFailed,
    ThresholdNotMet,
    UnknownKey,
)

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class OpError(Exception):
    """An error answer chosen by a handler: ``code`` of ``docs/protocol.md`` and extra members."""

    def __init__(self, code: str, message: str, **members: Any) -> None:
        super().__init__(message)
        self.code, self.members = code, members


class CallbackRefused(SigningFailed):
    """The host answered a callback with ``ok: false``."""


_SIMPLE: tuple[tuple[type[Exception], str], ...] = (
    (CanonicalizationError, "CANONICALIZATION"),
    (InvalidSignature, "INVALID_SIGNATURE"),
    (UnknownKey, "UNKNOWN_KEY"),
    (KeyStateError, "KEY_STATE"),
    (SigningFailed, "SIGNING_FAILED"),
    (GuardError, "GUARD_REFUSED"),
    (MultisigError, "MULTISIG_ERROR"),
)


def error_answer(exc: BaseException) -> dict[str, Any]:
    """The ``error`` member for an exception raised while handling a request."""
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, OpError):
        return {"code": exc.code, "message": str(exc), **exc.members}
    if isinstance(exc, KeyRevoked):
        return {"code": "KEY_REVOKED", "message": message, "kid": exc.kid}
    if isinstance(exc, KeyNotValidAtTime):
        return {"code": "KEY_NOT_VALID_AT_TIME", "message": message, "kid": exc.kid}
    if isinstance(exc, ThresholdNotMet):
        return {"code": "THRESHOLD_NOT_MET", "message": message, "valid": list(exc.valid), "threshold": exc.threshold}
    if isinstance(exc, BackendError):
        return {"code": "BACKEND_ERROR", "message": message, "backend_code": exc.code.value}
    if isinstance(exc, DelegationError):
        return {"code": "DELEGATION_REFUSED", "message": message, "chain_code": exc.code.value, "index": exc.index}
    for kind, code in _SIMPLE:
        if isinstance(exc, kind):
            return {"code": code, "message": message}
    if not isinstance(exc, KmsConformError):
        traceback.print_exception(exc, file=sys.stderr)
    return {"code": "INTERNAL", "message": message}


class ProtocolServer:
    """Reads requests, runs ``handlers[op]`` in a thread each, writes answers; sends callbacks.

    :param handlers: op name -> handler returning the answer's members (raise to refuse).
    :param close: called once after ``shutdown`` was answered, or when stdin closes.
    """

    def __init__(
        self, handlers: Mapping[str, Handler], *, close: Callable[[], None], out: IO[bytes], inp: IO[bytes]
    ) -> None:
        self.handlers = dict(handlers)
        self._close = close
        self._out, self._in = out, inp
        self._write_lock = threading.Lock()
        self._cb_ids = itertools.count(1)
        self._pending: dict[int, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._pending_lock = threading.Lock()
        self._done = threading.Event()

    def write(self, message: Mapping[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
        with self._write_lock:
            self._out.write(data)
            self._out.flush()

    def callback(self, op: str, **params: Any) -> dict[str, Any]:
        """Send a callback (only while a request of the host is in flight) and wait for its answer."""
        cb = next(self._cb_ids)
        event, box = threading.Event(), list[dict[str, Any]]()
        with self._pending_lock:
            self._pending[cb] = (event, box)
        self.write({"cb": cb, "op": op, **params})
        event.wait()
        reply = box[0]
        if reply.get("ok") is not True:
            error = reply.get("error") or {}
            raise CallbackRefused(f"host {op}: {error.get('code')}: {error.get('message')}")
        return {k: v for k, v in reply.items() if k not in ("cb", "ok")}

    def _answer_callback(self, message: dict[str, Any]) -> None:
        with self._pending_lock:
            pending = self._pending.pop(int(message["cb"]), None)
        if pending is None:
            print(f"reply to unknown callback {message['cb']!r}", file=sys.stderr)
            return
        pending[1].append(message)
        pending[0].set()

    def _handle(self, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        op = str(message.get("op"))
        try:
            handler = self.handlers.get(op)
            if handler is None:
                raise OpError("UNKNOWN_OP", f"unknown op {op!r}")
            answer: dict[str, Any] = {"id": request_id, "ok": True, **handler(message)}
        except BaseException as exc:  # every failure becomes a typed answer; the child stays up
            answer = {"id": request_id, "ok": False, "error": error_answer(exc)}
        self.write(answer)
        if op == "shutdown":
            self._done.set()

    def run(self) -> None:
        """Serve until ``shutdown`` or the end of stdin; then call ``close``."""
        threading.Thread(target=self._read, daemon=True).start()
        self._done.wait()
        self._close()

    def _read(self) -> None:
        try:
            for line in self._in:
                try:
                    message = json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    print(f"ignoring a line that is not JSON: {line[:200]!r}", file=sys.stderr)
                    continue
                if isinstance(message, dict) and "cb" in message:
                    self._answer_callback(message)
                elif isinstance(message, dict):
                    threading.Thread(target=self._handle, args=(message,), daemon=True).start()
        finally:
            self._done.set()


def host_minor(env: Mapping[str, str]) -> int | None:
    """The minor version the host announced in :data:`protocol.PROTOCOL_ENV` (``None``: a 1.0 host,
    which announces nothing and whose ``hello`` schema has no ``minor`` member)."""
    text = env.get(protocol.PROTOCOL_ENV, "")
    major, _, minor = text.partition(".")
    if major != str(protocol.PROTOCOL_VERSION) or not minor.isdigit():
        return None
    return int(minor)


def protocol_streams() -> tuple[IO[bytes], IO[bytes]]:
    """(stdin, the protocol's stdout); file descriptor 1 is pointed at stderr from here on."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return sys.stdin.buffer, out
