"""Assertion helpers for checks; registered for assertion rewriting and hidden from tracebacks.

Rejection is an exception (``docs/adapter.md``): :func:`assert_rejects` passes when the call
raises, :func:`assert_accepts` fails with the exception when it does. :func:`eventually` retries
within a bounded window for eventually consistent backends, with backoff, never a fixed sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def assert_accepts(call: Callable[[], object], what: str) -> None:
    """Fail unless ``call()`` returns normally."""
    __tracebackhide__ = True
    try:
        call()
    except Exception as exc:  # the implementation rejected what it must accept
        raise AssertionError(f"{what}: rejected with {type(exc).__name__}: {exc}") from exc


def assert_rejects(call: Callable[[], object], what: str) -> Exception:
    """Fail unless ``call()`` raises; return the exception for further checks."""
    __tracebackhide__ = True
    try:
        result = call()
    except Exception as exc:  # rejection is what we want
        return exc
    shown = repr(result)
    shown = shown if len(shown) <= 80 else f"a {type(result).__name__}"
    raise AssertionError(f"{what}: accepted (returned {shown}) but must be rejected")


def poll_until(predicate: Callable[[], bool], window_s: float, *, first_interval_s: float = 0.05) -> bool:
    """Whether ``predicate()`` became true within ``window_s`` (tried at once, then with backoff)."""
    deadline = time.monotonic() + window_s
    interval = first_interval_s
    while True:
        if predicate():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(interval, remaining))
        interval = min(interval * 2, 1.0)


def eventually(predicate: Callable[[], bool], window_s: float, what: str, *, first_interval_s: float = 0.05) -> None:
    """Fail unless ``predicate()`` becomes true within ``window_s`` (tried at once, then with backoff)."""
    __tracebackhide__ = True
    if not poll_until(predicate, window_s, first_interval_s=first_interval_s):
        raise AssertionError(f"{what}: still not true after {window_s:g} s")


def codes_and_indexes(findings: object) -> list[tuple[str, int | None]]:
    """``[(code, index), ...]`` of verifier findings; codes as strings (enum values accepted)."""
    result: list[tuple[str, int | None]] = []
    for finding in findings:  # type: ignore[attr-defined]
        code = getattr(finding, "code", None)
        code_text = str(getattr(code, "value", code))
        index = getattr(finding, "index", None)
        result.append((code_text, index if isinstance(index, int) else None))
    return result
