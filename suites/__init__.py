"""Parametrized conformance suites that check any implementation through the adapter protocol."""
