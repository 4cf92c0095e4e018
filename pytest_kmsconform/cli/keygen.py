"""``kmsconform keygen --alg ALG --out PREFIX``: a development key for the local-key fallback.

Writes ``PREFIX`` (PKCS#8 PEM private key, or for ``hmac-sha256`` a random secret; mode 0600),
and for asymmetric algorithms ``PREFIX.pub`` (SPKI PEM) and ``PREFIX.jwks.json`` (the key set a
verifier needs). Refuses to write inside a git work tree, so keys never land in a repository.
Prints the env lines that use the key, never the key itself.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import sys
from pathlib import Path

from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.clock import format_time, utc_now
from pytest_kmsconform.reference_impl.config import DEFAULT_LABEL, LABEL_VARIABLE
from pytest_kmsconform.reference_impl.jwk import private_key_pem, public_key_pem, public_key_to_jwk
from pytest_kmsconform.reference_impl.primitives import generate_private_key


def git_work_tree(path: Path) -> Path | None:
    """The root of the git work tree containing ``path`` (a ``.git`` dir or file), or ``None``."""
    for parent in [path, *path.parents]:
        if (parent / ".git").exists():
            return parent
    return None


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)  # whatever the umask was


class KeygenCommand:
    help = "write a development key pair (PREFIX, PREFIX.pub, PREFIX.jwks.json) outside any git repository"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--alg", required=True, choices=[a.value for a in Algorithm], help="signing algorithm")
        parser.add_argument("--out", required=True, metavar="PREFIX", help="path prefix of the files to write")
        parser.add_argument(
            "--label", default=DEFAULT_LABEL, help=f"key label; the kid is LABEL-v1 (default {DEFAULT_LABEL})"
        )
        parser.add_argument("--rsa-bits", type=int, default=2048, choices=[2048, 3072, 4096])

    def run(self, args: argparse.Namespace) -> int:
        alg = Algorithm(args.alg)
        prefix = Path(args.out).expanduser().absolute()
        if not prefix.parent.is_dir():
            print(f"kmsconform keygen: directory {prefix.parent} does not exist", file=sys.stderr)
            return 2
        repo = git_work_tree(prefix.parent.resolve())
        if repo is not None:
            print(
                f"kmsconform keygen: refusing to write a key inside the git work tree {repo}; "
                "choose a path outside any repository (for example under ~/.config or /tmp)",
                file=sys.stderr,
            )
            return 2
        outputs = [prefix] if alg.is_symmetric else [prefix, Path(f"{prefix}.pub"), Path(f"{prefix}.jwks.json")]
        existing = [str(p) for p in outputs if p.exists()]
        if existing:
            print(f"kmsconform keygen: will not overwrite {', '.join(existing)}", file=sys.stderr)
            return 2
        kid = f"{args.label}-v1"
        quoted = shlex.quote(str(prefix))
        lines = [f"AUDIT_SIGNING_ALG={alg.value}"]
        if args.label != DEFAULT_LABEL:
            lines.append(f"{LABEL_VARIABLE}={shlex.quote(args.label)}")
        if alg.is_symmetric:
            _write_private(prefix, secrets.token_hex(32).encode("ascii"))
            lines.append(f'AUDIT_SIGNING_SECRET="$(cat {quoted})"')
            print(f"# wrote {prefix} (hmac-sha256 secret, mode 0600); kid {kid}; HMAC keys have no public part")
        else:
            key = generate_private_key(alg, rsa_bits=args.rsa_bits)
            _write_private(prefix, private_key_pem(key))
            public = key.public_key()
            Path(f"{prefix}.pub").write_bytes(public_key_pem(public))
            now = format_time(utc_now())
            member = {
                **public_key_to_jwk(public),
                "kid": kid,
                "alg": alg.value,
                "use": "sig",
                "status": "active",
                "created_at": now,
                "not_before": now,
            }
            Path(f"{prefix}.jwks.json").write_text(json.dumps({"keys": [member]}, indent=2) + "\n")
            lines.append(f'AUDIT_SIGNING_PRIVATE_KEY="$(cat {quoted})"')
            print(f"# wrote {prefix} (private, mode 0600), {prefix}.pub and {prefix}.jwks.json; kid {kid}")
        print("# development only: the production guard refuses local keys. Env lines:")
        for line in lines:
            print(line)
        return 0


COMMAND = KeygenCommand()
