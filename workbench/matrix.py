"""Planning and driving cells: `invoke matrix` (base + variants) and `invoke run` (one cell).

Each base gets one worktree and one build directory; the variants are built
one after another in it, so each rebuild compiles what the variant changed.
Finished cells come from the cache; a variant that is the same as base at
this base costs nothing and shows `=base`. Tests the base lacks are said to be
NOT_RUN before anything is built.
"""
from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from typing import Callable

from . import patches as wp
from . import study as ws
from .cell import Bench, CellResult, CellSpec
from .proc import Runner
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


def execute(req: MatrixRequest, settings: Settings, say: Say, progress: Say | None = None) -> Run:
    """Plan the cells, run the missing ones, record everything in a run folder."""
    study = ws.load(settings.templates_dir, settings.study)
    kt = KernelTree.open(settings, Runner(), _tree(req))
    base = kt.resolve(req.base)
    run_dir = new_run_dir(settings, base, "" if req.kind == "matrix" else req.kind)
    runner = Runner(log_dir=run_dir)
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
            (run_dir / "patches" / f"{v.variant}.patch").write_text(open(v.patch).read())
    run.save()
    say(f"run {run.id}: {study.name} at {base.name} (Linux {run.kernelversion}); columns "
        f"{', '.join(p.columns)}" + (f"; same as base: {', '.join(p.same_as_base)}" if p.same_as_base else ""))
    start = time.monotonic()
    with kt.worktree(base, req.kind) as wt:
        bench = Bench(kt, wt, study, settings, runner, req.tests, say, progress)
        if bench.missing:
            run.not_run = bench.missing
            say(f"NOT_RUN at {base.name}: {', '.join(bench.missing)} (the base has no such test); "
                "nothing is built for them")
        bench.prepare(run_dir)
        run.config_hash, run.toolchain = bench.config.config_hash, bench.toolchain
        for i, spec in enumerate(p.specs, 1):
            say(f"[{i}/{len(p.specs)}] {spec.label}")
            cell = bench.run(spec, run_dir)
            run.accel = run.accel or cell.accel
            run.add(cell)
            say(f"[{i}/{len(p.specs)}] {spec.label}: {cell_line(cell)}")
        wt.checkout(base.commit)
    run.timings["total"] = round(time.monotonic() - start, 1)
    run.finished = time.strftime("%Y-%m-%d %H:%M:%S")
    run.save()
    return run


def cell_line(cell: CellResult) -> str:
    counts: dict[str, int] = {}
    for c in cell.cases:
        counts[c.status.value] = counts.get(c.status.value, 0) + 1
    shown = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    timing = ", ".join(f"{k} {v:.0f}s" for k, v in cell.timings.items())
    origin = " (cached)" if cell.cached else ""
    reason = f" — {cell.reason}" if cell.reason else ""
    return f"{cell.status.value}{reason}; {shown or 'no cases'}; {timing}{origin}"


def reproduce(argv: list[str]) -> str:
    return shlex.join(argv)


def _tree(req: MatrixRequest):
    from pathlib import Path
    return Path(req.tree).expanduser() if req.tree else None
