#!/usr/bin/env python3
"""Time the real matrix against the naive way, on the same tree, in one run.

    .venv/bin/python benchmarks/matrix_vs_naive.py --base v6.12 [--tree PATH] [--variants a,b] [--tests cow]

- matrix: the workbench's way, cold (a fresh cache: new clone, worktree and build
  directory): one full build, then per variant a checkout that rewrites one file
  and an incremental build, and a boot + test of each cell;
- naive: for every cell a fresh `O=` directory: config, full build, boot + test.

Fair on both sides: both start from the same state, the sources checked out
and the selftests (with the headers they are built against) built once,
outside the timings; then the same config fragments and `-j`, ccache off
(`CCACHE_DISABLE=1`), the same guest and VM settings. The load average is
recorded. It prints the time of each stage, the ratios (matrix / naive,
rebuild / full build) and which objects each variant's rebuild recompiled.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench import matrix
from workbench.cells import judge
from workbench.cells.prepare import load_configs, prepare
from workbench.guest.executor import GuestJob
from workbench.guest.select import executor_for
from workbench.kernel import kbuild, selftests
from workbench.kernel.kbuild import Make
from workbench.kernel.tree import KernelTree, debian_repo
from workbench.proc import Runner
from workbench.settings import Settings
from workbench.study import commits
from workbench.study.model import load as load_study


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True)
    ap.add_argument("--tree", help="kernel git tree (default: the Debian import)")
    ap.add_argument("--variants", help="comma-separated (default: all of the study's)")
    ap.add_argument("--tests", default="cow")
    ap.add_argument("--keep", action="store_true", help="keep the scratch cache")
    ap.add_argument("--out", help="write the figures as JSON here too")
    args = ap.parse_args()

    os.environ["CCACHE_DISABLE"] = "1"
    real = Settings.from_mapping({})
    scratch = Path(tempfile.mkdtemp(prefix="wb-bench-", dir=real.cache.parent))
    # a cold cache of its own; the KVM answer is a property of the host, reuse it
    settings = dataclasses.replace(real, cache=scratch, outputs=scratch / "outputs")
    if (real.cache / "accel.json").exists():
        scratch.mkdir(exist_ok=True)
        shutil.copy(real.cache / "accel.json", scratch / "accel.json")
    tree = Path(args.tree).expanduser() if args.tree else debian_repo(real)
    tests = tuple(args.tests.split(","))
    variants = tuple(args.variants.split(",")) if args.variants else None
    figures: dict = {"base": args.base, "jobs": settings.make_jobs, "ccache": "disabled",
                     "configs": list(settings.configs), "load_before": load()}

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    # --- the common starting point (untimed): sources checked out, selftests built --------------
    say("== preparing what both sides start from: the worktree, the headers and the selftests")
    runner = Runner(log=scratch / "prepare-logs" / "commands.log", registry=scratch / "running")
    study = load_study(settings.templates_dir, settings.study)
    configs = load_configs(settings, [settings.configs[0]], study)
    kt = KernelTree.open(settings, runner, tree)
    base = kt.resolve(args.base)
    sources = selftests.plan(kt.clone, base.commit, tests, study.probe_sources)
    with kt.worktree(base, "benchmark") as wt:
        prepared = prepare(kt, wt, configs, sources, settings, runner, scratch / "prepare-logs", say)
        build_dir = prepared.configs[configs[0].name].build
        for item in build_dir.iterdir():  # a cold build directory, but keep the installed headers (usr/)
            if item.name != "usr":
                shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
    subprocess.run(["sync"], check=False)
    time.sleep(10)  # let the checkout's writeback settle before timing

    # --- the matrix, cold build directory ---------------------------------------------------------
    say(f"== matrix (cold build directory, cache {scratch})")
    t0 = time.monotonic()
    run = matrix.execute(matrix.MatrixRequest(base=args.base, variants=variants, tests=tests, tree=str(tree)),
                         settings, say)
    figures["matrix_total"] = round(time.monotonic() - t0, 1)
    figures["load_after_matrix"] = load()
    figures["matrix_cells"] = [{"variant": c.variant, **c.timings, "status": c.status.value,
                                "recompiled": c.recompiled if c.variant != "base" else len(c.recompiled)}
                               for c in run.cells]

    # --- the naive way: a fresh O= directory for every cell --------------------------------------
    say("== naive (a fresh build directory for every cell)")
    runner = Runner(log=scratch / "naive-logs" / "commands.log", registry=scratch / "running")
    kt = KernelTree.open(settings, runner, tree)
    ps = commits.commit_all(kt, study, commits.render_all(kt, study, base, variants), settings.patches_dir)
    columns = ["base"] + [v.variant for v in ps.variants if not v.same_as_base]
    executor = executor_for(settings, runner)
    naive = []
    t0 = time.monotonic()
    with kt.worktree(base, "benchmark") as wt:
        for name in columns:
            root = scratch / "naive" / name
            root.mkdir(parents=True)
            wt.checkout(ps.commit_of(name))
            make = Make(wt, root / "build", settings.make_jobs, runner, settings.cache / "work")
            c0 = time.monotonic()
            kbuild.configure(make, configs[0], root / "config.log")
            configured = time.monotonic() - c0
            result = kbuild.build(make, root / "build.log")
            if not result.ok or result.image is None:
                say(f"naive build of {name} failed: {result.first_errors}")
                return 1
            shutil.copy2(result.image, root / "bzImage")
            if not executor.ready:
                executor.prepare(root / "bzImage", say)
            job = GuestJob(cell=f"naive-{name}", workdir=root, image=root / "bzImage", testdir=prepared.binaries.dir,
                           tests=prepared.available, script=prepared.guest_script, vm=settings.vm, label=name)
            got = executor.collect(executor.submit(job))
            status, _ = judge.judge(got, judge.parse_tests(got, prepared.available), prepared.available)
            naive.append({"variant": name, "config": round(configured, 1), "build": round(result.seconds, 1),
                          "boot+test": round(got.seconds, 1), "status": status.value})
            say(f"naive {name}: {naive[-1]}")
            shutil.rmtree(root / "build", ignore_errors=True)
        wt.checkout(base.commit)
    figures["naive_total"] = round(time.monotonic() - t0, 1)
    figures["naive_cells"] = naive
    figures["load_after_naive"] = load()

    # --- figures ----------------------------------------------------------------------------------
    full = next(c["build"] for c in figures["matrix_cells"] if c["variant"] == "base")
    rebuilds = [c["build"] for c in figures["matrix_cells"] if c["variant"] != "base"]
    figures["ratio_matrix_over_naive"] = round(figures["matrix_total"] / figures["naive_total"], 3)
    figures["full_build"] = full
    figures["rebuild_mean"] = round(sum(rebuilds) / len(rebuilds), 1) if rebuilds else None
    figures["ratio_rebuild_over_full"] = round(figures["rebuild_mean"] / full, 3) if rebuilds else None

    print(f"\nbase {args.base}, -j{figures['jobs']}, ccache off, config {figures['configs'][0]}")
    print(f"load average: before {figures['load_before']}, after matrix {figures['load_after_matrix']}, "
          f"after naive {figures['load_after_naive']}")
    print("\nmatrix (one build directory, variants in turn):")
    for c in figures["matrix_cells"]:
        rec = c["recompiled"]
        shown = f"{rec} steps (full build)" if isinstance(rec, int) else ", ".join(rec)
        print(f"  {c['variant']:<26} build {c['build']:>6.1f}s  boot+test {c.get('boot+test', 0):>5.1f}s  "
              f"{c['status']:<6} recompiled: {shown}")
    print(f"  total {figures['matrix_total']:.1f}s")
    print("\nnaive (fresh O= per cell):")
    for c in naive:
        print(f"  {c['variant']:<26} config {c['config']:>5.1f}s  build {c['build']:>6.1f}s  "
              f"boot+test {c['boot+test']:>5.1f}s  {c['status']}")
    print(f"  total {figures['naive_total']:.1f}s")
    print(f"\nmatrix / naive = {figures['ratio_matrix_over_naive']:.3f}")
    if rebuilds:
        print(f"rebuild / full build = {figures['rebuild_mean']:.1f}s / {full:.1f}s = "
              f"{figures['ratio_rebuild_over_full']:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=1))
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
