"""Applies the mutant named by ``KMSCONFORM_MUTANT`` in every Python process started with this
directory on ``PYTHONPATH`` (``python -m pytest_kmsconform.mutation`` sets both).

A target that does not exist stops the process with exit status 70 and the reason on stderr, so a
moved function is an error of the run, never a mutant that "survived".
"""

from __future__ import annotations

import os
import sys


def _apply() -> None:
    if not os.environ.get("KMSCONFORM_MUTANT"):
        return
    try:
        from pytest_kmsconform.mutation.core import apply_from_environment

        apply_from_environment()
    except Exception as exc:  # any failure to apply is fatal: see the module docstring
        sys.stderr.write(f"kmsconform mutation: cannot apply {os.environ['KMSCONFORM_MUTANT']}: {exc}\n")
        sys.stderr.flush()
        os._exit(70)


_apply()
