"""Project wiring only: the ``--wycheproof-root`` option (as in pyca/cryptography)."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--wycheproof-root",
        # the environment twin lets CI run the README's plain `pytest` with the vectors
        default=os.environ.get("KMSCONFORM_WYCHEPROOF_ROOT") or None,
        help=(
            "directory holding Wycheproof's testvectors_v1/ (default: $KMSCONFORM_WYCHEPROOF_ROOT; "
            "CI: ../shared/wycheproof); tests skip without it"
        ),
    )
