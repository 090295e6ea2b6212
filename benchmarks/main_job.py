#!/usr/bin/env python3
"""The main job as a newcomer meets it: `./wb` in a fresh clone, with the cache moved aside.

    python3 benchmarks/main_job.py [--ref HEAD] [--keep]

The workbench's cache (`~/.cache/kernel-workbench`: trees, builds, cells, ccache, the KVM
answer) is renamed aside for the run and put back afterwards, whatever happens; the project is
cloned fresh (at REF) into a scratch folder, so the venv is made anew too. Each line `./wb`
prints is stamped with the time since the start, and the stages are read from those lines:

    venv   the project's venv and its packages (pip)
    setup  apt-get and virtme-ng (quick on a machine that already has the packages)
    import Debian's linux-source-6.12 into a git tree
    open   the workbench's clone, the base's worktree (checking out the sources), the variants
    tests  configs, headers and the test binaries
    build  the first full kernel build
    kvm    the KVM answer
    cells  every cell's rebuild, boot and tests
    report the table
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path("~/.cache/kernel-workbench").expanduser()
# (stage that ends, pattern of the line that ends it), in order
MARKS = [("venv", r"^setup: |^tree: |^run \d"), ("setup", r"^tree: |^run \d"), ("import", r"^imported |^run \d"),
         ("open", r"^run \d"), ("tests", r"^\S+: building"), ("build", r"KVM (does not work|works)"),
         ("kvm", r": booting "), ("cells", r"^mapcount at "), ("report", r"^results: ")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", default="HEAD", help="the commit of the project to clone (default HEAD)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch clone and the fresh cache")
    args = ap.parse_args()
    if any(CACHE.glob("running/*")):
        raise SystemExit(f"a workbench run seems to be running ({CACHE / 'running'}); try again when it is done")
    scratch = Path(tempfile.mkdtemp(prefix="wb-main-"))
    aside = CACHE.with_name(f"{CACHE.name}.aside-{os.getpid()}")
    lines: list[tuple[float, str]] = []
    if CACHE.exists():
        CACHE.rename(aside)
    try:
        subprocess.run(["git", "clone", "-q", str(ROOT), str(scratch / "project")], check=True)
        subprocess.run(["git", "-C", str(scratch / "project"), "checkout", "-q", args.ref], check=True)
        start = time.monotonic()
        proc = subprocess.Popen(["./wb"], cwd=scratch / "project", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env={**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"})
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic() - start, line.rstrip("\n")))
            print(f"{lines[-1][0]:7.1f}s {lines[-1][1]}", file=sys.stderr)
        rc = proc.wait()
        total = time.monotonic() - start
    finally:
        fresh = CACHE.with_name(f"{CACHE.name}.fresh-{os.getpid()}")
        if CACHE.exists():
            CACHE.rename(fresh)
        if aside.exists():
            aside.rename(CACHE)
        if not args.keep:
            shutil.rmtree(fresh, ignore_errors=True)
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n./wb in a fresh clone with the cache moved aside: exit {rc}, {total / 60:.0f} min {total % 60:.0f} s")
    at, previous = 0.0, 0.0
    for stage, pattern in MARKS:
        hit = next((t for t, line in lines if t >= at and re.search(pattern, line)), None)
        if hit is None:
            print(f"  {stage:<7} (not seen)")
            continue
        print(f"  {stage:<7} {hit - previous:7.1f}s")
        at, previous = hit, hit
    print(f"  {'rest':<7} {total - previous:7.1f}s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
