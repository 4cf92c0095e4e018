"""Loopback emulators and servers that real client libraries talk to unchanged.

Every emulator is a context manager usable from scripts and registers a
:class:`~pytest_kmsconform.backend_api.BackendProvider` in :mod:`pytest_kmsconform.backend_registry`.
Layers (style rule 1): ``models`` (state, pure) <- ``responses``/``wire`` <- ``transport``.
"""
