"""Which client of a policy plays each part in the KC-POL checks, and the payloads it may sign.

The checks never name clients: each asks for a *role* (a client that signs both endpoints under
open limits, one with a small rate limit, one that may sign nothing, ...) and reads the limits it
tests from that client's policy. Under the suite's own conformance policy (``_policy.py``) each role
is one client made for it; against a running service (``http://``) the roles are found in the
policy it enforces (``--kmsconform-policy``), among the clients whose token the suite holds. A role
no client fits makes the check not applicable, with the role's description.

Roles that use up a budget (the rate limit, the rolling 24-hour caps) are disjoint from the open
roles the other checks use, so one check exhausting a budget never starves another.
"""

from __future__ import annotations

import fnmatch
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_kmsconform.reference_impl.canonical import canonicalize_payload

CANONICAL, HASH = "/sign/canonical", "/sign/hash"
OPEN_REQUESTS = 100
"""An open client's rate limit lets at least this many requests through per window."""
OPEN_DAYS = 100
"""An open client's daily amount cap is at least this many requests at the per-request cap."""
SMALL = 20
"""A budget a check may use up: at most this many requests."""

Client = Mapping[str, Any]


def _endpoints(c: Client) -> set[str]:
    return set(c.get("endpoints") or ())


def _rate(c: Client) -> int:
    return int((c.get("rate") or {}).get("requests", 0))


def _canonical(c: Client) -> Mapping[str, Any]:
    return c.get("canonical") or {}


def _amount(c: Client) -> Mapping[str, Any] | None:
    amount = _canonical(c).get("amount")
    return amount if isinstance(amount, Mapping) else None


def hash_key_allowed(c: Client, kid: str) -> bool:
    return HASH in _endpoints(c) and any(fnmatch.fnmatchcase(kid, p) for p in (c.get("hash") or {}).get("kids", ()))


def _signs_canonical(c: Client) -> bool:
    canonical = _canonical(c)
    rules = canonical.get("rules") or []
    pointers = [r.get("pointer") for r in rules] + ([_amount(c)["pointer"]] if _amount(c) else [])  # type: ignore[index]
    return (
        CANONICAL in _endpoints(c)
        and bool(canonical.get("types") or rules)
        and all(isinstance(p, str) and p.startswith("/") for p in pointers)
    )


def _open(c: Client) -> bool:
    amount = _amount(c)
    per_day_ok = True
    if amount is not None and amount.get("per_day") is not None:
        per_day_ok = int(amount["per_day"]) >= OPEN_DAYS * int(amount.get("per_request") or 1)
    return _rate(c) >= OPEN_REQUESTS and c.get("daily_signatures") is None and per_day_ok


def _trader(c: Client, kid: str) -> bool:
    amount = _amount(c)
    return (
        _open(c)
        and hash_key_allowed(c, kid)
        and _signs_canonical(c)
        and bool(_canonical(c).get("types"))
        and bool(_canonical(c).get("rules"))
        and amount is not None
        and amount.get("per_request") is not None
        and c.get("replay", "reject") == "reject"
    )


def _daily(c: Client, kid: str) -> bool:
    amount = _amount(c)
    if amount is None or amount.get("per_day") is None or not _signs_canonical(c):
        return False
    step = int(amount.get("per_request") or amount["per_day"])
    return int(amount["per_day"]) <= SMALL * step and _rate(c) >= SMALL + 5 and c.get("daily_signatures") is None


ROLES: dict[str, tuple[str, Callable[[Client, str], bool]]] = {
    "trader": (
        "signs both endpoints (payload types and rules, a per-request amount cap, the key in use) under "
        f"open limits (rate >= {OPEN_REQUESTS}, no daily signature cap, daily amount >= {OPEN_DAYS} requests), "
        "replay = reject",
        _trader,
    ),
    "idem": (
        "signs both endpoints under open limits with replay = return",
        lambda c, kid: _open(c) and hash_key_allowed(c, kid) and _signs_canonical(c) and c.get("replay") == "return",
    ),
    "reader": ("lists neither signing endpoint", lambda c, kid: not _endpoints(c) & {CANONICAL, HASH}),
    "hash_only": (
        "lists /sign/hash but not /sign/canonical",
        lambda c, kid: HASH in _endpoints(c) and CANONICAL not in _endpoints(c),
    ),
    "narrow": (
        "lists /sign/hash but may not use the key in use",
        lambda c, kid: HASH in _endpoints(c) and not hash_key_allowed(c, kid),
    ),
    "rate": (
        f"signs /sign/hash with the key in use under a rate limit of at most {SMALL} requests and no lower daily cap",
        lambda c, kid: (
            hash_key_allowed(c, kid)
            and 0 < _rate(c) <= SMALL
            and (c.get("daily_signatures") is None or int(c["daily_signatures"]) > SMALL * 2)
        ),
    ),
    "counted": (
        f"signs /sign/hash with the key in use under daily_signatures of at most {SMALL}",
        lambda c, kid: (
            hash_key_allowed(c, kid)
            and c.get("daily_signatures") is not None
            and int(c["daily_signatures"]) <= SMALL
            and _rate(c) >= int(c["daily_signatures"]) + 5
        ),
    ),
    "daily": (
        f"signs /sign/canonical under a daily amount cap reached within {SMALL} requests, rate >= {SMALL + 5}",
        _daily,
    ),
}


def pick(clients: Mapping[str, Client], usable: set[str], kid: str, role: str) -> str | None:
    """The first client (by name) with a usable token that fits ``role``."""
    fits = ROLES[role][1]
    for name in sorted(clients):
        if name in usable and fits(clients[name], kid):
            return name
    return None


def _set_pointer(doc: dict[str, Any], pointer: str, value: Any) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    for part in parts[:-1]:
        child = doc.get(part)
        if not isinstance(child, dict):
            child = doc[part] = {}
        doc = child
    doc[parts[-1]] = value


def _drop_pointer(doc: dict[str, Any], pointer: str) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    for part in parts[:-1]:
        doc = doc.get(part, {})
    doc.pop(parts[-1], None)


MISSING = object()
"""A payload member left out."""


def other_json_type(value: Any) -> Any:
    """A value of another JSON type that a lax comparison might still take for ``value``."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return str(value)
    return True


def default_amount(c: Client) -> int:
    amount = _amount(c)
    cap = None if amount is None else amount.get("per_request")
    return 10 if cap is None else min(10, int(cap))


def payload(c: Client, n: int | str, *, kind: Any = None, rule: Any = None, amount: Any = None) -> bytes:
    """A canonical payload ``c`` may sign (unique by ``n``); ``kind``, ``rule`` (the first rule's
    value) and ``amount`` replace what would be allowed (:data:`MISSING` leaves the member out)."""
    canonical = _canonical(c)
    doc: dict[str, Any] = {"kc_n": n}
    types = sorted(canonical.get("types") or ())
    if types or kind is not None:
        chosen = types[0] if kind is None else kind
        if chosen is not MISSING:
            doc["type"] = chosen
    for i, r in enumerate(canonical.get("rules") or ()):
        value = r["in"][0] if i or rule is None else rule
        if value is MISSING:
            _drop_pointer(doc, r["pointer"])
        else:
            _set_pointer(doc, r["pointer"], value)
    caps = _amount(c)
    if caps is not None:
        value = default_amount(c) if amount is None else amount
        if value is MISSING:
            _drop_pointer(doc, caps["pointer"])
        else:
            _set_pointer(doc, caps["pointer"], value)
    return canonicalize_payload(doc)


SERVICE_CLIENTS = ("trader", "idem", "rate", "reader", "narrow", "counted", "daily")

SERVICE_POLICY = """\
format = "kmsconform-policy/1"
mode = "{mode}"

[admin]
token_file = "admin.token"

[kill_switch]
file = "state/kill-switch"

[replay]
window_seconds = 600

[audit]
path = "state/audit.sqlite"
key_file = "state/audit-key.pem"

[clients.trader]
token_file = "trader.token"
endpoints = ["/sign/canonical", "/sign/hash"]
rate = {{ requests = 1000, per_seconds = 3600 }}
hash = {{ kids = ["signing-proxy-*"] }}

[clients.trader.canonical]
types = ["trade"]
rules = [{{ pointer = "/action", in = ["buy", "sell"] }}]
amount = {{ pointer = "/amount", per_request = 100 }}

[clients.idem]
token_file = "idem.token"
endpoints = ["/sign/canonical", "/sign/hash"]
rate = {{ requests = 1000, per_seconds = 3600 }}
replay = "return"
canonical = {{ types = ["trade"], rules = [{{ pointer = "/action", in = ["buy", "sell"] }}] }}
hash = {{ kids = ["signing-proxy-*"] }}

[clients.rate]
token_file = "rate.token"
endpoints = ["/sign/hash"]
rate = {{ requests = 5, per_seconds = 3600 }}
hash = {{ kids = ["signing-proxy-*"] }}

[clients.reader]
token_file = "reader.token"

[clients.narrow]
token_file = "narrow.token"
endpoints = ["/sign/hash"]
rate = {{ requests = 1000, per_seconds = 3600 }}
hash = {{ kids = ["another-key-*"] }}

[clients.counted]
token_file = "counted.token"
endpoints = ["/sign/hash"]
rate = {{ requests = 1000, per_seconds = 3600 }}
daily_signatures = 3
hash = {{ kids = ["signing-proxy-*"] }}

[clients.daily]
token_file = "daily.token"
endpoints = ["/sign/canonical"]
rate = {{ requests = 1000, per_seconds = 3600 }}

[clients.daily.canonical]
types = ["trade"]
rules = [{{ pointer = "/action", in = ["buy", "sell"] }}]
amount = {{ pointer = "/amount", per_request = 100, per_day = 250 }}
"""


def write_service_policy(folder: Path, *, mode: str = "enforce", kids: str = "signing-proxy-*") -> Path:
    """Write ``policy.toml`` with one client per role and a fresh token file for each (and the
    admin) into the new directory ``folder``: a policy to start a service with for certification
    (``kmsconform emulate signing-proxy --policy FILE``), then given to the suite with
    ``--kmsconform-policy``. ``kids``: the pattern of the service's key ids."""
    folder.mkdir()
    (folder / "state").mkdir()
    for name in (*SERVICE_CLIENTS, "admin"):
        (folder / f"{name}.token").write_text(f"kc-{name}-{secrets.token_urlsafe(18)}\n")
    path = folder / "policy.toml"
    path.write_text(SERVICE_POLICY.format(mode=mode).replace("signing-proxy-*", kids))
    return path
