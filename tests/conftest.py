"""Project wiring only: the ``--wycheproof-root`` option (as in pyca/cryptography)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--wycheproof-root",
        default=None,
        help="directory holding Wycheproof's testvectors_v1/ (CI: ../shared/wycheproof); tests skip without it",
    )
