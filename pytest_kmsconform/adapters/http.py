"""``--kmsconform-impl=http://host:port``: certify any service that speaks the signing-proxy API.

The service holds its own keys and its own backend, so the suites' backend handle is not used: the
checks run once, on the ``local`` target (:data:`TARGET_KIND`), with the service's one algorithm
(``GET /health``). Declaring other kinds would run the same checks again against the same service,
and the fault-injection checks would wrap a handle the service never uses. Capabilities:

* ``sign`` always (``/sign/hash``, ``/verify``, ``/keys``, ``/health``);
* ``rotation`` and ``revocation`` only when ``/health`` says ``"admin": true`` *and* an admin key
  is configured (``--kmsconform-admin-key`` / ``SIGNING_PROXY_ADMIN_KEY``): ``/admin/rotate``,
  ``/admin/revoke``. Each signer then starts with a fresh key version (like a fresh key per label);
* ``policy`` when ``/health`` reports a policy gate (``"policy": {...}``): the KC-POL checks run
  against the gate as it runs (:mod:`.http_policy`, ``running_policy()``), under the policy file
  given with ``--kmsconform-policy``;
* everything else (verifier, audit log, guard) is not applicable: the API cannot express it.

The client is the reference :class:`SigningProxySigner`, which checks every asymmetric signature
against the published key set before returning it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pytest_kmsconform import kinds
from pytest_kmsconform.adapter import ImplementationBase, ImplSigner, UndeclaredCapability
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.capabilities import Capabilities, Capability
from pytest_kmsconform.loader import AdapterSettings, ImplLoadError
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.signing_proxy import (
    SigningProxyAdmin,
    SigningProxySigner,
    ssl_context_from_env,
)
from pytest_kmsconform.reference_impl.errors import ConfigurationError, KmsConformError
from pytest_kmsconform.reference_impl.signature import Signature

from .http_policy import HttpRunningPolicy

TARGET_KIND = kinds.LOCAL
"""The one backend kind declared: its (cheap, in-process) handle is what the checks are given."""


class HttpSigner:
    """One signer over the service: the current key signs; rotate/revoke go to ``/admin/*``."""

    def __init__(self, client: SigningProxySigner, admin: SigningProxyAdmin | None, alg: Algorithm) -> None:
        self.client = client
        self.admin = admin
        self._alg = alg

    @property
    def backend(self) -> str:
        return "http"

    @property
    def alg(self) -> Algorithm:
        return self._alg

    @property
    def kid(self) -> str:
        kid: str = self.client.kid
        return kid

    def sign_digest(self, digest: bytes) -> Signature:
        return self.client.sign_digest(digest)

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        self.client.verify_signature(digest, signature)

    def jwks(self) -> dict[str, Any]:
        jwks: dict[str, Any] = self.client.jwks()
        return jwks

    def _admin(self, capability: Capability) -> SigningProxyAdmin:
        if self.admin is None:
            raise UndeclaredCapability(capability)
        return self.admin

    def rotate(self) -> str:
        result = self._admin(Capability.ROTATION).rotate()
        kid = result.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ConfigurationError(f"/admin/rotate answered without a kid: {sorted(result)}")
        return kid

    def revoke(self, kid: str, reason: str) -> None:
        self._admin(Capability.REVOCATION).revoke(kid, reason)

    def close(self) -> None:
        self.client.close()


class HttpImplementation(ImplementationBase):
    """A signing service at ``url``; what it can do is read from ``GET /health`` once."""

    def __init__(self, url: str, settings: AdapterSettings, env: Mapping[str, str]) -> None:
        self.url = url.rstrip("/")
        self.client = SigningProxySigner(
            self.url,
            settings.api_key,
            keys_pin=env.get("SIGNING_PROXY_KEYS_PIN") or None,
            ssl_context=ssl_context_from_env(env) if self.url.startswith("https://") else None,
            timeout=settings.timeout_s,
        )
        health = self.client.health()
        try:
            self.alg = Algorithm(str(health["alg"]))
        except ValueError:
            raise ConfigurationError(f"{self.url}/health names an unknown alg {health['alg']!r}") from None
        self.name = f"http service at {self.url} ({health.get('backend', 'unknown backend')})"
        self.version = str(health.get("version", "unversioned"))
        advertised = health.get("admin") is True
        self.admin = SigningProxyAdmin(self.client, settings.admin_key) if advertised and settings.admin_key else None
        self._policy: HttpRunningPolicy | None = None
        if isinstance(health.get("policy"), dict):
            self._policy = HttpRunningPolicy(self.url, settings, self.client)
        self.admin_note = (
            "admin endpoints in use"
            if self.admin is not None
            else ("admin advertised but no admin key given" if advertised else "no admin endpoints advertised")
        )

    def capabilities(self) -> Capabilities:
        features = {Capability.SIGN}
        if self.admin is not None:
            features |= {Capability.ROTATION, Capability.REVOCATION}
        if self._policy is not None:
            features.add(Capability.POLICY)
        return Capabilities(
            features=frozenset(features), algorithms=frozenset({self.alg}), backends=frozenset({TARGET_KIND})
        )

    def signer(self, handle: BackendHandle, alg: Algorithm, *, label: str) -> ImplSigner:
        if alg is not self.alg:
            raise ConfigurationError(f"the service at {self.url} signs {self.alg.value}, not {alg.value}")
        if self.admin is not None:
            # A fresh key version per signer, as other implementations create a fresh key per label;
            # it also brings back a signing key after a check revoked the active one.
            self.admin.rotate()
        return HttpSigner(self.client, self.admin, self.alg)

    def running_policy(self) -> HttpRunningPolicy | None:
        """(POLICY) The service's gate as it runs, for the policy suite; ``None`` without one."""
        return self._policy

    def close(self) -> None:
        self.client.close()


def load(spec: str, settings: AdapterSettings) -> HttpImplementation:
    """Loader for the ``http`` and ``https`` schemes."""
    parts = urlsplit(spec)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ImplLoadError(f"--kmsconform-impl={spec!r}: expected http(s)://host:port[/base-path]")
    try:
        return HttpImplementation(spec, settings, os.environ)
    except KmsConformError as exc:
        raise ImplLoadError(f"--kmsconform-impl={spec!r}: {type(exc).__name__}: {exc}") from None
