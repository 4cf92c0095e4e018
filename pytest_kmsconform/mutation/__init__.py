"""Mutation testing of the suites: realistic defects in the reference implementation, one each.

A *mutant* replaces one attribute, named by a dotted target ``package.module:Name.attr``, with a
defective version built from the original (:func:`mutant`). The zoo lives in ``tests/mutants/``
(modules ``zoo_*.py``); ``python -m pytest_kmsconform.mutation`` runs the suites against each mutant
in a fresh pytest process and reports which failed checks killed it (``docs/verdict.md``).

How a mutant reaches every process of a run: the runner puts :mod:`.startup` on ``PYTHONPATH`` and
names the mutant in ``KMSCONFORM_MUTANT``; its ``sitecustomize`` installs an import hook in every
Python process that inherits that environment (the pytest run, the signing proxy it starts as a
server, ``verifier_command`` and ``cmd:`` children), which patches the target as soon as its module
has executed, before anything else can import the original. Threads share their process's patch.
The service process of the guard suite gets an environment built by the check, so the mutation
plugin launches ``service_command`` through :mod:`.inject`, which adds the two variables back.
"""

from __future__ import annotations

from .core import ZOO_PREFIX, Mutant, MutantTargetError, load_zoo, mutant, resolve

__all__ = ["ZOO_PREFIX", "Mutant", "MutantTargetError", "load_zoo", "mutant", "resolve"]
