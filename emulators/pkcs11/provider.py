"""Backend providers of kind ``pkcs11``: ``pkcs11`` (a real SoftHSM2 token made for this run; in the
default selection when SoftHSM2 and python-pkcs11 are installed) and ``pkcs11-module`` (any PKCS#11
module, e.g. a real HSM's, opt-in via ``--kmsconform-pkcs11-module`` / ``KMSCONFORM_PKCS11_MODULE``).

Both handles carry the variables a PKCS#11 client needs: ``PKCS11_MODULE``, ``PKCS11_TOKEN_LABEL``,
``PKCS11_PIN`` (and, for SoftHSM2, ``SOFTHSM2_CONF``). The SoftHSM2 PIN is a random dev-only value
made for this run; a real module's PIN comes from ``KMSCONFORM_PKCS11_PIN`` and is never printed by
kmsconform except as the env line a client needs (``kmsconform emulate``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pytest_kmsconform import kinds
from pytest_kmsconform.backend_api import BackendHandle

from . import softhsm

MODULE_ENV = "KMSCONFORM_PKCS11_MODULE"
TOKEN_LABEL_ENV = "KMSCONFORM_PKCS11_TOKEN_LABEL"
PIN_ENV = "KMSCONFORM_PKCS11_PIN"


@dataclass(frozen=True)
class Pkcs11Details:
    """In-process details of the ``pkcs11`` handle: the SoftHSM2 token made for this run."""

    token: softhsm.SoftHsmToken


class SoftHsmProvider:
    """``pkcs11``: this process's SoftHSM2 token (:func:`~.softhsm.process_token`)."""

    name = kinds.PKCS11
    kind = kinds.PKCS11
    description = "a real SoftHSM2 token (Debian softhsm2) in a private directory, through its PKCS#11 module"

    @property
    def embedded(self) -> bool:
        """In the default selection exactly when it can start here (SoftHSM2 and python-pkcs11 installed)."""
        return softhsm.unavailable_reason() is None

    def unavailable_reason(self) -> str | None:
        return softhsm.unavailable_reason()

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        if options:
            raise ValueError(f"the pkcs11 backend takes no options, got {', '.join(sorted(options))}")
        try:
            token = softhsm.process_token()
        except softhsm.SoftHsmUnavailable as exc:
            raise RuntimeError(f"backend {self.name} cannot start: {exc}") from None
        yield BackendHandle(
            name=self.name,
            kind=self.kind,
            env={
                "PKCS11_MODULE": str(token.module),
                "PKCS11_TOKEN_LABEL": token.label,
                "PKCS11_PIN": token.pin,
                "SOFTHSM2_CONF": str(token.conf),
                # a throw-away token: the reference backend may make the next RSA key in the background
                "KMSCONFORM_PKCS11_RSA_SPARE": "1",
            },
            version=token.version,
            namespace=namespace,
            details=(Pkcs11Details(token),),
        )


class ModuleProvider:
    """``pkcs11-module``: a token behind any PKCS#11 module (a real HSM), named by the user."""

    name = "pkcs11-module"
    kind = kinds.PKCS11
    description = f"a token behind the PKCS#11 module at ${MODULE_ENV} (label ${TOKEN_LABEL_ENV}, PIN ${PIN_ENV})"
    embedded = False

    def unavailable_reason(self) -> str | None:
        if not os.environ.get(MODULE_ENV):
            return f"{MODULE_ENV} is not set and --kmsconform-pkcs11-module not given (the path of a PKCS#11 module)"
        return _missing_settings()

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        module = (options or {}).get("module") or os.environ.get(MODULE_ENV)
        if not module:
            raise RuntimeError(f"backend {self.name} cannot start: {self.unavailable_reason()}")
        if not Path(module).is_file():
            raise RuntimeError(f"backend {self.name} cannot start: no PKCS#11 module at {module}")
        missing = _missing_settings()
        if missing is not None:
            raise RuntimeError(f"backend {self.name} cannot start: {missing}")
        yield BackendHandle(
            name=self.name,
            kind=self.kind,
            env={
                "PKCS11_MODULE": module,
                "PKCS11_TOKEN_LABEL": os.environ[TOKEN_LABEL_ENV],
                "PKCS11_PIN": os.environ[PIN_ENV],
            },
            version=f"PKCS#11 module {Path(module).name}",
            namespace=namespace,
        )


def _missing_settings() -> str | None:
    absent = [name for name in (TOKEN_LABEL_ENV, PIN_ENV) if not os.environ.get(name)]
    return f"{' and '.join(absent)} not set (the token's label and user PIN)" if absent else None


PROVIDER = SoftHsmProvider()
MODULE_PROVIDER = ModuleProvider()
