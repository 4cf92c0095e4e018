"""SCP03 session state machine and the 16-slot session table (no I/O, time passed in).

States (the table :data:`TRANSITIONS` is the whole machine)::

    (none) --create--> HALF_OPEN --authenticate--> OPEN --close/timeout/reset--> (none)
                          |  (asymmetric create opens directly)
                          +--timeout/reclaim/auth failure--> (none)

House rules: every secure-messaging computation lives in :class:`Session`; the table only
allocates, finds and expires slots. A session keeps a snapshot of its authentication key's
capabilities, delegated capabilities and domains, taken when it was created.
"""

from __future__ import annotations

import enum
import hmac
import struct
from dataclasses import dataclass, field

from . import scp03
from .defs import MAX_SESSIONS, SESSION_TIMEOUT_SECONDS, Command, Error
from .errors import DeviceError, EmulatorBug

MAC_LENGTH = 8


class SessionState(enum.Enum):
    HALF_OPEN = "half-open"
    OPEN = "open"
    CLOSED = "closed"


TRANSITIONS: dict[tuple[SessionState, str], SessionState] = {
    (SessionState.HALF_OPEN, "authenticate"): SessionState.OPEN,
    (SessionState.HALF_OPEN, "fail"): SessionState.CLOSED,
    (SessionState.HALF_OPEN, "expire"): SessionState.CLOSED,
    (SessionState.OPEN, "close"): SessionState.CLOSED,
    (SessionState.OPEN, "fail"): SessionState.CLOSED,
    (SessionState.OPEN, "expire"): SessionState.CLOSED,
}


def mermaid() -> str:
    """The session state machine as a Mermaid state diagram, generated from :data:`TRANSITIONS`."""
    lines = ["stateDiagram-v2", "    [*] --> half_open: create (symmetric)", "    [*] --> open: create (asymmetric)"]
    for (state, action), target in sorted(TRANSITIONS.items(), key=lambda item: (item[0][0].value, item[0][1])):
        name = "[*]" if target is SessionState.CLOSED else target.value.replace("-", "_")
        lines.append(f"    {state.value.replace('-', '_')} --> {name}: {action}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Permissions:
    """The authentication key's rights, snapshotted when the session was created."""

    key_id: int
    capabilities: int
    delegated: int
    domains: int


@dataclass
class Session:
    sid: int
    permissions: Permissions
    s_enc: bytes
    s_mac: bytes
    s_rmac: bytes
    context: bytes
    last_used: float
    state: SessionState = SessionState.HALF_OPEN
    chain: bytes = b"\x00" * 16
    counter: int = 1
    _pending_iv: bytes | None = field(default=None, repr=False)

    @property
    def key_id(self) -> int:
        return self.permissions.key_id

    def _move(self, action: str) -> None:
        try:
            self.state = TRANSITIONS[(self.state, action)]
        except KeyError:
            raise EmulatorBug(f"session {self.sid}: cannot {action} when {self.state.value}") from None

    def card_cryptogram(self) -> bytes:
        return scp03.derive(self.s_mac, scp03.CARD_CRYPTOGRAM, self.context, 0x40)

    def authenticate(self, message: bytes) -> None:
        """Check an AUTHENTICATE_SESSION frame (``04 0011 sid host-cryptogram C-MAC``)."""
        if self.state is not SessionState.HALF_OPEN:
            raise DeviceError(Error.INVALID_SESSION, f"session {self.sid} is {self.state.value}")
        body, mac = message[:-MAC_LENGTH], message[-MAC_LENGTH:]
        host_cryptogram = body[4:]
        expected = scp03.derive(self.s_mac, scp03.HOST_CRYPTOGRAM, self.context, 0x40)
        full = scp03.aes_cmac(self.s_mac, self.chain, body)
        if not (hmac.compare_digest(host_cryptogram, expected) and hmac.compare_digest(full[:MAC_LENGTH], mac)):
            self._move("fail")
            raise DeviceError(Error.AUTHENTICATION_FAILED, f"session {self.sid}: wrong host cryptogram or C-MAC")
        self.chain = full
        self.counter = 1
        self._move("authenticate")

    def open_directly(self, chain: bytes) -> None:
        """Asymmetric authentication: the receipt is the first chain value, no second step."""
        self.chain = chain
        self.counter = 1
        self._move("authenticate")

    def decrypt_command(self, message: bytes) -> bytes:
        """Verify the C-MAC of a SESSION_MESSAGE frame and return the inner (unpadded) frame."""
        if self.state is not SessionState.OPEN:
            raise DeviceError(Error.INVALID_SESSION, f"session {self.sid} is not authenticated")
        body, mac = message[:-MAC_LENGTH], message[-MAC_LENGTH:]
        full = scp03.aes_cmac(self.s_mac, self.chain, body)
        if not hmac.compare_digest(full[:MAC_LENGTH], mac):
            self._move("fail")
            raise DeviceError(Error.AUTHENTICATION_FAILED, f"session {self.sid}: bad C-MAC")
        self.chain = full
        iv = scp03.counter_iv(self.s_enc, self.counter)
        self._pending_iv = iv
        try:
            return scp03.unpad(scp03.cbc_decrypt(self.s_enc, iv, body[4:]))
        except ValueError as exc:
            # The MAC was good, so the reply can still be sent encrypted and the session stays in sync.
            raise DeviceError(Error.INVALID_DATA, str(exc)) from None

    def encrypt_response(self, inner: bytes) -> bytes:
        """Wrap an inner response frame: ``85 len sid CT R-MAC`` (same IV as the command)."""
        if self._pending_iv is None:
            raise EmulatorBug(f"session {self.sid}: response without a command")
        ciphertext = scp03.cbc_encrypt(self.s_enc, self._pending_iv, scp03.pad(inner))
        header = struct.pack("!BHB", Command.SESSION_MESSAGE.response_code, 1 + len(ciphertext) + MAC_LENGTH, self.sid)
        body = header + ciphertext
        rmac = scp03.aes_cmac(self.s_rmac, self.chain, body)[:MAC_LENGTH]
        self._pending_iv = None
        self.counter += 1
        return body + rmac

    def close(self) -> None:
        self._move("close")


class SessionTable:
    """Up to :data:`MAX_SESSIONS` sessions (ids 0..15), expired after an idle timeout."""

    def __init__(self, *, timeout: float = SESSION_TIMEOUT_SECONDS, capacity: int = MAX_SESSIONS) -> None:
        self.timeout = timeout
        self.capacity = capacity
        self._sessions: dict[int, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def expire(self, now: float) -> None:
        for sid, session in list(self._sessions.items()):
            if now - session.last_used > self.timeout:
                session._move("expire")
                del self._sessions[sid]

    def allocate(self, now: float) -> int:
        """A free session id; a full table first drops expired, then the oldest half-open session."""
        self.expire(now)
        if len(self._sessions) >= self.capacity:
            half_open = [s for s in self._sessions.values() if s.state is SessionState.HALF_OPEN]
            if not half_open:
                raise DeviceError(Error.SESSIONS_FULL, f"all {self.capacity} sessions are in use")
            oldest = min(half_open, key=lambda s: s.last_used)
            oldest._move("expire")
            del self._sessions[oldest.sid]
        return min(set(range(self.capacity)) - set(self._sessions))

    def add(self, session: Session) -> None:
        if session.sid in self._sessions:
            raise EmulatorBug(f"session id {session.sid} allocated twice")
        self._sessions[session.sid] = session

    def get(self, sid: int, now: float) -> Session:
        """The live session ``sid``, touched; unknown or expired ids are ``INVALID_SESSION``."""
        self.expire(now)
        session = self._sessions.get(sid)
        if session is None:
            raise DeviceError(Error.INVALID_SESSION, f"no session {sid}")
        session.last_used = now
        return session

    def drop(self, sid: int) -> None:
        self._sessions.pop(sid, None)

    def clear(self) -> None:
        self._sessions.clear()

    def sessions(self) -> list[Session]:
        return sorted(self._sessions.values(), key=lambda s: s.sid)
