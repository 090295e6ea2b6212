#!/usr/bin/env python3
"""A/A check: a column that cannot differ from base must come out "no significant difference".

    .venv/bin/python benchmarks/aa_check.py --base v6.12 [--repeat 5] [--tests probe]
    .venv/bin/python benchmarks/aa_check.py --run RUN [--column aa]

The first form writes a patch that adds one comment line at the end of mm/madvise.c at BASE (read from the
workbench's clone, so it applies at any base), runs

    invoke matrix --base BASE --tests TESTS --variants aa=<that patch> --no-reuse --repeat N

(`--no-reuse`: the comment leaves the kernel byte for byte the base's, which would otherwise
reuse the base's boots; a `vm.hugetlb_2m` of its own, unused by a probe-only cell, gives the run's
cells identities of their own, so the base boots in this run too, beside the A/A column), and counts the false positives in the A/A column: cost rows marked
significant, verdict rows whose words differ from base's, cases whose status differs. The second
form counts them in a run that already has such a column. Prints the cost rows with their
change and p values, the counts and the wall time; exit 1 when there is a false positive.
"""
from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench import report, runs
from workbench.kernel.tree import KernelTree
from workbench.proc import Runner
from workbench.settings import Settings

TARGET = "mm/madvise.c"


def comment_patch(settings: Settings, base: str) -> str:
    """A patch at `base` that only adds a comment to TARGET."""
    kt = KernelTree.open(settings, Runner())
    text = kt.clone.show(kt.resolve(base).commit, TARGET)
    if text is None:
        raise SystemExit(f"{base} has no {TARGET}")
    old = text.splitlines(keepends=True)
    # at the end, so that no line moves (__LINE__ in WARN_ON and BUG_ON would change the code)
    new = [*old, "/* A/A check: this comment changes no code. */\n"]
    diff = difflib.unified_diff(old, new, f"a/{TARGET}", f"b/{TARGET}")
    return "".join(diff)


def count(run_: object, column: str) -> int:
    m = report.matrix_rows(run_)  # type: ignore[arg-type]
    names = [c.name for c in m.columns]
    if column not in names:
        raise SystemExit(f"the run has no column {column!r} (it has {', '.join(names)})")
    i = names.index(column)
    cases = [r.key for r in m.rows if r.cells[i].differs]
    false = len(cases)
    print(f"cases whose status differs from base in {column}: {len(cases)}" + "".join(f"\n  {k}" for k in cases))
    for t in report.extra_tables(m):
        verdicts = [g.scenario for g in t.grid if g.cells[i].text != g.cells[0].text]
        print(f"{t.title.split(':')[0]}: verdict rows that read differently from base: {len(verdicts)}"
              + "".join(f"\n  {v}" for v in verdicts))
        false += len(verdicts)
        for row in t.costs:
            c, s = row.comparisons[i], row.summaries[i]
            if c is None or s is None:
                continue
            p = "-" if c.p is None else f"{c.p:.3f}"
            padj = "-" if c.p_adjusted is None else f"{c.p_adjusted:.3f}"
            ci = "" if c.low_pct is None or c.high_pct is None else f" [{c.low_pct:+.1f}, {c.high_pct:+.1f}]%"
            change = "-" if c.change_pct is None else f"{c.change_pct:+.1f}%"
            print(f"  cost {row.label}: n={s.n} median {s.median:.1f} {row.unit} {change}{ci} p={p} "
                  f"Holm p={padj}{'  SIGNIFICANT' if c.significant else ''}{'  (' + c.why_not + ')' if c.why_not else ''}")
            false += c.significant
    print(f"false positives in the A/A column: {false}")
    return false


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="v6.12")
    ap.add_argument("--tests", default="probe")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--run", help="count in this finished run instead of running one")
    ap.add_argument("--column", default="aa")
    args = ap.parse_args()
    settings = Settings.from_mapping({})
    if args.run:
        return 1 if count(runs.find_run(settings, args.run), args.column) else 0
    with tempfile.TemporaryDirectory() as tmp:
        patch = Path(tmp) / "aa.patch"
        patch.write_text(comment_patch(settings, args.base))
        command = [sys.executable, "-m", "invoke", "matrix", "--base", args.base, "--tests", args.tests,
                   "--variants", f"{args.column}={patch}", "--no-reuse", "--repeat", str(args.repeat),
                   "--format", "text"]
        print("running: " + " ".join(command[2:]), file=sys.stderr)
        start = time.monotonic()
        # an identity of this run's own (as parallel_cells.py does), so the base boots here too: boots
        # of the base from the cell cache were made under another load, and get no mark (report/extra.py)
        env = {**os.environ, "INVOKE_WORKBENCH_VM_HUGETLB_2M": str(17 + int(time.time()) % 40)}
        done = subprocess.run(command, check=False, cwd=ROOT, stdout=subprocess.DEVNULL, env=env)
        wall = time.monotonic() - start
    if done.returncode not in (0, 3):
        print(f"the matrix failed (exit {done.returncode}); see its run folder under results/", file=sys.stderr)
        return 2
    run_ = runs.find_run(settings, None, args.base)
    print(f"run {run_.id}: {wall:.0f} s wall")
    return 1 if count(run_, args.column) else 0


if __name__ == "__main__":
    sys.exit(main())
