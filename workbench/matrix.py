"""Planning and driving cells: `invoke matrix` (base + variants) and `invoke run` (one cell).

Each base gets one worktree and one build directory; the variants are built
one after another in it, so each rebuild compiles what the variant changed.
Finished cells come from the cache; a variant that is the same as base at
this base costs nothing and shows `=base`. Tests the base lacks are said to be
NOT_RUN before anything is built.
"""
from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from . import patches as wp
from . import study as ws
from .cell import Bench, CellResult, CellSpec
from .progress import Progress
from .proc import Runner, reap_orphans
from .results import Run, new_run_dir
from .settings import Settings
from .tree import KernelTree

Say = Callable[[str], None]


@dataclass(frozen=True)
class MatrixRequest:
    base: str
    variants: tuple[str, ...] | None = None  # None: all of the study's
    tests: tuple[str, ...] = ("cow",)
    repeat: int = 1
    include_base: bool = True
    kind: str = "matrix"
    tree: str | None = None
    command: str = ""


@dataclass
class Plan:
    specs: list[CellSpec]
    same_as_base: list[str]
    columns: list[str]
    patchset: wp.PatchSet
    not_run: list[str] = field(default_factory=list)


def plan(kt: KernelTree, study: ws.Study, req: MatrixRequest, settings: Settings) -> Plan:
    base = kt.resolve(req.base)
    names = [v for v in (req.variants or study.variant_names) if v != "base"]
    ps = wp.commit_all(kt, study, wp.render_all(kt, study, base, names), settings.patches_dir)
    columns = (["base"] if req.include_base or "base" in (req.variants or ()) else []) + names
    same = [v.variant for v in ps.variants if v.same_as_base]
    specs = []
    for repeat in range(req.repeat):
        for name in columns:
            if name in same:
                continue
            commit = ps.commit_of(name)
            change = "base" if name == "base" else kt.clone.out("rev-parse", f"{commit}^{{tree}}")
            specs.append(CellSpec(base=base, variant=name, commit=commit, change=change, repeat=repeat))
    if same and "base" not in columns:
        # a same-as-base variant reuses the base's cell, so the base must run
        base_specs = [CellSpec(base, "base", base.commit, "base", r) for r in range(req.repeat)]
        specs = base_specs + specs
    return Plan(specs=specs, same_as_base=same, columns=columns, patchset=ps)


def execute(req: MatrixRequest, settings: Settings, say: Say) -> Run:
    """Plan the cells, run the missing ones, record everything in a run folder."""
    study = ws.load(settings.templates_dir, settings.study)
    kt = KernelTree.open(settings, Runner(), _tree(req))
    base = kt.resolve(req.base)
    run_dir = new_run_dir(settings, base, "" if req.kind == "matrix" else req.kind)
    prog = Progress(title=f"{req.kind} {base.name}", times_file=settings.cache / "timings.json")
    runner = Runner(log_dir=run_dir, out=prog.say, registry=settings.cache / "running")
    kt.runner = runner
    p = plan(kt, study, req, settings)
    run = Run(dir=run_dir, kind=req.kind, base=base.name, commit=base.commit,
              kernelversion=kt.kernelversion(base.commit), study=study.name, tests=list(req.tests),
              variants=p.columns, command=req.command, tree=str(kt.source), fragments=list(settings.fragments),
              same_as_base=p.same_as_base,
              approximate=[v.variant for v in p.patchset.variants if v.approximate],
              patches={v.variant: v.commit for v in p.patchset.variants if v.commit})
    for v in p.patchset.variants:
        if v.patch:
            (run_dir / "patches").mkdir(exist_ok=True)
            shutil.copy(v.patch, run_dir / "patches" / f"{v.variant}.patch")
    run.save()
    say(f"run {run.id}: {study.name} at {base.name} (Linux {run.kernelversion}); columns "
        f"{', '.join(p.columns)}" + (f"; same as base: {', '.join(p.same_as_base)}" if p.same_as_base else ""))
    start = time.monotonic()
    with kt.worktree(base, req.kind) as wt, prog:
        for pgid in reap_orphans(settings.cache / "running"):
            prog.say(f"killed process group {pgid} left running by an earlier run that was killed")
        prog.cold = not (wt.build / "vmlinux").exists()
        bench = Bench(kt, wt, study, settings, runner, req.tests, prog.say, prog.stage)
        if bench.missing:
            run.not_run = bench.missing
            prog.say(f"NOT_RUN at {base.name}: {', '.join(bench.missing)} (the base has no such test); "
                     "nothing is built for them")
        for spec in p.specs:
            prog.add(spec.label)
        for v in p.same_as_base:
            prog.done(v, "=base (same code as base: no build, reuses the base's cell)")
        bench.prepare(run_dir)
        run.config_hash, run.toolchain = bench.config.config_hash, bench.toolchain
        _drive(bench, p.specs, run, run_dir, prog, settings)
        wt.checkout(base.commit)
    run.timings["total"] = round(time.monotonic() - start, 1)
    run.finished = time.strftime("%Y-%m-%d %H:%M:%S")
    run.save()
    return run


def _drive(bench: Bench, specs: list[CellSpec], run: Run, run_dir, prog: Progress, settings: Settings) -> None:
    """Build the cells one after another; boot each one, overlapping the next build when allowed."""
    def record(cell: CellResult) -> None:
        run.accel = run.accel or cell.accel
        run.add(cell)
        prog.done(cell_label(cell), cell_line(cell))
        if not cell.cached and "boot+test" in cell.timings:
            prog.note_time("boot", cell.timings["boot+test"])

    pool = None
    pending: Future | None = None
    try:
        for spec in specs:
            hit = bench.lookup(spec)
            if hit:
                record(hit)
                continue
            prog.stage(spec.label, "building")
            cold = prog.cold
            image, build = bench.build(spec, run_dir)
            prog.cold = False
            if build.ok:
                prog.note_time("full_build" if cold else "rebuild", build.seconds)
            accel = bench.ensure_accel(image) if image else getattr(bench, "accel", "none")
            hit = bench.lookup(spec)
            if hit:
                record(hit)
                continue
            if pool is None and overlap_allowed(settings, accel, prog.say):
                pool = ThreadPoolExecutor(max_workers=1)
            if pending is not None:
                record(pending.result())
                pending = None
            if pool is not None:
                prog.stage(spec.label, "queued for boot")
                pending = pool.submit(bench.test, spec, image, build, accel)
            else:
                record(bench.test(spec, image, build, accel))
        if pending is not None:
            record(pending.result())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def overlap_allowed(settings: Settings, accel: str, say: Say) -> bool:
    """Boot while building: `on` when the machine has room for it, never by default under TCG on
    2 cores or fewer, where a guest starved by make shows RCU stalls and soft lockups that would
    read as crashes; `force` overlaps anyway (to measure it), `off` never."""
    mode = str(settings.overlap).lower()
    if mode in ("false", "off", "no", "0"):
        return False
    if mode == "force":
        return True
    cores = os.cpu_count() or 1
    if accel == "tcg" and cores <= 2:
        if mode in ("true", "on", "yes", "1"):
            say(f"overlap refused: TCG on {cores} cores would starve the guest; building and booting in turn "
                "(--overlap force overlaps anyway)")
        return False
    return mode in ("true", "on", "yes", "1", "auto")


def cell_label(cell: CellResult) -> str:
    return cell.variant + (f" #{cell.repeat + 1}" if cell.repeat else "")


def cell_line(cell: CellResult) -> str:
    counts: dict[str, int] = {}
    for c in cell.cases:
        counts[c.status.value] = counts.get(c.status.value, 0) + 1
    shown = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    timing = ", ".join(f"{k} {v:.0f}s" for k, v in cell.timings.items())
    origin = " (cached)" if cell.cached else ""
    reason = f" — {cell.reason}" if cell.reason else ""
    return f"{cell.status.value}{reason}; {shown or 'no cases'}; {timing}{origin}"


def _tree(req: MatrixRequest):
    from pathlib import Path
    return Path(req.tree).expanduser() if req.tree else None
