#!/usr/bin/env python3
"""A second worktree of an already-built source compiles from ccache: time it against the cold build.

    .venv/bin/python benchmarks/ccache_second_slot.py --base v6.12 [--tree PATH] [--config minimal]

In one run, with a ccache directory of its own (emptied first):
- slot A: a worktree of BASE under the workbench's work directory and a cold build directory:
  the full build, every compile a ccache miss that fills the cache;
- slot B: a second worktree of the same commit (what the bisect slot or a series is) and a cold
  build directory: the same build, now from the cache.
It prints both times, the ratio B / A (the aim: at most 0.15), and ccache's own counts for slot B
(`ccache --print-stats`), then removes both slots.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.cells.prepare import load_configs
from workbench.kernel import kbuild
from workbench.kernel.kbuild import Make
from workbench.kernel.tree import Base, KernelTree, debian_repo
from workbench.proc import Runner
from workbench.settings import Settings
from workbench.study.model import load as load_study


def stats(env: dict[str, str]) -> dict[str, int]:
    out = subprocess.run(["ccache", "--print-stats"], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}).stdout
    return {k: int(v) for k, v in (line.split("\t") for line in out.splitlines() if "\t" in line)
            if v.strip().isdigit()}


def build_slot(kt: KernelTree, base: Base, slot: str, config: kbuild.Config, settings: Settings, runner: Runner,
               env: dict[str, str], log_dir: Path) -> tuple[float, dict[str, int]]:
    subprocess.run(["ccache", "--zero-stats"], check=True, capture_output=True, env={**os.environ, **env})
    with kt.worktree(Base(name=slot, commit=base.commit), "benchmark") as wt:
        make = Make(wt, wt.build_dir("bench"), settings.make_jobs, runner, settings.cache / "work")
        if make.build.exists():
            shutil.rmtree(make.build)
        kbuild.configure(make, config, log_dir / f"{slot}-config.log")
        subprocess.run(["sync"], check=False)
        start = time.monotonic()
        result = kbuild.build(make, log_dir / f"{slot}-build.log")
        seconds = time.monotonic() - start
    if not result.ok:
        raise SystemExit(f"{slot}: build failed: {result.first_errors}")
    return seconds, stats(env)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True)
    ap.add_argument("--tree", help="kernel git tree (default: the Debian import)")
    ap.add_argument("--config", default="minimal")
    ap.add_argument("--out", help="write the figures as JSON here too")
    args = ap.parse_args()
    settings = Settings.from_mapping({})
    if not shutil.which("ccache"):
        raise SystemExit("ccache is not installed (invoke setup)")
    ccache_dir = Path(tempfile.mkdtemp(prefix="wb-ccache-", dir=settings.cache))
    os.environ["CCACHE_DIR"] = str(ccache_dir)  # kbuild.ccache_env keeps a CCACHE_DIR the user set
    env = {"CCACHE_DIR": str(ccache_dir)}
    log_dir = ccache_dir / "logs"
    runner = Runner(log=log_dir / "commands.log")
    study = load_study(settings.templates_dir, settings.study)
    config = load_configs(settings, [args.config], study)[0]
    kt = KernelTree.open(settings, runner, Path(args.tree).expanduser() if args.tree else debian_repo(settings))
    base = kt.resolve(args.base)
    figures: dict[str, object] = {"base": args.base, "config": config.name, "jobs": settings.make_jobs,
                                  "load_before": os.getloadavg()[0]}
    try:
        cold, cold_stats = build_slot(kt, base, "ccache-slot-a", config, settings, runner, env, log_dir)
        warm, warm_stats = build_slot(kt, base, "ccache-slot-b", config, settings, runner, env, log_dir)
    finally:
        for slot in ("ccache-slot-a", "ccache-slot-b"):
            from workbench.clean import remove_base
            remove_base(kt.base_dir(Base(name=slot, commit=base.commit)), runner)
    figures.update(cold=round(cold, 1), second_slot=round(warm, 1), ratio=round(warm / cold, 3),
                   cold_stats=cold_stats, second_slot_stats=warm_stats, load_after=os.getloadavg()[0])
    hits = warm_stats.get("direct_cache_hit", 0) + warm_stats.get("preprocessed_cache_hit", 0)
    misses = warm_stats.get("cache_miss", 0)
    print(f"base {args.base}, config {config.name}, -j{settings.make_jobs}, a ccache directory of its own")
    print(f"slot A (cold, fills the cache): {cold:.1f}s; ccache misses {cold_stats.get('cache_miss', 0)}")
    print(f"slot B (second worktree):       {warm:.1f}s; ccache hits {hits} "
          f"(direct {warm_stats.get('direct_cache_hit', 0)}, preprocessed {warm_stats.get('preprocessed_cache_hit', 0)}), "
          f"misses {misses}, hit rate {100 * hits / max(hits + misses, 1):.1f} %")
    print(f"second slot / cold = {warm:.1f} / {cold:.1f} = {warm / cold:.3f}  (aim: <= 0.15)")
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=1))
    shutil.rmtree(ccache_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
