"""pytest-kmsconform: conformance suites, emulators and a reference implementation for signing backends.

Subpackages: :mod:`pytest_kmsconform.reference_impl` (from ``reference_impl/``),
:mod:`pytest_kmsconform.emulators` (``emulators/``), :mod:`pytest_kmsconform.suites` (``suites/``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pytest-kmsconform")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

PRODUCER = f"pytest-kmsconform {__version__}"
"""What archives written by kmsconform name as their ``producer``."""

SUITE_VERSION = "1.0.0"
