"""Async half of the ``devtools_testutils`` stand-in (async tests are not run)."""

from __future__ import annotations

from . import recorded_by_proxy as recorded_by_proxy_async

__all__ = ["recorded_by_proxy_async"]
