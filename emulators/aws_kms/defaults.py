"""Defaults shared by the emulator and the providers, kept apart so a provider can name them
without importing moto."""

DEFAULT_REGION = "us-east-1"
