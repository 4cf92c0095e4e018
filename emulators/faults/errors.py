"""Typed errors of the fault-injection package."""

from __future__ import annotations


class FaultError(Exception):
    """Base class of every error raised by :mod:`pytest_kmsconform.emulators.faults`."""


class FaultPlanError(FaultError, ValueError):
    """A fault plan that cannot be loaded: bad JSON/YAML, unknown field, fault or error name."""


class FaultProxyError(FaultError):
    """The fault proxy cannot start or cannot reach its upstream URL."""
