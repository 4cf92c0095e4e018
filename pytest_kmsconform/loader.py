"""Turn a ``--kmsconform-impl`` value into an :class:`~pytest_kmsconform.adapter.Implementation`.

Forms (the scheme is the text before the first ``:`` when it names a registered loader):

* ``reference``: the reference implementation (:mod:`pytest_kmsconform.reference_adapter`);
* ``package.module:attribute``: a Python object; a callable (class or factory) is called with
  no arguments, anything else is used as the implementation;
* ``http://...``, ``https://...``, ``cmd:<command line>``: language-neutral adapters; their
  loaders register themselves in :data:`SCHEMES` (one line each) when they exist.

New schemes plug in with one line in :data:`SCHEMES` or at run time with :func:`register_scheme`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pytest_kmsconform.adapter import AdapterError, Implementation

Loader = Callable[[str], Implementation]


@dataclass(frozen=True)
class AdapterSettings:
    """Settings the language-neutral loaders (``http``, ``https``, ``cmd``) take besides the spec.

    :param api_key: API key for an HTTP implementation (secret, kept out of reprs).
    :param admin_key: admin key for its optional ``/admin/*`` endpoints (secret).
    :param timeout_s: longest wait for one answer.
    :param policy_file: the ``kmsconform-policy/1`` file an HTTP implementation enforces (its
        ``token_file`` tokens are what the policy suite presents).
    """

    api_key: str | None = field(default=None, repr=False)
    admin_key: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    policy_file: Path | None = None


SettingsLoader = Callable[[str, AdapterSettings], Implementation]

SCHEMES: dict[str, str] = {
    "reference": "pytest_kmsconform.reference_adapter:load",
    "http": "pytest_kmsconform.adapters.http:load",
    "https": "pytest_kmsconform.adapters.http:load",
    "cmd": "pytest_kmsconform.adapters.cmd.adapter:load",
}
"""scheme -> ``module:function`` taking the full spec and returning an implementation."""

RESERVED = frozenset({"http", "https", "cmd"})
"""Schemes defined by the adapter protocol whose loaders ship separately."""

_runtime: dict[str, Loader] = {}
_PYTHON_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class ImplLoadError(AdapterError):
    """The ``--kmsconform-impl`` value cannot be turned into an implementation."""


def register_scheme(scheme: str, loader: Loader) -> None:
    """Register a loader for ``scheme`` (used as ``scheme:...`` or ``scheme://...``)."""
    _runtime[scheme] = loader


def scheme_of(spec: str) -> str:
    """The scheme of a spec: a registered/reserved scheme name, else ``python``."""
    if spec in SCHEMES or spec in _runtime:
        return spec
    head, sep, _ = spec.partition(":")
    if sep and (head in SCHEMES or head in _runtime or head in RESERVED):
        return head
    return "python"


def _resolve(path: str) -> Loader:
    module_name, _, attr = path.partition(":")
    loader: Loader = getattr(importlib.import_module(module_name), attr)
    return loader


def resolve_python(spec: str) -> object:
    """Import ``package.module`` and return its ``attribute`` (not called); every failure is an
    :class:`ImplLoadError`."""
    if not _PYTHON_SPEC.match(spec):
        raise ImplLoadError(
            f"--kmsconform-impl={spec!r} is not 'reference', 'package.module:attribute', 'http://...' or 'cmd:...'"
        )
    module_name, _, attr_path = spec.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImplLoadError(f"--kmsconform-impl={spec!r}: cannot import {module_name}: {exc}") from None
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise ImplLoadError(f"--kmsconform-impl={spec!r}: {module_name} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    return obj


def load_python(spec: str) -> Implementation:
    """Import ``package.module:attribute`` and call it when it is callable."""
    obj = resolve_python(spec)
    if (callable(obj) and not hasattr(obj, "capabilities")) or isinstance(obj, type):
        obj = obj()
    return check_implementation(obj, spec)


def check_implementation(obj: object, spec: str) -> Implementation:
    """Return ``obj`` if it has the :class:`Implementation` shape, else raise :class:`ImplLoadError`."""
    missing = [name for name in ("name", "version", "capabilities", "signer") if not hasattr(obj, name)]
    if missing:
        raise ImplLoadError(f"--kmsconform-impl={spec!r} gave {type(obj).__name__} without {', '.join(missing)}")
    if not isinstance(obj, Implementation):
        raise ImplLoadError(f"--kmsconform-impl={spec!r} gave {type(obj).__name__}, not an Implementation")
    return obj


def load_implementation(spec: str, settings: AdapterSettings | None = None) -> Implementation:
    """Load the implementation named by ``spec``; every failure is an :class:`ImplLoadError`.

    The reserved schemes' loaders also receive ``settings`` (defaults when ``None``).
    """
    scheme = scheme_of(spec)
    if scheme == "python":
        return load_python(spec)
    if scheme in _runtime:
        return check_implementation(_runtime[scheme](spec), spec)
    if scheme not in SCHEMES:
        raise ImplLoadError(f"--kmsconform-impl scheme {scheme!r} is reserved but no adapter for it is installed")
    if scheme in RESERVED:
        with_settings: SettingsLoader = _resolve(SCHEMES[scheme])  # type: ignore[assignment]
        return check_implementation(with_settings(spec, settings or AdapterSettings()), spec)
    return check_implementation(_resolve(SCHEMES[scheme])(spec), spec)
