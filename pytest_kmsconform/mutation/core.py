"""Mutant definitions, the zoo registry, and patching a target by its dotted path."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ZOO_PREFIX = "zoo_"
"""Zoo modules are the ``zoo_*.py`` files of the zoo directory (``tests/mutants/``)."""

ENV_MUTANT = "KMSCONFORM_MUTANT"
"""``<zoo module>:<mutant name>``: the mutant the startup hook applies in this process."""
ENV_LOG = "KMSCONFORM_MUTANT_LOG"
"""A file each process appends ``<pid> <target>`` to once it has applied the mutant."""

Make = Callable[[Any], Any]


class MutantTargetError(Exception):
    """A mutant's target does not exist (moved or renamed): fix the one ``target=`` line of the mutant."""


@dataclass(frozen=True)
class Mutant:
    """One defect: ``target`` (``package.module:Name.attr``) is replaced by ``make(original)``.

    :param bug: the bug class, in a few words.
    :param violates: the seed, RFC or spec section the defect breaks.
    :param backends: the fastest backends that expose it (``--kmsconform-backend``).
    :param select: a ``pytest -k`` expression that keeps the run to the suites that matter.
    :param impl: ``reference``; ``http`` (the reference signing proxy, started as a server process
        with the mutant, certified through ``--kmsconform-impl=http://...``); ``http-policy`` (the
        same, behind its policy gate under the policy suite's certification policy); or a ``cmd:`` spec.
    :param env: extra environment of the run's configuration (the reference run gets it too).
    :param switch: environment that *is* the defect, for a child that is not Python (the Node example
        reads ``KMSCONFORM_NODE_BROKEN``); set only in the mutant's run.
    :param fast: part of the subset plain ``pytest`` runs (``tests/mutants/test_zoo.py``).
    :param control: changes nothing; must survive and is not counted.
    """

    name: str
    module: str
    target: str
    make: Make
    bug: str
    violates: str
    backends: tuple[str, ...] = ("local",)
    select: str | None = None
    impl: str = "reference"
    env: Mapping[str, str] = field(default_factory=dict)
    switch: Mapping[str, str] = field(default_factory=dict)
    fast: bool = False
    control: bool = False

    @property
    def spec(self) -> str:
        """The value of ``KMSCONFORM_MUTANT`` for this mutant."""
        return f"{self.module}:{self.name}"


_REGISTRY: dict[str, Mutant] = {}


def mutant(
    target: str,
    *,
    bug: str,
    violates: str,
    backends: tuple[str, ...] = ("local",),
    select: str | None = None,
    impl: str = "reference",
    env: Mapping[str, str] | None = None,
    switch: Mapping[str, str] | None = None,
    fast: bool = False,
    control: bool = False,
) -> Callable[[Make], Make]:
    """Register the decorated ``make(original) -> replacement`` as a mutant named after the function."""

    def register(make: Make) -> Make:
        name = make.__name__
        module = make.__module__
        if name in _REGISTRY and _REGISTRY[name].module != module:
            raise ValueError(f"mutant {name!r} is defined in {module} and {_REGISTRY[name].module}")
        _REGISTRY[name] = Mutant(
            name,
            module,
            target,
            make,
            bug,
            violates,
            tuple(backends),
            select,
            impl,
            dict(env or {}),
            dict(switch or {}),
            fast,
            control,
        )
        return make

    return register


def load_zoo(directory: Path) -> list[Mutant]:
    """Import every ``zoo_*.py`` of ``directory`` (put on ``sys.path``) and return their mutants by name."""
    directory = directory.resolve()
    if not directory.is_dir():
        raise FileNotFoundError(f"no mutant zoo at {directory}")
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    modules = sorted(p.stem for p in directory.glob(f"{ZOO_PREFIX}*.py"))
    for name in modules:
        importlib.import_module(name)
    return sorted((m for m in _REGISTRY.values() if m.module in modules), key=lambda m: (m.module, m.name))


def _split(target: str) -> tuple[str, list[str]]:
    module, sep, path = target.partition(":")
    if not sep or not module or not path:
        raise MutantTargetError(f"target {target!r} is not 'package.module:Name.attr'")
    return module, path.split(".")


def _owner(target: str) -> tuple[Any, str]:
    module_name, parts = _split(target)
    try:
        owner: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise MutantTargetError(f"target {target!r}: module {module_name!r} cannot be imported: {exc}") from None
    for n, part in enumerate(parts[:-1]):
        if not hasattr(owner, part):
            where = ".".join([module_name, *parts[:n]])
            raise MutantTargetError(f"target {target!r} does not exist: {where} has no attribute {part!r}")
        owner = getattr(owner, part)
    if not hasattr(owner, parts[-1]):
        where = ".".join([module_name, *parts[:-1]])
        raise MutantTargetError(f"target {target!r} does not exist: {where} has no attribute {parts[-1]!r}")
    return owner, parts[-1]


def resolve(target: str) -> Any:
    """The object a target names, raw (a function, not a bound method); raises :class:`MutantTargetError`."""
    owner, name = _owner(target)
    if isinstance(owner, type):
        for klass in owner.__mro__:
            if name in vars(klass):
                return vars(klass)[name]
    return getattr(owner, name)


def apply(m: Mutant) -> Callable[[], None]:
    """Patch ``m.target`` in this process; returns the undo."""
    owner, name = _owner(m.target)
    own = isinstance(owner, type) and name in vars(owner)
    original = resolve(m.target)
    setattr(owner, name, m.make(original))

    def undo() -> None:
        if isinstance(owner, type) and not own:
            delattr(owner, name)
        else:
            setattr(owner, name, original)

    return undo


def find(spec: str, search: list[str] | None = None) -> Mutant:
    """The mutant named by ``<zoo module>:<name>`` (its module imported from ``sys.path``)."""
    module, _, name = spec.partition(":")
    importlib.import_module(module)
    found = _REGISTRY.get(name)
    if found is None or found.module != module:
        raise MutantTargetError(f"no mutant {name!r} in zoo module {module!r}")
    return found


def apply_from_environment(environ: Mapping[str, str] = os.environ) -> Mutant | None:
    """Apply the mutant named by ``KMSCONFORM_MUTANT`` and log it to ``KMSCONFORM_MUTANT_LOG``."""
    spec = environ.get(ENV_MUTANT)
    if not spec:
        return None
    m = find(spec)
    apply(m)
    log = environ.get(ENV_LOG)
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {m.target} {' '.join(sys.argv)[:200]}\n")
    return m


def applied_in(log: Path) -> Iterator[str]:
    """Lines of a mutant log: one per process that applied the mutant."""
    if log.exists():
        yield from (line for line in log.read_text(encoding="utf-8").splitlines() if line.strip())
