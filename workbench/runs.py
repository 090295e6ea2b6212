"""Run folders: `results/<timestamp>-<base>[-<kind>]/`, one per invocation that builds or boots.

The one run prologue (`prologue()`): everything that can refuse a run (bad input, an unknown
base or test, a worktree another run holds) is checked before the run folder exists, so a
refused run leaves none; then the folder is made, the commands logged so far are written to its
`commands.log`, and `run.json` says RUNNING. It ends FINISHED, or INTERRUPTED when an error or
Ctrl-C stops it (what it finished stays). A RUNNING record whose process is gone (killed) reads
as INTERRUPTED. Each cell's artifacts (console, TAP, build log tail) are copied to
`cells/<variant>/`, so a run folder stands on its own after the cache is cleaned.
"""
from __future__ import annotations

import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .errors import RunFolderLost, UserError
from .kernel.tree import Base, KernelTree, Worktree
from .proc import Runner, alive
from .records import CellResult, Run, RunKind, RunState, write_atomic
from .settings import Settings


def new_run_dir(settings: Settings, base: Base, kind: RunKind) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-{base.slug}" + ("" if kind is RunKind.MATRIX else f"-{kind.value}")
    path = settings.results_dir / name
    n = 1
    while path.exists():
        n += 1
        path = settings.results_dir / f"{name}.{n}"
    path.mkdir(parents=True)
    return path


@contextmanager
def opened(settings: Settings, runner: Runner, run: Run, base: Base) -> Iterator[Run]:
    """Give `run` its folder and keep its state on disk until the block ends."""
    run.dir = new_run_dir(settings, base, run.kind)
    runner.attach(run.dir / "commands.log")
    run.state = RunState.RUNNING
    run.versions = {"workbench": __version__, "python": sys.version.split()[0], "host": platform.platform()}
    run.save()
    try:
        yield run
    except OSError:
        run.state = RunState.INTERRUPTED
        if not run.dir.is_dir():  # what failed was a write into the folder another command removed
            raise RunFolderLost(str(run.dir)) from None
        raise
    except BaseException:
        run.state = RunState.INTERRUPTED
        raise
    else:
        run.state = RunState.FINISHED
        run.finished = time.strftime("%Y-%m-%d %H:%M:%S")
    finally:
        if run.dir.is_dir():
            run.save()
    if not run.dir.is_dir():
        raise RunFolderLost(str(run.dir))


@contextmanager
def prologue(kt: KernelTree, base: Base, settings: Settings, runner: Runner, run: Run,
             slot: Base | None = None, before: Callable[[Worktree], None] | None = None
             ) -> Iterator[tuple[Worktree, Run]]:
    """Lock the base's worktree (or `slot`'s), do what can still refuse the run there (`before`:
    configuring, say), then open the run: a refused run leaves no folder."""
    with kt.worktree(slot or base, run.kind.value) as wt:
        if before is not None:
            before(wt)
        with opened(settings, runner, run, base) as opened_run:
            yield wt, opened_run


def record(run: Run, cell: CellResult) -> None:
    """Add a finished cell to the run: its artifacts into the run folder, and run.json rewritten
    after a cell that really ran (a cached one comes from the cache again if the run is cut short;
    the run's end writes it anyway)."""
    run.add(cell)
    keep_artifacts(cell, run.dir / "cells" / cell_folder(cell, len(run.configs) > 1))
    if not cell.cached:
        run.save()


def cell_folder(cell: CellResult, with_config: bool = False) -> str:
    return (f"{cell.config}-" if with_config and cell.config else "") + cell.variant + (
        f"-r{cell.repeat + 1}" if cell.repeat else "")


def keep_artifacts(cell: CellResult, dest: Path) -> None:
    """Copy the cell's console, TAP, env and build log tail into the run folder."""
    src = Path(cell.dir)
    if not src.exists() or src == dest:
        return
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("console.log", "cell.json"):
        if (src / name).exists():
            shutil.copy2(src / name, dest / name)
    if (src / "build.log").exists():
        lines = (src / "build.log").read_text(errors="replace").splitlines()
        (dest / "build-tail.log").write_text("\n".join(lines[-200:]) + "\n")
    if (src / "out").exists():
        for f in (src / "out").iterdir():
            if f.is_file():
                shutil.copy2(f, dest / f.name)


@dataclass(frozen=True)
class Damaged:
    path: Path
    why: str


def state_of(run: Run) -> RunState:
    """The run's state as it really is: a RUNNING run whose process is gone was interrupted."""
    if run.state is RunState.RUNNING and not alive(run.pid):
        return RunState.INTERRUPTED
    return run.state


def scan(settings: Settings) -> tuple[list[Run], list[Damaged]]:
    """Every run folder, oldest first, and the run.json files that cannot be read."""
    runs, damaged = [], []
    for path in sorted(settings.results_dir.glob("*/run.json")):
        try:
            run = Run.load(path.parent)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            damaged.append(Damaged(path, f"{type(exc).__name__}: {exc}"))
            continue
        run.state = state_of(run)
        runs.append(run)
    return runs, damaged


def list_runs(settings: Settings) -> list[Run]:
    return scan(settings)[0]


def load(path: Path) -> Run:
    try:
        run = Run.load(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path / 'run.json'} is damaged and cannot be read ({type(exc).__name__}: {exc})",
                        "`invoke results` lists the runs that can be read.") from None
    run.state = state_of(run)
    return run


def find_run(settings: Settings, ref: str | None, base: str | None = None,
             kinds: tuple[RunKind, ...] = (RunKind.MATRIX, RunKind.RUN), study: str | None = None) -> Run:
    """A run named by id, unique prefix or folder (any state); without a name the newest FINISHED
    run of `kinds` (at `base`, of `study`) that has cells."""
    if ref:
        path = Path(ref).expanduser()
        if (path / "run.json").exists():
            return load(path)
        if (settings.results_dir / ref / "run.json").exists():
            return load(settings.results_dir / ref)
        runs, _ = scan(settings)
        hits = [r for r in runs if r.id.startswith(ref)]
        if len(hits) == 1:
            return hits[0]
        raise UserError(f"no single run matches {ref!r} ({len(hits)} do)", "`invoke results` lists the runs.")
    runs, _ = scan(settings)
    hits = [r for r in runs if r.state is RunState.FINISHED and r.cells and r.kind in kinds
            and (base is None or r.base == base) and (study is None or r.study == study)]
    if not hits:
        what = ("/".join(k.value for k in kinds) + (f" of study {study}" if study else "")
                + (f" at {base}" if base else ""))
        raise UserError(f"no finished {what} run with results in {settings.results_dir} yet",
                        "Run `invoke matrix --base TAG` first (`invoke results` lists the runs there are).")
    return hits[-1]


def listing(settings: Settings) -> str:
    """What `invoke results` prints: one line per run (oldest first), then the damaged records."""
    runs, damaged = scan(settings)
    lines = []
    for r in runs:
        cells = ", ".join(f"{c.label}={c.status.value}" for c in r.cells) or "(no cells)"
        lines.append(f"{r.id:<34} {r.kind.value:<7} {r.state.value:<11} {r.base:<10} {r.executor or r.accel or '-':<10} "
                     f"{cells}")
    lines += [f"damaged: {d.path} ({d.why}); the other runs are listed" for d in damaged]
    return "\n".join(lines) or f"no runs in {settings.results_dir} yet"


def write_output(path: Path, text: str) -> None:
    """A report into a file the user named: a clear error for a folder or a missing parent."""
    if path.is_dir():
        raise UserError(f"--output {path} is a folder", "Name a file, e.g. --output report.html.")
    if not path.parent.exists():
        raise UserError(f"--output {path}: the folder {path.parent} does not exist", "Create it or name another file.")
    try:
        write_atomic(path, text)
    except OSError as exc:
        with suppress(OSError):  # nothing half-written stays
            path.with_name(f".{path.name}.tmp").unlink(missing_ok=True)
        raise UserError(f"--output {path}: cannot be written there ({exc.strerror or type(exc).__name__})",
                        "Name a file in a folder you can write to, e.g. --output ~/report.html.") from None
