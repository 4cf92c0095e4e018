"""A minimal audit-signing service entry point, for the production-guard checks.

``python -m pytest_kmsconform.reference_impl.service [--check]`` reads the environment, applies the
guard (:func:`.guard.start_service`) and prints ``ready <backend> <kid>``. With ``--check`` it exits
0 right away; otherwise it stays up until SIGTERM or SIGINT. A refusal prints the guard message on
stderr and exits 1; a bad command line exits 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .errors import KmsConformError
from .guard import start_service


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_kmsconform.reference_impl.service")
    parser.add_argument("--check", action="store_true", help="start, print the ready line, exit 0")
    args = parser.parse_args(argv)
    try:
        signer = start_service(os.environ)
        kid = signer.kid
    except KmsConformError as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return 1
    stop = threading.Event()
    if not args.check:  # handlers before the ready line: a supervisor may signal right after it

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    try:
        print(f"ready {signer.backend} {kid}", flush=True)
        if not args.check:
            stop.wait()
    finally:
        signer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
