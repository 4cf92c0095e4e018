"""Whether this process exits when its pytest session ends: the ``kmsconform`` command declares
it (:func:`declare`); an xdist worker is recognised by the backend pool itself. The pool then
leaves what it froze frozen (:mod:`gc`), sparing pytest's last collection and the interpreter's
passes at exit a walk over every client library, model and emulator (about a second)."""

from __future__ import annotations

_declared = False


def declare() -> None:
    """This process ends with its pytest session (call before the session starts)."""
    global _declared
    _declared = True


def declared() -> bool:
    return _declared
