"""`invoke matrix` (base and every variant) and `invoke run` (one cell): plan, prologue, drive.

Everything that can refuse the run is checked first (the request, the study and its templates,
the configs, the tree, the base, the test names, the programs the build and the executor need);
then the run prologue locks the base's worktree and opens the run folder; the variants are
committed, the base prepared once (configs, test binaries) and the cells driven one after
another. Finished cells come from the cache; a variant that is the same as base at this base
costs nothing and shows `=base`.
"""
from __future__ import annotations

import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import runs
from .cells.cache import CellCache
from .cells.driver import Driver
from .cells.plan import BASE, CellSpec, Plan, plan
from .cells.prepare import Prepared, configure, kunit_fragments, load_configs, prepare
from .errors import UserError
from .guest.select import executor_for
from .guest.vng import VngExecutor, overlap_note
from .kernel import kbuild, kunit, selftests
from .kernel.kbuild import Config
from .kernel.selftests import TestSource
from .kernel.tree import Base, KernelTree, Worktree
from .proc import Runner, reap_orphans
from .progress import Progress
from .records import CellResult, Run, RunKind
from .settings import Settings
from .status import Status
from .study import commits
from .study import configs as configs_mod
from .study import sources as sources_mod
from .study.model import Study
from .study.model import load as load_study

Say = Callable[[str], None]


@dataclass(frozen=True)
class MatrixRequest:
    base: str
    variants: tuple[str, ...] | None = None  # None: all of the study's
    tests: tuple[str, ...] | None = ("cow",)  # None: the settings' (a probe the study lacks is left out)
    repeat: int = 1
    kind: RunKind = RunKind.MATRIX  # RUN: one cell, no base column unless asked for
    tree: str | None = None
    configs: tuple[str, ...] | None = None  # None: the settings'
    study: str | None = None
    timeout: float | None = None
    overlap: str | None = None
    reuse: bool = True  # False (--no-reuse): a variant with the base's machine code still gets its own boots
    lab: str | None = None  # --lab NAME: the cells boot on that lab

    @property
    def include_base(self) -> bool:
        return self.kind is RunKind.MATRIX

    def check(self) -> None:
        if self.repeat < 1:
            raise UserError(f"--repeat must be 1 or more, not {self.repeat}", "e.g. --repeat 3.")
        if self.tests is not None and not self.tests:
            raise UserError("no tests named", "e.g. --tests cow,probe (the default comes from invoke.yaml).")
        if self.variants is not None and not self.variants:
            raise UserError("no variants named", "Leave --variants out for all of the study's, or name some.")

    def command(self) -> str:
        """The command that reproduces the run, quoted for a shell."""
        argv = ["invoke", self.kind.value, "--base", self.base]
        if self.variants is not None:
            argv += ["--variant" if self.kind is RunKind.RUN else "--variants", ",".join(self.variants)]
        if self.tests is not None:
            argv += ["--tests", ",".join(self.tests)]
        for flag, value in (("--repeat", self.repeat if self.repeat > 1 else None), ("--tree", self.tree),
                            ("--configs", ",".join(self.configs) if self.configs else None),
                            ("--study", self.study), ("--timeout", self.timeout), ("--overlap", self.overlap),
                            ("--lab", self.lab)):
            if value is not None:
                argv += [flag, str(value)]
        argv += [] if self.reuse else ["--no-reuse"]
        return shlex.join(argv)


@dataclass(frozen=True)
class _Checked:
    study: Study
    configs: list[Config]
    kt: KernelTree
    base: Base
    sources: list[TestSource]
    patchset: commits.PatchSet
    names: list[str]  # the columns asked for ("base" among them when named)
    tests: tuple[str, ...]
    brought: list[sources_mod.Brought]  # the changes the user brought (NAME=SPEC)


def _names(req: MatrixRequest, study: Study) -> tuple[Study, list[str], dict[str, str]]:
    """The study (with any variant template the user brings: NAME=FILE.j2), the columns asked for,
    in order, and {name: spec} of the changes the user brings (NAME=SPEC: a patch, an mbox, a ref)."""
    names: list[str] = []
    specs: dict[str, str] = {}
    for value in req.variants or tuple(study.variant_names):
        split = sources_mod.split_spec(value)
        if split is None:
            if value != BASE:
                study.variant(value)  # an unknown variant is refused here
            names.append(value)
            continue
        name, spec = split
        if name == BASE or name in study.variant_names or name in specs:
            raise UserError(f"--variants {value!r}: {name!r} is already a column ("
                            + ("the unchanged tree" if name == BASE else "a variant of the study" if name in
                               study.variant_names else "named twice") + ")",
                            "Give the change another name.")
        names.append(name)
        template = Path(spec).expanduser()
        if template.suffix == ".j2" and template.is_file():  # a variant template, rendered by the study at the base
            study = study.with_variant(name, template, sources_mod.described("template", template))
        else:
            specs[name] = spec
    return study, names, specs


def check(req: MatrixRequest, settings: Settings, runner: Runner, say: Say) -> _Checked:
    """Everything that can refuse the run, before anything is written or built."""
    req.check()
    study = load_study(settings.templates_dir, settings.study)
    executor = executor_for(settings, runner)
    load_configs(settings, list(req.configs or settings.configs), study, executor.fragments)  # a typo: refused now
    study, names, specs = _names(req, study)
    kt = KernelTree.open(settings, runner, Path(req.tree).expanduser() if req.tree else None)
    base = kt.resolve(req.base)
    tests = req.tests if req.tests is not None else settings.tests
    sources = selftests.plan(kt.clone, base.commit, tests, study.probe_sources)
    unknown = selftests.unknown(kt.clone, base.commit, sources)
    if req.tests is None and unknown:  # the settings' default names a probe of another study
        say(f"the default tests {', '.join(unknown)} are no test of study {study.name!r} at any base: left out")
        sources = [s for s in sources if s.name not in unknown]
        tests, unknown = tuple(s.name for s in sources), []
        if not tests:
            raise UserError(f"none of the default tests ({', '.join(settings.tests)}) is a test here",
                            "Name the tests with --tests.")
    if unknown:
        raise UserError(f"no test {', '.join(unknown)}: not a probe of study {study.name!r}, and no mm selftest or "
                        f"KUnit suite at {req.base} or any other base of {kt.source}",
                        f"Tests at {req.base}: {', '.join(selftests.known_at(kt.clone, base.commit)) or 'none'}; "
                        f"probes: {', '.join(study.probes) or 'none'}"
                        + (f"; KUnit suites: {kunit.describe(kt.clone, base.commit)}." if any(
                            kunit.is_kunit(n) for n in unknown) else "."))
    kbuild.check_tools()
    executor.check()
    configs = load_configs(settings, list(req.configs or settings.configs), study, executor.fragments,
                           kunit_fragments(kt.clone, base.commit, sources))
    patchset = commits.render_all(kt, study, base, [n for n in names if n not in specs])  # template errors refuse here
    brought = [sources_mod.bring(kt, base, name, spec) for name, spec in specs.items()]  # so does a patch that fails
    return _Checked(study, configs, kt, base, sources, patchset, names, tests, brought)


def execute(req: MatrixRequest, settings: Settings, say: Say) -> Run:
    """Plan the cells, run the missing ones, record everything in a run folder."""
    prog = Progress(title=f"{req.kind.value} {req.base}", times_file=settings.cache / "timings.json")
    runner = Runner(echo=settings.verbose, out=prog.say, registry=settings.cache / "running")
    c = check(req, settings, runner, say)
    run = Run(dir=Path(), kind=req.kind, base=c.base.name, commit=c.base.commit,
              kernelversion=c.kt.kernelversion(c.base.commit), study=c.study.name, tests=list(c.tests), variants=[],
              command=req.command(), tree=str(c.kt.source), configs=[x.name for x in c.configs],
              vm=settings.vm.to_mapping(), settings=settings.to_mapping(),
              words={n: p.words.to_json() for n, p in c.study.probes.items() if p.words and n in c.tests})
    start = time.monotonic()
    def refuse_early(wt: Worktree) -> None:
        configure(wt, c.configs, settings, runner, None, say)

    with runs.prologue(c.kt, c.base, settings, runner, run, before=refuse_early) as (wt, run):
        ps = commits.commit_all(c.kt, c.study, c.patchset, settings.patches_dir)
        ps.variants += [commits.adopt(c.kt, ps, b, settings.patches_dir) for b in c.brought]
        run.sources = {b.name: b.source for b in c.brought} | {v.name: v.source for v in c.study.variants
                                                                if v.source and v.name in c.names}
        for note in (n for b in c.brought for n in b.notes):
            say(note)
        p = plan(c.kt.clone, ps, c.names, req.include_base, run.configs, req.repeat)
        _describe(run, p)
        say(f"run {run.id}: {c.study.name} at {c.base.name} (Linux {run.kernelversion}); columns "
            f"{', '.join(p.columns)}" + (f"; same as base: {', '.join(p.same_as_base)}" if p.same_as_base else "")
            + (f"; configs {', '.join(run.configs)}" if len(run.configs) > 1 else ""))
        if not settings.verbose:
            say(f"commands: {run.dir / 'commands.log'} (--verbose shows them here too)")
        with prog:
            for pgid in reap_orphans(settings.cache / "running"):
                prog.say(f"killed process group {pgid} left running by an earlier run that was killed")
            prepared = prepare(c.kt, wt, c.configs, c.sources, settings, runner, run.dir, prog.say)
            _start(run, prepared, p, prog)
            p.specs = _under_configs(run, prepared, p, prog)
            executor = executor_for(settings, runner)
            if isinstance(executor, VngExecutor) and (note := overlap_note(settings, executor.accel or "tcg")):
                prog.say(note)
            Driver(prepared, executor, CellCache(settings.cache / "cells"), settings, runner, prog,
                   record=lambda cell: runs.record(run, cell), fold=req.reuse).run(p.specs)
            run.executor, run.accel = executor.describe(), next((x.accel for x in run.cells if x.accel), "")
        wt.checkout(c.base.commit)
        run.timings["total"] = round(time.monotonic() - start, 1)
    return run


def _describe(run: Run, p: Plan) -> None:
    """What the plan says about the columns, into the run record, and the patches into its folder."""
    ps = p.patchset
    assert ps is not None
    run.variants, run.same_as_base, run.approximate = p.columns, p.same_as_base, p.approximate
    run.patches = {v.variant: v.commit for v in ps.variants if v.commit}
    run.computes = {v.variant: v.rendered.label for v in ps.variants
                    if v.rendered and v.rendered.label and v.variant in p.columns}
    for v in ps.variants:
        if v.patch:
            (run.dir / "patches").mkdir(exist_ok=True)
            shutil.copy(v.patch, run.dir / "patches" / f"{v.variant}.patch")
    run.save()


def _under_configs(run: Run, prepared: Prepared, p: Plan, prog: Progress) -> list[CellSpec]:
    """What each column computes under each built config (a prototype's C may depend on an option);
    a column a config refuses (its prototype's #error) gets a NOT_RUN cell saying why, never a build."""
    assert p.patchset is not None
    protos = {v.variant: v.rendered.prototypes for v in p.patchset.variants if v.rendered and v.variant in p.columns}
    per = configs_mod.by_config(protos, {n: (conf.build / ".config").read_text() for n, conf in prepared.configs.items()})
    run.per_config = {config: {v: c.to_json() for v, c in cols.items()} for config, cols in per.items()}
    refused = {(config, v): c.label for config, cols in per.items() for v, c in cols.items() if c.refused}
    for spec in (s for s in p.specs if (s.config, s.variant) in refused):
        run.add(CellResult(identity="", base=run.base, variant=spec.variant, commit=spec.commit, status=Status.NOT_RUN,
                           config=spec.config, repeat=spec.repeat,
                           reason=f"refused with config {spec.config}: {refused[spec.config, spec.variant]}"))
        prog.done(spec.name, f"NOT_RUN: refused with config {spec.config} ({refused[spec.config, spec.variant]})")
    return [s for s in p.specs if (s.config, s.variant) not in refused]


def _start(run: Run, prepared: Prepared, p: Plan, prog: Progress) -> None:
    run.toolchain = prepared.toolchain
    run.config_hashes = {name: conf.config_hash for name, conf in prepared.configs.items()}
    if prepared.missing:
        run.not_run = prepared.missing
        prog.say(f"NOT_RUN at {run.base}: {', '.join(prepared.missing)} (the base has no such test)")
    prog.cold = not (prepared.configs[p.configs[0]].build / "vmlinux").exists()
    for spec in p.specs:
        prog.add(spec.name)
    for v in p.same_as_base:
        prog.done(v, "=base (same code as base: no build, reuses the base's cell)")
    run.save()
