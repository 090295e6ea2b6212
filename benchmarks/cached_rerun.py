#!/usr/bin/env python3
"""A matrix whose every cell is cached: how long the user waits for the table.

    .venv/bin/python benchmarks/cached_rerun.py --base v6.12 [--tests cow] [--repeat 5]

First one untimed run of `invoke matrix --base BASE --tests TESTS` (it builds and boots whatever
is not cached yet), then REPEAT timed runs of the same command, each a new process, as a user
types it; and, as the floor, the start-up alone (`invoke --list`). Prints every time, the
median, and where the time goes in one rerun (cProfile, the ten biggest cumulative entries of
the workbench's own code). The aim: under 2 s.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(argv: list[str]) -> float:
    start = time.monotonic()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="v6.12")
    ap.add_argument("--tests", default="cow")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    invoke = [sys.executable, "-m", "invoke"]
    command = [*invoke, "matrix", "--base", args.base, "--tests", args.tests, "--format", "text"]
    print(f"warming: {' '.join(command[2:])} (builds and boots what is not cached yet)", file=sys.stderr)
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    floor = [timed([*invoke, "--list"]) for _ in range(3)]
    runs = [timed(command) for _ in range(args.repeat)]
    print(f"cached rerun of `{' '.join(command[2:])}`, {args.repeat} runs: "
          + ", ".join(f"{t:.2f}s" for t in runs))
    print(f"median {statistics.median(runs):.2f}s (aim: under 2 s); start-up alone (invoke --list): "
          f"median {statistics.median(floor):.2f}s")

    from tasks import ns  # noqa: F401  the same imports as a real run, before profiling
    from workbench import matrix
    from workbench.settings import Settings

    settings = Settings.from_mapping({}, tests=args.tests)
    req = matrix.MatrixRequest(base=args.base, tests=tuple(args.tests.split(",")))
    profile = cProfile.Profile()
    profile.enable()
    run = matrix.execute(req, settings, lambda m: None)
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(r"workbench/", 12)
    lines = [line for line in out.getvalue().splitlines() if "workbench/" in line][:12]
    print(f"\nwhere one rerun spends its time (run {run.id}, cProfile, cumulative seconds):")
    print("\n".join("  " + line.strip() for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
