"""Mutants of the reference signer's behaviour under backend faults (the KC-REL suite)."""

from __future__ import annotations

from typing import Any

from pytest_kmsconform.mutation import mutant


@mutant(
    "pytest_kmsconform.reference_impl.retry:RetryPolicy.ceiling",
    bug="retry without backoff: throttled calls are retried at once (the backoff ceiling is always 0)",
    violates="AWS KMS ThrottlingException guidance (retry with exponential backoff); issue 10",
    backends=("signing-proxy",),
    select="throttl",
)
def retry_without_backoff(original: Any) -> Any:
    def ceiling(self: Any, retry: int) -> float:
        return 0.0

    return ceiling
