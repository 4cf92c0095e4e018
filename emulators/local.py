"""The ``local`` and ``mock`` backends: nothing to start, keys live in the signer's process.

They exist as providers so the plugin treats every backend alike; their handles carry the env
lines that select them (seed 001: ``AUDIT_SIGNING_KEY``/``AUDIT_SIGNING_ALG``,
``MOCK_AUDIT_SIGNING_KEY``), with a fresh dev-only secret per run.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from pytest_kmsconform import kinds
from pytest_kmsconform.backend_api import BackendHandle


@dataclass(frozen=True)
class InProcessProvider:
    name: str
    kind: str
    description: str
    embedded: bool = True

    def unavailable_reason(self) -> str | None:
        return None

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        if options:
            raise ValueError(f"unknown option(s) {', '.join(sorted(options))}; {self.name} takes none")
        secret = secrets.token_hex(16)
        env = (
            {"MOCK_AUDIT_SIGNING_KEY": secret}
            if self.kind == kinds.MOCK
            else {"AUDIT_SIGNING_SECRET": secret, "AUDIT_SIGNING_ALG": "hmac-sha256"}
        )
        yield BackendHandle(name=self.name, kind=self.kind, env=env, version="in-process", namespace=namespace)


PROVIDER = InProcessProvider(kinds.LOCAL, kinds.LOCAL, "local-key fallback: keys in the signer's memory")
MOCK_PROVIDER = InProcessProvider(kinds.MOCK, kinds.MOCK, "deterministic HMAC-SHA256 mock signer (dev/CI only)")
