"""One logged-in session per (PKCS#11 module, token) per process, shared by every backend object.

PKCS#11 keeps login state per token per *application*: a second ``C_Login`` while a session is
logged in fails with ``CKR_USER_ALREADY_LOGGED_IN``, and a module is initialised once per process
(SoftHSM2 reads ``SOFTHSM2_CONF`` then). So backends do not open their own sessions: they
:meth:`TokenSessions.acquire` a shared :class:`TokenSession` (the first one logs in with the PIN;
later ones must present the same PIN, compared in constant time) and :meth:`~TokenSessions.release`
it; the last release closes the session. A session is not safe for concurrent operations, so each
use holds :attr:`TokenSession.lock`.

The PIN is never put in a message, a repr or a log line.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pytest_kmsconform import kinds

from ..errors import BackendError, BackendErrorCode, ConfigurationError

NAME = kinds.PKCS11


SPARE_LABEL = "kmsconform-spare"


@dataclass
class TokenSession:
    """A logged-in read-write session on one token; hold :attr:`lock` while using :attr:`session`.

    With :meth:`refill_spare` / :meth:`take_spare`, one key pair is generated ahead, in a second
    session on a background thread (python-pkcs11 releases the GIL during ``C_GenerateKeyPair``), so
    RSA generation overlaps the caller's work that does not touch the token (token calls wait for it:
    every call, this one included, holds :attr:`lock`); the taker gives the spare its id and label, and
    a spare never taken is destroyed when the session closes.
    """

    module: str
    token_label: str
    session: Any
    pin_digest: bytes = field(repr=False)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    refs: int = 0
    _spare: Future[bytes] | None = field(default=None, repr=False)
    _spare_kind: object = field(default=None, repr=False)
    _workers: ThreadPoolExecutor | None = field(default=None, repr=False)

    def refill_spare(self, kind: object, generate: Callable[[Any, bytes], object]) -> None:
        """Start ``generate(session, key_id)`` for the next spare of ``kind`` (one at a time)."""
        with self.lock:
            if self._spare is not None:
                return
            if self._workers is None:
                self._workers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kmsconform-pkcs11-spare")
            spare_session = self.session.token.open(rw=True)  # the process is logged in: a user session

            def run() -> bytes:
                key_id = secrets.token_bytes(8)
                # under the lock like every other call: python-pkcs11 initialises the module with
                # C_Initialize(NULL), i.e. "no concurrent calls", and SoftHSM2 then runs without its
                # own mutexes: calls that overlap can corrupt its state
                with self.lock:
                    try:
                        generate(spare_session, key_id)
                    finally:
                        spare_session.close()
                return key_id

            self._spare, self._spare_kind = self._workers.submit(run), kind

    def take_spare(self, kind: object) -> bytes | None:
        """The ``CKA_ID`` of the spare of ``kind`` (waiting for it if it is being made), or ``None``."""
        with self.lock:
            spare, spare_kind = self._spare, self._spare_kind
            if spare is None or spare_kind != kind:
                return None
            self._spare = None
        try:
            return spare.result()
        except Exception:  # a failed background generation: the caller generates in the foreground
            return None

    def discard_spare(self) -> None:
        """Wait for a spare being made and destroy it (token objects must not outlive the run)."""
        from pkcs11 import Attribute

        with self.lock:
            spare, self._spare = self._spare, None
            workers, self._workers = self._workers, None
        if spare is not None:
            with contextlib.suppress(Exception):
                spare_id = spare.result()  # before the lock: the generation holds it until done
                with self.lock:
                    for obj in list(self.session.get_objects({Attribute.ID: spare_id})):
                        obj.destroy()
        if workers is not None:
            workers.shutdown(wait=True)


def _pin_digest(pin: str) -> bytes:
    return hashlib.sha256(pin.encode()).digest()


class TokenSessions:
    """The process-wide registry (:data:`SESSIONS`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str], TokenSession] = {}

    def _load(self, module: str, softhsm_conf: str | None) -> Any:
        """The module, initialised; applies ``SOFTHSM2_CONF`` first when it differs (SoftHSM2 reads
        it at ``C_Initialize``), which needs every session of the module closed."""
        import pkcs11
        from pkcs11.exceptions import PKCS11Error

        reinitialize = False
        if softhsm_conf is not None and os.environ.get("SOFTHSM2_CONF") != softhsm_conf:
            if any(key[0] == module for key in self._open):
                raise ConfigurationError(
                    f"the PKCS#11 module {module} is already in use in this process with another SOFTHSM2_CONF "
                    f"({os.environ.get('SOFTHSM2_CONF')}); a process initialises a module once"
                )
            os.environ["SOFTHSM2_CONF"] = softhsm_conf
            reinitialize = True
        try:
            lib = pkcs11.lib(module)
            if reinitialize:
                lib.reinitialize()
        except PKCS11Error as exc:
            raise ConfigurationError(f"cannot load the PKCS#11 module {module}: {exc}") from None
        return lib

    def acquire(self, module: str, token_label: str, pin: str, *, softhsm_conf: str | None = None) -> TokenSession:
        """The shared session on ``token_label`` (logging in on first use). Raises
        :class:`ConfigurationError` (module, PIN mismatch) or :class:`BackendError` (token refuses)."""
        from pkcs11.exceptions import NoSuchToken, PinIncorrect, PinLocked, PKCS11Error, UserAlreadyLoggedIn

        key = (module, token_label)
        with self._lock:
            shared = self._open.get(key)
            if shared is not None and softhsm_conf is not None and os.environ.get("SOFTHSM2_CONF") != softhsm_conf:
                raise ConfigurationError(f"token {token_label} is open in this process under another SOFTHSM2_CONF")
            if shared is not None:
                if not hmac.compare_digest(shared.pin_digest, _pin_digest(pin)):
                    raise ConfigurationError(
                        f"token {token_label} is logged in in this process with another PIN; PKCS11_PIN differs"
                    )
                shared.refs += 1
                return shared
            lib = self._load(module, softhsm_conf)
            try:
                try:
                    token = lib.get_token(token_label=token_label)
                except NoSuchToken:
                    if any(k[0] == module for k in self._open):
                        raise
                    lib.reinitialize()  # a token initialised after this process loaded the module
                    token = lib.get_token(token_label=token_label)
                session = token.open(user_pin=pin, rw=True)
            except NoSuchToken:
                raise BackendError(
                    f"no PKCS#11 token labelled {token_label!r} in {module}",
                    code=BackendErrorCode.NOT_FOUND,
                    backend=NAME,
                ) from None
            except (PinIncorrect, PinLocked) as exc:
                raise BackendError(
                    f"token {token_label} refused the PIN ({type(exc).__name__})",
                    code=BackendErrorCode.ACCESS_DENIED,
                    backend=NAME,
                    detail=type(exc).__name__,
                ) from None
            except UserAlreadyLoggedIn:
                raise ConfigurationError(
                    f"token {token_label} is already logged in by other code in this process (outside kmsconform)"
                ) from None
            except PKCS11Error as exc:
                raise BackendError(
                    f"cannot open a session on token {token_label}: {type(exc).__name__}",
                    code=BackendErrorCode.UNAVAILABLE,
                    backend=NAME,
                    detail=type(exc).__name__,
                ) from None
            shared = TokenSession(module, token_label, session, _pin_digest(pin), refs=1)
            self._open[key] = shared
            return shared

    def release(self, shared: TokenSession) -> None:
        """Drop one reference; the last one closes the session (which logs the process out)."""
        from pkcs11.exceptions import PKCS11Error

        with self._lock:
            shared.refs -= 1
            if shared.refs > 0:
                return
            self._open.pop((shared.module, shared.token_label), None)
            shared.discard_spare()
            # already closed by the module (finalised, token removed): nothing left to do
            with shared.lock, contextlib.suppress(PKCS11Error):
                shared.session.close()


SESSIONS = TokenSessions()
