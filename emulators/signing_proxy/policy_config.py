"""The policy file of the signing proxy's gate (``kmsconform-policy/1``, TOML): parsed and validated once.

Every defect is a :class:`PolicyConfigError` naming the offending key (``clients.trader.rate``),
raised at start-up: a proxy never runs with a policy it half understood. The format is documented
in ``docs/policy.md``. Deny by default: a client may call only the endpoints it lists, and each
listed endpoint needs its allowlist (payload ``types``/``rules`` for ``/sign/canonical``, key ids
for ``/sign/hash``).
"""

from __future__ import annotations

import enum
import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ProxyConfigError

FORMAT = "kmsconform-policy/1"
CANONICAL, HASH = "/sign/canonical", "/sign/hash"
ENDPOINTS = (CANONICAL, HASH)
DEFAULT_REPLAY_WINDOW = 300
MAX_SAFE_INTEGER = 2**53 - 1


class PolicyConfigError(ProxyConfigError):
    """The policy file is missing, not TOML, or breaks a rule of ``kmsconform-policy/1``."""


class Mode(enum.StrEnum):
    ENFORCE = "enforce"
    """Refuse what the policy does not allow."""
    MONITOR = "monitor"
    """Refuse nothing after authentication; audit and count what would have been refused (roll-out only)."""


class ReplayMode(enum.StrEnum):
    REJECT = "reject"
    """A request seen within the window is refused (``REPLAYED``)."""
    RETURN = "return"
    """A request seen within the window gets the signature made the first time; the backend is not asked."""


@dataclass(frozen=True)
class Rule:
    """The value at JSON pointer ``pointer`` (RFC 6901) must be present and one of ``allowed``."""

    pointer: str
    allowed: tuple[Any, ...]


@dataclass(frozen=True)
class AmountCaps:
    """The integer at ``pointer`` is the request's amount: at most ``per_request``, and the
    accepted amounts of the last 24 hours add up to at most ``per_day``."""

    pointer: str
    per_request: int | None
    per_day: int | None


@dataclass(frozen=True)
class RateLimit:
    requests: int
    per_seconds: int


@dataclass(frozen=True)
class Client:
    """One API key's policy."""

    name: str
    token_sha256: bytes
    endpoints: frozenset[str]
    rate: RateLimit
    replay: ReplayMode
    types: frozenset[str] | None
    rules: tuple[Rule, ...]
    amount: AmountCaps | None
    hash_kids: tuple[str, ...]
    daily_signatures: int | None


@dataclass(frozen=True)
class PolicyConfig:
    mode: Mode
    admin_token_sha256: bytes | None
    kill_switch_file: Path
    replay_window: int
    audit_path: Path
    audit_key_file: Path
    clients: tuple[Client, ...]


def token_digest(token: str) -> bytes:
    """SHA-256 of a token's UTF-8 bytes: what the policy file stores (``token_sha256``)."""
    return hashlib.sha256(token.encode("utf-8")).digest()


class _Table:
    """A TOML table being read: every key must be used, unknown keys are an error."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise PolicyConfigError(f"{where}: must be a table")
        self.data, self.where = data, where
        self.used: set[str] = set()

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        return self.data.get(key, default)

    def table(self, key: str, *, required: bool = False) -> _Table | None:
        value = self.get(key)
        if value is None:
            if required:
                raise PolicyConfigError(f"{self.path(key)}: required table is missing")
            return None
        return _Table(value, self.path(key))

    def string(self, key: str, *, required: bool = False) -> str | None:
        value = self.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise PolicyConfigError(f"{self.path(key)}: must be a non-empty string")
        return value

    def positive(self, key: str, *, required: bool = False) -> int | None:
        value = self.get(key)
        if value is None and not required:
            return None
        if type(value) is not int or not 0 < value <= MAX_SAFE_INTEGER:
            raise PolicyConfigError(f"{self.path(key)}: must be a positive integer")
        return value

    def strings(self, key: str) -> tuple[str, ...] | None:
        value = self.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise PolicyConfigError(f"{self.path(key)}: must be a non-empty list of non-empty strings")
        if len(set(value)) != len(value):
            raise PolicyConfigError(f"{self.path(key)}: lists a value twice")
        return tuple(value)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise PolicyConfigError(f"{self.where or 'policy'}: unknown key(s) {', '.join(unknown)}")


def _pointer(value: str | None, where: str) -> str:
    if value is None or (value and not value.startswith("/")):
        raise PolicyConfigError(f"{where}: a JSON pointer (RFC 6901) starting with '/' is required")
    return value


def _token(table: _Table, base: Path) -> bytes | None:
    """``token_sha256`` (hex) or ``token_file`` (its first line is the token); exactly one."""
    hexed, file = table.string("token_sha256"), table.string("token_file")
    if hexed is not None and file is not None:
        raise PolicyConfigError(f"{table.where}: give token_sha256 or token_file, not both")
    if hexed is not None:
        if len(hexed) != 64 or any(c not in "0123456789abcdef" for c in hexed):
            raise PolicyConfigError(f"{table.path('token_sha256')}: must be 64 lower-case hex characters")
        return bytes.fromhex(hexed)
    if file is not None:
        path = base / file
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyConfigError(f"{table.path('token_file')}: cannot read {path}: {exc}") from None
        if len(token) < 16:
            raise PolicyConfigError(f"{table.path('token_file')}: the token in {path} is shorter than 16 characters")
        return token_digest(token)
    return None


def _scalar_list(value: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(value, list) or not value:
        raise PolicyConfigError(f"{where}: must be a non-empty list of strings, integers or booleans")
    for item in value:
        if not isinstance(item, str | bool | int) or (type(item) is int and abs(item) > MAX_SAFE_INTEGER):
            raise PolicyConfigError(f"{where}: {item!r} is not a string, safe integer or boolean")
    return tuple(value)


def _rules(value: Any, where: str) -> tuple[Rule, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise PolicyConfigError(f"{where}: must be a non-empty list of {{pointer, in}} tables")
    rules = []
    for n, item in enumerate(value):
        table = _Table(item, f"{where}[{n}]")
        pointer = _pointer(table.string("pointer"), table.path("pointer"))
        rules.append(Rule(pointer, _scalar_list(table.get("in"), table.path("in"))))
        table.done()
    return tuple(rules)


def _client(name: str, data: Any, base: Path) -> Client:
    table = _Table(data, f"clients.{name}")
    token = _token(table, base)
    if token is None:
        raise PolicyConfigError(f"{table.where}: token_sha256 or token_file is required")
    endpoints = table.strings("endpoints") or ()
    for endpoint in endpoints:
        if endpoint not in ENDPOINTS:
            raise PolicyConfigError(f"{table.path('endpoints')}: {endpoint!r} is not one of {', '.join(ENDPOINTS)}")
    rate_table = table.table("rate", required=bool(endpoints))
    rate = RateLimit(1, 1)
    if rate_table is not None:
        rate = RateLimit(
            rate_table.positive("requests", required=True) or 1, rate_table.positive("per_seconds", required=True) or 1
        )
        rate_table.done()
    replay_text = table.string("replay") or ReplayMode.REJECT.value
    try:
        replay = ReplayMode(replay_text)
    except ValueError:
        raise PolicyConfigError(f"{table.path('replay')}: must be reject or return, got {replay_text!r}") from None
    types: frozenset[str] | None = None
    rules: tuple[Rule, ...] = ()
    amount: AmountCaps | None = None
    canonical = table.table("canonical")
    if canonical is not None:
        listed = canonical.strings("types")
        types = frozenset(listed) if listed is not None else None
        rules = _rules(canonical.get("rules"), canonical.path("rules"))
        caps = canonical.table("amount")
        if caps is not None:
            amount = AmountCaps(
                _pointer(caps.string("pointer"), caps.path("pointer")),
                caps.positive("per_request"),
                caps.positive("per_day"),
            )
            if amount.per_request is None and amount.per_day is None:
                raise PolicyConfigError(f"{caps.where}: set per_request, per_day or both")
            caps.done()
        canonical.done()
    if CANONICAL in endpoints and types is None and not rules:
        raise PolicyConfigError(
            f"{table.where}: {CANONICAL} is listed but canonical.types and canonical.rules allow nothing"
        )
    hash_kids: tuple[str, ...] = ()
    hash_table = table.table("hash")
    if hash_table is not None:
        hash_kids = hash_table.strings("kids") or ()
        hash_table.done()
    if HASH in endpoints and not hash_kids:
        raise PolicyConfigError(f"{table.where}: {HASH} is listed but hash.kids names no key (deny by default)")
    daily = table.positive("daily_signatures")
    table.done()
    return Client(
        name, token, frozenset(endpoints), rate, replay, types, rules, amount, hash_kids, daily_signatures=daily
    )


def policy_from_mapping(data: Mapping[str, Any], base: Path) -> PolicyConfig:
    """Validate a parsed policy; relative paths are resolved against ``base`` (the file's directory)."""
    top = _Table(data, "")
    fmt = top.string("format", required=True)
    if fmt != FORMAT:
        raise PolicyConfigError(f"format: must be {FORMAT!r}, got {fmt!r}")
    mode_text = top.string("mode") or Mode.ENFORCE.value
    try:
        mode = Mode(mode_text)
    except ValueError:
        raise PolicyConfigError(f"mode: must be enforce or monitor, got {mode_text!r}") from None
    admin = top.table("admin")
    admin_token = None
    if admin is not None:
        admin_token = _token(admin, base)
        admin.done()
    kill = top.table("kill_switch", required=True)
    assert kill is not None
    kill_file = base / str(kill.string("file", required=True))
    kill.done()
    replay = top.table("replay")
    window = DEFAULT_REPLAY_WINDOW
    if replay is not None:
        window = replay.positive("window_seconds") or DEFAULT_REPLAY_WINDOW
        replay.done()
    audit = top.table("audit", required=True)
    assert audit is not None
    audit_path = base / str(audit.string("path", required=True))
    key_file = audit.string("key_file")
    audit_key = base / key_file if key_file is not None else audit_path.with_suffix(".key.pem")
    audit.done()
    clients_table = top.table("clients", required=True)
    assert clients_table is not None
    clients = tuple(_client(name, clients_table.get(name), base) for name in sorted(clients_table.data))
    clients_table.done()
    if not clients:
        raise PolicyConfigError("clients: at least one client is required")
    tokens = [c.token_sha256 for c in clients]
    if len(set(tokens)) != len(tokens):
        raise PolicyConfigError("clients: two clients share a token")
    if admin_token is not None and admin_token in tokens:
        raise PolicyConfigError("admin: the admin token must differ from every client token")
    top.done()
    return PolicyConfig(mode, admin_token, kill_file, window, audit_path, audit_key, clients)


def load_policy(path: str | Path) -> PolicyConfig:
    """Read and validate a policy file (TOML); every problem is a :class:`PolicyConfigError`."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyConfigError(f"cannot read the policy file {file}: {exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyConfigError(f"{file}: not valid TOML: {exc}") from None
    try:
        return policy_from_mapping(data, file.resolve().parent)
    except PolicyConfigError as exc:
        raise PolicyConfigError(f"{file}: {exc}") from None
