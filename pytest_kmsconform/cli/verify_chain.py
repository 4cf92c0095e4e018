"""``kmsconform verify-chain CHAIN --roots JWKS``: verify a delegation chain offline (seed 002).

``CHAIN`` is a JSON array of ``kmsconform-delegation/1`` certificates, root first; ``JWKS`` holds
the trusted root keys. Exit status: 0 when the chain verifies (the leaf's capabilities are
printed), 1 when it is refused (the code and the certificate are printed), 2 on a usage error.
Uses only the keys embedded in the certificates: no network, no KMS.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pytest_kmsconform.reference_impl.clock import parse_time
from pytest_kmsconform.reference_impl.delegation import DelegationError, verify_chain


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SystemExit(_usage(f"cannot read {what} {path}: {exc.strerror}")) from None
    except ValueError as exc:
        raise SystemExit(_usage(f"{what} {path} is not JSON: {exc}")) from None


def _usage(message: str) -> int:
    print(f"kmsconform verify-chain: {message}", file=sys.stderr)
    return 2


class VerifyChainCommand:
    help = "verify a delegation certificate chain (kmsconform-delegation/1) against trusted root keys, offline"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("chain", help="JSON array of certificates, root first")
        parser.add_argument("--roots", required=True, metavar="JWKS", help="trusted root keys (JWKS file)")
        parser.add_argument("--at", default=None, metavar="TIME", help="verify as of this RFC 3339 time (default now)")
        parser.add_argument("--json", action="store_true", help="print the verdict as JSON")

    def run(self, args: argparse.Namespace) -> int:
        try:
            chain, roots = _read_json(args.chain, "chain"), _read_json(args.roots, "roots")
        except SystemExit as exit_:
            return int(exit_.code or 2)
        if not isinstance(roots, dict) or not isinstance(roots.get("keys"), list):
            return _usage(f"{args.roots} is not a JWKS (an object with a 'keys' list)")
        try:
            at = parse_time(args.at) if args.at is not None else None
        except ValueError as exc:
            return _usage(f"--at: {exc}")
        try:
            capabilities = verify_chain(chain, roots, at=at)
        except DelegationError as exc:
            if args.json:
                print(json.dumps({"ok": False, "code": exc.code.value, "index": exc.index, "message": str(exc)}))
            else:
                print(f"{exc.code.value}: {exc}")
            return 1
        if args.json:
            print(json.dumps({"ok": True, "capabilities": capabilities, "length": len(chain)}))
        else:
            print(f"{args.chain}: OK, {len(chain)} certificates; capabilities: {', '.join(capabilities) or '(none)'}")
        return 0


COMMAND = VerifyChainCommand()
