"""Builds the signer the proxy wraps, from a backend name.

* ``local`` / ``mock``: the in-memory reference backends, in a :class:`KeyRing` (admin enabled).
* any other backend in the table of kinds (:mod:`pytest_kmsconform.kinds`: ``aws-kms``, ``vault``,
  ``yubihsm``...): its provider is started, and its kind's reference key backend, built from the
  handle's env lines, is wrapped in a key ring; options ``backend.<k>=<v>`` go to that provider.
* ``env:<kind>`` (``env:aws-kms``; the module spelling ``env:aws_kms`` also works): the kind's
  ``signer_from_env(env)``, for a real deployment whose keys live in a KMS configured by the
  seed's variables (no admin).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.backends.mock import MockBackend
from pytest_kmsconform.reference_impl.config import key_backend_from_env, kind_signer_from_env
from pytest_kmsconform.reference_impl.errors import KmsConformError
from pytest_kmsconform.reference_impl.jwk import private_key_from_pem_or_der
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.signer import KeyBackend, Signer

from pytest_kmsconform import kinds
from pytest_kmsconform.backend_api import BackendProvider

from .errors import ProxyConfigError

DEFAULT_LABEL = kinds.SIGNING_PROXY
PREFERENCE = (
    Algorithm.ED25519,
    Algorithm.ECDSA_P256_SHA256,
    Algorithm.RSA_PSS_SHA256,
    Algorithm.RSA_SHA256,
    Algorithm.HMAC_SHA256,
)


@dataclass(frozen=True)
class BuiltSigner:
    signer: Signer
    description: str
    """For the handle's version string, e.g. ``local`` or ``vault (OpenBao 2.7.2)``."""


def choose_alg(backend: KeyBackend, requested: str | None) -> Algorithm:
    """The requested algorithm, or the first of :data:`PREFERENCE` the backend can do."""
    if requested:
        alg = Algorithm.parse(requested)
        if alg not in backend.algorithms():
            raise ProxyConfigError(f"backend {backend.name} cannot create {alg.value} keys")
        return alg
    for alg in PREFERENCE:
        if alg in backend.algorithms():
            return alg
    raise ProxyConfigError(f"backend {backend.name} offers no algorithm")


def _local_backend(options: Mapping[str, str]) -> LocalKeyBackend:
    key_file, seed = options.get("key_file"), options.get("seed")
    if key_file and seed:
        raise ProxyConfigError("give key_file or seed, not both")
    if key_file:
        try:
            data = Path(key_file).read_bytes()
        except OSError as exc:
            raise ProxyConfigError(f"cannot read key_file: {exc}") from None
        alg = options.get("alg")
        if alg == Algorithm.HMAC_SHA256.value:
            return LocalKeyBackend(initial=data.strip())
        return LocalKeyBackend(initial=private_key_from_pem_or_der(data))
    return LocalKeyBackend(seed=seed.encode("utf-8") if seed else None)


def _provider(name: str) -> BackendProvider:
    table = kinds.backends()
    if name not in table:
        raise ProxyConfigError(f"unknown backend {name!r}; known: {', '.join(sorted(table))}")
    try:
        provider = kinds.resolve(table[name][0].provider)
    except ImportError as exc:
        raise ProxyConfigError(f"backend {name} cannot start here: {exc}") from None
    return cast(BackendProvider, provider)


def _ring_signer(backend: KeyBackend, options: Mapping[str, str]) -> RingSigner:
    ring = KeyRing(backend, choose_alg(backend, options.get("alg")), options.get("label") or DEFAULT_LABEL)
    ring.rotate(activate=True)
    return RingSigner(ring)


@contextmanager
def open_signer(
    backend: str, options: Mapping[str, str], *, namespace: str, env: Mapping[str, str]
) -> Iterator[BuiltSigner]:
    """Yield the signer for ``backend`` (see the module docstring); started backends stop on exit."""
    with ExitStack() as stack:
        try:
            built = _build(stack, backend, options, namespace=namespace, env=env)
        except KmsConformError as exc:
            raise ProxyConfigError(f"cannot build the {backend} signer: {exc}") from None
        stack.callback(built.signer.close)
        yield built


def _build(
    stack: ExitStack, backend: str, options: Mapping[str, str], *, namespace: str, env: Mapping[str, str]
) -> BuiltSigner:
    if backend == kinds.LOCAL:
        return BuiltSigner(_ring_signer(_local_backend(options), options), kinds.LOCAL)
    if backend == kinds.MOCK:
        secret = options.get("mock_secret") or secrets.token_hex(16)
        return BuiltSigner(_ring_signer(MockBackend(secret.encode("utf-8")), options), kinds.MOCK)
    if backend.startswith("env:"):
        kind = backend.removeprefix("env:").replace("_", "-")
        if kinds.find(kind) is None:
            raise ProxyConfigError(f"env:{kind}: unknown backend kind; known: {', '.join(kinds.names())}")
        signer: Signer = kind_signer_from_env(kind, env)
        return BuiltSigner(signer, f"{signer.backend} (from env)")
    if backend == kinds.SIGNING_PROXY:
        raise ProxyConfigError("the signing proxy cannot wrap itself")
    provider = _provider(backend)
    reason = provider.unavailable_reason()
    if reason is not None:
        raise ProxyConfigError(f"backend {backend} cannot start here: {reason}")
    inner = {k.removeprefix("backend."): v for k, v in options.items() if k.startswith("backend.")}
    handle = stack.enter_context(provider.start(namespace=namespace, port=0, options=inner))
    key_backend = key_backend_from_env(handle.kind, handle.env, handle.namespace)
    return BuiltSigner(_ring_signer(key_backend, options), f"{backend} ({handle.version})")
