"""The policy gate's state and decisions (seed 003): who may sign what, how often, how much.

Pure model: no HTTP, an injectable clock, typed :class:`PolicyDenied` errors carrying the wire
code. :class:`PolicyEngine` answers, in this order (the first refusal wins): kill switch, endpoint
allowlist, payload allowlists (``types``, JSON-pointer ``rules``) or key allowlist (``/sign/hash``),
per-request amount cap, rate limit, rolling 24-hour caps. Rate slots are taken when a request
passes; cap amounts are *reserved* when it passes and settled after signing (kept when a signature
was made, released otherwise), all under one lock, so concurrent requests cannot overshoot a limit.
:class:`ReplayCache` holds the signatures made within the replay window.
"""

from __future__ import annotations

import fnmatch
import hmac
import json
import math
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pytest_kmsconform.reference_impl.clock import Clock, format_time, parse_time, utc_now

from .errors import ErrorCode, SigningProxyError
from .policy_config import CANONICAL, MAX_SAFE_INTEGER, Client, PolicyConfig, token_digest

DAY = timedelta(days=1)


class PolicyDenied(SigningProxyError):
    """A request the gate refuses; ``code`` is its wire code, ``gate`` the gate that refused it."""

    def __init__(self, code: ErrorCode, message: str, *, gate: str = "policy", retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.gate = gate
        self.retry_after = retry_after


@dataclass(frozen=True)
class SignRequest:
    """A decoded signing request: ``material`` identifies it for the replay cache."""

    endpoint: str
    material: bytes
    payload: Any
    """The parsed canonical payload (``/sign/canonical``), else ``None``."""
    kid: str
    """The key that would sign it."""


@dataclass
class Permit:
    """A request the policy let through; :meth:`PolicyEngine.settle` must be called once."""

    client: Client
    request: SignRequest
    amount: int | None
    at: datetime
    settled: bool = False


_MISSING = object()


def resolve_pointer(document: Any, pointer: str) -> Any:
    """RFC 6901: the value at ``pointer``, or ``_MISSING``. Hand-written: ten lines, no dependency."""
    value = document
    if pointer == "":
        return value
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict):
            if token not in value:
                return _MISSING
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and (token == "0" or not token.startswith("0")):
            if int(token) >= len(value):
                return _MISSING
            value = value[int(token)]
        else:
            return _MISSING
    return value


def _same_json(a: Any, b: Any) -> bool:
    # JSON equality: True is not 1, "1" is not 1.
    return type(a) is type(b) and a == b


@dataclass
class _Usage:
    """One client's accounting: rate-limit timestamps and the last 24 hours of accepted signatures."""

    requests: deque[datetime] = field(default_factory=deque)
    accepted: deque[tuple[datetime, int]] = field(default_factory=deque)
    accepted_amount: int = 0
    reserved_amount: int = 0
    reserved_count: int = 0

    def expire(self, now: datetime, rate_window: timedelta) -> None:
        while self.requests and self.requests[0] <= now - rate_window:
            self.requests.popleft()
        while self.accepted and self.accepted[0][0] <= now - DAY:
            self.accepted_amount -= self.accepted.popleft()[1]


class PolicyEngine:
    """Decisions for one policy; thread-safe. Subclasses may override one ``_check_*`` step."""

    def __init__(self, config: PolicyConfig, *, clock: Clock = utc_now) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._usage: dict[str, _Usage] = {c.name: _Usage() for c in config.clients}

    # -- auth ------------------------------------------------------------------------------------
    def authenticate(self, presented: str | None) -> Client:
        """The client whose token was presented; compares against every client in constant time."""
        found: Client | None = None
        digest = token_digest(presented) if presented is not None else b""
        for client in self.config.clients:
            if hmac.compare_digest(digest, client.token_sha256) and presented is not None:
                found = client
        if found is None:
            raise PolicyDenied(
                ErrorCode.UNAUTHORIZED, "missing or unknown API token" if presented else "no API token", gate="auth"
            )
        return found

    def is_admin(self, presented: str | None) -> bool:
        expected = self.config.admin_token_sha256
        if expected is None or presented is None:
            return False
        return hmac.compare_digest(token_digest(presented), expected)

    # -- kill switch (a file, so it survives restarts and an operator can `touch` it) --------------
    def kill_switch_engaged(self) -> bool:
        try:
            os.stat(self.config.kill_switch_file)
        except FileNotFoundError:
            return False
        except OSError:
            return True  # cannot tell: fail closed
        return True

    def set_kill_switch(self, engaged: bool, reason: str) -> None:
        path = self.config.kill_switch_file
        if engaged:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            note = {"engaged_at": format_time(self._clock()), "reason": reason}
            tmp.write_text(json.dumps(note, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        else:
            path.unlink(missing_ok=True)

    # -- the policy gate ---------------------------------------------------------------------------
    def check(self, client: Client, request: SignRequest) -> Permit:
        """Let ``request`` through or raise :class:`PolicyDenied`; a permit must be settled."""
        now = self._clock()
        self._check_kill_switch()
        self._check_endpoint(client, request)
        if request.endpoint == CANONICAL:
            self._check_payload(client, request.payload)
        else:
            self._check_key(client, request.kid)
        amount = self._check_amount(client, request)
        with self._lock:
            usage = self._usage[client.name]
            usage.expire(now, timedelta(seconds=client.rate.per_seconds))
            self._take_rate(client, usage, now)
            self._reserve_daily(client, usage, amount)
        return Permit(client, request, amount, now)

    def settle(self, permit: Permit, *, signed: bool) -> None:
        """Keep the reservation as an accepted signature (``signed``) or release it."""
        if permit.settled:
            return
        permit.settled = True
        with self._lock:
            usage = self._usage[permit.client.name]
            usage.reserved_amount -= permit.amount or 0
            usage.reserved_count -= 1
            if signed:
                usage.accepted.append((permit.at, permit.amount or 0))
                usage.accepted_amount += permit.amount or 0

    def _check_kill_switch(self) -> None:
        if self.kill_switch_engaged():
            raise PolicyDenied(ErrorCode.KILL_SWITCH_ENGAGED, "the kill switch is engaged: no signing")

    def _check_endpoint(self, client: Client, request: SignRequest) -> None:
        if request.endpoint not in client.endpoints:
            raise PolicyDenied(
                ErrorCode.ENDPOINT_NOT_ALLOWED, f"client {client.name} may not call {request.endpoint} (not listed)"
            )

    def _check_payload(self, client: Client, payload: Any) -> None:
        if client.types is not None:
            kind = payload.get("type") if isinstance(payload, dict) else None
            if not isinstance(kind, str) or kind not in client.types:
                raise PolicyDenied(
                    ErrorCode.TYPE_NOT_ALLOWED, f"payload type {kind!r} is not allowed for client {client.name}"
                )
        for rule in client.rules:
            value = resolve_pointer(payload, rule.pointer)
            if value is _MISSING or not any(_same_json(value, allowed) for allowed in rule.allowed):
                shown = "missing" if value is _MISSING else repr(value)
                raise PolicyDenied(ErrorCode.RULE_VIOLATION, f"{rule.pointer} is {shown}: not allowed")

    def _check_key(self, client: Client, kid: str) -> None:
        if not any(fnmatch.fnmatchcase(kid, pattern) for pattern in client.hash_kids):
            raise PolicyDenied(ErrorCode.KEY_NOT_ALLOWED, f"client {client.name} may not sign hashes with key {kid}")

    def _check_amount(self, client: Client, request: SignRequest) -> int | None:
        caps = client.amount
        if caps is None or request.endpoint != CANONICAL:
            return None
        value = resolve_pointer(request.payload, caps.pointer)
        if type(value) is not int or not 0 <= value <= MAX_SAFE_INTEGER:
            shown = "missing" if value is _MISSING else repr(value)
            raise PolicyDenied(ErrorCode.AMOUNT_INVALID, f"{caps.pointer} is {shown}: not a non-negative integer")
        if caps.per_request is not None and value > caps.per_request:
            raise PolicyDenied(ErrorCode.CAP_EXCEEDED, f"amount {value} exceeds the per-request cap {caps.per_request}")
        return value

    def _take_rate(self, client: Client, usage: _Usage, now: datetime) -> None:
        if len(usage.requests) >= client.rate.requests:
            wait = usage.requests[0] + timedelta(seconds=client.rate.per_seconds) - now
            raise PolicyDenied(
                ErrorCode.RATE_LIMITED,
                f"client {client.name}: {client.rate.requests} requests per {client.rate.per_seconds} s",
                retry_after=max(1, math.ceil(wait.total_seconds())),
            )
        usage.requests.append(now)

    def _reserve_daily(self, client: Client, usage: _Usage, amount: int | None) -> None:
        caps = client.amount
        count = len(usage.accepted) + usage.reserved_count + 1
        if client.daily_signatures is not None and count > client.daily_signatures:
            raise PolicyDenied(
                ErrorCode.DAILY_CAP_EXCEEDED, f"client {client.name}: {client.daily_signatures} signatures per 24 h"
            )
        if caps is not None and caps.per_day is not None and amount is not None:
            total = usage.accepted_amount + usage.reserved_amount + amount
            if total > caps.per_day:
                raise PolicyDenied(
                    ErrorCode.DAILY_CAP_EXCEEDED, f"client {client.name}: {total} would exceed {caps.per_day} per 24 h"
                )
        usage.reserved_amount += amount or 0
        usage.reserved_count += 1

    # -- restart -------------------------------------------------------------------------------------
    def restore(self, decisions: Iterable[Mapping[str, Any]]) -> int:
        """Rebuild rate windows and 24-hour caps from the audited accepts (oldest first); returns how
        many signatures were counted. Called at start-up, so a restart resets no cap. (Requests that
        were refused after taking a rate slot are not in the rebuilt rate window.)"""
        now = self._clock()
        counted = 0
        by_name = {c.name: c for c in self.config.clients}
        with self._lock:
            for decision in decisions:
                client = by_name.get(str(decision.get("client")))
                if client is None or decision.get("type") != "policy.decision":
                    continue
                try:
                    at = parse_time(str(decision.get("at")))
                except ValueError:
                    continue
                usage = self._usage[client.name]
                if decision.get("decision") != "accept":
                    continue
                if now - at < timedelta(seconds=client.rate.per_seconds):
                    usage.requests.append(at)
                if not decision.get("replayed") and now - at < DAY:
                    amount = decision.get("amount")
                    usage.accepted.append((at, amount if type(amount) is int else 0))
                    usage.accepted_amount += amount if type(amount) is int else 0
                    counted += 1
        return counted


@dataclass
class _Entry:
    at: datetime
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None


class ReplayCache:
    """Signatures made within the last ``window`` seconds, by request; a request in flight is a
    pending entry, so two identical concurrent requests never both reach the backend."""

    def __init__(self, window: int, *, clock: Clock = utc_now) -> None:
        self.window = timedelta(seconds=window)
        self._clock = clock
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def begin(self, key: bytes) -> _Entry | None:
        """``None``: first sighting (now pending, finish or fail it); else the earlier entry."""
        now = self._clock()
        with self._lock:
            while self._entries:
                oldest_key, oldest = next(iter(self._entries.items()))
                if oldest.at > now - self.window or not oldest.done.is_set():
                    break
                del self._entries[oldest_key]
            entry = self._entries.get(key)
            if entry is not None and entry.done.is_set() and entry.at <= now - self.window:
                del self._entries[key]
                entry = None
            if entry is None:
                self._entries[key] = _Entry(now)
                return None
            return entry

    def finish(self, key: bytes, result: Any) -> None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None:
            entry.result = result
            entry.done.set()

    def fail(self, key: bytes) -> None:
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is not None:
            entry.done.set()
