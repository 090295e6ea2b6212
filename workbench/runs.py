"""Run folders: `results/<timestamp>-<base>[-<kind>]/`, one per invocation that builds or boots.

`run.json` holds the inputs, the tool and compiler versions, the commit ids,
the config hash, the accelerator, the timings, the command that reproduces the
run, and every cell's result. Each cell's artifacts (console, TAP, build log,
patch) are copied to `cells/<variant>/`, so a run folder stands on its own even
after the cache is cleaned. The file is rewritten after every cell, so an
interrupted run keeps what it finished.
"""
from __future__ import annotations

import json
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .cell import CellResult
from .errors import UserError
from .settings import Settings
from .tree import Base


def new_run_dir(settings: Settings, base: Base, kind: str = "") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-{base.slug}" + (f"-{kind}" if kind else "")
    path = settings.results_dir / name
    n = 1
    while path.exists():
        n += 1
        path = settings.results_dir / f"{name}.{n}"
    path.mkdir(parents=True)
    return path


@dataclass
class Run:
    dir: Path
    kind: str  # "run" | "matrix" | "bisect"
    base: str
    commit: str
    kernelversion: str
    study: str
    tests: list[str]
    variants: list[str]  # columns: "base" first
    command: str  # reproduces the run
    tree: str = ""
    fragments: list[str] = field(default_factory=list)
    config_hash: str = ""
    accel: str = ""
    toolchain: str = ""
    same_as_base: list[str] = field(default_factory=list)
    approximate: list[str] = field(default_factory=list)
    patches: dict[str, str] = field(default_factory=dict)  # variant -> commit id
    not_run: list[str] = field(default_factory=list)
    cells: list[CellResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S"))
    finished: str = ""
    extra: dict = field(default_factory=dict)  # stage-specific records (bisect steps, ...)

    @property
    def id(self) -> str:
        return self.dir.name

    def add(self, cell: CellResult) -> None:
        """Record a cell (replacing an earlier one of the same variant and repeat) and save."""
        self.cells = [c for c in self.cells if (c.variant, c.repeat) != (cell.variant, cell.repeat)]
        self.cells.append(cell)
        keep_artifacts(cell, self.dir / "cells" / cell_folder(cell))
        self.save()

    def cell(self, variant: str, repeat: int = 0) -> CellResult | None:
        for c in self.cells:
            if c.variant == variant and c.repeat == repeat:
                return c
        return None

    def save(self) -> None:
        data = {
            "id": self.id, "kind": self.kind, "base": self.base, "commit": self.commit,
            "kernelversion": self.kernelversion, "study": self.study, "tests": self.tests,
            "variants": self.variants, "command": self.command, "tree": self.tree,
            "fragments": self.fragments, "config_hash": self.config_hash, "accel": self.accel,
            "toolchain": self.toolchain, "same_as_base": self.same_as_base, "approximate": self.approximate,
            "patches": self.patches, "not_run": self.not_run, "timings": self.timings,
            "started": self.started, "finished": self.finished, "extra": self.extra,
            "versions": {"workbench": __version__, "python": sys.version.split()[0],
                         "host": platform.platform()},
            "cells": [c.to_json() for c in self.cells],
        }
        tmp = self.dir / "run.json.tmp"
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.dir / "run.json")

    @classmethod
    def load(cls, path: Path) -> "Run":
        data = json.loads((path / "run.json").read_text())
        known = set(cls.__dataclass_fields__) - {"dir", "cells"}
        run = cls(dir=path, **{k: v for k, v in data.items() if k in known})
        run.cells = [CellResult.from_json(c) for c in data.get("cells", [])]
        return run


def cell_folder(cell: CellResult) -> str:
    return cell.variant + (f"-r{cell.repeat + 1}" if cell.repeat else "")


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


def list_runs(settings: Settings) -> list[Run]:
    runs = []
    for path in sorted(settings.results_dir.glob("*/run.json")):
        try:
            runs.append(Run.load(path.parent))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return runs


def find_run(settings: Settings, ref: str | None, base: str | None = None, kind: str | None = None) -> Run:
    """A run by id (or unique prefix), or the newest one (for `base`/`kind` when given)."""
    runs = list_runs(settings)
    if ref:
        path = Path(ref)
        if (path / "run.json").exists():
            return Run.load(path)
        hits = [r for r in runs if r.id == ref or r.id.startswith(ref)]
        if len(hits) == 1:
            return hits[0]
        raise UserError(f"no single run matches {ref!r} ({len(hits)} do)", "`invoke results` lists the runs.")
    hits = [r for r in runs if (base is None or r.base == base) and (kind is None or r.kind == kind)]
    if not hits:
        what = " ".join(filter(None, [kind, f"at {base}" if base else ""])) or "run"
        raise UserError(f"no {what} in {settings.results_dir} yet", "Run `invoke matrix --base TAG` first.")
    return hits[-1]
