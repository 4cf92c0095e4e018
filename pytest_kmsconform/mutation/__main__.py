"""``python -m pytest_kmsconform.mutation [--zoo DIR] [-k TEXT] [--fast] [--list]``

Runs the unmodified reference (it must give no failure), then the suites against every mutant of the
zoo, and prints a table: mutant, killed or not, the check ids that failed. The last line is
``mutants: K/N killed``. Exit status: 0 when every mutant is killed, the reference is clean and the
control survives; 1 otherwise; 2 when a mutant's target does not exist or the zoo cannot be read.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .core import Mutant, load_zoo
from .runner import Verdict, check_targets, run_baselines, run_mutant, temporary_workdir

DEFAULT_ZOO = Path("tests") / "mutants"


def _select(mutants: list[Mutant], pattern: str | None, fast: bool) -> list[Mutant]:
    chosen = [m for m in mutants if not fast or m.fast or m.control]
    if pattern:
        chosen = [m for m in chosen if pattern in m.name or pattern in m.module or m.control]
    return chosen


def _ids(ids: Sequence[str]) -> str:
    unique = sorted(set(ids))
    return ", ".join(unique[:8]) + (f" (+{len(unique) - 8})" if len(unique) > 8 else "")


def _row(v: Verdict) -> str:
    m = v.mutant
    if v.status == "killed":
        how = _ids(v.run.failed)
    elif v.status.startswith("control"):
        how = "control: changes nothing" + ("" if v.status == "control-survived" else f"; FAILED {_ids(v.run.failed)}")
    elif v.status == "error":
        how = (v.run.broken or f"checks in error: {_ids(v.run.errors)}")[:160].replace("\n", " ")
    else:
        how = "no check failed"
    return f"{m.name:<34} {m.module.removeprefix('zoo_'):<10} {v.status:<16} {v.run.seconds:6.1f}s  {how}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_kmsconform.mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--zoo", type=Path, default=DEFAULT_ZOO, help="directory of zoo_*.py (default tests/mutants)")
    parser.add_argument("-k", dest="pattern", help="only mutants whose name or zoo module contains TEXT")
    parser.add_argument("--fast", action="store_true", help="only the fast subset (what plain pytest runs)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmodified reference runs")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the failure messages of each mutant")
    args = parser.parse_args(argv)
    try:
        mutants = _select(load_zoo(args.zoo), args.pattern, args.fast)
    except (OSError, ImportError, ValueError) as exc:
        print(f"kmsconform mutation: cannot load the zoo: {exc}", file=sys.stderr)
        return 2
    problems = check_targets(mutants)
    if problems:
        print("kmsconform mutation: mutant targets that do not exist (fix the target= line):", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 2
    if args.list:
        for m in mutants:
            print(f"{m.name:<34} {m.target}\n    {m.bug}; violates {m.violates}; backends {','.join(m.backends)}")
        return 0
    started = time.monotonic()
    ok = True
    with temporary_workdir() as tmp:
        work = Path(tmp)
        if not args.no_baseline:
            for config, run in run_baselines(mutants, args.zoo, work):
                env = "".join(f" {k}={v}" for k, v in config.env)
                where = f"{config.impl} on {','.join(config.backends)}{env}"
                if run.broken or run.failed or run.errors:
                    ok = False
                    detail = run.broken or f"failed {_ids(run.failed)}; error {_ids(run.errors)}"
                    print(f"unmodified {where}: NOT CLEAN: {detail}", flush=True)
                    for line in run.failures[:10]:
                        print(f"    {line}")
                else:
                    passed = run.counts.get("passed", 0)
                    print(f"unmodified {where}: 0 failed, 0 error ({passed} passed, {run.seconds:.1f}s)", flush=True)
        print(f"{'mutant':<34} {'zoo':<10} {'verdict':<16} {'time':>7}  killed by (failed check ids)", flush=True)
        verdicts = []
        for m in mutants:
            verdict = run_mutant(m, args.zoo, work / m.name)
            verdicts.append(verdict)
            print(_row(verdict), flush=True)
            if args.verbose:
                for line in verdict.run.failures[:6]:
                    print(f"      {line}")
    counted = [v for v in verdicts if not v.mutant.control]
    killed = sum(v.killed for v in counted)
    controls = [v for v in verdicts if v.mutant.control]
    ok = ok and killed == len(counted) and all(v.status == "control-survived" for v in controls)
    print(f"wall time {time.monotonic() - started:.0f}s")
    print(f"mutants: {killed}/{len(counted)} killed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
