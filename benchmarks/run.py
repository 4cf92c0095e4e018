"""Run the benchmarks: ``python benchmarks/run.py [--quick|--full] [--only NAME ...]``.

Prints one table (every figure beside a baseline measured in the same run, with the ratio; a path
that cannot run here is listed with the reason) and writes ``benchmarks/results.json``. Progress
goes to stderr; servers started by the benchmarks log nothing per request (their loggers are held
at ERROR). Sizes: default 100k archive records; ``--quick`` is a smoke
run for CI-sized machines; ``--full`` uses 1M archive records.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from pathlib import Path

from bench_lib import BenchResult, format_table, write_results

HERE = Path(__file__).resolve().parent

# benchmark name -> (module, {mode: size argument})
BENCHMARKS: dict[str, tuple[str, dict[str, int]]] = {
    "archive": ("bench_archive", {"quick": 10_000, "default": 100_000, "full": 1_000_000}),
    "archive-ml-dsa": ("bench_archive_ml_dsa", {"quick": 2_000, "default": 20_000, "full": 100_000}),
    "append": ("bench_append", {"quick": 1_000, "default": 5_000, "full": 20_000}),
    "backends": ("bench_backends", {"quick": 50, "default": 300, "full": 1_000}),
    "startup": ("bench_startup", {"quick": 1, "default": 3, "full": 5}),
    "certrun": ("bench_certrun", {"quick": 1, "default": 1, "full": 2}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    size.add_argument("--full", action="store_true", help="large sizes (1M-record archive)")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only these (repeatable)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json", help="results file")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full" if args.full else "default"
    selected = args.only or list(BENCHMARKS)
    for noisy in ("werkzeug", "moto", "grpc", "azure", "urllib3", "hvac"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    results: list[BenchResult] = []
    timings: dict[str, float] = {}
    for name in selected:
        module_name, sizes = BENCHMARKS[name]
        print(f"running {name} ({mode}, size {sizes[mode]}) ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        module = importlib.import_module(module_name)
        produced: list[BenchResult] = module.run(sizes[mode])
        timings[name] = round(time.perf_counter() - start, 2)
        results.extend(produced)
    print(format_table(results))
    write_results(args.out, results, mode, {"wall_seconds": timings})
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
