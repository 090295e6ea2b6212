#!/usr/bin/env python3
"""Many columns, one guest at a time against several at once (`--guests auto`), in one run.

    .venv/bin/python benchmarks/parallel_cells.py --base v6.12 [--tree PATH] [--extra 7] [--tests cow,probe]

The matrix: base, the study's variants, and EXTRA brought changes that add one comment line at
the end of a distinct mm/ file each (read from the workbench's clone at BASE, so they apply at any
base; at the end, so that no line moves), with `--no-reuse`: their kernels are the base's byte for
byte, and would otherwise reuse the base's boots. Twelve columns with the defaults.

Both ways run the same command, the first with `--guests auto` (or `--parallel N`), the second
with `--guests 1`, each a new process as a user types it, from a warm build cache (the base's
build directory and ccache; every column still builds its one object and relinks). The parallel
way goes first: a comment patch's object is a ccache miss the first time, so the serial way gets
the warmer builds, and the ratio errs against the parallel way (each way's build seconds are
printed). The cells get an identity of their own for this run (a `vm.hugetlb_2m` of 17 to 56
pages, the same in both ways, as tests/test_kernel.py's resume test does), and the first way's
cells are removed from the cell cache before the second runs, so both boot every cell; the
second's are removed at the end.

Prints per way the wall time, the median boot+test of a cell, how many guests ran at once, where
a boot's time went (the median of each phase), the stall and lockup lines in the consoles, whether
every case's status is the same in both ways (`invoke report --run A --against B`), and last:
`parallel/serial: 0.NN`.
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.kernel.tree import KernelTree
from workbench.proc import Runner
from workbench.settings import Settings

FILES = ["mm/memory.c", "mm/swap.c", "mm/rmap.c", "mm/vmscan.c", "mm/huge_memory.c", "mm/page_alloc.c",
         "mm/mmap.c", "mm/shmem.c", "mm/util.c", "mm/swapfile.c", "mm/mprotect.c", "mm/gup.c"]
STALLS = re.compile(r"rcu.*(stall|self-detected)|soft lockup|hard LOCKUP|hung_task|blocked for more than",
                    re.IGNORECASE)


def comment_patches(settings: Settings, tree: str | None, base: str, count: int, into: Path) -> list[str]:
    """`c1=PATH,...`: a patch per file of FILES that adds a comment line at its end."""
    kt = KernelTree.open(settings, Runner(), Path(tree).expanduser() if tree else None)
    commit = kt.resolve(base).commit
    specs = []
    for i, path in enumerate(FILES[:count], 1):
        text = kt.clone.show(commit, path)
        if text is None:
            raise SystemExit(f"{base} has no {path}")
        old = text.splitlines(keepends=True)
        new = [*old, f"/* parallel_cells benchmark {i}: this comment changes no code. */\n"]
        patch = into / f"c{i}.patch"
        patch.write_text("".join(difflib.unified_diff(old, new, f"a/{path}", f"b/{path}")))
        specs.append(f"c{i}={patch}")
    return specs


def newest_run(results: Path, after: float) -> Path:
    runs = [p for p in results.iterdir() if (p / "run.json").exists() and p.stat().st_mtime >= after]
    if not runs:
        raise SystemExit(f"no run folder under {results} from this benchmark")
    return max(runs, key=lambda p: p.stat().st_mtime)


def one_way(argv: list[str], env: dict[str, str], results: Path) -> tuple[float, Path, dict]:
    start_wall, start = time.time() - 1, time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"`{' '.join(argv[2:])}` exited {done.returncode}:\n{done.stderr[-3000:]}")
    run_dir = newest_run(results, start_wall)
    return seconds, run_dir, json.loads((run_dir / "run.json").read_text())


def drop_cells(run: dict) -> None:
    for cell in run["cells"]:
        if cell.get("dir") and Path(cell["dir"]).is_dir():
            shutil.rmtree(cell["dir"], ignore_errors=True)


def stalls(run_dir: Path) -> int:
    return sum(len(STALLS.findall(p.read_text(errors="replace"))) for p in run_dir.glob("cells/*/console.log"))


def describe(name: str, seconds: float, run_dir: Path, run: dict) -> dict:
    cells = [c for c in run["cells"] if not c.get("same_code")]
    boots = [c["timings"].get("boot+test", 0.0) for c in cells]
    phases: dict[str, list[float]] = {}
    for c in cells:
        for k, v in c.get("phases", {}).items():
            phases.setdefault(k, []).append(v)
    figures = {"way": name, "wall": round(seconds, 1), "run": run_dir.name, "cells": len(cells),
               "cached": sum(bool(c.get("cached")) for c in cells), "boot_median": statistics.median(boots),
               "guests": sorted({c.get("guests", 1) for c in cells}), "stall_lines": stalls(run_dir),
               "statuses": sorted({c["status"] for c in cells}),
               "builds": round(sum(c["timings"].get("build", 0.0) for c in cells), 1),
               "phases": {k: round(statistics.median(v), 2) for k, v in phases.items()}}
    print(f"{name}: {seconds:.0f} s wall, {len(cells)} cells ({figures['cached']} cached), boot+test median "
          f"{figures['boot_median']:.1f} s, builds {figures['builds']:.0f} s in all, guests at once "
          f"{figures['guests']}, statuses {figures['statuses']}, "
          f"stall/lockup lines {figures['stall_lines']}, run {run_dir.name}")
    print("  where a boot's time went (medians, s): "
          + ", ".join(f"{k} {v:.2f}" for k, v in figures["phases"].items()))
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="v6.12")
    ap.add_argument("--tree", help="kernel git tree (default: the Debian import)")
    ap.add_argument("--tests", default="cow,probe")
    ap.add_argument("--extra", type=int, default=7, help="brought comment patches beside the study's variants")
    ap.add_argument("--parallel", default="auto", help="the second way's --guests (default auto)")
    ap.add_argument("--out", help="write the figures as JSON here too")
    args = ap.parse_args()
    settings = Settings.from_mapping({})
    scratch = Path(tempfile.mkdtemp(prefix="wb-parallel-"))
    variants = ["folio_mapcount", "page_mapcount", "folio_estimated_sharers", "folio_maybe_mapped_shared",
                *comment_patches(settings, args.tree, args.base, args.extra, scratch)]
    env = {**os.environ, "INVOKE_WORKBENCH_VM_HUGETLB_2M": str(17 + int(time.time()) % 40)}
    command = [sys.executable, "-m", "invoke", "matrix", "--base", args.base, "--tests", args.tests, "--no-reuse",
               "--variants", ",".join(variants), "--format", "json"] + (["--tree", args.tree] if args.tree else [])
    print(f"{len(variants) + 1} columns, {args.tests}; hugetlb_2m {env['INVOKE_WORKBENCH_VM_HUGETLB_2M']} "
          f"(this run's identities); load before {os.getloadavg()[0]:.2f}", flush=True)
    parallel = [*command, "--guests", args.parallel]
    para_s, para_dir, para = one_way(parallel, env, settings.results_dir)
    if any(c.get("cached") for c in para["cells"]):  # another run had these identities: boot them all
        drop_cells(para)
        para_s, para_dir, para = one_way(parallel, env, settings.results_dir)
    drop_cells(para)
    serial_s, serial_dir, serial = one_way([*command, "--guests", "1"], env, settings.results_dir)
    drop_cells(serial)
    figures = [describe(f"parallel (--guests {args.parallel}, first)", para_s, para_dir, para),
               describe("serial (--guests 1, second)", serial_s, serial_dir, serial)]
    against = subprocess.run([sys.executable, "-m", "invoke", "report", "--run", serial_dir.name, "--against",
                              para_dir.name], cwd=ROOT, capture_output=True, text=True, check=False)
    # a line per column ("== c3: no change") and the summary; the cost rows of every column stay in --out
    said = [line for line in against.stdout.strip().splitlines() if not line.startswith("    ")]
    print("report --against:\n  " + "\n  ".join(said))
    if args.out:
        Path(args.out).write_text(json.dumps({"ways": figures, "against": against.stdout}, indent=1))
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"parallel/serial: {para_s / serial_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
