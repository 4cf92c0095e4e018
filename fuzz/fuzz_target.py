"""Atheris (libFuzzer) driver for the targets in :mod:`pytest_kmsconform.fuzzing`.

    python fuzz/fuzz_target.py NAME [libFuzzer flags, e.g. -runs=100000 -max_len=4096 CORPUS_DIR]

Names: canonical, archive, archive-mutation, jwks, jwks-mutation, proxy, yubihsm-frame,
yubihsm-session. Needs the optional extra ``fuzz`` (``pip install atheris``); exits 0 with a
message when atheris is absent. A contract violation (untyped exception, proxy 5xx) stops the run
with a crash file, as libFuzzer does.
"""

from __future__ import annotations

import sys

INSTRUMENTED = (
    "pytest_kmsconform.reference_impl.canonical",
    "pytest_kmsconform.reference_impl.jwk",
    "pytest_kmsconform.reference_impl.primitives",
    "pytest_kmsconform.reference_impl.signature",
    "pytest_kmsconform.reference_impl.verifier",
    "pytest_kmsconform.reference_impl.audit.records",
    "pytest_kmsconform.reference_impl.audit.archive",
    "pytest_kmsconform.emulators.signing_proxy.wire",
    "pytest_kmsconform.emulators.signing_proxy.responses",
    "pytest_kmsconform.emulators.signing_proxy.models",
    "pytest_kmsconform.emulators.yubihsm.frames",
    "pytest_kmsconform.emulators.yubihsm.session",
    "pytest_kmsconform.emulators.yubihsm.scp03",
    "pytest_kmsconform.emulators.yubihsm.commands",
    "pytest_kmsconform.emulators.yubihsm.device",
    "pytest_kmsconform.protocol",
    "pytest_kmsconform.adapters.cmd.errors",
)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import atheris
    except ImportError:
        print("atheris is not installed (pip install 'pytest-kmsconform[fuzz]'); nothing to do")
        return 0
    name = argv[1]
    with atheris.instrument_imports(include=["pytest_kmsconform"]):
        import importlib

        from pytest_kmsconform import fuzzing

        # Targets import lazily; import their code here so that it is instrumented (coverage-guided).
        for module in INSTRUMENTED:
            importlib.import_module(module)

    if name not in fuzzing.TARGETS:
        print(f"unknown target {name!r}; known: {', '.join(sorted(fuzzing.TARGETS))}", file=sys.stderr)
        return 2
    target = fuzzing.TARGETS[name]
    atheris.Setup([argv[0], *argv[2:]], target)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
