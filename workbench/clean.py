"""`invoke clean`: what the cache and the run folders hold, and removing it.

Each base's worktree plus build directory is a few GB. Worktrees are removed
through git (`git worktree remove` in the workbench's clone, then prune), so the
clone never keeps a stale entry; the user's repository is not involved.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .kernel.git import Git
from .proc import Runner
from .runs import list_runs
from .settings import Settings


@dataclass
class Usage:
    what: str
    path: Path
    bytes: int


def du(path: Path, runner: Runner) -> int:
    if not path.exists():
        return 0
    done = runner.run(["du", "-sb", str(path)], check=False, quiet=True)
    try:
        return int(done.output.split()[0])
    except (IndexError, ValueError):
        return 0


def usage(settings: Settings, runner: Runner) -> list[Usage]:
    rows = []
    for base_dir in sorted(settings.cache.glob("work/*/*")):
        if base_dir.is_dir():
            rows.append(Usage(f"base {base_dir.name} ({base_dir.parent.name})", base_dir, du(base_dir, runner)))
            for build in sorted((base_dir / "builds").glob("*")):
                rows.append(Usage(f"  of it: build directory {build.name}", build, du(build, runner)))
    for name, what in (("cells", "cell cache"), ("clones", "clones (objects shared with your trees)"),
                       ("debian.git", "Debian imports"), ("debs", "downloaded .debs"), ("ccache", "ccache"),
                       ("logs", "logs of tasks without a run folder"),
                       ("artifacts", "kernels and initramfs published for labs")):
        if (settings.cache / name).exists():
            rows.append(Usage(what, settings.cache / name, du(settings.cache / name, runner)))
    runs = list_runs(settings)
    if runs:
        rows.append(Usage(f"{len(runs)} runs", settings.results_dir, du(settings.results_dir, runner)))
    return rows


def remove_base(base_dir: Path, runner: Runner) -> None:
    """Remove a base's worktree (through git, in the clone it belongs to) and build directory."""
    src = base_dir / "src"
    clone = base_dir.parent.parent.parent / "clones" / base_dir.parent.name
    if src.exists() and clone.exists():
        Git(clone, runner).run("worktree", "remove", "--force", str(src), check=False)
        Git(clone, runner).run("worktree", "prune", check=False)
    shutil.rmtree(base_dir, ignore_errors=True)


def clean(settings: Settings, runner: Runner, bases: list[str], keep_runs: int | None, everything: bool,
          cells: bool) -> list[str]:
    done = []
    for base_dir in sorted(settings.cache.glob("work/*/*")):
        if everything or base_dir.name in bases:
            remove_base(base_dir, runner)
            done.append(f"removed worktree and build directory {base_dir}")
    if everything or cells:
        shutil.rmtree(settings.cache / "cells", ignore_errors=True)
        shutil.rmtree(settings.cache / "artifacts", ignore_errors=True)
        done.append("emptied the cell cache and the labs' artifacts (every cell will run again)")
    runs = list_runs(settings)
    keep = 0 if everything else keep_runs
    if keep is not None and len(runs) > keep:
        for run in runs[:len(runs) - keep]:
            shutil.rmtree(run.dir, ignore_errors=True)
        done.append(f"removed {len(runs) - keep} old run(s), kept {keep}")
    return done


def table(rows: list[Usage]) -> str:
    width = max((len(r.what) for r in rows), default=10)
    total = sum(r.bytes for r in rows if not r.what.startswith("  "))
    lines = [f"{r.what:<{width}}  {r.bytes / 2**30:7.2f} GiB  {r.path}" for r in rows]
    return "\n".join(lines + [f"{'total':<{width}}  {total / 2**30:7.2f} GiB"])
