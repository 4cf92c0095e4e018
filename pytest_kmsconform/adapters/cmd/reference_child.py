"""The reference implementation as a ``cmd:`` child: ``python -m pytest_kmsconform.adapters.cmd.reference_child``.

It serves :class:`~pytest_kmsconform.reference_adapter.ReferenceImplementation` over the protocol
(``docs/protocol.md``), so the suites certify the reference through the subprocess adapter exactly
as they certify a child in another language, and mutants of the reference reach it there too (the
zoo's start-up hook runs in every Python process that inherits its environment).
"""

from __future__ import annotations

from pytest_kmsconform.adapters.cmd.implementation_server import serve
from pytest_kmsconform.reference_adapter import ReferenceImplementation


def main() -> None:
    serve(ReferenceImplementation())


if __name__ == "__main__":
    main()
