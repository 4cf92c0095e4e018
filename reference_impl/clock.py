"""Time as RFC 3339 UTC strings, with an injectable clock (tests and seeded runs pass their own)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """``2026-11-22T12:00:00.123456Z`` (always UTC, microseconds, ``Z`` suffix)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset; naive times are refused."""
    if not isinstance(text, str):
        raise ValueError("timestamp must be a string")
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return value.astimezone(UTC)
