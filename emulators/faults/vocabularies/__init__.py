"""The fault vocabularies of the built-in kinds, one module each (named in :mod:`pytest_kmsconform.kinds`).

They live here rather than in each emulator's package so that loading one imports nothing heavy
(``emulators.aws_kms`` imports moto).
"""
