"""``python -m pytest_kmsconform.mutation.inject ENV_JSON -- ARGV...``: run ARGV with the mutant's
variables added to the environment it was given (the guard suite builds the service's environment
from scratch; the mutation plugin launches ``service_command`` through this)."""

from __future__ import annotations

import json
import os
import shutil
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: python -m pytest_kmsconform.mutation.inject ENV_JSON -- ARGV...\n")
        return 2
    extra = json.loads(argv[0])
    command = argv[2:]
    env = dict(os.environ)
    for name, value in extra.items():
        env[name] = value if name != "PYTHONPATH" or not env.get(name) else f"{value}{os.pathsep}{env[name]}"
    program = shutil.which(command[0], path=env.get("PATH")) or command[0]
    os.execve(program, command, env)
    return 127  # pragma: no cover - execve does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
