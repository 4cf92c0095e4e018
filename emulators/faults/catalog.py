"""The realistic errors each backend answers with, by name.

Every name resolves to an error *class* (a :class:`BackendErrorCode` value: throttled, internal,
unavailable, timeout, ...). A rule names an error in one backend's vocabulary; when it hits a
request of another backend, that backend's own error of the same class is answered instead, so
one plan can be pointed at any backend.

The errors themselves, and their wire shapes, are each kind's :class:`~.vocabulary.FaultVocabulary`
(the built-in ones in :mod:`.vocabularies`), found through the table of kinds.
"""

from __future__ import annotations

from pytest_kmsconform.reference_impl.errors import BackendErrorCode

from .errors import FaultPlanError
from .vocabulary import WireError, vocabularies

__all__ = ["WireError", "error_class", "fault_kinds", "wire_error"]


def fault_kinds() -> tuple[str, ...]:
    """The kinds a plan may name (those with a fault vocabulary)."""
    return tuple(vocabularies())


def error_class(name: str, backend: str | None = None) -> BackendErrorCode:
    """The error class of ``name`` (looked up in ``backend``'s vocabulary, or in any)."""
    known_vocabularies = vocabularies()
    kinds = (backend,) if backend is not None else tuple(known_vocabularies)
    for kind in kinds:
        vocabulary = known_vocabularies.get(kind)
        entry = vocabulary.errors.get(name) if vocabulary is not None else None
        if entry is not None:
            return entry.code
    where = f"backend {backend}" if backend is not None else "any backend"
    known = sorted({n for k in kinds if k in known_vocabularies for n in known_vocabularies[k].errors})
    raise FaultPlanError(f"unknown error {name!r} for {where}; known: {', '.join(known)}")


def wire_error(kind: str, name: str) -> WireError:
    """The error ``kind`` answers for a rule naming ``name`` (translated by class if needed)."""
    vocabulary = vocabularies().get(kind)
    if vocabulary is None:
        raise FaultPlanError(f"backend {kind} has no fault vocabulary")
    own = vocabulary.errors
    if name in own:
        return own[name]
    code = error_class(name)
    defaults = vocabulary.default_for_class
    fallback = defaults.get(code) or defaults.get(BackendErrorCode.INTERNAL)
    if fallback is None:
        raise FaultPlanError(f"backend {kind} has no error of class {code.value}")
    return own[fallback]
