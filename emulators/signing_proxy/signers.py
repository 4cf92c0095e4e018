"""Builds the signer the proxy wraps, from a backend name.

* ``local`` / ``mock``: the in-memory reference backends, in a :class:`KeyRing` (admin enabled).
* any other registered backend (``aws-kms``, ``vault``, ``yubihsm``...): its provider is started,
  ``pytest_kmsconform.reference_impl.backends.<kind>.key_backend_from_handle(handle)`` gives the
  :class:`KeyBackend`, wrapped in a key ring; options ``backend.<k>=<v>`` go to that provider.
* ``env:<module>``: ``pytest_kmsconform.reference_impl.backends.<module>.signer_from_env(env)``,
  for a real deployment whose keys live in a KMS configured by the seed's variables (no admin).
"""

from __future__ import annotations

import importlib
import secrets
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.backends.mock import MockBackend
from pytest_kmsconform.reference_impl.errors import KmsConformError
from pytest_kmsconform.reference_impl.jwk import private_key_from_pem_or_der
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.signer import KeyBackend, Signer

from .errors import ProxyConfigError

BACKENDS_PACKAGE = "pytest_kmsconform.reference_impl.backends"
DEFAULT_LABEL = "signing-proxy"
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


def _module(kind: str) -> Any:
    name = f"{BACKENDS_PACKAGE}.{kind.replace('-', '_')}"
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ProxyConfigError(f"no reference backend module {name}: {exc}") from None


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
    if backend == "local":
        return BuiltSigner(_ring_signer(_local_backend(options), options), "local")
    if backend == "mock":
        secret = options.get("mock_secret") or secrets.token_hex(16)
        return BuiltSigner(_ring_signer(MockBackend(secret.encode("utf-8")), options), "mock")
    if backend.startswith("env:"):
        module = _module(backend.removeprefix("env:"))
        signer: Signer = module.signer_from_env(env)
        return BuiltSigner(signer, f"{signer.backend} (from env)")
    if backend == "signing-proxy":
        raise ProxyConfigError("the signing proxy cannot wrap itself")
    from pytest_kmsconform import backend_registry

    try:
        provider = backend_registry.get(backend)
    except KeyError as exc:
        raise ProxyConfigError(str(exc.args[0])) from None
    reason = provider.unavailable_reason()
    if reason is not None:
        raise ProxyConfigError(f"backend {backend} cannot start here: {reason}")
    inner = {k.removeprefix("backend."): v for k, v in options.items() if k.startswith("backend.")}
    handle = stack.enter_context(provider.start(namespace=namespace, port=0, options=inner))
    key_backend = _module(handle.kind).key_backend_from_handle(handle)
    if not isinstance(key_backend, KeyBackend):
        raise ProxyConfigError(f"{handle.kind}.key_backend_from_handle did not return a KeyBackend")
    return BuiltSigner(_ring_signer(key_backend, options), f"{backend} ({handle.version})")
