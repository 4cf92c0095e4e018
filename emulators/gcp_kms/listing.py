"""``filter``, ``order_by`` and paging of the List RPCs (AIP-160 subset, AIP-132, AIP-158).

Filters: clauses ``field = value``, ``field != value`` or ``field:value`` joined by ``AND``; the
field is a (dotted, snake_case or camelCase) path into the resource, enums compare by name,
``labels.KEY`` reads a label. ``OR``, parentheses and functions raise :class:`EmulatorGap`.
``order_by``: ``name`` or ``create_time`` with optional ``asc``/``desc``. Page tokens are opaque.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from .errors import EmulatorGap, invalid

M = TypeVar("M")
DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 1000
_CLAUSE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(!=|=|:)\s*(\"[^\"]*\"|'[^']*'|[^\s]+)\s*")
_CAMEL = re.compile(r"(?<!^)([A-Z])")


def _snake(path: str) -> str:
    return _CAMEL.sub(r"_\1", path).lower() if not path.startswith("labels.") else path


def _value(message: Any, path: str) -> str:
    if path.startswith("labels."):
        return str(dict(message.labels).get(path[len("labels.") :], ""))
    value: Any = message
    for part in path.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise invalid(f"Invalid filter: unknown field {path!r}.") from None
    if isinstance(value, enum.Enum):
        return value.name
    return str(value)


def apply_filter(items: Sequence[M], text: str) -> list[M]:
    if not text.strip():
        return list(items)
    if re.search(r"\bOR\b|[()]", text):
        raise EmulatorGap(f"filter {text!r} (only AND of simple comparisons is emulated)")
    clauses = []
    for raw in re.split(r"\bAND\b", text):
        m = _CLAUSE.fullmatch(raw)
        if m is None:
            raise invalid(f"Invalid filter: {text!r}.")
        field, op, value = _snake(m.group(1)), m.group(2), m.group(3).strip("\"'")
        clauses.append((field, op, value))
    out = []
    for item in items:
        ok = True
        for field, op, value in clauses:
            actual = _value(item, field)
            hit = value in actual if op == ":" else actual == value
            if hit == (op == "!="):
                ok = False
                break
        if ok:
            out.append(item)
    return out


def apply_order(items: list[M], order_by: str) -> list[M]:
    text = order_by.strip()
    if not text:
        return items
    parts = text.split()
    field = _snake(parts[0])
    if field not in ("name", "create_time") or len(parts) > 2 or (len(parts) == 2 and parts[1] not in ("asc", "desc")):
        raise invalid(f"Invalid order_by: {order_by!r}.")
    return sorted(items, key=lambda m: str(getattr(m, field)), reverse=len(parts) == 2 and parts[1] == "desc")


def page(items: list[M], page_size: int, page_token: str) -> tuple[list[M], str]:
    """One page and the next page token (empty on the last page)."""
    if page_size < 0:
        raise invalid("page_size must not be negative.")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    start = 0
    if page_token:
        try:
            start = int(base64.urlsafe_b64decode(page_token.encode()).decode().removeprefix("offset:"))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise invalid(f"Invalid page_token: {page_token!r}.") from None
    end = start + size
    token = base64.urlsafe_b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], token
