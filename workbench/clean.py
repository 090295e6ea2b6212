"""`invoke clean`: what the cache and the run folders hold, and removing it.

Each base's worktree plus build directory is a few GB. Worktrees are removed
through git (`git worktree remove` in the workbench's clone, then prune), so the
clone never keeps a stale entry; the user's repository is not involved.
"""
from __future__ import annotations

import shutil
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from .errors import BadSetting, UserError
from .kernel.git import Git
from .kernel.tree import hold_lock, slug
from .proc import Runner
from .records import RunState
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
    """Remove what is named. Every base folder it removes, and with the cell cache every base folder,
    is locked first with the lock a run holds: a base a run is using is refused, naming the run."""
    if keep_runs is not None and keep_runs < 0:
        raise BadSetting("--keep-runs", keep_runs, "a whole number of at least 0", "e.g. --keep-runs 10.")
    present = sorted(d for d in settings.cache.glob("work/*/*") if d.is_dir())
    unknown = [b for b in bases if slug(b) not in {d.name for d in present}]
    if unknown:
        raise UserError(f"--base {', '.join(unknown)}: no such base in {settings.cache / 'work'}",
                        f"Bases there: {', '.join(sorted({d.name for d in present})) or 'none'}.")
    targets = [d for d in present if everything or d.name in {slug(b) for b in bases}]
    done = []
    with ExitStack() as locks:
        for base_dir in present if (everything or cells) else targets:
            locks.enter_context(hold_lock(base_dir / "lock", "clean"))
        for base_dir in targets:
            remove_base(base_dir, runner)
            done.append(f"removed worktree and build directory {base_dir}")
        if everything or cells:
            shutil.rmtree(settings.cache / "cells", ignore_errors=True)
            shutil.rmtree(settings.cache / "artifacts", ignore_errors=True)
            done.append("emptied the cell cache and the labs' artifacts (every cell will run again)")
    return done + _remove_runs(settings, 0 if everything else keep_runs)


def _remove_runs(settings: Settings, keep: int | None) -> list[str]:
    """All but the newest `keep` runs; a run still running is never removed (its folder is its record)."""
    runs = list_runs(settings)
    if keep is None or len(runs) <= keep:
        return []
    old = runs[:len(runs) - keep]
    busy = [r for r in old if r.state is RunState.RUNNING]
    for run in old:
        if run not in busy:
            shutil.rmtree(run.dir, ignore_errors=True)
    return [f"removed {len(old) - len(busy)} old run(s), kept {keep}"] + [
        f"kept run {r.id}: it is still running (pid {r.pid})" for r in busy]


def table(rows: list[Usage]) -> str:
    width = max((len(r.what) for r in rows), default=10)
    total = sum(r.bytes for r in rows if not r.what.startswith("  "))
    lines = [f"{r.what:<{width}}  {r.bytes / 2**30:7.2f} GiB  {r.path}" for r in rows]
    return "\n".join(lines + [f"{'total':<{width}}  {total / 2**30:7.2f} GiB"])
